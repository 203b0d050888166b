//! Resampling: `Resize` / `Upsample` (nearest and linear, every coordinate mode), and
//! `DepthToSpace` / `SpaceToDepth`.
use super::kernel::{ints, norm_axis, opt, req, Ints, R};
use tch::{Device, Kind, Tensor};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Coord {
    HalfPixel,
    PytorchHalfPixel,
    AlignCorners,
    Asymmetric,
    TfHalfPixelForNn,
    HalfPixelSymmetric,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NearestMode {
    RoundPreferFloor,
    RoundPreferCeil,
    Floor,
    Ceil,
}

/// A Resize with its modes resolved and constant scales / sizes captured.
#[derive(Clone, Debug)]
pub struct ResizeSpec {
    pub linear: bool,
    pub coord: Coord,
    pub nearest: NearestMode,
    pub scales_f: Option<Vec<f64>>,
    pub scales_input: Option<usize>,
    pub sizes: Ints,
    pub axes: Option<Vec<i64>>,
}

/// Source coordinate of output index `o` along one axis.
fn src_coord(coord: Coord, o: i64, in_len: i64, out_len: i64, scale: f64) -> f64 {
    let o = o as f64;
    match coord {
        Coord::HalfPixel => (o + 0.5) / scale - 0.5,
        Coord::PytorchHalfPixel => {
            if out_len > 1 {
                (o + 0.5) / scale - 0.5
            } else {
                0.0
            }
        }
        Coord::AlignCorners => {
            if out_len == 1 {
                0.0
            } else {
                o * (in_len - 1) as f64 / (out_len - 1) as f64
            }
        }
        Coord::Asymmetric => o / scale,
        Coord::TfHalfPixelForNn => (o + 0.5) / scale,
        Coord::HalfPixelSymmetric => {
            let adj = out_len as f64 / (scale * in_len as f64);
            let center = in_len as f64 / 2.0;
            let offset = center * (1.0 - adj);
            offset + (o + 0.5) / scale - 0.5
        }
    }
}

fn nearest_index(s: &ResizeSpec, k: i64, i_len: i64, o_len: i64, scale: f64) -> i64 {
    let c = src_coord(s.coord, k, i_len, o_len, scale);
    let r = match s.nearest {
        NearestMode::RoundPreferFloor => {
            if c == c.floor() + 0.5 {
                c.floor()
            } else {
                c.round()
            }
        }
        NearestMode::RoundPreferCeil => {
            if c == c.floor() + 0.5 {
                c.ceil()
            } else {
                c.round()
            }
        }
        NearestMode::Floor => c.floor(),
        NearestMode::Ceil => c.ceil(),
    };
    (r as i64).clamp(0, i_len - 1)
}

/// Output size and scale of every axis, and whether they came from `scales` (not `sizes`).
fn out_sizes(s: &ResizeSpec, xs: &[Option<&Tensor>], shape: &[i64]) -> R<(Vec<i64>, Vec<f64>, bool)> {
    let rank = shape.len();
    let axes: Vec<usize> = match &s.axes {
        Some(a) => a.iter().map(|&a| norm_axis(a, rank as i64).map(|a| a as usize)).collect::<R<_>>()?,
        None => (0..rank).collect(),
    };
    let scales: Option<Vec<f64>> = match (&s.scales_f, s.scales_input) {
        (Some(v), _) => Some(v.clone()),
        (None, Some(slot)) => match opt(xs, slot) {
            Some(t) if t.numel() > 0 => {
                let t = t.f_to_device(Device::Cpu)?.f_to_kind(Kind::Double)?.f_reshape([-1])?;
                Some(Vec::<f64>::try_from(t)?)
            }
            _ => None,
        },
        _ => None,
    };
    let sizes = ints(&s.sizes, xs)?;
    let mut out = shape.to_vec();
    let mut scale = vec![1.0f64; rank];
    for (j, &a) in axes.iter().enumerate() {
        if let Some(sz) = &sizes {
            let o = *sz.get(j).ok_or("sizes is shorter than the resized axes")?;
            out[a] = o;
            scale[a] = o as f64 / shape[a] as f64;
        } else if let Some(sc) = &scales {
            let f = *sc.get(j).ok_or("scales is shorter than the resized axes")?;
            out[a] = (shape[a] as f64 * f).floor() as i64;
            scale[a] = f;
        } else {
            return Err("Resize needs scales or sizes".into());
        }
    }
    Ok((out, scale, sizes.is_none() && scales.is_some()))
}

/// libtorch's `upsample_*` when it computes exactly the ONNX result (spatial axes only).
fn resize_native(s: &ResizeSpec, x: &Tensor, out: &[i64], scale: &[f64], by_scales: bool) -> R<Option<Tensor>> {
    let shape = x.size();
    let rank = shape.len();
    let nd = rank.saturating_sub(2);
    let osz: Vec<i64> = out[2..].to_vec();
    let sp_scales = |i: usize| if by_scales { Some(scale[2 + i]) } else { None };
    if s.linear {
        let native = match s.coord {
            Coord::AlignCorners => Some(true),
            Coord::HalfPixel => Some(false),
            Coord::PytorchHalfPixel if osz.iter().all(|&o| o > 1) => Some(false),
            _ => None,
        };
        let Some(ac) = native else { return Ok(None) };
        let sc = |i| if ac { None } else { sp_scales(i) };
        return Ok(Some(match nd {
            1 => x.f_upsample_linear1d(&osz, ac, sc(0))?,
            2 => x.f_upsample_bilinear2d(&osz, ac, sc(0), sc(1))?,
            _ => x.f_upsample_trilinear3d(&osz, ac, sc(0), sc(1), sc(2))?,
        }));
    }
    // torch's nearest is floor(o * in / out): exact for integer upscaling when the ONNX
    // mode picks the same indices.
    let same = (2..rank).all(|a| {
        let (i, o) = (shape[a], out[a]);
        o % i == 0 && (0..o).all(|k| nearest_index(s, k, i, o, scale[a]) == k / (o / i))
    });
    if !same {
        return Ok(None);
    }
    Ok(Some(match nd {
        1 => x.f_upsample_nearest1d(&osz, None)?,
        2 => x.f_upsample_nearest2d(&osz, None, None)?,
        _ => x.f_upsample_nearest3d(&osz, None, None, None)?,
    }))
}

/// The general separable path: per changed axis, gather source rows (and blend for linear).
fn resize_separable(s: &ResizeSpec, x: &Tensor, changed: &[usize], out: &[i64], scale: &[f64]) -> R<Tensor> {
    let shape = x.size();
    let rank = shape.len();
    let mut y = x.shallow_clone();
    for &a in changed {
        let (i_len, o_len) = (shape[a], out[a]);
        let dev = y.device();
        if s.linear {
            let mut i0 = Vec::with_capacity(o_len as usize);
            let mut i1 = Vec::with_capacity(o_len as usize);
            let mut w = Vec::with_capacity(o_len as usize);
            for k in 0..o_len {
                let c = src_coord(s.coord, k, i_len, o_len, scale[a]).clamp(0.0, (i_len - 1) as f64);
                let f = c.floor();
                let lo = f as i64;
                i0.push(lo);
                i1.push((lo + 1).min(i_len - 1));
                w.push(c - f);
            }
            let t0 = Tensor::from_slice(&i0).to_device(dev);
            let t1 = Tensor::from_slice(&i1).to_device(dev);
            let mut wshape = vec![1i64; rank];
            wshape[a] = o_len;
            let wt = Tensor::from_slice(&w).to_kind(y.kind()).to_device(dev).f_reshape(&wshape)?;
            let y0 = y.f_index_select(a as i64, &t0)?;
            let y1 = y.f_index_select(a as i64, &t1)?;
            y = y0.f_add(&y1.f_sub(&y0)?.f_mul(&wt)?)?;
        } else {
            let idx: Vec<i64> = (0..o_len).map(|k| nearest_index(s, k, i_len, o_len, scale[a])).collect();
            y = y.f_index_select(a as i64, &Tensor::from_slice(&idx).to_device(dev))?;
        }
    }
    Ok(y)
}

pub fn resize(s: &ResizeSpec, xs: &[Option<&Tensor>]) -> R<Tensor> {
    let x = req(xs, 0)?;
    let shape = x.size();
    let rank = shape.len();
    let (out, scale, by_scales) = out_sizes(s, xs, &shape)?;
    let changed: Vec<usize> = (0..rank).filter(|&a| out[a] != shape[a] || scale[a] != 1.0).collect();
    if changed.is_empty() {
        return Ok(x.shallow_clone());
    }
    let spatial_only = changed.iter().all(|&a| a >= 2) && (3..=5).contains(&rank);
    if spatial_only {
        if let Some(y) = resize_native(s, x, &out, &scale, by_scales)? {
            return Ok(y);
        }
    }
    resize_separable(s, x, &changed, &out, &scale)
}

/// DCR (default) or CRD (PyTorch's `pixel_shuffle`).
pub fn depth_to_space(x: &Tensor, b: i64, crd: bool) -> R<Tensor> {
    let s = x.size();
    if s.len() != 4 {
        return Err("DepthToSpace needs a 4-d input".into());
    }
    let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
    if crd {
        return Ok(x.f_pixel_shuffle(b)?);
    }
    let y = x.f_reshape([n, b, b, c / (b * b), h, w])?.f_permute([0, 3, 4, 1, 5, 2])?;
    Ok(y.f_reshape([n, c / (b * b), h * b, w * b])?)
}

pub fn space_to_depth(x: &Tensor, b: i64) -> R<Tensor> {
    let s = x.size();
    if s.len() != 4 {
        return Err("SpaceToDepth needs a 4-d input".into());
    }
    let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
    let y = x.f_reshape([n, c, h / b, b, w / b, b])?.f_permute([0, 3, 5, 1, 2, 4])?;
    Ok(y.f_reshape([n, c * b * b, h / b, w / b])?)
}
