//! A tiny ViT-style encoder: 4x4 conv patch embedding reshaped to tokens [N,T,D], learned
//! position embedding, pre-norm layers with multi-head self-attention (Q/K/V projections as
//! MatMul+Add, heads by Reshape/Transpose, MatMul-Softmax-MatMul) and a GELU MLP, then
//! ReduceMean over tokens and a Linear head. Exercises pruning of attention heads and MLPs.
use crate::builder::{fail, Builder, Val, BATCH, R};
use crate::Ctx;

const HEADS: i64 = 4;
const DEPTH: usize = 2;
const EPS: f32 = 1e-5;

/// [N,T,D] -> [N,heads,T,dh] (or [N,heads,dh,T] when `keys`).
fn split_heads(b: &mut Builder, x: &Val, keys: bool) -> R<Val> {
    let (t, d) = (x.shape[1], x.shape[2]);
    let y = b.reshape(x, &[BATCH, t, HEADS, d / HEADS])?;
    Ok(b.transpose(&y, if keys { &[0, 2, 3, 1] } else { &[0, 2, 1, 3] }))
}

fn attention(b: &mut Builder, x: &Val) -> R<Val> {
    let (t, d) = (x.shape[1], x.shape[2]);
    let q = b.matmul_weight(x, "q", d, true)?;
    let k = b.matmul_weight(x, "k", d, true)?;
    let v = b.matmul_weight(x, "v", d, true)?;
    let (q, k, v) = (split_heads(b, &q, false)?, split_heads(b, &k, true)?, split_heads(b, &v, false)?);
    let s = b.matmul(&q, &k)?;
    let s = b.mul_scalar(&s, 1.0 / ((d / HEADS) as f32).sqrt());
    let a = b.softmax(&s);
    let o = b.matmul(&a, &v)?;
    let o = b.transpose(&o, &[0, 2, 1, 3]);
    let o = b.reshape(&o, &[BATCH, t, d])?;
    b.matmul_weight(&o, "proj", d, true)
}

fn layer(b: &mut Builder, x: &Val) -> R<Val> {
    let d = x.shape[2];
    let h = b.layer_norm(x, "norm1", EPS)?;
    let h = b.scope("attn", |b| attention(b, &h))?;
    let x = b.add(x, &h)?;
    let h = b.layer_norm(&x, "norm2", EPS)?;
    let h = b.matmul_weight(&h, "mlp.fc1", 4 * d, true)?;
    let h = b.gelu(&h);
    let h = b.matmul_weight(&h, "mlp.fc2", d, true)?;
    b.add(&x, &h)
}

pub fn tiny_transformer(b: &mut Builder, x: &Val, cx: &Ctx) -> R<Val> {
    let d = cx.ch(64);
    if d % HEADS != 0 {
        return fail(format!("embedding width {d} is not divisible by {HEADS} heads"));
    }
    let p = b.conv(x, "patch_embed.proj", d, 4, 4, 0, 1, true)?;
    let t = p.h() * p.w();
    let p = b.reshape(&p, &[BATCH, d, t])?;
    let tokens = b.transpose(&p, &[0, 2, 1]);
    let mut y = b.param_op("Add", &tokens, "pos_embed", &[1, t, d], |i, n| i.normal(n, 0.02))?;
    for i in 0..DEPTH {
        y = b.scope(&format!("blocks.{i}"), |b| layer(b, &y))?;
    }
    let y = b.layer_norm(&y, "norm", EPS)?;
    let y = b.reduce_mean(&y, &[1]);
    b.gemm(&y, "head", cx.classes)
}
