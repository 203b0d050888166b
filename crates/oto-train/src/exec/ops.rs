//! Per-op compilation (attributes resolved once, at [`compile`]) and execution ([`run`]).
use crate::TrainError;
use oto_graph::{Graph, Node};
use tch::{Device, Kind, TchError, Tensor};

/// Every op the executor runs (default ONNX domain).
pub const SUPPORTED_OPS: &[&str] = &[
    "Abs", "Add", "And", "AveragePool", "BatchNormalization", "Cast", "Ceil", "Clip", "Concat", "Constant",
    "ConstantOfShape", "Conv", "ConvTranspose", "Cos", "DepthToSpace", "Div", "Dropout", "Elu", "Equal", "Erf",
    "Exp", "Expand", "Flatten", "Floor", "Gather", "Gelu", "Gemm", "GlobalAveragePool", "GlobalMaxPool",
    "Greater", "GreaterOrEqual", "GroupNormalization", "HardSigmoid", "HardSwish", "Identity",
    "InstanceNormalization", "LayerNormalization", "LeakyRelu", "Less", "LessOrEqual", "Log", "LogSoftmax",
    "MatMul", "Max", "MaxPool", "Mean", "Min", "Mul", "Neg", "Not", "Or", "Pad", "Pow", "PRelu", "Range",
    "Reciprocal", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceSum", "Relu", "Reshape", "Resize", "Selu",
    "Shape", "Sigmoid", "Sign", "Sin", "Size", "Slice", "Softmax", "Softplus", "SpaceToDepth", "Split", "Sqrt",
    "Squeeze", "Sub", "Sum", "Tanh", "Tile", "Transpose", "Unsqueeze", "Upsample", "Where",
];

/// Run-time error message (wrapped into `TrainError::Op` with the node's name by the caller).
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
type R<T> = Result<T, E>;

