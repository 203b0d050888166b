//! Weighted layers: `Conv`, `ConvTranspose` (from the typed [`Conv`]), `Gemm` and `MatMul`.
use super::kernel::{opt, pair, req, torch_pads, E, R};
use oto_graph::ops::conv::{AutoPad, Conv};
use oto_graph::ops::matmul::Gemm;
use tch::Tensor;

/// Explicit (begin, end) pads per spatial dim, resolving auto_pad from the actual sizes.
pub fn resolve_pads(
    spec_pads: &[i64],
    auto: AutoPad,
    input: &[i64],
    kernel: &[i64],
    strides: &[i64],
    dilations: &[i64],
) -> (Vec<i64>, Vec<i64>) {
    let nd = kernel.len();
    match auto {
        AutoPad::NotSet => {
            let b: Vec<i64> = (0..nd).map(|i| spec_pads.get(i).copied().unwrap_or(0)).collect();
            let e: Vec<i64> = (0..nd).map(|i| spec_pads.get(nd + i).copied().unwrap_or(0)).collect();
            (b, e)
        }
        AutoPad::Valid => (vec![0; nd], vec![0; nd]),
        AutoPad::SameUpper | AutoPad::SameLower => {
            let mut b = vec![0; nd];
            let mut e = vec![0; nd];
            for i in 0..nd {
                let out = (input[i] + strides[i] - 1) / strides[i];
                let eff = (kernel[i] - 1) * dilations[i] + 1;
                let total = ((out - 1) * strides[i] + eff - input[i]).max(0);
                let small = total / 2;
                if auto == AutoPad::SameUpper {
                    b[i] = small;
                    e[i] = total - small;
                } else {
                    b[i] = total - small;
                    e[i] = small;
                }
            }
            (b, e)
        }
    }
}

/// A spatial list attribute, ones when absent or empty.
fn or_ones(v: &Option<Vec<i64>>, n: usize) -> Vec<i64> {
    match v {
        Some(v) if !v.is_empty() => v.clone(),
        _ => vec![1; n],
    }
}

fn list(v: &Option<Vec<i64>>) -> &[i64] {
    v.as_deref().unwrap_or(&[])
}

/// Conv or ConvTranspose (`c.transpose`): input 0, weight 1, optional bias 2.
pub fn conv_node(c: &Conv, xs: &[Option<&Tensor>]) -> R<Tensor> {
    let (x, w, b) = (req(xs, 0)?, req(xs, 1)?, opt(xs, 2));
    if c.transpose {
        conv_transpose(c, x, w, b)
    } else {
        conv(c, x, w, b)
    }
}

/// Input and weight sizes, spatial rank, strides and dilations of a Conv / ConvTranspose.
struct Geometry {
    xs: Vec<i64>,
    ws: Vec<i64>,
    nd: usize,
    strides: Vec<i64>,
    dil: Vec<i64>,
}

impl Geometry {
    fn of(s: &Conv, x: &Tensor, w: &Tensor) -> R<Geometry> {
        let (xs, ws) = (x.size(), w.size());
        let nd = ws.len().saturating_sub(2);
        if xs.len() != nd + 2 {
            return Err(E(format!("input of shape {xs:?} does not match a weight of shape {ws:?}")));
        }
        Ok(Geometry { strides: or_ones(&s.strides, nd), dil: or_ones(&s.dilations, nd), xs, ws, nd })
    }
}

