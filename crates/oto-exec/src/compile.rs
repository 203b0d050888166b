//! From a typed graph op ([`oto_graph::Op`], attributes parsed once at load with the spec's
//! defaults) to the executor's [`Kernel`]: constant inputs are captured as host values and the
//! attribute variants the engine lacks fail here, before training.
use super::elementwise::{Bin, Un, Var};
use super::kernel::{Ints, Kernel, Scal};
use super::pool::Red;
use super::resize::{Coord, NearestMode, ResizeSpec};
use crate::ExecError;
use oto_graph::ops::elementwise::BinaryKind;
use oto_graph::ops::meta::ConstantOfShape;
use oto_graph::ops::norm::{Norm, NormKind};
use oto_graph::ops::pool::{Pool, PoolKind};
use oto_graph::ops::reduce::ReduceKind;
use oto_graph::ops::resize::Resize;
use oto_graph::ops::softmax::{Softmax, SoftmaxKind};
use oto_graph::ops::unary::{Unary, UnaryKind};
use oto_graph::ops::IntsArg;
use oto_graph::{Graph, Node, Op};
use tch::Kind;

/// True when the executor has a kernel for `op` (compiling it can still fail on an attribute
/// variant it lacks, e.g. MaxPool's Indices output or Resize `cubic`).
pub fn supports(op: &Op) -> bool {
    match op {
        Op::Unary(u) => unary(u).is_some(),
        Op::Binary(b) => binary(b.kind).is_some(),
        Op::Softmax(s) => softmax(s).is_some(),
        Op::Pool(p) => p.kind != PoolKind::Lp,
        Op::GlobalPool(p) => p.kind != PoolKind::Lp,
        Op::Reduce(r) => reduction(r.kind).is_some(),
        Op::GatherNd(g) => g.batch_dims == 0,
        Op::ArgReduce(_) | Op::IndexOnly(_) | Op::Scatter(_) | Op::Unknown(_) => false,
        Op::Identity(_)
        | Op::Dropout(_)
        | Op::Cast(_)
        | Op::CastLike(_)
        | Op::Clip(_)
        | Op::PRelu(_)
        | Op::Conv(_)
        | Op::Gemm(_)
        | Op::MatMul(_)
        | Op::Einsum(_)
        | Op::Norm(_)
        | Op::Lrn(_)
        | Op::Concat(_)
        | Op::Split(_)
        | Op::Slice(_)
        | Op::Gather(_)
        | Op::GatherElements(_)
        | Op::Reshape(_)
        | Op::Squeeze(_)
        | Op::Unsqueeze(_)
        | Op::Flatten(_)
        | Op::Transpose(_)
        | Op::Expand(_)
        | Op::Tile(_)
        | Op::Pad(_)
        | Op::Resize(_)
        | Op::DepthToSpace(_)
        | Op::SpaceToDepth(_)
        | Op::Constant(_)
        | Op::ShapeOf(_)
        | Op::Size(_)
        | Op::ConstantOfShape(_)
        | Op::Range(_) => true,
    }
}

/// The op types of `g` the executor has no kernel for (`domain:op` outside the default
/// domain), sorted and deduplicated; empty when every node can run.
pub fn unsupported_ops(g: &Graph) -> Vec<String> {
    let mut ops: Vec<String> = g.nodes.iter().filter(|n| !supports(&n.op)).map(display_op).collect();
    ops.sort();
    ops.dedup();
    ops
}

fn display_op(n: &Node) -> String {
    match &n.op {
        Op::Unknown(u) => u.display(),
        _ => n.op_type.clone(),
    }
}

fn unsupported(n: &Node) -> ExecError {
    ExecError::UnsupportedOp { op: display_op(n), node: n.name.clone() }
}

