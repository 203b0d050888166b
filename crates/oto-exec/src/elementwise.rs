//! Element-wise kernels: activations, math, broadcasting binary and variadic ops, `Where`,
//! `Clip`, `Softmax`, `Dropout` and `Cast`.
use super::kernel::{align, norm_axis, opt, pair, req, scal, Ctx, Scal, R};
use tch::{Device, Kind, Tensor};

#[derive(Clone, Copy, Debug)]
pub enum Un {
    Relu,
    Sigmoid,
    Tanh,
    Erf,
    Sqrt,
    Neg,
    Exp,
    Log,
    Reciprocal,
    Abs,
    Softplus,
    HardSwish,
    Not,
    Floor,
    Ceil,
    Sin,
    Cos,
    Sign,
}

#[derive(Clone, Copy, Debug)]
pub enum Bin {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Eq,
    Lt,
    Gt,
    Le,
    Ge,
    And,
    Or,
}

#[derive(Clone, Copy, Debug)]
pub enum Var {
    Max,
    Min,
    Sum,
    Mean,
}

pub fn unary(u: Un, x: &Tensor) -> R<Tensor> {
    Ok(match u {
        Un::Relu => x.f_relu()?,
        Un::Sigmoid => x.f_sigmoid()?,
        Un::Tanh => x.f_tanh()?,
        Un::Erf => x.f_erf()?,
        Un::Sqrt => x.f_sqrt()?,
        Un::Neg => x.f_neg()?,
        Un::Exp => x.f_exp()?,
        Un::Log => x.f_log()?,
        Un::Reciprocal => x.f_reciprocal()?,
        Un::Abs => x.f_abs()?,
        Un::Softplus => x.f_softplus()?,
        Un::HardSwish => x.f_hardswish()?,
        Un::Not => x.f_logical_not()?,
        Un::Floor => x.f_floor()?,
        Un::Ceil => x.f_ceil()?,
        Un::Sin => x.f_sin()?,
        Un::Cos => x.f_cos()?,
        Un::Sign => x.f_sign()?,
    })
}

pub fn leaky_relu(x: &Tensor, a: f64) -> R<Tensor> {
    Ok(x.f_mul_scalar(a)?.f_where_self(&x.f_le(0.0)?, x)?)
}

pub fn elu(x: &Tensor, a: f64) -> R<Tensor> {
    if a == 1.0 {
        Ok(x.f_elu()?)
    } else {
        Ok(x.f_clamp_min(0.0)?.f_add(&x.f_clamp_max(0.0)?.f_expm1()?.f_mul_scalar(a)?)?)
    }
}

pub fn selu(x: &Tensor, a: f64, gm: f64) -> R<Tensor> {
    if (a - 1.673_263_242_354_377_3).abs() < 1e-6 && (gm - 1.050_700_987_355_480_5).abs() < 1e-6 {
        Ok(x.f_selu()?)
    } else {
        let e = x.f_clamp_min(0.0)?.f_add(&x.f_clamp_max(0.0)?.f_expm1()?.f_mul_scalar(a)?)?;
        Ok(e.f_mul_scalar(gm)?)
    }
}

pub fn hard_sigmoid(x: &Tensor, a: f64, b: f64) -> R<Tensor> {
    if (a - 1.0 / 6.0).abs() < 1e-7 && b == 0.5 {
        Ok(x.f_hardsigmoid()?)
    } else {
        Ok(x.f_mul_scalar(a)?.f_add_scalar(b)?.f_clamp(0.0, 1.0)?)
    }
}

pub fn prelu(x: &Tensor, slope: &Tensor, slope_on_channels: bool) -> R<Tensor> {
    let mut s = align(x, slope);
    if slope_on_channels && s.dim() == 1 && s.numel() > 1 && x.dim() > 2 {
        // opset < 7: [C] → [C, 1, …, 1], per channel of an [N, C, …] input
        let mut shape = vec![s.numel() as i64];
        shape.resize(x.dim() - 1, 1);
        s = s.f_reshape(shape)?;
    }
    Ok(x.f_clamp_min(0.0)?.f_add(&x.f_clamp_max(0.0)?.f_mul(&s)?)?)
}

pub fn clip(lo: &Scal, hi: &Scal, xs: &[Option<&Tensor>]) -> R<Tensor> {
    let x = req(xs, 0)?;
    if matches!(lo, Scal::Input(_)) || matches!(hi, Scal::Input(_)) {
        let mut y = x.shallow_clone();
        if let Some(l) = opt(xs, 1) {
            y = y.f_clamp_min_tensor(&align(x, l))?;
        }
        if let Some(h) = opt(xs, 2) {
            y = y.f_clamp_max_tensor(&align(x, h))?;
        }
        return Ok(y);
    }
    Ok(match (scal(lo, xs)?, scal(hi, xs)?) {
        (Some(l), Some(h)) => x.f_clamp(l, h)?,
        (Some(l), None) => x.f_clamp_min(l)?,
        (None, Some(h)) => x.f_clamp_max(h)?,
        (None, None) => x.shallow_clone(),
    })
}

