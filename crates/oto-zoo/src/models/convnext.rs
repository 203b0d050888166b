//! ConvNeXt (Liu et al. 2022) as exported from PyTorch: channels-first LayerNorms become
//! Transpose-LN-Transpose, the inverted-bottleneck MLP runs in NHWC as MatMul + Add, GELU is
//! the Erf form and layer scale is a Mul by a per-channel vector.
use crate::builder::{Builder, Val, R};
use crate::init::Init;
use crate::Ctx;

const EPS: f32 = 1e-6;

fn block(b: &mut Builder, x: &Val) -> R<Val> {
    let c = x.c();
    let y = b.conv(x, "dwconv", c, 7, 1, 3, c, true)?;
    let y = b.transpose(&y, &[0, 2, 3, 1]);
    let y = b.layer_norm(&y, "norm", EPS)?;
    let y = b.matmul_weight(&y, "pwconv1", 4 * c, true)?;
    let y = b.gelu(&y);
    let y = b.matmul_weight(&y, "pwconv2", c, true)?;
    // Layer scale starts at 1e-6 as in the paper (non-trivial when randomizing).
    let gamma = |i: &mut Init, n| if i.randomize { i.uniform(n, 0.5, 1.5) } else { vec![1e-6; n] };
    let y = b.param_op("Mul", &y, "gamma", &[c], gamma)?;
    let y = b.transpose(&y, &[0, 3, 1, 2]);
    b.add(x, &y)
}

fn convnext(b: &mut Builder, x: &Val, cx: &Ctx, depths: [usize; 4], dims: [i64; 4]) -> R<Val> {
    let dims = dims.map(|d| cx.ch(d));
    let mut y = x.clone();
    for (i, (&n, &d)) in depths.iter().zip(&dims).enumerate() {
        y = b.scope(&format!("downsample_layers.{i}"), |b| {
            if i == 0 {
                let y = b.conv(&y, "0", d, 4, 4, 0, 1, true)?;
                b.layer_norm_cf(&y, "1", EPS)
            } else {
                let y = b.layer_norm_cf(&y, "0", EPS)?;
                b.conv(&y, "1", d, 2, 2, 0, 1, true)
            }
        })?;
        for j in 0..n {
            y = b.scope(&format!("stages.{i}.{j}"), |b| block(b, &y))?;
        }
    }
    let y = b.global_avg_pool(&y)?;
    let y = b.flatten(&y);
    let y = b.layer_norm(&y, "norm", EPS)?;
    b.gemm(&y, "head", cx.classes)
}

pub fn convnext_tiny(b: &mut Builder, x: &Val, cx: &Ctx) -> R<Val> {
    convnext(b, x, cx, [3, 3, 9, 3], [96, 192, 384, 768])
}
pub fn convnext_nano(b: &mut Builder, x: &Val, cx: &Ctx) -> R<Val> {
    convnext(b, x, cx, [2, 2, 6, 2], [40, 80, 160, 320])
}
pub fn convnext_mini(b: &mut Builder, x: &Val, cx: &Ctx) -> R<Val> {
    convnext(b, x, cx, [1, 1, 2, 1], [16, 32, 64, 128])
}
