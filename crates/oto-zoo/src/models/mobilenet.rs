//! torchvision MobileNetV2: inverted residuals (1x1 expand, depthwise 3x3 with group = C,
//! linear 1x1 project), ReLU6 exported as Clip(0, 6), residual Add when stride 1 and the
//! width is unchanged. Inputs of at most 64 px keep the first two strides at 1 (CIFAR use).
use crate::builder::{Builder, Val, R};
use crate::Ctx;

const SETTINGS: [(i64, i64, usize, i64); 7] =
    [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)];

/// Conv (`{p}.0`) - BN (`{p}.1`) - ReLU6.
fn cbr6(b: &mut Builder, x: &Val, p: &str, out: i64, k: i64, s: i64, groups: i64) -> R<Val> {
    let y = b.conv(x, &format!("{p}.0"), out, k, s, k / 2, groups, false)?;
    let y = b.bn(&y, &format!("{p}.1"))?;
    Ok(b.clip(&y, 0.0, 6.0))
}

fn inverted_residual(b: &mut Builder, x: &Val, out: i64, stride: i64, t: i64) -> R<Val> {
    let hidden = x.c() * t;
    let (mut y, mut k) = (x.clone(), 0);
    if t != 1 {
        y = cbr6(b, &y, "conv.0", hidden, 1, 1, 1)?;
        k = 1;
    }
    y = cbr6(b, &y, &format!("conv.{k}"), hidden, 3, stride, hidden)?;
    y = b.conv(&y, &format!("conv.{}", k + 1), out, 1, 1, 0, 1, false)?;
    y = b.bn(&y, &format!("conv.{}", k + 2))?;
    if stride == 1 && x.c() == out {
        y = b.add(x, &y)?;
    }
    Ok(y)
}

pub fn mobilenet_v2(b: &mut Builder, x: &Val, cx: &Ctx) -> R<Val> {
    let small = cx.h.max(cx.w) <= 64;
    let y = b.scope("features", |b| {
        let mut y = cbr6(b, x, "0", cx.ch(32), 3, if small { 1 } else { 2 }, 1)?;
        let mut idx = 1;
        for (si, (t, c, n, s)) in SETTINGS.into_iter().enumerate() {
            let s = if small && si == 1 { 1 } else { s };
            for i in 0..n {
                let stride = if i == 0 { s } else { 1 };
                y = b.scope(&idx.to_string(), |b| inverted_residual(b, &y, cx.ch(c), stride, t))?;
                idx += 1;
            }
        }
        cbr6(b, &y, &idx.to_string(), cx.ch(1280).max(1280), 1, 1, 1)
    })?;
    let y = b.global_avg_pool(&y)?;
    let y = b.flatten(&y);
    b.gemm(&y, "classifier.1", cx.classes)
}
