//! The OTOv2 paper's Figure-2 network: a residual-like sum of two BN branches concatenated
//! with the trunk, so one minimally removable structure spans Conv1/BN1, Conv2/BN2, Conv3/BN3
//! and the matching BN4/Conv5 input channels.
use crate::builder::{Builder, Val, R};
use crate::Ctx;

pub fn demonet(b: &mut Builder, x: &Val, cx: &Ctx) -> R<Val> {
    let c = cx.ch(32);
    let x1 = b.conv_bn_relu(x, "conv1", "bn1", c, 3, 1, 1)?;
    let a = b.conv(&x1, "conv2", c, 3, 1, 1, 1, true)?;
    let a = b.bn(&a, "bn2")?;
    let r = b.conv(&x1, "conv3", c, 1, 1, 0, 1, true)?;
    let r = b.bn(&r, "bn3")?;
    let x2 = b.add(&a, &r)?;
    let y = b.concat(&[&x1, &x2], 1)?;
    let y = b.bn(&y, "bn4")?;
    let y = b.conv(&y, "conv5", 2 * c, 3, 1, 1, 1, true)?;
    let y = b.global_avg_pool(&y)?;
    let y = b.flatten(&y);
    let y = b.gemm(&y, "fc1", c)?;
    b.gemm(&y, "fc2", cx.classes)
}
