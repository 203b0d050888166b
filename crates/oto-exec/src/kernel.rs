//! The executable form of a node ([`Kernel`]: a typed op with its constant inputs captured as
//! host values at [`super::compile`]) and the run-time helpers every kernel family shares.
use super::elementwise::{Bin, Un, Var};
use super::pool::Red;
use super::resize::ResizeSpec;
use oto_graph::ops::conv::Conv;
use oto_graph::ops::matmul::Gemm;
use oto_graph::ops::pad::PadMode;
use oto_graph::ops::pool::Pool;
use tch::{Device, Kind, TchError, Tensor};

/// Run-time error message (wrapped into `ExecError::Op` with the node's name by the caller).
pub struct E(pub String);
impl From<TchError> for E {
    fn from(e: TchError) -> E {
        E(e.to_string())
    }
}
impl From<String> for E {
    fn from(e: String) -> E {
        E(e)
    }
}
impl From<&str> for E {
    fn from(e: &str) -> E {
        E(e.into())
    }
}
pub type R<T> = Result<T, E>;

/// A sum over the ranks of data-parallel training that autograd differentiates (its backward
/// sums the gradients over the ranks): what synchronised BatchNorm needs. Given to
/// [`crate::Executor::forward_in`]; every rank must run the same forward and backward passes.
pub type RankSum<'a> = dyn Fn(&Tensor) -> Result<Tensor, String> + 'a;

pub struct Ctx<'a> {
    pub device: Device,
    pub kind: Kind,
    pub train: bool,
    /// Synchronised BatchNorm in training: batch statistics over all ranks.
    pub rank_sum: Option<&'a RankSum<'a>>,
}

/// An integer-list argument: absent, known at compile time, or read from an input at run time.
#[derive(Clone, Debug)]
pub enum Ints {
    None,
    Const(Vec<i64>),
    Input(usize),
}

/// A float scalar argument.
#[derive(Clone, Debug)]
pub enum Scal {
    None,
    Const(f64),
    Input(usize),
}

/// One compiled node: what [`super::run`] executes.
pub enum Kernel {
    Identity,
    Unary(Un),
    LeakyRelu(f64),
    Elu(f64),
    Selu(f64, f64),
    HardSigmoid(f64, f64),
    Gelu(bool),
    /// `slope_on_channels`: opset < 7, a 1-D slope of size C applies along axis 1.
    PRelu { slope_on_channels: bool },
    Clip(Scal, Scal),
    Softmax { axis: i64, legacy: bool, log: bool },
    Binary(Bin),
    PowScalar(f64),
    Variadic(Var),
    Where,
    MatMul,
    Gemm(Gemm),
    /// Conv and ConvTranspose.
    Conv(Conv),
    BatchNorm { eps: f64, momentum: f64 },
    LayerNorm { axis: i64, eps: f64 },
    GroupNorm { groups: i64, eps: f64 },
    InstanceNorm { eps: f64 },
    Lrn { size: i64, alpha: f64, beta: f64, bias: f64 },
    /// MaxPool and AveragePool.
    Pool(Pool),
    GlobalPool { max: bool },
    Reduce { red: Red, axes: Ints, keepdims: bool, noop_empty: bool },
    Concat { axis: i64 },
    Einsum { equation: String },
    Split { axis: i64, sizes: Ints, num_outputs: Option<i64> },
    Slice { starts: Ints, ends: Ints, axes: Ints, steps: Ints },
    Gather { axis: i64 },
    GatherElements { axis: i64 },
    /// `GatherND` with `batch_dims = 0`.
    GatherNd,
    Shape { start: i64, end: Option<i64> },
    Size,
    Reshape { shape: Ints, allowzero: bool },
    Flatten { axis: i64 },
    Transpose { perm: Option<Vec<i64>> },
    Squeeze { axes: Ints },
    Unsqueeze { axes: Ints },
    Expand { shape: Ints },
    Tile { reps: Ints },
    ConstantOfShape { shape: Ints, value: f64, kind: Kind },
    Cast { to: Kind },
    Range,
    Pad { mode: PadMode, pads: Ints, value: Scal, axes: Ints },
    Resize(ResizeSpec),
    DepthToSpace { b: i64, crd: bool },
    SpaceToDepth { b: i64 },
    Dropout { ratio: Scal },
}

pub fn req<'a>(xs: &[Option<&'a Tensor>], slot: usize) -> R<&'a Tensor> {
    xs.get(slot).copied().flatten().ok_or_else(|| E(format!("missing input {slot}")))
}

pub fn opt<'a>(xs: &[Option<&'a Tensor>], slot: usize) -> Option<&'a Tensor> {
    xs.get(slot).copied().flatten()
}

/// Reads a small integer tensor (usually a CPU shape tensor: no device sync).
pub fn read_ints(t: &Tensor) -> R<Vec<i64>> {
    let t = if t.device() == Device::Cpu { t.shallow_clone() } else { t.to_device(Device::Cpu) };
    Ok(Vec::<i64>::try_from(as_int64(t)?.f_reshape([-1])?)?)
}

/// `t` as int64 (indices, shape data), unchanged when it is already.
pub fn as_int64(t: Tensor) -> R<Tensor> {
    Ok(if t.kind() == Kind::Int64 { t } else { t.f_to_kind(Kind::Int64)? })
}

pub fn read_f64(t: &Tensor) -> R<f64> {
    let t = t.f_to_device(Device::Cpu)?.f_to_kind(Kind::Double)?.f_reshape([-1])?;
    let v = Vec::<f64>::try_from(t)?;
    v.first().copied().ok_or_else(|| E("empty scalar input".into()))
}

pub fn ints(a: &Ints, xs: &[Option<&Tensor>]) -> R<Option<Vec<i64>>> {
    Ok(match a {
        Ints::None => None,
        Ints::Const(v) => Some(v.clone()),
        Ints::Input(s) => opt(xs, *s).map(read_ints).transpose()?,
    })
}

pub fn scal(a: &Scal, xs: &[Option<&Tensor>]) -> R<Option<f64>> {
    Ok(match a {
        Scal::None => None,
        Scal::Const(v) => Some(*v),
        Scal::Input(s) => opt(xs, *s).map(read_f64).transpose()?,
    })
}

pub fn norm_axis(a: i64, rank: i64) -> R<i64> {
    let r = if a < 0 { a + rank } else { a };
    if r < 0 || r >= rank.max(1) {
        return Err(E(format!("axis {a} is out of range for rank {rank}")));
    }
    Ok(r)
}

/// Moves `b` to `a`'s device when one of them is a CPU tensor and the other is not.
pub fn align(a: &Tensor, b: &Tensor) -> Tensor {
    if a.device() != b.device() && b.device() == Device::Cpu {
        b.to_device(a.device())
    } else {
        b.shallow_clone()
    }
}

/// Both tensors on one device (the CPU one moves).
pub fn pair(a: &Tensor, b: &Tensor) -> (Tensor, Tensor) {
    if a.device() == b.device() {
        (a.shallow_clone(), b.shallow_clone())
    } else if a.device() == Device::Cpu {
        (a.to_device(b.device()), b.shallow_clone())
    } else {
        (a.shallow_clone(), b.to_device(a.device()))
    }
}

/// torch pad list (last dim first) from per-dim begin/end for the trailing dims.
pub fn torch_pads(b: &[i64], e: &[i64]) -> Vec<i64> {
    let mut p = vec![];
    for i in (0..b.len()).rev() {
        p.push(b[i]);
        p.push(e[i]);
    }
    p
}
