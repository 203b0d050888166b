//! Normalisations: `BatchNormalization`, `LayerNormalization`, `GroupNormalization`,
//! `InstanceNormalization` (libtorch's fused kernels).
use super::kernel::{norm_axis, opt, req, Ctx, RankSum, E, R};
use tch::{Kind, Tensor};

/// `train`: batch statistics, running statistics updated in place; the optional mean/var
/// outputs (opset ≥ 14) are the running tensors. With `ctx.rank_sum` (data-parallel training,
/// `--sync-bn`) the batch statistics are those of the global batch over all ranks.
pub fn batch_norm(xs: &[Option<&Tensor>], eps: f64, momentum: f64, nout: usize, ctx: &Ctx) -> R<Vec<Tensor>> {
    let x = req(xs, 0)?;
    let (sc, b, m, v) = (req(xs, 1)?, req(xs, 2)?, req(xs, 3)?, req(xs, 4)?);
    let y = match ctx.rank_sum {
        Some(sum) if ctx.train => sync_batch_norm(x, sc, b, m, v, eps, momentum, sum)?,
        _ => x.f_batch_norm(Some(sc), Some(b), Some(m), Some(v), ctx.train, 1.0 - momentum, eps, true)?,
    };
    let mut out = vec![y];
    for k in 1..nout {
        out.push(if k == 1 { m.shallow_clone() } else { v.shallow_clone() });
    }
    Ok(out)
}

/// BatchNorm over the global batch of all ranks: the per-channel count, Σ(x−s) and Σ(x−s)² are
/// summed over the ranks (differentiably), with s the running mean as a shift for precision;
/// mean = s + Σ(x−s)/n, var = Σ(x−s)²/n − (Σ(x−s)/n)² (biased for normalising, ×n/(n−1) for
/// the running variance), running = momentum·running + (1−momentum)·batch (ONNX's convention).
#[allow(clippy::too_many_arguments)]
fn sync_batch_norm(x: &Tensor, sc: &Tensor, b: &Tensor, m: &Tensor, v: &Tensor, eps: f64, momentum: f64, sum: &RankSum) -> R<Tensor> {
    let shape = x.size();
    if shape.len() < 2 {
        return Err(E(format!("synchronised BatchNorm needs [N, C, ...], got {shape:?}")));
    }
    let c = shape[1];
    let axes: Vec<i64> = (0..shape.len() as i64).filter(|&d| d != 1).collect();
    let mut per_channel = vec![1i64; shape.len()];
    per_channel[1] = c;
    let shift = m.detach().to_kind(Kind::Float);
    let d = x.f_sub(&shift.to_kind(x.kind()).view(per_channel.as_slice()))?;
    let s1 = d.f_sum_dim_intlist(axes.as_slice(), false, Kind::Float)?;
    let s2 = d.f_mul(&d)?.f_sum_dim_intlist(axes.as_slice(), false, Kind::Float)?;
    let count = Tensor::full([1], (x.numel() as i64 / c.max(1)) as f64, (Kind::Float, x.device()));
    let total = sum(&Tensor::f_cat(&[s1, s2, count], 0)?)?;
    let n = total.f_double_value(&[2 * c])?;
    let mean_d = total.narrow(0, 0, c) / n;
    let var = (total.narrow(0, c, c) / n - &mean_d * &mean_d).clamp_min(0.0);
    let mean = &mean_d + &shift;
    tch::no_grad(|| -> R<()> {
        let unbiased = &var * (n / (n - 1.0).max(1.0));
        m.shallow_clone().f_copy_(&(m * momentum + mean.detach().to_kind(m.kind()) * (1.0 - momentum)))?;
        v.shallow_clone().f_copy_(&(v * momentum + unbiased.detach().to_kind(v.kind()) * (1.0 - momentum)))?;
        Ok(())
    })?;
    let inv = (var + eps).rsqrt();
    let scale = (inv * sc.to_kind(Kind::Float)).to_kind(x.kind()).view(per_channel.as_slice());
    let mean = mean.to_kind(x.kind()).view(per_channel.as_slice());
    Ok(x.f_sub(&mean)?.f_mul(&scale)?.f_add(&b.view(per_channel.as_slice()))?)
}