pub struct Ctx {
    pub device: Device,
    pub kind: Kind,
    pub train: bool,
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

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AutoPad {
    NotSet,
    SameUpper,
    SameLower,
    Valid,
}

#[derive(Clone, Debug)]
pub struct ConvSpec {
    strides: Vec<i64>,
    pads: Vec<i64>,
    dilations: Vec<i64>,
    group: i64,
    auto_pad: AutoPad,
    /// ConvTranspose only.
    output_padding: Vec<i64>,
    output_shape: Vec<i64>,
}

#[derive(Clone, Debug)]
pub struct PoolSpec {
    max: bool,
    kernel: Vec<i64>,
    strides: Vec<i64>,
    pads: Vec<i64>,
    dilations: Vec<i64>,
    ceil: bool,
    count_include_pad: bool,
    auto_pad: AutoPad,
}

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

#[derive(Clone, Debug)]
pub struct ResizeSpec {
    linear: bool,
    coord: Coord,
    nearest: NearestMode,
    scales_f: Option<Vec<f64>>,
    scales_input: Option<usize>,
    sizes: Ints,
    axes: Option<Vec<i64>>,
}

#[derive(Clone, Copy, Debug)]
pub enum Red {
    Mean,
    Sum,
    Max,
    Min,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PadMode {
    Constant,
    Reflect,
    Edge,
    Wrap,
}

pub enum Op {
    Identity,
    Unary(Un),
    LeakyRelu(f64),
    Elu(f64),
    Selu(f64, f64),
    HardSigmoid(f64, f64),
    Gelu(bool),
    PRelu,
    Clip(Scal, Scal),
    Softmax { axis: i64, legacy: bool, log: bool },
    Binary(Bin),
    PowScalar(f64),
    Variadic(Var),
    Where,
    MatMul,
    Gemm { ta: bool, tb: bool, alpha: f64, beta: f64 },
    Conv(ConvSpec),
    ConvTranspose(ConvSpec),
    BatchNorm { eps: f64, momentum: f64 },
    LayerNorm { axis: i64, eps: f64 },
    GroupNorm { groups: i64, eps: f64 },
    InstanceNorm { eps: f64 },
    Pool(PoolSpec),
    GlobalPool { max: bool },
    Reduce { red: Red, axes: Ints, keepdims: bool, noop_empty: bool },
    Concat { axis: i64 },
    Split { axis: i64, sizes: Ints, num_outputs: Option<i64> },
    Slice { starts: Ints, ends: Ints, axes: Ints, steps: Ints },
    Gather { axis: i64 },
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

/// Resolves the node's attributes into an [`Op`]. Unknown ops → `UnsupportedOp`.
pub fn compile(g: &Graph, n: &Node, kind: Kind) -> Result<Op, TrainError> {
    let bad = |reason: String| TrainError::Op { node: n.name.clone(), op: n.op_type.clone(), reason };
    let ints_in = |slot: usize| -> Ints {
        match n.input(slot) {
            None => Ints::None,
            Some(id) => match g.const_i64(id) {
                Some(v) => Ints::Const(v),
                None => Ints::Input(slot),
            },
        }
    };
    let scal_in = |slot: usize| -> Scal {
        match n.input(slot) {
            None => Scal::None,
            Some(id) => match g.const_f32(id).or_else(|| g.const_i64(id).map(|v| v.iter().map(|&x| x as f32).collect())) {
                Some(v) if v.len() == 1 => Scal::Const(v[0] as f64),
                _ => Scal::Input(slot),
            },
        }
    };
    let attr_or_input = |attr: &str, slot: usize, opset_input: i64| -> Ints {
        if g.opset >= opset_input || n.attr_ints(attr).is_none() {
            ints_in(slot)
        } else {
            Ints::Const(n.attr_ints(attr).unwrap_or_default())
        }
    };
    let f = |name: &str, d: f32| n.attr_float(name).unwrap_or(d) as f64;
    let i = |name: &str, d: i64| n.attr_int(name).unwrap_or(d);
    let auto_pad = || -> Result<AutoPad, TrainError> {
        Ok(match n.attr_string("auto_pad").as_deref() {
            None | Some("NOTSET") | Some("") => AutoPad::NotSet,
            Some("SAME_UPPER") => AutoPad::SameUpper,
            Some("SAME_LOWER") => AutoPad::SameLower,
            Some("VALID") => AutoPad::Valid,
            Some(o) => return Err(bad(format!("unknown auto_pad '{o}'"))),
        })
    };
    let op = match n.op_type.as_str() {
        "Identity" => Op::Identity,
        "Relu" => Op::Unary(Un::Relu),
        "Sigmoid" => Op::Unary(Un::Sigmoid),
        "Tanh" => Op::Unary(Un::Tanh),
        "Erf" => Op::Unary(Un::Erf),
        "Sqrt" => Op::Unary(Un::Sqrt),
        "Neg" => Op::Unary(Un::Neg),
        "Exp" => Op::Unary(Un::Exp),
        "Log" => Op::Unary(Un::Log),
        "Reciprocal" => Op::Unary(Un::Reciprocal),
        "Abs" => Op::Unary(Un::Abs),
        "Softplus" => Op::Unary(Un::Softplus),
        "HardSwish" => Op::Unary(Un::HardSwish),
        "Not" => Op::Unary(Un::Not),
        "Floor" => Op::Unary(Un::Floor),
        "Ceil" => Op::Unary(Un::Ceil),
        "Sin" => Op::Unary(Un::Sin),
        "Cos" => Op::Unary(Un::Cos),
        "Sign" => Op::Unary(Un::Sign),
        "LeakyRelu" => Op::LeakyRelu(f("alpha", 0.01)),
        "Elu" => Op::Elu(f("alpha", 1.0)),
        "Selu" => Op::Selu(f("alpha", 1.673_263_2), f("gamma", 1.050_701)),
        "HardSigmoid" => Op::HardSigmoid(f("alpha", 0.2), f("beta", 0.5)),
        "Gelu" => match n.attr_string("approximate").as_deref() {
            None | Some("none") => Op::Gelu(false),
            Some("tanh") => Op::Gelu(true),
            Some(o) => return Err(bad(format!("unknown approximate '{o}'"))),
        },
        "PRelu" => Op::PRelu,
        "Clip" => {
            if g.opset < 11 {
                Op::Clip(
                    n.attr_float("min").map_or(Scal::None, |v| Scal::Const(v as f64)),
                    n.attr_float("max").map_or(Scal::None, |v| Scal::Const(v as f64)),
                )
            } else {
                Op::Clip(scal_in(1), scal_in(2))
            }
        }
        "Softmax" | "LogSoftmax" => {
            let legacy = g.opset < 13;
            Op::Softmax { axis: i("axis", if legacy { 1 } else { -1 }), legacy, log: n.op_type == "LogSoftmax" }
        }
        "Add" => Op::Binary(Bin::Add),
        "Sub" => Op::Binary(Bin::Sub),
        "Mul" => Op::Binary(Bin::Mul),
        "Div" => Op::Binary(Bin::Div),
        "Pow" => match scal_in(1) {
            Scal::Const(e) if n.input(1).and_then(|id| g.value(id).init.as_ref()).is_some_and(|t| oto_onnx::tensor::numel(&t.dims) == 1) => {
                Op::PowScalar(e)
            }
            _ => Op::Binary(Bin::Pow),
        },
        "Equal" => Op::Binary(Bin::Eq),
        "Less" => Op::Binary(Bin::Lt),
        "Greater" => Op::Binary(Bin::Gt),
        "LessOrEqual" => Op::Binary(Bin::Le),
        "GreaterOrEqual" => Op::Binary(Bin::Ge),
        "And" => Op::Binary(Bin::And),
        "Or" => Op::Binary(Bin::Or),
        "Max" => Op::Variadic(Var::Max),
        "Min" => Op::Variadic(Var::Min),
        "Sum" => Op::Variadic(Var::Sum),
        "Mean" => Op::Variadic(Var::Mean),
        "Where" => Op::Where,
        "MatMul" => Op::MatMul,
        "Gemm" => Op::Gemm {
            ta: i("transA", 0) != 0,
            tb: i("transB", 0) != 0,
            alpha: f("alpha", 1.0),
            beta: f("beta", 1.0),
        },
        "Conv" | "ConvTranspose" => {
            let spec = ConvSpec {
                strides: n.attr_ints("strides").unwrap_or_default(),
                pads: n.attr_ints("pads").unwrap_or_default(),
                dilations: n.attr_ints("dilations").unwrap_or_default(),
                group: i("group", 1),
                auto_pad: auto_pad()?,
                output_padding: n.attr_ints("output_padding").unwrap_or_default(),
                output_shape: n.attr_ints("output_shape").unwrap_or_default(),
            };
            if n.op_type == "Conv" {
                Op::Conv(spec)
            } else {
                Op::ConvTranspose(spec)
            }
        }
        "BatchNormalization" => {
            if n.outputs.iter().skip(1).any(|o| o.is_some()) && g.opset < 14 {
                return Err(bad("the optional mean/var outputs of opset < 14 are not supported".into()));
            }
            Op::BatchNorm { eps: f("epsilon", 1e-5), momentum: f("momentum", 0.9) }
        }
        "LayerNormalization" => {
            if n.outputs.iter().skip(1).any(|o| o.is_some()) {
                return Err(bad("the optional Mean / InvStdDev outputs are not supported".into()));
            }
            Op::LayerNorm { axis: i("axis", -1), eps: f("epsilon", 1e-5) }
        }
        "GroupNormalization" => {
            let groups = n.attr_int("num_groups").ok_or_else(|| bad("missing attribute num_groups".into()))?;
            Op::GroupNorm { groups, eps: f("epsilon", 1e-5) }
        }
        "InstanceNormalization" => Op::InstanceNorm { eps: f("epsilon", 1e-5) },
        "MaxPool" | "AveragePool" => {
            if n.op_type == "MaxPool" && n.output(1).is_some() {
                return Err(bad("the Indices output of MaxPool is not supported".into()));
            }
            let kernel = n.attr_ints("kernel_shape").ok_or_else(|| bad("missing attribute kernel_shape".into()))?;
            if n.op_type == "MaxPool" && i("storage_order", 0) != 0 {
                return Err(bad("storage_order=1 is not supported".into()));
            }
            Op::Pool(PoolSpec {
                max: n.op_type == "MaxPool",
                strides: n.attr_ints("strides").unwrap_or_else(|| vec![1; kernel.len()]),
                pads: n.attr_ints("pads").unwrap_or_else(|| vec![0; 2 * kernel.len()]),
                dilations: n.attr_ints("dilations").unwrap_or_else(|| vec![1; kernel.len()]),
                ceil: i("ceil_mode", 0) != 0,
                count_include_pad: i("count_include_pad", 0) != 0,
                auto_pad: auto_pad()?,
                kernel,
            })
        }
        "GlobalAveragePool" => Op::GlobalPool { max: false },
        "GlobalMaxPool" => Op::GlobalPool { max: true },
        "ReduceMean" | "ReduceSum" | "ReduceMax" | "ReduceMin" => {
            let red = match n.op_type.as_str() {
                "ReduceMean" => Red::Mean,
                "ReduceSum" => Red::Sum,
                "ReduceMax" => Red::Max,
                _ => Red::Min,
            };
            let axes_as_input = if n.op_type == "ReduceSum" { 13 } else { 18 };
            Op::Reduce {
                red,
                axes: attr_or_input("axes", 1, axes_as_input),
                keepdims: i("keepdims", 1) != 0,
                noop_empty: i("noop_with_empty_axes", 0) != 0,
            }
        }
        "Concat" => Op::Concat { axis: n.attr_int("axis").ok_or_else(|| bad("missing attribute axis".into()))? },
        "Split" => Op::Split {
            axis: i("axis", 0),
            sizes: attr_or_input("split", 1, 13),
            num_outputs: n.attr_int("num_outputs"),
        },
        "Slice" => {
            if g.opset < 10 {
                let a = |s: &str| n.attr_ints(s).map_or(Ints::None, Ints::Const);
                Op::Slice { starts: a("starts"), ends: a("ends"), axes: a("axes"), steps: Ints::None }
            } else {
                Op::Slice { starts: ints_in(1), ends: ints_in(2), axes: ints_in(3), steps: ints_in(4) }
            }
        }
        "Gather" => Op::Gather { axis: i("axis", 0) },
        "Shape" => Op::Shape { start: i("start", 0), end: n.attr_int("end") },
        "Size" => Op::Size,
        "Reshape" => {
            if g.opset < 5 {
                Op::Reshape { shape: n.attr_ints("shape").map_or(Ints::None, Ints::Const), allowzero: false }
            } else {
                Op::Reshape { shape: ints_in(1), allowzero: i("allowzero", 0) != 0 }
            }
        }
        "Flatten" => Op::Flatten { axis: i("axis", 1) },
        "Transpose" => Op::Transpose { perm: n.attr_ints("perm") },
        "Squeeze" => Op::Squeeze { axes: attr_or_input("axes", 1, 13) },
        "Unsqueeze" => Op::Unsqueeze { axes: attr_or_input("axes", 1, 13) },
        "Expand" => Op::Expand { shape: ints_in(1) },
        "Tile" => Op::Tile { reps: ints_in(1) },
        "ConstantOfShape" => {
            let (value, k) = match oto_onnx::attr::tensor(&n.proto, "value") {
                None => (0.0, kind),
                Some(t) => {
                    let dt = t.data_type.unwrap_or(1) as i64;
                    let k = onnx_kind(dt, kind).ok_or_else(|| bad(format!("unsupported value data type {dt}")))?;
                    let v = if oto_onnx::tensor::is_float(t) {
                        oto_onnx::tensor::to_f32(t).ok().and_then(|v| v.first().copied()).unwrap_or(0.0) as f64
                    } else {
                        oto_onnx::tensor::to_i64(t).ok().and_then(|v| v.first().copied()).unwrap_or(0) as f64
                    };
                    (v, k)
                }
            };
            Op::ConstantOfShape { shape: ints_in(0), value, kind: k }
        }
        "Cast" => {
            let to = i("to", 1);
            Op::Cast { to: onnx_kind(to, kind).ok_or_else(|| bad(format!("unsupported target data type {to}")))? }
        }
        "Range" => Op::Range,
        "Pad" => {
            let mode = match n.attr_string("mode").as_deref() {
                None | Some("constant") => PadMode::Constant,
                Some("reflect") => PadMode::Reflect,
                Some("edge") => PadMode::Edge,
                Some("wrap") => PadMode::Wrap,
                Some(o) => return Err(bad(format!("unknown pad mode '{o}'"))),
            };
            if g.opset < 11 {
                Op::Pad {
                    mode,
                    pads: Ints::Const(n.attr_ints("pads").unwrap_or_default()),
                    value: Scal::Const(f("value", 0.0)),
                    axes: Ints::None,
                }
            } else {
                Op::Pad { mode, pads: ints_in(1), value: scal_in(2), axes: ints_in(3) }
            }
        }
        "Resize" | "Upsample" => {
            let mode = n.attr_string("mode").unwrap_or_else(|| "nearest".into());
            let linear = match mode.as_str() {
                "nearest" => false,
                "linear" | "bilinear" | "trilinear" => true,
                o => return Err(bad(format!("mode '{o}' is not supported (nearest and linear are)"))),
            };
            if i("antialias", 0) != 0 {
                return Err(bad("antialias=1 is not supported".into()));
            }
            if n.attr_string("keep_aspect_ratio_policy").is_some_and(|p| p != "stretch") {
                return Err(bad("keep_aspect_ratio_policy other than 'stretch' is not supported".into()));
            }
            let legacy = n.op_type == "Upsample" || g.opset < 11;
            let coord = match n.attr_string("coordinate_transformation_mode").as_deref() {
                None if legacy => Coord::Asymmetric,
                None | Some("half_pixel") => Coord::HalfPixel,
                Some("pytorch_half_pixel") => Coord::PytorchHalfPixel,
                Some("align_corners") => Coord::AlignCorners,
                Some("asymmetric") => Coord::Asymmetric,
                Some("tf_half_pixel_for_nn") => Coord::TfHalfPixelForNn,
                Some("half_pixel_symmetric") => Coord::HalfPixelSymmetric,
                Some(o) => return Err(bad(format!("coordinate_transformation_mode '{o}' is not supported"))),
            };
            let nearest = match n.attr_string("nearest_mode").as_deref() {
                None if legacy => NearestMode::Floor,
                None | Some("round_prefer_floor") => NearestMode::RoundPreferFloor,
                Some("round_prefer_ceil") => NearestMode::RoundPreferCeil,
                Some("floor") => NearestMode::Floor,
                Some("ceil") => NearestMode::Ceil,
                Some(o) => return Err(bad(format!("nearest_mode '{o}' is not supported"))),
            };
            let (scales_slot, sizes_slot) = if legacy { (1, usize::MAX) } else { (2, 3) };
            let mut scales_f = None;
            let mut scales_input = None;
            if let Some(s) = oto_onnx::attr::floats(&n.proto, "scales").filter(|_| n.op_type == "Upsample" && g.opset < 9) {
                scales_f = Some(s.iter().map(|&x| x as f64).collect());
            } else if let Some(id) = n.input(scales_slot) {
                match g.const_f32(id) {
                    Some(v) if v.is_empty() => {}
                    Some(v) => scales_f = Some(v.iter().map(|&x| x as f64).collect()),
                    None => {
                        if g.value(id).shape.as_ref().is_some_and(|s| s.first().and_then(|d| d.known()) == Some(0)) {
                        } else {
                            scales_input = Some(scales_slot)
                        }
                    }
                }
            }
            let sizes = if sizes_slot == usize::MAX { Ints::None } else { ints_in(sizes_slot) };
            let sizes = match sizes {
                Ints::Const(v) if v.is_empty() => Ints::None,
                s => s,
            };
            Op::Resize(ResizeSpec {
                linear,
                coord,
                nearest,
                scales_f,
                scales_input,
                sizes,
                axes: n.attr_ints("axes"),
            })
        }
        "DepthToSpace" => Op::DepthToSpace {
            b: n.attr_int("blocksize").ok_or_else(|| bad("missing attribute blocksize".into()))?,
            crd: n.attr_string("mode").as_deref() == Some("CRD"),
        },
        "SpaceToDepth" => {
            Op::SpaceToDepth { b: n.attr_int("blocksize").ok_or_else(|| bad("missing attribute blocksize".into()))? }
        }
        "Dropout" => {
            if g.opset < 12 {
                Op::Dropout { ratio: Scal::Const(f("ratio", 0.5)) }
            } else {
                Op::Dropout {
                    ratio: match scal_in(1) {
                        Scal::None => Scal::Const(0.5),
                        s => s,
                    },
                }
            }
        }
        "Constant" => return Err(bad("a Constant node without a supported value attribute".into())),
        _ => return Err(TrainError::UnsupportedOp { op: n.op_type.clone(), node: n.name.clone() }),
    };
    Ok(op)
}

// ---------------------------------------------------------------------------------------------
// Run time.

fn req<'a>(xs: &[Option<&'a Tensor>], slot: usize) -> R<&'a Tensor> {
    xs.get(slot).copied().flatten().ok_or_else(|| E(format!("missing input {slot}")))
}

