//! Two small U-Nets stacked, then a classifier (SVHN-like). The first decodes with
//! ConvTranspose(stride 2), the second with Resize(nearest, x2); both concatenate encoder
//! skips on the channel axis, so pruning must keep the skip/decoder channel groups aligned.
use super::blocks::gap_head;
use crate::builder::{fail, Builder, Val, R};
use crate::Ctx;

#[derive(Clone, Copy, PartialEq)]
enum Up {
    ConvTranspose,
    Resize,
}

/// conv3x3 (`{name}.0`) - BN (`{name}.1`) - ReLU.
fn cbr(b: &mut Builder, x: &Val, name: &str, out: i64) -> R<Val> {
    b.conv_bn_relu(x, &format!("{name}.0"), &format!("{name}.1"), out, 3, 1, 1)
}

fn up(b: &mut Builder, x: &Val, name: &str, out: i64, kind: Up) -> R<Val> {
    match kind {
        Up::ConvTranspose => b.conv_transpose(x, name, out, 2, 2, 0, true),
        Up::Resize => b.resize_nearest(x, 2),
    }
}

fn unet(b: &mut Builder, x: &Val, cx: &Ctx, kind: Up) -> R<Val> {
    let [c1, c2, c3] = [16, 32, 64].map(|c| cx.ch(c));
    let e1 = cbr(b, x, "enc1", c1)?;
    let p1 = b.maxpool(&e1, 2, 2, 0)?;
    let e2 = cbr(b, &p1, "enc2", c2)?;
    let p2 = b.maxpool(&e2, 2, 2, 0)?;
    let m = cbr(b, &p2, "mid", c3)?;
    let u2 = up(b, &m, "up2", c2, kind)?;
    let d2 = b.concat(&[&u2, &e2], 1)?;
    let d2 = cbr(b, &d2, "dec2", c2)?;
    let u1 = up(b, &d2, "up1", c1, kind)?;
    let d1 = b.concat(&[&u1, &e1], 1)?;
    cbr(b, &d1, "dec1", c1)
}

pub fn stacked_unets(b: &mut Builder, x: &Val, cx: &Ctx) -> R<Val> {
    if cx.h % 4 != 0 || cx.w % 4 != 0 {
        return fail(format!("stacked_unets needs H and W divisible by 4, got {}x{}", cx.h, cx.w));
    }
    let y = b.scope("unet1", |b| unet(b, x, cx, Up::ConvTranspose))?;
    let y = b.scope("unet2", |b| unet(b, &y, cx, Up::Resize))?;
    gap_head(b, &y, "fc", cx.classes)
}