fn conv(s: &Conv, x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> R<Tensor> {
    let Geometry { xs, ws, nd, strides, dil } = Geometry::of(s, x, w)?;
    let (pb, pe) = resolve_pads(list(&s.pads), s.auto_pad, &xs[2..], &ws[2..], &strides, &dil);
    let zeros = vec![0i64; nd];
    if pb == pe {
        Ok(x.f_convolution(w, b, &strides, &pb, &dil, false, &zeros, s.group)?)
    } else {
        let xp = x.f_constant_pad_nd(torch_pads(&pb, &pe))?;
        Ok(xp.f_convolution(w, b, &strides, &zeros, &dil, false, &zeros, s.group)?)
    }
}

/// (head, tail) crop per spatial dim of a full transposed conv: from `output_shape`, SAME
/// auto_pad or the explicit pads.
fn transpose_crop(s: &Conv, xs: &[i64], ws: &[i64], strides: &[i64], dil: &[i64], op: &[i64]) -> (Vec<i64>, Vec<i64>) {
    let nd = strides.len();
    let pads = list(&s.pads);
    let os = list(&s.output_shape);
    let mut head = vec![0i64; nd];
    let mut tail = vec![0i64; nd];
    for i in 0..nd {
        let full = strides[i] * (xs[2 + i] - 1) + op[i] + (ws[2 + i] - 1) * dil[i] + 1;
        let target = if !os.is_empty() {
            // output_shape may list only spatial dims or the full shape.
            Some(if os.len() == nd { os[i] } else { os[os.len() - nd + i] })
        } else if matches!(s.auto_pad, AutoPad::SameUpper | AutoPad::SameLower) {
            Some(xs[2 + i] * strides[i])
        } else {
            None
        };
        match target {
            Some(t) => {
                let total = (full - t).max(0);
                // ONNX spec (and onnxruntime): SAME_UPPER puts the extra pixel at the end.
                if s.auto_pad == AutoPad::SameUpper {
                    head[i] = total / 2;
                    tail[i] = total - total / 2;
                } else {
                    head[i] = total - total / 2;
                    tail[i] = total / 2;
                }
            }
            None => {
                head[i] = pads.get(i).copied().unwrap_or(0);
                tail[i] = pads.get(nd + i).copied().unwrap_or(0);
            }
        }
    }
    (head, tail)
}

fn conv_transpose(s: &Conv, x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> R<Tensor> {
    let Geometry { xs, ws, nd, strides, dil } = Geometry::of(s, x, w)?;
    let opad = list(&s.output_padding);
    let op: Vec<i64> = (0..nd).map(|i| opad.get(i).copied().unwrap_or(0)).collect();
    let (head, tail) = transpose_crop(s, &xs, &ws, &strides, &dil, &op);
    let zeros = vec![0i64; nd];
    let native_ok = head == tail && (0..nd).all(|i| op[i] < strides[i].max(dil[i]));
    if native_ok {
        return Ok(x.f_convolution(w, b, &strides, &head, &dil, true, &op, s.group)?);
    }
    // General: full transposed conv, then crop / zero-extend each spatial dim, then the bias.
    let mut y = x.f_convolution(w, None::<&Tensor>, &strides, &zeros, &dil, true, &zeros, s.group)?;
    for i in 0..nd {
        let d = 2 + i as i64;
        let len = y.size()[2 + i];
        let want = len + op[i] - head[i] - tail[i];
        let extra = (head[i] + want - len).max(0);
        if extra > 0 {
            let mut p = vec![0i64; 2 * (nd - i)];
            p[2 * (nd - 1 - i) + 1] = extra;
            y = y.f_constant_pad_nd(p)?;
        }
        y = y.f_narrow(d, head[i], want)?;
    }
    if let Some(b) = b {
        let mut shape = vec![1i64; nd + 2];
        shape[1] = -1;
        y = y.f_add(&b.f_reshape(&shape)?)?;
    }
    Ok(y)
}

pub fn matmul(a: &Tensor, b: &Tensor) -> R<Tensor> {
    let (a, b) = pair(a, b);
    Ok(a.f_matmul(&b)?)
}

/// `alpha·A'·B' + beta·C`; `linear` when it is exactly that.
pub fn gemm(gm: &Gemm, xs: &[Option<&Tensor>]) -> R<Tensor> {
    let (ta, tb, alpha, beta) = (gm.trans_a, gm.trans_b, gm.alpha as f64, gm.beta as f64);
    let a = req(xs, 0)?;
    let b = req(xs, 1)?;
    let c = opt(xs, 2);
    if !ta && tb && alpha == 1.0 && (beta == 1.0 || c.is_none()) && c.is_none_or(|c| c.dim() == 1) {
        return Ok(a.f_linear(b, c)?);
    }
    let a = if ta { a.f_transpose(0, 1)? } else { a.shallow_clone() };
    let b = if tb { b.f_transpose(0, 1)? } else { b.shallow_clone() };
    let mut y = a.f_matmul(&b)?;
    if alpha != 1.0 {
        y = y.f_mul_scalar(alpha)?;
    }
    if let Some(c) = c {
        y = if beta == 1.0 { y.f_add(c)? } else { y.f_add(&c.f_mul_scalar(beta)?)? };
    }
    Ok(y)
}