fn opt<'a>(xs: &[Option<&'a Tensor>], slot: usize) -> Option<&'a Tensor> {
    xs.get(slot).copied().flatten()
}

/// Reads a small integer tensor (usually a CPU shape tensor: no device sync).
fn read_ints(t: &Tensor) -> R<Vec<i64>> {
    let t = if t.device() == Device::Cpu { t.shallow_clone() } else { t.to_device(Device::Cpu) };
    let t = if t.kind() == Kind::Int64 { t } else { t.f_to_kind(Kind::Int64)? };
    Ok(Vec::<i64>::try_from(t.f_reshape([-1])?)?)
}

fn read_f64(t: &Tensor) -> R<f64> {
    let t = t.f_to_device(Device::Cpu)?.f_to_kind(Kind::Double)?.f_reshape([-1])?;
    let v = Vec::<f64>::try_from(t)?;
    v.first().copied().ok_or_else(|| E("empty scalar input".into()))
}

fn ints(a: &Ints, xs: &[Option<&Tensor>]) -> R<Option<Vec<i64>>> {
    Ok(match a {
        Ints::None => None,
        Ints::Const(v) => Some(v.clone()),
        Ints::Input(s) => opt(xs, *s).map(read_ints).transpose()?,
    })
}

fn scal(a: &Scal, xs: &[Option<&Tensor>]) -> R<Option<f64>> {
    Ok(match a {
        Scal::None => None,
        Scal::Const(v) => Some(*v),
        Scal::Input(s) => opt(xs, *s).map(read_f64).transpose()?,
    })
}

