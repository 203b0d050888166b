//! Data movement and shape computations: `Concat`, `Split`, `Slice`, `Gather`, `Shape`, `Size`,
//! `Reshape`, `Flatten`, `Transpose`, `Squeeze`, `Unsqueeze`, `Expand`, `Tile`,
//! `ConstantOfShape`, `Range` and `Pad`. Integer shape values are small CPU int64 tensors.
use super::kernel::{align, as_int64, ints, norm_axis, read_f64, read_ints, req, scal, torch_pads, Ctx, Ints, Scal, E, R};
use oto_graph::ops::pad::PadMode;
use tch::{Device, Kind, Tensor};

pub fn concat(xs: &[Option<&Tensor>], axis: i64) -> R<Tensor> {
    let ins: Vec<&Tensor> = xs.iter().flatten().copied().collect();
    let first = ins.first().ok_or("no inputs")?;
    let a = norm_axis(axis, first.dim() as i64)?;
    let dev = ins.iter().map(|t| t.device()).find(|d| *d != Device::Cpu).unwrap_or(Device::Cpu);
    let ts: Vec<Tensor> = ins.iter().map(|t| if t.device() != dev { t.to_device(dev) } else { t.shallow_clone() }).collect();
    Ok(Tensor::f_cat(&ts, a)?)
}

/// Sizes from the argument, else `num_outputs` (or the node's outputs) equal parts.
pub fn split(xs: &[Option<&Tensor>], axis: i64, sizes: &Ints, num_outputs: Option<i64>, nout: usize) -> R<Vec<Tensor>> {
    let x = req(xs, 0)?;
    let a = norm_axis(axis, x.dim() as i64)?;
    let dim = x.size()[a as usize];
    let sizes = match ints(sizes, xs)? {
        Some(s) if !s.is_empty() => s,
        _ => {
            let n = num_outputs.unwrap_or(nout as i64).max(1);
            let chunk = (dim + n - 1) / n;
            let mut v = vec![chunk; n as usize];
            let last = dim - chunk * (n - 1);
            *v.last_mut().unwrap() = last;
            v
        }
    };
    Ok(x.f_split_with_sizes(&sizes, a)?)
}

pub fn slice(x: &Tensor, starts: &[i64], ends: &[i64], axes: Option<Vec<i64>>, steps: Option<Vec<i64>>) -> R<Tensor> {
    let shape = x.size();
    let rank = shape.len() as i64;
    let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let mut y = x.shallow_clone();
    for (j, &a) in axes.iter().enumerate() {
        let a = norm_axis(a, rank)?;
        let dim = shape[a as usize];
        let step = steps.as_ref().and_then(|s| s.get(j).copied()).unwrap_or(1);
        if step == 0 {
            return Err("slice step 0".into());
        }
        let fix = |v: i64| if v < 0 { v.saturating_add(dim) } else { v };
        let mut s = fix(*starts.get(j).ok_or("starts shorter than axes")?);
        let mut e = fix(*ends.get(j).ok_or("ends shorter than axes")?);
        if step > 0 {
            s = s.clamp(0, dim);
            e = e.clamp(0, dim);
            if e <= s {
                y = y.f_narrow(a, 0, 0)?;
            } else {
                y = y.f_slice(a, s, e, step)?;
            }
        } else {
            s = s.clamp(0, dim - 1);
            e = e.clamp(-1, dim - 1);
            if e >= s {
                y = y.f_narrow(a, 0, 0)?;
            } else {
                // Reverse the axis: index i ↦ dim−1−i.
                let (ns, ne) = (dim - 1 - s, dim - 1 - e);
                y = y.f_flip([a])?.f_slice(a, ns, ne, -step)?;
            }
        }
    }
    Ok(y)
}

/// The index tensor of a gather on `x`'s device, as int64.
fn indices(x: &Tensor, idx: &Tensor) -> R<Tensor> {
    as_int64(align(x, idx))
}

/// `GatherElements`: `y[i][j]… = x[…idx[i][j]… on axis…]` (negative indices count from the end).
pub fn gather_elements(x: &Tensor, idx: &Tensor, axis: i64) -> R<Tensor> {
    let a = norm_axis(axis, x.dim() as i64)?;
    let dim = x.size()[a as usize];
    Ok(x.f_gather(a, &indices(x, idx)?.f_remainder(dim)?, false)?)
}

