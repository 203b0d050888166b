//! Small conv-BN-ReLU networks for 1x28x28 Fashion-MNIST, the built-in default training job:
//! they must train in minutes on two CPU cores.
use super::blocks::{basic_block, gap_head, Shortcut};
use crate::builder::{Builder, Val, R};
use crate::Ctx;

pub fn fmnist_vgg(b: &mut Builder, x: &Val, cx: &Ctx) -> R<Val> {
    let y = b.scope("features", |b| {
        let mut y = x.clone();
        for (i, c) in [32, 32, 0, 64, 64, 0].into_iter().enumerate() {
            y = if c == 0 {
                b.maxpool(&y, 2, 2, 0)?
            } else {
                b.conv_bn_relu(&y, &format!("{i}.0"), &format!("{i}.1"), cx.ch(c), 3, 1, 1)?
            };
        }
        Ok(y)
    })?;
    gap_head(b, &y, "fc", cx.classes)
}

pub fn fmnist_resnet(b: &mut Builder, x: &Val, cx: &Ctx) -> R<Val> {
    let mut y = b.conv_bn_relu(x, "conv1", "bn1", cx.ch(16), 3, 1, 1)?;
    for (i, planes) in [16, 32, 64].into_iter().enumerate() {
        let stride = if i == 0 { 1 } else { 2 };
        y = b.scope(&format!("layer{}.0", i + 1), |b| {
            basic_block(b, &y, cx.ch(planes), stride, Shortcut::Conv("shortcut"))
        })?;
    }
    gap_head(b, &y, "fc", cx.classes)
}