fn norm_axis(a: i64, rank: i64) -> R<i64> {
    let r = if a < 0 { a + rank } else { a };
    if r < 0 || r >= rank.max(1) {
        return Err(E(format!("axis {a} is out of range for rank {rank}")));
    }
    Ok(r)
}

/// Moves `b` to `a`'s device when one of them is a CPU tensor and the other is not.
fn align(a: &Tensor, b: &Tensor) -> Tensor {
    if a.device() != b.device() && b.device() == Device::Cpu {
        b.to_device(a.device())
    } else {
        b.shallow_clone()
    }
}

fn pair(a: &Tensor, b: &Tensor) -> (Tensor, Tensor) {
    if a.device() == b.device() {
        (a.shallow_clone(), b.shallow_clone())
    } else if a.device() == Device::Cpu {
        (a.to_device(b.device()), b.shallow_clone())
    } else {
        (a.shallow_clone(), b.to_device(a.device()))
    }
}

fn is_int(k: Kind) -> bool {
    matches!(k, Kind::Int64 | Kind::Int | Kind::Int16 | Kind::Int8 | Kind::Uint8)
}

fn binary(b: Bin, x: &Tensor, y: &Tensor) -> R<Tensor> {
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

/// Explicit (begin, end) pads per spatial dim, resolving auto_pad from the actual sizes.
fn resolve_pads(
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

/// torch pad list (last dim first) from per-dim begin/end for the trailing dims.
fn torch_pads(b: &[i64], e: &[i64]) -> Vec<i64> {
    let mut p = vec![];
    for i in (0..b.len()).rev() {
        p.push(b[i]);
        p.push(e[i]);
    }
    p
}

fn or_ones(v: &[i64], n: usize) -> Vec<i64> {
    if v.is_empty() {
        vec![1; n]
    } else {
        v.to_vec()
    }
}

fn conv(s: &ConvSpec, x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> R<Tensor> {
    let xs = x.size();
    let ws = w.size();
    let nd = ws.len().saturating_sub(2);
    if xs.len() != nd + 2 {
        return Err(E(format!("input of shape {xs:?} does not match a weight of shape {ws:?}")));
    }
    let strides = or_ones(&s.strides, nd);
    let dil = or_ones(&s.dilations, nd);
    let (pb, pe) = resolve_pads(&s.pads, s.auto_pad, &xs[2..], &ws[2..], &strides, &dil);
    let zeros = vec![0i64; nd];
    if pb == pe {
        Ok(x.f_convolution(w, b, &strides, &pb, &dil, false, &zeros, s.group)?)
    } else {
        let xp = x.f_constant_pad_nd(torch_pads(&pb, &pe))?;
        Ok(xp.f_convolution(w, b, &strides, &zeros, &dil, false, &zeros, s.group)?)
    }
}

fn conv_transpose(s: &ConvSpec, x: &Tensor, w: &Tensor, b: Option<&Tensor>) -> R<Tensor> {
    let xs = x.size();
    let ws = w.size();
    let nd = ws.len().saturating_sub(2);
    if xs.len() != nd + 2 {
        return Err(E(format!("input of shape {xs:?} does not match a weight of shape {ws:?}")));
    }
    let strides = or_ones(&s.strides, nd);
    let dil = or_ones(&s.dilations, nd);
    let op: Vec<i64> = (0..nd).map(|i| s.output_padding.get(i).copied().unwrap_or(0)).collect();
    let mut head = vec![0i64; nd];
    let mut tail = vec![0i64; nd];
    for i in 0..nd {
        let full = strides[i] * (xs[2 + i] - 1) + op[i] + (ws[2 + i] - 1) * dil[i] + 1;
        let target = if !s.output_shape.is_empty() {
            // output_shape may list only spatial dims or the full shape.
            let os = &s.output_shape;
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
                head[i] = s.pads.get(i).copied().unwrap_or(0);
                tail[i] = s.pads.get(nd + i).copied().unwrap_or(0);
            }
        }
    }
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

fn pool(s: &PoolSpec, x: &Tensor) -> R<Tensor> {
    let xs = x.size();
    let nd = s.kernel.len();
    if xs.len() != nd + 2 || !(1..=3).contains(&nd) {
        return Err(E(format!("a {nd}-d pooling kernel does not fit an input of shape {xs:?}")));
    }
    let k = &s.kernel;
    let st = &s.strides;
    let dil = if s.max { s.dilations.clone() } else { vec![1; nd] };
    let (pb, pe) = resolve_pads(&s.pads, s.auto_pad, &xs[2..], k, st, &dil);
    let symmetric = pb == pe
        && (0..nd).all(|i| if s.max { pb[i] <= ((k[i] - 1) * dil[i] + 1) / 2 } else { pb[i] <= k[i] / 2 });
    let run = |x: &Tensor, pad: &[i64], cip: bool| -> R<Tensor> {
        Ok(match (s.max, nd) {
            (true, 1) => x.f_max_pool1d(k, st, pad, &dil, s.ceil)?,
            (true, 2) => x.f_max_pool2d(k, st, pad, &dil, s.ceil)?,
            (true, _) => x.f_max_pool3d(k, st, pad, &dil, s.ceil)?,
            (false, 1) => x.f_avg_pool1d(k, st, pad, s.ceil, cip)?,
            (false, 2) => x.f_avg_pool2d(k, st, pad, s.ceil, cip, None)?,
            (false, _) => x.f_avg_pool3d(k, st, pad, s.ceil, cip, None)?,
        })
    };
    if symmetric {
        return run(x, &pb, s.count_include_pad);
    }
    let zeros = vec![0i64; nd];
    let tp = torch_pads(&pb, &pe);
    if s.max {
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

fn resize(s: &ResizeSpec, xs: &[Option<&Tensor>]) -> R<Tensor> {
    let x = req(xs, 0)?;
    let shape = x.size();
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
    // Per-axis (in, out, scale) for every axis of the input.
    let mut out = shape.clone();
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
    let changed: Vec<usize> = (0..rank).filter(|&a| out[a] != shape[a] || scale[a] != 1.0).collect();
    if changed.is_empty() {
        return Ok(x.shallow_clone());
    }
    let spatial_only = changed.iter().all(|&a| a >= 2) && (3..=5).contains(&rank);
    let nd = rank.saturating_sub(2);
    let sp_scales = |i: usize| -> Option<f64> {
        if sizes.is_none() && scales.is_some() {
            Some(scale[2 + i])
        } else {
            None
        }
    };
    if spatial_only {
        let osz: Vec<i64> = out[2..].to_vec();
        if s.linear {
            let native = match s.coord {
                Coord::AlignCorners => Some(true),
                Coord::HalfPixel => Some(false),
                Coord::PytorchHalfPixel if osz.iter().all(|&o| o > 1) => Some(false),
                _ => None,
            };
            if let Some(ac) = native {
                let sc = |i| if ac { None } else { sp_scales(i) };
                return Ok(match nd {
                    1 => x.f_upsample_linear1d(&osz, ac, sc(0))?,
                    2 => x.f_upsample_bilinear2d(&osz, ac, sc(0), sc(1))?,
                    _ => x.f_upsample_trilinear3d(&osz, ac, sc(0), sc(1), sc(2))?,
                });
            }
        } else {
            // torch's nearest is floor(o * in / out): exact for integer upscaling when the ONNX
            // mode picks the same indices.
            let same = (2..rank).all(|a| {
                let (i, o) = (shape[a], out[a]);
                o % i == 0 && (0..o).all(|k| nearest_index(s, k, i, o, scale[a]) == k / (o / i))
            });
            if same {
                return Ok(match nd {
                    1 => x.f_upsample_nearest1d(&osz, None)?,
                    2 => x.f_upsample_nearest2d(&osz, None, None)?,
                    _ => x.f_upsample_nearest3d(&osz, None, None, None)?,
                });
            }
        }
    }
    // General separable path: per changed axis, gather source rows (and blend for linear).
    let mut y = x.shallow_clone();
    for &a in &changed {
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
    Ok(match mode {
        PadMode::Constant => {
            if value == 0.0 {
                x.f_constant_pad_nd(&tp)?
            } else {
                x.f_pad(&tp, "constant", Some(value))?
            }
        }
        _ => {
            let m = match mode {
                PadMode::Reflect => "reflect",
                PadMode::Edge => "replicate",
                _ => "circular",
            };
            let padded = rank as usize - first;
            if padded > 3 || padded + 2 > rank as usize && rank < 3 {
                return Err(E(format!("{m} padding supports at most the last 3 dims of a batched input (pads {pads:?})")));
            }
            x.f_pad(&tp, m, None)?
        }
    })
}

fn slice(x: &Tensor, starts: &[i64], ends: &[i64], axes: Option<Vec<i64>>, steps: Option<Vec<i64>>) -> R<Tensor> {
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

fn scalar_tensor_i64(v: i64) -> Tensor {
    Tensor::from(v)
}

/// Executes one op. `nout`: number of output slots of the node.
pub fn run(op: &Op, xs: &[Option<&Tensor>], nout: usize, ctx: &Ctx) -> R<Vec<Tensor>> {
    let x0 = || req(xs, 0);
    let one = |t: Tensor| Ok(vec![t]);
    match op {
        Op::Identity => one(x0()?.shallow_clone()),
        Op::Unary(u) => {
            let x = x0()?;
            one(match u {
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
        Op::LeakyRelu(a) => {
            let x = x0()?;
            one(x.f_mul_scalar(*a)?.f_where_self(&x.f_le(0.0)?, x)?)
        }
        Op::Elu(a) => {
            let x = x0()?;
            if *a == 1.0 {
                one(x.f_elu()?)
            } else {
                one(x.f_clamp_min(0.0)?.f_add(&x.f_clamp_max(0.0)?.f_expm1()?.f_mul_scalar(*a)?)?)
            }
        }
        Op::Selu(a, gm) => {
            let x = x0()?;
            if (*a - 1.673_263_242_354_377_3).abs() < 1e-6 && (*gm - 1.050_700_987_355_480_5).abs() < 1e-6 {
                one(x.f_selu()?)
            } else {
                let e = x.f_clamp_min(0.0)?.f_add(&x.f_clamp_max(0.0)?.f_expm1()?.f_mul_scalar(*a)?)?;
                one(e.f_mul_scalar(*gm)?)
            }
        }
        Op::HardSigmoid(a, b) => {
            let x = x0()?;
            if (*a - 1.0 / 6.0).abs() < 1e-7 && *b == 0.5 {
                one(x.f_hardsigmoid()?)
            } else {
                one(x.f_mul_scalar(*a)?.f_add_scalar(*b)?.f_clamp(0.0, 1.0)?)
            }
        }
        Op::Gelu(tanh) => one(x0()?.f_gelu(if *tanh { "tanh" } else { "none" })?),
        Op::PRelu => {
            let x = x0()?;
            let s = align(x, req(xs, 1)?);
            one(x.f_clamp_min(0.0)?.f_add(&x.f_clamp_max(0.0)?.f_mul(&s)?)?)
        }
        Op::Clip(lo, hi) => {
            let x = x0()?;
            match (lo, hi) {
                (Scal::Input(_), _) | (_, Scal::Input(_)) => {
                    let mut y = x.shallow_clone();
                    if let Some(l) = opt(xs, 1) {
                        y = y.f_clamp_min_tensor(&align(x, l))?;
                    }
                    if let Some(h) = opt(xs, 2) {
                        y = y.f_clamp_max_tensor(&align(x, h))?;
                    }
                    one(y)
                }
                _ => {
                    let l = scal(lo, xs)?;
                    let h = scal(hi, xs)?;
                    one(match (l, h) {
                        (Some(l), Some(h)) => x.f_clamp(l, h)?,
                        (Some(l), None) => x.f_clamp_min(l)?,
                        (None, Some(h)) => x.f_clamp_max(h)?,
                        (None, None) => x.shallow_clone(),
                    })
                }
            }
        }
        Op::Softmax { axis, legacy, log } => {
            let x = x0()?;
            let shape = x.size();
            let rank = shape.len() as i64;
            let a = norm_axis(*axis, rank)?;
            let f = |t: &Tensor, d: i64| -> R<Tensor> {
                Ok(if *log { t.f_log_softmax(d, None::<Kind>)? } else { t.f_softmax(d, None::<Kind>)? })
            };
            if *legacy && a != rank - 1 {
                let outer: i64 = shape[..a as usize].iter().product();
                let y = f(&x.f_reshape([outer, -1])?, 1)?;
                one(y.f_reshape(&shape)?)
            } else {
                one(f(x, a)?)
            }
        }
        Op::Binary(b) => one(binary(*b, x0()?, req(xs, 1)?)?),
        Op::PowScalar(e) => {
            let x = x0()?;
            one(if *e == 2.0 {
                x.f_mul(x)?
            } else if *e == 1.0 {
                x.shallow_clone()
            } else if *e == 0.5 {
                x.f_sqrt()?
            } else {
                x.f_pow_tensor_scalar(*e)?
            })
        }
        Op::Variadic(v) => {
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
            one(acc)
        }
        Op::Where => {
            let c = x0()?;
            let (a, b) = pair(req(xs, 1)?, req(xs, 2)?);
            let c = align(&a, c);
            one(a.f_where_self(&c, &b)?)
        }
        Op::MatMul => {
            let (a, b) = pair(x0()?, req(xs, 1)?);
            one(a.f_matmul(&b)?)
        }
        Op::Gemm { ta, tb, alpha, beta } => {
            let a = x0()?;
            let b = req(xs, 1)?;
            let c = opt(xs, 2);
            if !ta && *tb && *alpha == 1.0 && (*beta == 1.0 || c.is_none()) && c.is_none_or(|c| c.dim() == 1) {
                return one(a.f_linear(b, c)?);
            }
            let a = if *ta { a.f_transpose(0, 1)? } else { a.shallow_clone() };
            let b = if *tb { b.f_transpose(0, 1)? } else { b.shallow_clone() };
            let mut y = a.f_matmul(&b)?;
            if *alpha != 1.0 {
                y = y.f_mul_scalar(*alpha)?;
            }
            if let Some(c) = c {
                y = if *beta == 1.0 { y.f_add(c)? } else { y.f_add(&c.f_mul_scalar(*beta)?)? };
            }
            one(y)
        }
        Op::Conv(s) => one(conv(s, x0()?, req(xs, 1)?, opt(xs, 2))?),
        Op::ConvTranspose(s) => one(conv_transpose(s, x0()?, req(xs, 1)?, opt(xs, 2))?),
        Op::BatchNorm { eps, momentum } => {
            let x = x0()?;
            let (sc, b, m, v) = (req(xs, 1)?, req(xs, 2)?, req(xs, 3)?, req(xs, 4)?);
            let y = x.f_batch_norm(Some(sc), Some(b), Some(m), Some(v), ctx.train, 1.0 - momentum, *eps, true)?;
            let mut out = vec![y];
            for k in 1..nout {
                out.push(if k == 1 { m.shallow_clone() } else { v.shallow_clone() });
            }
            Ok(out)
        }
        Op::LayerNorm { axis, eps } => {
            let x = x0()?;
            let shape = x.size();
            let a = norm_axis(*axis, shape.len() as i64)? as usize;
            let ns = &shape[a..];
            let sc = opt(xs, 1);
            let b = opt(xs, 2);
            let exact = sc.is_none_or(|s| s.size() == ns) && b.is_none_or(|b| b.size() == ns);
            if exact {
                one(x.f_layer_norm(ns, sc, b, *eps, true)?)
            } else {
                let mut y = x.f_layer_norm(ns, None::<&Tensor>, None::<&Tensor>, *eps, true)?;
                if let Some(s) = sc {
                    y = y.f_mul(s)?;
                }
                if let Some(b) = b {
                    y = y.f_add(b)?;
                }
                one(y)
            }
        }
        Op::GroupNorm { groups, eps } => {
            let x = x0()?;
            let shape = x.size();
            let c = *shape.get(1).ok_or("GroupNormalization needs a rank >= 2 input")?;
            let (sc, b) = (req(xs, 1)?, req(xs, 2)?);
            if sc.numel() as i64 == c {
                one(x.f_group_norm(*groups, Some(sc), Some(b), *eps, true)?)
            } else if sc.numel() as i64 == *groups && c % groups == 0 {
                // opset 18: one scale/bias per group.
                let y = x.f_group_norm(*groups, None::<&Tensor>, None::<&Tensor>, *eps, true)?;
                let mut bshape = vec![1i64; shape.len()];
                bshape[1] = c;
                let rep = c / groups;
                let s = sc.f_reshape([-1])?.f_repeat_interleave_self_int(rep, 0, None)?.f_reshape(&bshape)?;
                let bb = b.f_reshape([-1])?.f_repeat_interleave_self_int(rep, 0, None)?.f_reshape(&bshape)?;
                one(y.f_mul(&s)?.f_add(&bb)?)
            } else {
                Err(E(format!("scale has {} values; expected {c} (channels) or {groups} (groups)", sc.numel())))
            }
        }
        Op::InstanceNorm { eps } => {
            let x = x0()?;
            let (sc, b) = (req(xs, 1)?, req(xs, 2)?);
            one(x.f_instance_norm(Some(sc), Some(b), None, None, true, 0.0, *eps, true)?)
        }
        Op::Pool(s) => one(pool(s, x0()?)?),
        Op::GlobalPool { max } => {
            let x = x0()?;
            let dims: Vec<i64> = (2..x.dim() as i64).collect();
            one(if *max { x.f_amax(&dims, true)? } else { x.f_mean_dim(&dims, true, None::<Kind>)? })
        }
        Op::Reduce { red, axes, keepdims, noop_empty } => {
            let x = x0()?;
            let rank = x.dim() as i64;
            let axes = ints(axes, xs)?.unwrap_or_default();
            if axes.is_empty() && *noop_empty {
                return one(x.shallow_clone());
            }
            let dims: Vec<i64> = if axes.is_empty() {
                (0..rank).collect()
            } else {
                axes.iter().map(|&a| norm_axis(a, rank)).collect::<R<_>>()?
            };
            one(match red {
                Red::Mean => x.f_mean_dim(&dims, *keepdims, None::<Kind>)?,
                Red::Sum => x.f_sum_dim_intlist(&dims, *keepdims, None::<Kind>)?,
                Red::Max => x.f_amax(&dims, *keepdims)?,
                Red::Min => x.f_amin(&dims, *keepdims)?,
            })
        }
        Op::Concat { axis } => {
            let ins: Vec<&Tensor> = xs.iter().flatten().copied().collect();
            let first = ins.first().ok_or("no inputs")?;
            let a = norm_axis(*axis, first.dim() as i64)?;
            let dev = ins.iter().map(|t| t.device()).find(|d| *d != Device::Cpu).unwrap_or(Device::Cpu);
            let ts: Vec<Tensor> = ins.iter().map(|t| if t.device() != dev { t.to_device(dev) } else { t.shallow_clone() }).collect();
            one(Tensor::f_cat(&ts, a)?)
        }
        Op::Split { axis, sizes, num_outputs } => {
            let x = x0()?;
            let a = norm_axis(*axis, x.dim() as i64)?;
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
        Op::Slice { starts, ends, axes, steps } => {
            let st = ints(starts, xs)?.ok_or("missing starts")?;
            let en = ints(ends, xs)?.ok_or("missing ends")?;
            one(slice(x0()?, &st, &en, ints(axes, xs)?, ints(steps, xs)?)?)
        }
        Op::Gather { axis } => {
            let x = x0()?;
            let idx = align(x, req(xs, 1)?);
            let rank = x.dim() as i64;
            let a = norm_axis(*axis, rank)?;
            let dim = x.size()[a as usize];
            let idx = if idx.kind() != Kind::Int64 { idx.f_to_kind(Kind::Int64)? } else { idx };
            // Negative indices count from the end.
            let idx = idx.f_remainder(dim)?;
            if idx.dim() == 0 {
                return one(x.f_index_select(a, &idx.f_reshape([1])?)?.f_squeeze_dims([a])?);
            }
            let mut shape = x.size()[..a as usize].to_vec();
            shape.extend(idx.size());
            shape.extend(&x.size()[a as usize + 1..]);
            one(x.f_index_select(a, &idx.f_reshape([-1])?)?.f_reshape(&shape)?)
        }
        Op::Shape { start, end } => {
            let s = x0()?.size();
            let r = s.len() as i64;
            let fix = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
            let (a, b) = (fix(*start), fix(end.unwrap_or(r)));
            one(Tensor::from_slice(if a < b { &s[a..b] } else { &[] }))
        }
        Op::Size => one(scalar_tensor_i64(x0()?.numel() as i64)),
        Op::Reshape { shape, allowzero } => {
            let x = x0()?;
            let mut s = ints(shape, xs)?.ok_or("missing shape")?;
            if !allowzero {
                let xs = x.size();
                for (i, d) in s.iter_mut().enumerate() {
                    if *d == 0 {
                        *d = *xs.get(i).ok_or("shape has a 0 beyond the input's rank")?;
                    }
                }
            }
            one(x.f_reshape(&s)?)
        }
        Op::Flatten { axis } => {
            let x = x0()?;
            let s = x.size();
            let r = s.len() as i64;
            let a = if *axis < 0 { axis + r } else { *axis }.clamp(0, r) as usize;
            let outer: i64 = s[..a].iter().product();
            let inner: i64 = s[a..].iter().product();
            one(x.f_reshape([outer, inner])?)
        }
        Op::Transpose { perm } => {
            let x = x0()?;
            let p = perm.clone().unwrap_or_else(|| (0..x.dim() as i64).rev().collect());
            one(x.f_permute(&p)?)
        }
        Op::Squeeze { axes } => {
            let x = x0()?;
            match ints(axes, xs)? {
                Some(a) if !a.is_empty() => {
                    let r = x.dim() as i64;
                    let a: Vec<i64> = a.iter().map(|&v| norm_axis(v, r)).collect::<R<_>>()?;
                    one(x.f_squeeze_dims(&a)?)
                }
                _ => one(x.f_squeeze()?),
            }
        }
        Op::Unsqueeze { axes } => {
            let x = x0()?;
            let a = ints(axes, xs)?.ok_or("missing axes")?;
            let out_rank = x.dim() as i64 + a.len() as i64;
            let mut a: Vec<i64> = a.iter().map(|&v| norm_axis(v, out_rank)).collect::<R<_>>()?;
            a.sort();
            let mut y = x.shallow_clone();
            for d in a {
                y = y.f_unsqueeze(d)?;
            }
            one(y)
        }
        Op::Expand { shape } => {
            let x = x0()?;
            let s = ints(shape, xs)?.ok_or("missing shape")?;
            let target = broadcast_shape(&x.size(), &s)?;
            one(x.f_expand(&target, false)?)
        }
        Op::Tile { reps } => {
            let x = x0()?;
            let r = ints(reps, xs)?.ok_or("missing repeats")?;
            one(x.f_repeat(&r)?)
        }
        Op::ConstantOfShape { shape, value, kind } => {
            let s = ints(shape, xs)?.ok_or("missing shape")?;
            let dev = if *kind == ctx.kind { ctx.device } else { Device::Cpu };
            one(Tensor::f_full(&s, *value, (*kind, dev))?)
        }
        Op::Cast { to } => {
            let x = x0()?;
            if x.kind() == *to {
                one(x.shallow_clone())
            } else if *to == ctx.kind && x.device() == Device::Cpu && ctx.device != Device::Cpu {
                one(x.f_to_kind(*to)?.f_to_device(ctx.device)?)
            } else {
                one(x.f_to_kind(*to)?)
            }
        }
        Op::Range => {
            let (s, l, d) = (x0()?, req(xs, 1)?, req(xs, 2)?);
            if s.is_floating_point() {
                let (a, b, c) = (read_f64(s)?, read_f64(l)?, read_f64(d)?);
                one(Tensor::f_arange_start_step(a, b, c, (s.kind(), s.device()))?)
            } else {
                let (a, b, c) = (read_ints(s)?[0], read_ints(l)?[0], read_ints(d)?[0]);
                one(Tensor::f_arange_start_step(a, b, c, (Kind::Int64, Device::Cpu))?)
            }
        }
        Op::Pad { mode, pads, value, axes } => {
            let p = ints(pads, xs)?.ok_or("missing pads")?;
            let v = scal(value, xs)?.unwrap_or(0.0);
            one(pad(*mode, x0()?, &p, v, ints(axes, xs)?)?)
        }
        Op::Resize(s) => one(resize(s, xs)?),
        Op::DepthToSpace { b, crd } => {
            let x = x0()?;
            let s = x.size();
            if s.len() != 4 {
                return Err("DepthToSpace needs a 4-d input".into());
            }
            let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
            if *crd {
                one(x.f_pixel_shuffle(*b)?)
            } else {
                let y = x.f_reshape([n, *b, *b, c / (b * b), h, w])?.f_permute([0, 3, 4, 1, 5, 2])?;
                one(y.f_reshape([n, c / (b * b), h * b, w * b])?)
            }
        }
        Op::SpaceToDepth { b } => {
            let x = x0()?;
            let s = x.size();
            if s.len() != 4 {
                return Err("SpaceToDepth needs a 4-d input".into());
            }
            let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
            let y = x.f_reshape([n, c, h / b, *b, w / b, *b])?.f_permute([0, 3, 5, 1, 2, 4])?;
            one(y.f_reshape([n, c * b * b, h / b, w / b])?)
        }
        Op::Dropout { ratio } => {
            let x = x0()?;
            let p = scal(ratio, xs)?.unwrap_or(0.5);
            if !ctx.train || p == 0.0 {
                let mut out = vec![x.shallow_clone()];
                if nout > 1 {
                    out.push(Tensor::f_ones(x.size(), (Kind::Bool, x.device()))?);
                }
                return Ok(out);
            }
            if nout < 2 {
                return one(x.f_dropout(p, true)?);
            }
            let mask = x.f_rand_like()?.f_ge(p)?;
            let y = x.f_mul(&mask)?.f_mul_scalar(1.0 / (1.0 - p))?;
            Ok(vec![y, mask])
        }
    }
}