/// `GatherND` with `batch_dims = 0`: `y[i…] = x[idx[i…, 0], …, idx[i…, k−1], …]`.
pub fn gather_nd(x: &Tensor, idx: &Tensor) -> R<Tensor> {
    let idx = indices(x, idx)?;
    let ish = idx.size();
    let k = *ish.last().ok_or("GatherND indices must have rank >= 1")?;
    if k < 1 || k as usize > x.dim() {
        return Err(format!("GatherND index depth {k} does not fit data of rank {}", x.dim()).into());
    }
    let flat = idx.f_reshape([-1, k])?;
    let cols: Vec<Option<Tensor>> =
        (0..k).map(|j| flat.f_select(1, j).and_then(|c| c.f_remainder(x.size()[j as usize])).map(Some)).collect::<Result<_, _>>()?;
    let y = x.f_index(&cols)?;
    let mut shape = ish[..ish.len() - 1].to_vec();
    shape.extend(&x.size()[k as usize..]);
    Ok(y.f_reshape(&shape)?)
}

/// Negative indices count from the end; scalar indices drop the axis.
pub fn gather(x: &Tensor, idx: &Tensor, axis: i64) -> R<Tensor> {
    let rank = x.dim() as i64;
    let a = norm_axis(axis, rank)?;
    let dim = x.size()[a as usize];
    let idx = indices(x, idx)?.f_remainder(dim)?;
    if idx.dim() == 0 {
        return Ok(x.f_index_select(a, &idx.f_reshape([1])?)?.f_squeeze_dims([a])?);
    }
    let mut shape = x.size()[..a as usize].to_vec();
    shape.extend(idx.size());
    shape.extend(&x.size()[a as usize + 1..]);
    Ok(x.f_index_select(a, &idx.f_reshape([-1])?)?.f_reshape(&shape)?)
}

pub fn shape_of(x: &Tensor, start: i64, end: Option<i64>) -> Tensor {
    let s = x.size();
    let r = s.len() as i64;
    let fix = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
    let (a, b) = (fix(start), fix(end.unwrap_or(r)));
    Tensor::from_slice(if a < b { &s[a..b] } else { &[] })
}

pub fn size(x: &Tensor) -> Tensor {
    Tensor::from(x.numel() as i64)
}

/// Without `allowzero`, a 0 copies the input's dim.
pub fn reshape(xs: &[Option<&Tensor>], shape: &Ints, allowzero: bool) -> R<Tensor> {
    let x = req(xs, 0)?;
    let mut s = ints(shape, xs)?.ok_or("missing shape")?;
    if !allowzero {
        let xs = x.size();
        for (i, d) in s.iter_mut().enumerate() {
            if *d == 0 {
                *d = *xs.get(i).ok_or("shape has a 0 beyond the input's rank")?;
            }
        }
    }
    Ok(x.f_reshape(&s)?)
}

pub fn flatten(x: &Tensor, axis: i64) -> R<Tensor> {
    let s = x.size();
    let r = s.len() as i64;
    let a = if axis < 0 { axis + r } else { axis }.clamp(0, r) as usize;
    let outer: i64 = s[..a].iter().product();
    let inner: i64 = s[a..].iter().product();
    Ok(x.f_reshape([outer, inner])?)
}

pub fn transpose(x: &Tensor, perm: &Option<Vec<i64>>) -> R<Tensor> {
    let p = perm.clone().unwrap_or_else(|| (0..x.dim() as i64).rev().collect());
    Ok(x.f_permute(&p)?)
}

pub fn squeeze(xs: &[Option<&Tensor>], axes: &Ints) -> R<Tensor> {
    let x = req(xs, 0)?;
    match ints(axes, xs)? {
        Some(a) if !a.is_empty() => {
            let r = x.dim() as i64;
            let a: Vec<i64> = a.iter().map(|&v| norm_axis(v, r)).collect::<R<_>>()?;
            Ok(x.f_squeeze_dims(&a)?)
        }
        _ => Ok(x.f_squeeze()?),
    }
}

pub fn unsqueeze(xs: &[Option<&Tensor>], axes: &Ints) -> R<Tensor> {
    let x = req(xs, 0)?;
    let a = ints(axes, xs)?.ok_or("missing axes")?;
    let out_rank = x.dim() as i64 + a.len() as i64;
    let mut a: Vec<i64> = a.iter().map(|&v| norm_axis(v, out_rank)).collect::<R<_>>()?;
    a.sort();
    let mut y = x.shallow_clone();
    for d in a {
        y = y.f_unsqueeze(d)?;
    }
    Ok(y)
}

