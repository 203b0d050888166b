//! torchvision ResNet-18 (basic blocks) and ResNet-50 (bottlenecks, stride on the 3x3 as in
//! v1.5). Inputs of at most 64 px get the CIFAR stem (3x3 conv, stride 1, no max-pool) so the
//! same names work for small-image training.
use super::blocks::{basic_block, gap_head, shortcut, Shortcut};
use crate::builder::{Builder, Val, R};
use crate::Ctx;

const DOWN: Shortcut = Shortcut::Conv("downsample");

fn stem(b: &mut Builder, x: &Val, cx: &Ctx) -> R<Val> {
    if cx.h.max(cx.w) <= 64 {
        return b.conv_bn_relu(x, "conv1", "bn1", cx.ch(64), 3, 1, 1);
    }
    let y = b.conv(x, "conv1", cx.ch(64), 7, 2, 3, 1, false)?;
    let y = b.bn(&y, "bn1")?;
    let y = b.relu(&y);
    b.maxpool(&y, 3, 2, 1)
}

fn bottleneck(b: &mut Builder, x: &Val, width: i64, stride: i64) -> R<Val> {
    let out = width * 4;
    let y = b.conv_bn_relu(x, "conv1", "bn1", width, 1, 1, 1)?;
    let y = b.conv_bn_relu(&y, "conv2", "bn2", width, 3, stride, 1)?;
    let y = b.conv(&y, "conv3", out, 1, 1, 0, 1, false)?;
    let y = b.bn(&y, "bn3")?;
    let s = shortcut(b, x, out, stride, DOWN)?;
    let y = b.add(&y, &s)?;
    Ok(b.relu(&y))
}

fn resnet(b: &mut Builder, x: &Val, cx: &Ctx, layers: [usize; 4], bottlenecks: bool) -> R<Val> {
    let mut y = stem(b, x, cx)?;
    for (i, n) in layers.into_iter().enumerate() {
        let width = cx.ch(64 << i);
        for j in 0..n {
            let stride = if i > 0 && j == 0 { 2 } else { 1 };
            y = b.scope(&format!("layer{}.{j}", i + 1), |b| {
                if bottlenecks {
                    bottleneck(b, &y, width, stride)
                } else {
                    basic_block(b, &y, width, stride, DOWN)
                }
            })?;
        }
    }
    gap_head(b, &y, "fc", cx.classes)
}

pub fn resnet18(b: &mut Builder, x: &Val, cx: &Ctx) -> R<Val> {
    resnet(b, x, cx, [2, 2, 2, 2], false)
}
pub fn resnet50(b: &mut Builder, x: &Val, cx: &Ctx) -> R<Val> {
    resnet(b, x, cx, [3, 4, 6, 3], true)
}