/// `legacy` (opset < 13): over the input coerced to 2-D at `axis`.
pub fn softmax(x: &Tensor, axis: i64, legacy: bool, log: bool) -> R<Tensor> {
    let shape = x.size();
    let rank = shape.len() as i64;
    let a = norm_axis(axis, rank)?;
    let f = |t: &Tensor, d: i64| -> R<Tensor> {
        Ok(if log { t.f_log_softmax(d, None::<Kind>)? } else { t.f_softmax(d, None::<Kind>)? })
    };
    if legacy && a != rank - 1 {
        let outer: i64 = shape[..a as usize].iter().product();
        let y = f(&x.f_reshape([outer, -1])?, 1)?;
        Ok(y.f_reshape(&shape)?)
    } else {
        f(x, a)
    }
}

fn is_int(k: Kind) -> bool {
    matches!(k, Kind::Int64 | Kind::Int | Kind::Int16 | Kind::Int8 | Kind::Uint8)
}

pub fn binary(b: Bin, x: &Tensor, y: &Tensor) -> R<Tensor> {
    let (x, y) = pair(x, y);
    Ok(match b {
        Bin::Add => x.f_add(&y)?,
        Bin::Sub => x.f_sub(&y)?,
        Bin::Mul => x.f_mul(&y)?,
        Bin::Div => {
            if is_int(x.kind()) && is_int(y.kind()) {
                x.f_div_tensor_mode(&y, "trunc")?
            } else {
                x.f_div(&y)?
            }
        }
        Bin::Pow => {
            let r = x.f_pow(&y)?;
            if r.kind() != x.kind() {
                r.f_to_kind(x.kind())?
            } else {
                r
            }
        }
        Bin::Eq => x.f_eq_tensor(&y)?,
        Bin::Lt => x.f_lt_tensor(&y)?,
        Bin::Gt => x.f_gt_tensor(&y)?,
        Bin::Le => x.f_le_tensor(&y)?,
        Bin::Ge => x.f_ge_tensor(&y)?,
        Bin::And => x.f_logical_and(&y)?,
        Bin::Or => x.f_logical_or(&y)?,
    })
}

/// `Pow` with a constant scalar exponent.
pub fn pow_scalar(x: &Tensor, e: f64) -> R<Tensor> {
    Ok(if e == 2.0 {
        x.f_mul(x)?
    } else if e == 1.0 {
        x.shallow_clone()
    } else if e == 0.5 {
        x.f_sqrt()?
    } else {
        x.f_pow_tensor_scalar(e)?
    })
}

pub fn variadic(v: Var, xs: &[Option<&Tensor>]) -> R<Tensor> {
    let ins: Vec<&Tensor> = xs.iter().flatten().copied().collect();
    let mut acc = ins.first().ok_or("no inputs")?.shallow_clone();
    for t in &ins[1..] {
        let t = align(&acc, t);
        acc = match v {
            Var::Max => acc.f_maximum(&t)?,
            Var::Min => acc.f_minimum(&t)?,
            Var::Sum | Var::Mean => acc.f_add(&t)?,
        };
    }
    if let Var::Mean = v {
        acc = acc.f_div_scalar(ins.len() as f64)?;
    }
    Ok(acc)
}

pub fn where_(c: &Tensor, a: &Tensor, b: &Tensor) -> R<Tensor> {
    let (a, b) = pair(a, b);
    let c = align(&a, c);
    Ok(a.f_where_self(&c, &b)?)
}

/// Active only in training; the mask output when the node has one.
pub fn dropout(ratio: &Scal, xs: &[Option<&Tensor>], nout: usize, ctx: &Ctx) -> R<Vec<Tensor>> {
    let x = req(xs, 0)?;
    let p = scal(ratio, xs)?.unwrap_or(0.5);
    if !ctx.train || p == 0.0 {
        let mut out = vec![x.shallow_clone()];
        if nout > 1 {
            out.push(Tensor::f_ones(x.size(), (Kind::Bool, x.device()))?);
        }
        return Ok(out);
    }
    if nout < 2 {
        return Ok(vec![x.f_dropout(p, true)?]);
    }
    let mask = x.f_rand_like()?.f_ge(p)?;
    let y = x.f_mul(&mask)?.f_mul_scalar(1.0 / (1.0 - p))?;
    Ok(vec![y, mask])
}

/// A CPU integer tensor cast to the float kind moves to the executor's device.
pub fn cast(x: &Tensor, to: Kind, ctx: &Ctx) -> R<Tensor> {
    Ok(if x.kind() == to {
        x.shallow_clone()
    } else if to == ctx.kind && x.device() == Device::Cpu && ctx.device != Device::Cpu {
        x.f_to_kind(to)?.f_to_device(ctx.device)?
    } else {
        x.f_to_kind(to)?
    })
}

