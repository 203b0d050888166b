//! CIFAR ResNets (He et al. 2016, section 4.2): 3 stages of 16/32/64 channels with n basic
//! blocks each, depth 6n+2. Option B uses projection shortcuts, option A the parameter-free
//! subsample-and-zero-pad shortcut, whose Pad node pruning must see through.
use super::blocks::{basic_block, gap_head, Shortcut};
use crate::builder::{Builder, Val, R};
use crate::Ctx;

fn cifar_resnet(b: &mut Builder, x: &Val, cx: &Ctx, depth: usize, kind: Shortcut) -> R<Val> {
    let n = (depth - 2) / 6;
    let y = b.conv_bn_relu(x, "conv1", "bn1", cx.ch(16), 3, 1, 1)?;
    let mut y = y;
    for (i, planes) in [16, 32, 64].into_iter().enumerate() {
        for j in 0..n {
            let stride = if i > 0 && j == 0 { 2 } else { 1 };
            y = b.scope(&format!("layer{}.{j}", i + 1), |b| basic_block(b, &y, cx.ch(planes), stride, kind))?;
        }
    }
    gap_head(b, &y, "linear", cx.classes)
}

pub fn resnet20(b: &mut Builder, x: &Val, cx: &Ctx) -> R<Val> {
    cifar_resnet(b, x, cx, 20, Shortcut::Conv("shortcut"))
}
pub fn resnet56(b: &mut Builder, x: &Val, cx: &Ctx) -> R<Val> {
    cifar_resnet(b, x, cx, 56, Shortcut::Conv("shortcut"))
}
pub fn resnet20_a(b: &mut Builder, x: &Val, cx: &Ctx) -> R<Val> {
    cifar_resnet(b, x, cx, 20, Shortcut::SlicePad)
}
pub fn resnet56_a(b: &mut Builder, x: &Val, cx: &Ctx) -> R<Val> {
    cifar_resnet(b, x, cx, 56, Shortcut::SlicePad)
}