fn unary(u: &Unary) -> Option<Kernel> {
    use UnaryKind as U;
    let (alpha, beta, gamma) = (u.alpha as f64, u.beta as f64, u.gamma as f64);
    let un = match u.kind {
        U::LeakyRelu => return Some(Kernel::LeakyRelu(alpha)),
        U::Elu => return Some(Kernel::Elu(alpha)),
        U::Selu => return Some(Kernel::Selu(alpha, gamma)),
        U::HardSigmoid => return Some(Kernel::HardSigmoid(alpha, beta)),
        U::Gelu => return Some(Kernel::Gelu(u.tanh_approx)),
        U::Relu => Un::Relu,
        U::Sigmoid => Un::Sigmoid,
        U::Tanh => Un::Tanh,
        U::Erf => Un::Erf,
        U::Sqrt => Un::Sqrt,
        U::Neg => Un::Neg,
        U::Exp => Un::Exp,
        U::Log => Un::Log,
        U::Reciprocal => Un::Reciprocal,
        U::Abs => Un::Abs,
        U::Softplus => Un::Softplus,
        U::HardSwish => Un::HardSwish,
        U::Not => Un::Not,
        U::Floor => Un::Floor,
        U::Ceil => Un::Ceil,
        U::Sin => Un::Sin,
        U::Cos => Un::Cos,
        U::Sign => Un::Sign,
        U::Celu | U::Mish | U::Swish | U::Sinh | U::Tan | U::Atan | U::Asin | U::Softsign => return None,
        U::ThresholdedRelu | U::Round | U::Cosh | U::Acos | U::IsNaN | U::Shrink => return None,
    };
    Some(Kernel::Unary(un))
}

/// The kernel of a broadcasting op (`Pow` with a constant scalar exponent is specialised in
/// [`compile`]).
fn binary(k: BinaryKind) -> Option<Kernel> {
    use BinaryKind as B;
    let bin = match k {
        B::Max => return Some(Kernel::Variadic(Var::Max)),
        B::Min => return Some(Kernel::Variadic(Var::Min)),
        B::Sum => return Some(Kernel::Variadic(Var::Sum)),
        B::Mean => return Some(Kernel::Variadic(Var::Mean)),
        B::Where => return Some(Kernel::Where),
        B::Xor | B::Mod | B::BitShift => return None,
        B::Add => Bin::Add,
        B::Sub => Bin::Sub,
        B::Mul => Bin::Mul,
        B::Div => Bin::Div,
        B::Pow => Bin::Pow,
        B::Equal => Bin::Eq,
        B::Less => Bin::Lt,
        B::Greater => Bin::Gt,
        B::LessOrEqual => Bin::Le,
        B::GreaterOrEqual => Bin::Ge,
        B::And => Bin::And,
        B::Or => Bin::Or,
    };
    Some(Kernel::Binary(bin))
}

fn softmax(s: &Softmax) -> Option<Kernel> {
    let log = match s.kind {
        SoftmaxKind::Softmax => false,
        SoftmaxKind::LogSoftmax => true,
        SoftmaxKind::Hardmax | SoftmaxKind::LpNormalization => return None,
    };
    Some(Kernel::Softmax { axis: s.axis, legacy: !s.single_axis, log })
}

fn reduction(k: ReduceKind) -> Option<Red> {
    Some(match k {
        ReduceKind::Mean => Red::Mean,
        ReduceKind::Sum => Red::Sum,
        ReduceKind::Max => Red::Max,
        ReduceKind::Min => Red::Min,
        _ => return None,
    })
}

/// ONNX element type → tch kind (floats in the executor's kind).
fn onnx_kind(dt: i64, float: Kind) -> Option<Kind> {
    Some(match dt {
        1 | 10 | 11 | 16 => float,
        2 => Kind::Uint8,
        3 => Kind::Int8,
        5 => Kind::Int16,
        6 => Kind::Int,
        7 => Kind::Int64,
        9 => Kind::Bool,
        _ => return None,
    })
}

