//! CARN (Ahn et al. 2018) super-resolution: residual units inside cascading blocks whose
//! outputs are concatenated and fused by 1x1 convs at both the block and the network level;
//! upsampling is conv + PixelShuffle (DepthToSpace, CRD), once for x2 and twice for x4.
use crate::builder::{Builder, Val, R};
use crate::Ctx;

/// conv3x3-ReLU-conv3x3 + x, ReLU (`body.0`, `body.2`).
fn residual(b: &mut Builder, x: &Val) -> R<Val> {
    let c = x.c();
    let y = b.conv(x, "body.0", c, 3, 1, 1, 1, true)?;
    let y = b.relu(&y);
    let y = b.conv(&y, "body.2", c, 3, 1, 1, 1, true)?;
    let y = b.add(&y, x)?;
    Ok(b.relu(&y))
}

/// 1x1 conv + ReLU fusing a concatenation back to `c` channels (`body.0`).
fn fuse(b: &mut Builder, x: &Val, c: i64) -> R<Val> {
    let y = b.conv(x, "body.0", c, 1, 1, 0, 1, true)?;
    Ok(b.relu(&y))
}

/// Three units `b1..b3` with cascading concats fused by `c1..c3`.
fn cascade(b: &mut Builder, x: &Val, unit: fn(&mut Builder, &Val) -> R<Val>) -> R<Val> {
    let c = x.c();
    let (mut cat, mut o) = (x.clone(), x.clone());
    for i in 1..=3 {
        let u = b.scope(&format!("b{i}"), |b| unit(b, &o))?;
        cat = b.concat(&[&cat, &u], 1)?;
        o = b.scope(&format!("c{i}"), |b| fuse(b, &cat, c))?;
    }
    Ok(o)
}

fn block(b: &mut Builder, x: &Val) -> R<Val> {
    cascade(b, x, residual)
}

fn carn(b: &mut Builder, x: &Val, ch: i64, steps: usize) -> R<Val> {
    let out_c = x.c();
    let y = b.conv(x, "entry", ch, 3, 1, 1, 1, true)?;
    let mut y = cascade(b, &y, block)?;
    for s in 0..steps {
        y = b.scope(&format!("upsample.up.body.{}", 2 * s), |b| {
            let u = b.conv(&y, "0", 4 * ch, 3, 1, 1, 1, true)?;
            let u = b.relu(&u);
            b.depth_to_space(&u, 2)
        })?;
    }
    b.conv(&y, "exit", out_c, 3, 1, 1, 1, true)
}

pub fn carn_x2(b: &mut Builder, x: &Val, cx: &Ctx) -> R<Val> {
    carn(b, x, cx.ch(64), 1)
}
pub fn carn_x4(b: &mut Builder, x: &Val, cx: &Ctx) -> R<Val> {
    carn(b, x, cx.ch(64), 2)
}
pub fn carn_mini(b: &mut Builder, x: &Val, cx: &Ctx) -> R<Val> {
    carn(b, x, cx.ch(16), 1)
}