pub fn layer_norm(xs: &[Option<&Tensor>], axis: i64, eps: f64) -> R<Tensor> {
    let x = req(xs, 0)?;
    let shape = x.size();
    let a = norm_axis(axis, shape.len() as i64)? as usize;
    let ns = &shape[a..];
    let sc = opt(xs, 1);
    let b = opt(xs, 2);
    let exact = sc.is_none_or(|s| s.size() == ns) && b.is_none_or(|b| b.size() == ns);
    if exact {
        return Ok(x.f_layer_norm(ns, sc, b, eps, true)?);
    }
    let mut y = x.f_layer_norm(ns, None::<&Tensor>, None::<&Tensor>, eps, true)?;
    if let Some(s) = sc {
        y = y.f_mul(s)?;
    }
    if let Some(b) = b {
        y = y.f_add(b)?;
    }
    Ok(y)
}

/// Scale and bias per channel, or per group (opset 18).
pub fn group_norm(xs: &[Option<&Tensor>], groups: i64, eps: f64) -> R<Tensor> {
    let x = req(xs, 0)?;
    let shape = x.size();
    let c = *shape.get(1).ok_or("GroupNormalization needs a rank >= 2 input")?;
    let (sc, b) = (req(xs, 1)?, req(xs, 2)?);
    if sc.numel() as i64 == c {
        Ok(x.f_group_norm(groups, Some(sc), Some(b), eps, true)?)
    } else if sc.numel() as i64 == groups && c % groups == 0 {
        // opset 18: one scale/bias per group.
        let y = x.f_group_norm(groups, None::<&Tensor>, None::<&Tensor>, eps, true)?;
        let mut bshape = vec![1i64; shape.len()];
        bshape[1] = c;
        let rep = c / groups;
        let s = sc.f_reshape([-1])?.f_repeat_interleave_self_int(rep, 0, None)?.f_reshape(&bshape)?;
        let bb = b.f_reshape([-1])?.f_repeat_interleave_self_int(rep, 0, None)?.f_reshape(&bshape)?;
        Ok(y.f_mul(&s)?.f_add(&bb)?)
    } else {
        Err(E(format!("scale has {} values; expected {c} (channels) or {groups} (groups)", sc.numel())))
    }
}

pub fn instance_norm(xs: &[Option<&Tensor>], eps: f64) -> R<Tensor> {
    let x = req(xs, 0)?;
    let (sc, b) = (req(xs, 1)?, req(xs, 2)?);
    Ok(x.f_instance_norm(Some(sc), Some(b), None, None, true, 0.0, eps, true)?)
}

/// `LRN`: y_c = x_c / (bias + α/size · Σ_{k ∈ window(c)} x_k²)^β, the window running from
/// c − ⌊(size−1)/2⌋ to c + ⌈(size−1)/2⌉ (zero outside the channels). The window sum is an
/// average pool with divisor 1 over the channel axis of x² seen as `[N, 1, C, rest]`.
pub fn lrn(x: &Tensor, size: i64, alpha: f64, beta: f64, bias: f64) -> R<Tensor> {
    let shape = x.size();
    if shape.len() < 3 {
        return Err(E(format!("LRN expects an input of rank >= 3, got {shape:?}")));
    }
    let (n, c) = (shape[0], shape[1]);
    let sq = x.f_square()?.f_reshape([n, 1, c, -1])?;
    let before = (size - 1) / 2;
    let padded = sq.f_constant_pad_nd([0, 0, before, size - 1 - before])?;
    let sum = padded.f_avg_pool2d([size, 1], [1, 1], [0, 0], false, true, Some(1))?.f_reshape(&shape)?;
    let div = sum.f_mul_scalar(alpha / size as f64)?.f_add_scalar(bias)?.f_pow_tensor_scalar(beta)?;
    Ok(x.f_div(&div)?)
}