/// Builds the node's [`Kernel`] from its typed op. Ops without a kernel → `UnsupportedOp`;
/// attribute variants the engine lacks → `ExecError::Op`.
pub fn compile(g: &Graph, n: &Node, kind: Kind) -> Result<Kernel, ExecError> {
    let c = Cx { g, n };
    let none = || unsupported(n);
    Ok(match &n.op {
        Op::Identity(_) => Kernel::Identity,
        Op::Unary(u) => unary(u).ok_or_else(none)?,
        Op::Clip(cl) => Kernel::Clip(c.scal_or(1, cl.min_attr), c.scal_or(2, cl.max_attr)),
        Op::PRelu(p) => Kernel::PRelu { slope_on_channels: p.slope_on_channels },
        Op::Softmax(s) => softmax(s).ok_or_else(none)?,
        Op::Binary(b) => match c.pow_exponent() {
            Some(e) if b.kind == BinaryKind::Pow => Kernel::PowScalar(e),
            _ => binary(b.kind).ok_or_else(none)?,
        },
        Op::MatMul(_) => Kernel::MatMul,
        Op::Gemm(gm) => Kernel::Gemm(gm.clone()),
        Op::Conv(cv) => Kernel::Conv(cv.clone()),
        Op::Norm(nm) => c.norm(nm)?,
        Op::Pool(p) => c.pool(p)?,
        Op::GlobalPool(p) => match p.kind {
            PoolKind::Lp => return Err(none()),
            k => Kernel::GlobalPool { max: k == PoolKind::Max },
        },
        Op::Reduce(r) => Kernel::Reduce {
            red: reduction(r.kind).ok_or_else(none)?,
            axes: c.ints(&r.axes),
            keepdims: r.keepdims,
            noop_empty: r.noop_with_empty_axes,
        },
        Op::Concat(cc) => Kernel::Concat { axis: cc.axis },
        Op::Einsum(e) => Kernel::Einsum { equation: e.equation.clone() },
        Op::Split(s) => Kernel::Split { axis: s.axis, sizes: c.ints(&s.split), num_outputs: s.num_outputs },
        Op::Slice(s) => {
            Kernel::Slice { starts: c.ints(&s.starts), ends: c.ints(&s.ends), axes: c.ints(&s.axes), steps: c.ints(&s.steps) }
        }
        Op::Gather(gt) => Kernel::Gather { axis: gt.axis },
        Op::GatherElements(gt) => Kernel::GatherElements { axis: gt.axis },
        Op::GatherNd(_) => Kernel::GatherNd,
        Op::ShapeOf(s) => Kernel::Shape { start: s.start, end: s.end },
        Op::Size(_) => Kernel::Size,
        Op::Reshape(r) => Kernel::Reshape { shape: c.ints(&r.shape), allowzero: r.allowzero },
        Op::Flatten(f) => Kernel::Flatten { axis: f.axis },
        Op::Transpose(t) => Kernel::Transpose { perm: t.perm.clone() },
        Op::Squeeze(s) => Kernel::Squeeze { axes: c.ints(&s.axes) },
        Op::Unsqueeze(s) => Kernel::Unsqueeze { axes: c.ints(&s.axes) },
        Op::Expand(_) => Kernel::Expand { shape: c.ints_in(1) },
        Op::Tile(_) => Kernel::Tile { reps: c.ints_in(1) },
        Op::ConstantOfShape(cs) => c.constant_of_shape(cs, kind)?,
        Op::Cast(cs) => {
            let to = cs.to as i64;
            Kernel::Cast { to: onnx_kind(to, kind).ok_or_else(|| c.bad(format!("unsupported target data type {to}")))? }
        }
        Op::CastLike(_) => {
            let to = n.input(1).map(|v| g.value(v).dtype as i64).unwrap_or(0);
            Kernel::Cast { to: onnx_kind(to, kind).ok_or_else(|| c.bad(format!("CastLike: unsupported or unknown target data type {to}")))? }
        }
        Op::Range(_) => Kernel::Range,
        Op::Pad(p) => Kernel::Pad {
            mode: p.mode,
            pads: c.ints(&p.pads),
            // the attribute (opset < 11), else input 2
            value: p.value_attr.map_or_else(|| c.scal_in(2), |v| Scal::Const(v as f64)),
            axes: c.ints_in(3),
        },
        Op::Resize(r) => Kernel::Resize(c.resize(r)?),
        Op::DepthToSpace(d) => Kernel::DepthToSpace { b: d.blocksize, crd: d.crd },
        Op::SpaceToDepth(s) => Kernel::SpaceToDepth { b: s.blocksize },
        // the ratio input (opset ≥ 12), else the attribute (default 0.5)
        Op::Dropout(d) => Kernel::Dropout { ratio: c.scal_or(1, Some(d.ratio)) },
        Op::Constant(_) => return Err(c.bad("a Constant node without a supported value attribute".into())),
        Op::Lrn(l) => Kernel::Lrn { size: l.size, alpha: l.alpha as f64, beta: l.beta as f64, bias: l.bias as f64 },
        Op::ArgReduce(_) | Op::IndexOnly(_) | Op::Scatter(_) | Op::Unknown(_) => return Err(none()),
    })
}