fn broadcast_shape(a: &[i64], b: &[i64]) -> R<Vec<i64>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n { a[i + a.len() - n] } else { 1 };
        let db = if i + b.len() >= n { b[i + b.len() - n] } else { 1 };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(E(format!("shapes {a:?} and {b:?} do not broadcast")));
        };
    }
    Ok(out)
}

pub fn expand(xs: &[Option<&Tensor>], shape: &Ints) -> R<Tensor> {
    let x = req(xs, 0)?;
    let s = ints(shape, xs)?.ok_or("missing shape")?;
    let target = broadcast_shape(&x.size(), &s)?;
    Ok(x.f_expand(&target, false)?)
}

pub fn tile(xs: &[Option<&Tensor>], reps: &Ints) -> R<Tensor> {
    let x = req(xs, 0)?;
    let r = ints(reps, xs)?.ok_or("missing repeats")?;
    Ok(x.f_repeat(&r)?)
}

/// Float results go on the executor's device, integer ones stay on the CPU.
pub fn constant_of_shape(xs: &[Option<&Tensor>], shape: &Ints, value: f64, kind: Kind, ctx: &Ctx) -> R<Tensor> {
    let s = ints(shape, xs)?.ok_or("missing shape")?;
    let dev = if kind == ctx.kind { ctx.device } else { Device::Cpu };
    Ok(Tensor::f_full(&s, value, (kind, dev))?)
}

pub fn range(xs: &[Option<&Tensor>]) -> R<Tensor> {
    let (s, l, d) = (req(xs, 0)?, req(xs, 1)?, req(xs, 2)?);
    if s.is_floating_point() {
        let (a, b, c) = (read_f64(s)?, read_f64(l)?, read_f64(d)?);
        Ok(Tensor::f_arange_start_step(a, b, c, (s.kind(), s.device()))?)
    } else {
        let (a, b, c) = (read_ints(s)?[0], read_ints(l)?[0], read_ints(d)?[0]);
        Ok(Tensor::f_arange_start_step(a, b, c, (Kind::Int64, Device::Cpu))?)
    }
}

pub fn pad_node(xs: &[Option<&Tensor>], mode: PadMode, pads: &Ints, value: &Scal, axes: &Ints) -> R<Tensor> {
    let p = ints(pads, xs)?.ok_or("missing pads")?;
    let v = scal(value, xs)?.unwrap_or(0.0);
    pad(mode, req(xs, 0)?, &p, v, ints(axes, xs)?)
}

fn pad(mode: PadMode, x: &Tensor, pads: &[i64], value: f64, axes: Option<Vec<i64>>) -> R<Tensor> {
    let rank = x.dim() as i64;
    let axes: Vec<i64> = match axes {
        Some(a) => a.iter().map(|&a| norm_axis(a, rank)).collect::<R<_>>()?,
        None => (0..rank).collect(),
    };
    let na = axes.len();
    if pads.len() != 2 * na {
        return Err(E(format!("pads has {} values, expected {}", pads.len(), 2 * na)));
    }
    let mut b = vec![0i64; rank as usize];
    let mut e = vec![0i64; rank as usize];
    for (j, &a) in axes.iter().enumerate() {
        b[a as usize] = pads[j];
        e[a as usize] = pads[na + j];
    }
    let first = (0..rank as usize).find(|&d| b[d] != 0 || e[d] != 0);
    let Some(first) = first else { return Ok(x.shallow_clone()) };
    let tp = torch_pads(&b[first..], &e[first..]);
    let m = match mode {
        PadMode::Constant if value == 0.0 => return Ok(x.f_constant_pad_nd(&tp)?),
        PadMode::Constant => return Ok(x.f_pad(&tp, "constant", Some(value))?),
        PadMode::Reflect => "reflect",
        PadMode::Edge => "replicate",
        PadMode::Wrap => "circular",
    };
    let padded = rank as usize - first;
    if padded > 3 || padded + 2 > rank as usize && rank < 3 {
        return Err(E(format!("{m} padding supports at most the last 3 dims of a batched input (pads {pads:?})")));
    }
    Ok(x.f_pad(&tp, m, None)?)
}
