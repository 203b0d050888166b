//! Pooling (`MaxPool`, `AveragePool` from the typed [`Pool`], their global forms) and the
//! `Reduce*` reductions.
use super::conv::resolve_pads;
use super::kernel::{ints, norm_axis, req, torch_pads, Ints, E, R};
use oto_graph::ops::pool::{Pool, PoolKind};
use tch::{Kind, Tensor};

#[derive(Clone, Copy, Debug)]
pub enum Red {
    Mean,
    Sum,
    Max,
    Min,
}

pub fn pool(s: &Pool, x: &Tensor) -> R<Tensor> {
    let xs = x.size();
    let k = &s.kernel_shape;
    let nd = k.len();
    if xs.len() != nd + 2 || !(1..=3).contains(&nd) {
        return Err(E(format!("a {nd}-d pooling kernel does not fit an input of shape {xs:?}")));
    }
    let max = s.kind == PoolKind::Max;
    let st = s.strides.clone().unwrap_or_else(|| vec![1; nd]);
    let pads = s.pads.clone().unwrap_or_else(|| vec![0; 2 * nd]);
    let dil = if max { s.dilations.clone().unwrap_or_else(|| vec![1; nd]) } else { vec![1; nd] };
    let (pb, pe) = resolve_pads(&pads, s.auto_pad, &xs[2..], k, &st, &dil);
    let symmetric =
        pb == pe && (0..nd).all(|i| if max { pb[i] <= ((k[i] - 1) * dil[i] + 1) / 2 } else { pb[i] <= k[i] / 2 });
    let ceil = s.ceil_mode;
    let run = |x: &Tensor, pad: &[i64], cip: bool| -> R<Tensor> {
        Ok(match (max, nd) {
            (true, 1) => x.f_max_pool1d(k, &st, pad, &dil, ceil)?,
            (true, 2) => x.f_max_pool2d(k, &st, pad, &dil, ceil)?,
            (true, _) => x.f_max_pool3d(k, &st, pad, &dil, ceil)?,
            (false, 1) => x.f_avg_pool1d(k, &st, pad, ceil, cip)?,
            (false, 2) => x.f_avg_pool2d(k, &st, pad, ceil, cip, None)?,
            (false, _) => x.f_avg_pool3d(k, &st, pad, ceil, cip, None)?,
        })
    };
    if symmetric {
        return run(x, &pb, s.count_include_pad);
    }
    let zeros = vec![0i64; nd];
    let tp = torch_pads(&pb, &pe);
    if max {
        let xp = x.f_pad(&tp, "constant", Some(f64::NEG_INFINITY))?;
        run(&xp, &zeros, false)
    } else if s.count_include_pad {
        let xp = x.f_constant_pad_nd(&tp)?;
        run(&xp, &zeros, true)
    } else {
        // Average over the real elements only: pooled sums of x and of a validity mask.
        let xp = x.f_constant_pad_nd(&tp)?;
        let mut ms = vec![1i64; nd + 2];
        ms[2..].copy_from_slice(&xs[2..]);
        let mask = Tensor::f_ones(&ms, (x.kind(), x.device()))?.f_constant_pad_nd(&tp)?;
        Ok(run(&xp, &zeros, true)?.f_div(&run(&mask, &zeros, true)?)?)
    }
}

pub fn global_pool(x: &Tensor, max: bool) -> R<Tensor> {
    let dims: Vec<i64> = (2..x.dim() as i64).collect();
    Ok(if max { x.f_amax(&dims, true)? } else { x.f_mean_dim(&dims, true, None::<Kind>)? })
}

pub fn reduce(red: Red, axes: &Ints, keepdims: bool, noop_empty: bool, xs: &[Option<&Tensor>]) -> R<Tensor> {
    let x = req(xs, 0)?;
    let rank = x.dim() as i64;
    let axes = ints(axes, xs)?.unwrap_or_default();
    if axes.is_empty() && noop_empty {
        return Ok(x.shallow_clone());
    }
    let dims: Vec<i64> =
        if axes.is_empty() { (0..rank).collect() } else { axes.iter().map(|&a| norm_axis(a, rank)).collect::<R<_>>()? };
    Ok(match red {
        Red::Mean => x.f_mean_dim(&dims, keepdims, None::<Kind>)?,
        Red::Sum => x.f_sum_dim_intlist(&dims, keepdims, None::<Kind>)?,
        Red::Max => x.f_amax(&dims, keepdims)?,
        Red::Min => x.f_amin(&dims, keepdims)?,
    })
}
