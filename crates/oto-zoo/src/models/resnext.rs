//! A small ResNeXt: bottleneck blocks whose 3x3 conv is grouped (cardinality 8), so pruning
//! must remove channels in whole-group-consistent patterns.
use super::blocks::{gap_head, shortcut, Shortcut};
use crate::builder::{Builder, Val, R};
use crate::Ctx;

const CARDINALITY: i64 = 8;

fn block(b: &mut Builder, x: &Val, width: i64, out: i64, stride: i64) -> R<Val> {
    let y = b.conv_bn_relu(x, "conv1", "bn1", width, 1, 1, 1)?;
    let y = b.conv_bn_relu(&y, "conv2", "bn2", width, 3, stride, CARDINALITY)?;
    let y = b.conv(&y, "conv3", out, 1, 1, 0, 1, false)?;
    let y = b.bn(&y, "bn3")?;
    let s = shortcut(b, x, out, stride, Shortcut::Conv("downsample"))?;
    let y = b.add(&y, &s)?;
    Ok(b.relu(&y))
}

pub fn resnext_block_net(b: &mut Builder, x: &Val, cx: &Ctx) -> R<Val> {
    let mut y = b.conv_bn_relu(x, "conv1", "bn1", cx.ch(64), 3, 1, 1)?;
    for (i, (width, out)) in [(32, 64), (64, 128), (128, 256)].into_iter().enumerate() {
        for j in 0..2 {
            let stride = if i > 0 && j == 0 { 2 } else { 1 };
            y = b.scope(&format!("layer{}.{j}", i + 1), |b| block(b, &y, cx.ch(width), cx.ch(out), stride))?;
        }
    }
    gap_head(b, &y, "fc", cx.classes)
}