/// The node being compiled: its constant inputs and its error messages.
struct Cx<'a> {
    g: &'a Graph,
    n: &'a Node,
}

impl Cx<'_> {
    fn bad(&self, reason: String) -> ExecError {
        ExecError::Op { node: self.n.name.clone(), op: self.n.op_type.clone(), reason }
    }

    /// Input `slot` as an integer list: constant (initializer or folded) or read at run time.
    fn ints_in(&self, slot: usize) -> Ints {
        match self.n.input(slot) {
            None => Ints::None,
            Some(id) => match self.g.const_i64(id) {
                Some(v) => Ints::Const(v),
                None => Ints::Input(slot),
            },
        }
    }

    fn ints(&self, a: &IntsArg) -> Ints {
        match a {
            IntsArg::Attr(v) => Ints::Const(v.clone()),
            IntsArg::Input(slot) => self.ints_in(*slot),
            IntsArg::Absent => Ints::None,
        }
    }

    /// Input `slot` as a float scalar: constant when it is a one-element constant.
    fn scal_in(&self, slot: usize) -> Scal {
        let Some(id) = self.n.input(slot) else { return Scal::None };
        let g = self.g;
        match g.const_f32(id).or_else(|| g.const_i64(id).map(|v| v.iter().map(|&x| x as f32).collect())) {
            Some(v) if v.len() == 1 => Scal::Const(v[0] as f64),
            _ => Scal::Input(slot),
        }
    }

    /// Input `slot` when present, else the attribute value.
    fn scal_or(&self, slot: usize, attr: Option<f32>) -> Scal {
        match self.scal_in(slot) {
            Scal::None => attr.map_or(Scal::None, |v| Scal::Const(v as f64)),
            s => s,
        }
    }

    /// A constant one-element exponent initializer (input 1).
    fn pow_exponent(&self) -> Option<f64> {
        let id = self.n.input(1)?;
        let scalar = self.g.value(id).init.as_ref().is_some_and(|t| oto_onnx::tensor::numel(&t.dims) == 1);
        match self.scal_in(1) {
            Scal::Const(e) if scalar => Some(e),
            _ => None,
        }
    }

    fn norm(&self, nm: &Norm) -> Result<Kernel, ExecError> {
        let eps = nm.epsilon as f64;
        let extra_outputs = self.n.outputs.iter().skip(1).any(|o| o.is_some());
        Ok(match nm.kind {
            NormKind::Batch => {
                if extra_outputs && self.g.opset < 14 {
                    return Err(self.bad("the optional mean/var outputs of opset < 14 are not supported".into()));
                }
                Kernel::BatchNorm { eps, momentum: nm.momentum as f64 }
            }
            NormKind::Layer => {
                if extra_outputs {
                    return Err(self.bad("the optional Mean / InvStdDev outputs are not supported".into()));
                }
                Kernel::LayerNorm { axis: nm.axis, eps }
            }
            NormKind::Group => Kernel::GroupNorm { groups: nm.num_groups, eps },
            NormKind::Instance => Kernel::InstanceNorm { eps },
        })
    }

    fn pool(&self, p: &Pool) -> Result<Kernel, ExecError> {
        match p.kind {
            PoolKind::Lp => return Err(unsupported(self.n)),
            PoolKind::Max if self.n.output(1).is_some() => {
                return Err(self.bad("the Indices output of MaxPool is not supported".into()))
            }
            PoolKind::Max if p.storage_order != 0 => return Err(self.bad("storage_order=1 is not supported".into())),
            _ => {}
        }
        Ok(Kernel::Pool(p.clone()))
    }

    fn constant_of_shape(&self, cs: &ConstantOfShape, kind: Kind) -> Result<Kernel, ExecError> {
        let (value, k) = match &cs.value {
            None => (0.0, kind),
            Some(t) => {
                let dt = t.data_type.unwrap_or(1) as i64;
                let k = onnx_kind(dt, kind).ok_or_else(|| self.bad(format!("unsupported value data type {dt}")))?;
                let v = if oto_onnx::tensor::is_float(t) {
                    oto_onnx::tensor::to_f32(t).ok().and_then(|v| v.first().copied()).unwrap_or(0.0) as f64
                } else {
                    oto_onnx::tensor::to_i64(t).ok().and_then(|v| v.first().copied()).unwrap_or(0) as f64
                };
                (v, k)
            }
        };
        Ok(Kernel::ConstantOfShape { shape: self.ints_in(0), value, kind: k })
    }

    fn resize(&self, r: &Resize) -> Result<ResizeSpec, ExecError> {
        let linear = match r.mode.as_str() {
            "nearest" => false,
            "linear" | "bilinear" => true,
            o => return Err(self.bad(format!("mode '{o}' is not supported (nearest and linear are)"))),
        };
        if r.antialias {
            return Err(self.bad("antialias=1 is not supported".into()));
        }
        if r.keep_aspect_ratio_policy != "stretch" {
            return Err(self.bad("keep_aspect_ratio_policy other than 'stretch' is not supported".into()));
        }
        let coord = match r.coordinate_transformation_mode.as_str() {
            "half_pixel" => Coord::HalfPixel,
            "pytorch_half_pixel" => Coord::PytorchHalfPixel,
            "align_corners" => Coord::AlignCorners,
            "asymmetric" => Coord::Asymmetric,
            "tf_half_pixel_for_nn" => Coord::TfHalfPixelForNn,
            "half_pixel_symmetric" => Coord::HalfPixelSymmetric,
            o => return Err(self.bad(format!("coordinate_transformation_mode '{o}' is not supported"))),
        };
        let nearest = match r.nearest_mode.as_str() {
            "round_prefer_floor" => NearestMode::RoundPreferFloor,
            "round_prefer_ceil" => NearestMode::RoundPreferCeil,
            "floor" => NearestMode::Floor,
            "ceil" => NearestMode::Ceil,
            o => return Err(self.bad(format!("nearest_mode '{o}' is not supported"))),
        };
        // scales: the attribute (Upsample before opset 9), a constant input, or read at run time
        let mut scales_f = r.scales_attr.as_ref().map(|s| s.iter().map(|&x| x as f64).collect());
        let mut scales_input = None;
        if let (None, Some(id)) = (&scales_f, self.n.input(r.scales_slot())) {
            // an empty scales input (declared with shape [0]) means "use sizes"
            let empty = self.g.value(id).shape.as_ref().is_some_and(|s| s.first().and_then(|d| d.known()) == Some(0));
            match self.g.const_f32(id) {
                Some(v) if v.is_empty() => {}
                Some(v) => scales_f = Some(v.iter().map(|&x| x as f64).collect()),
                None if empty => {}
                None => scales_input = Some(r.scales_slot()),
            }
        }
        let sizes = match r.sizes_slot().map_or(Ints::None, |s| self.ints_in(s)) {
            Ints::Const(v) if v.is_empty() => Ints::None,
            s => s,
        };
        Ok(ResizeSpec { linear, coord, nearest, scales_f, scales_input, sizes, axes: r.axes.clone() })
    }
}
