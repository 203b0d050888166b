//! Blocks shared by several families: the ResNet basic block with either kind of shortcut,
//! and the GAP -> Flatten -> Linear classifier head.
use crate::builder::{Builder, Val, R};

/// How a residual block matches shapes when stride or width changes.
#[derive(Clone, Copy)]
pub enum Shortcut {
    /// 1x1 conv + BN named `{name}.0` / `{name}.1` (option B, torchvision `downsample`).
    Conv(&'static str),
    /// `x[:, :, ::2, ::2]` then zero channel padding (option A).
    SlicePad,
}

/// Identity or projection shortcut for a block whose main path outputs `planes` at `stride`.
pub fn shortcut(b: &mut Builder, x: &Val, planes: i64, stride: i64, kind: Shortcut) -> R<Val> {
    if stride == 1 && x.c() == planes {
        return Ok(x.clone());
    }
    match kind {
        Shortcut::Conv(name) => {
            let y = b.conv(x, &format!("{name}.0"), planes, 1, stride, 0, 1, false)?;
            b.bn(&y, &format!("{name}.1"))
        }
        Shortcut::SlicePad => {
            let y = if stride == 2 { b.subsample2(x)? } else { x.clone() };
            let extra = planes - y.c();
            b.pad_channels(&y, extra / 2, extra - extra / 2)
        }
    }
}

/// conv1-bn1-relu-conv2-bn2 + shortcut, relu.
pub fn basic_block(b: &mut Builder, x: &Val, planes: i64, stride: i64, kind: Shortcut) -> R<Val> {
    let y = b.conv_bn_relu(x, "conv1", "bn1", planes, 3, stride, 1)?;
    let y = b.conv(&y, "conv2", planes, 3, 1, 1, 1, false)?;
    let y = b.bn(&y, "bn2")?;
    let s = shortcut(b, x, planes, stride, kind)?;
    let y = b.add(&y, &s)?;
    Ok(b.relu(&y))
}

/// GlobalAveragePool -> Flatten -> Linear(`name`).
pub fn gap_head(b: &mut Builder, x: &Val, name: &str, classes: i64) -> R<Val> {
    let y = b.global_avg_pool(x)?;
    let y = b.flatten(&y);
    b.gemm(&y, name, classes)
}
