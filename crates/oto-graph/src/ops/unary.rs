//! Element-wise activations and math (`Relu`, `Sigmoid`, `Gelu`, ...), `Clip` and `PRelu`.
//!
//! ZIG rule: a unary op with f(0) = 0 passes a zero channel through as zero; one with f(0) ≠ 0
//! (Sigmoid, Exp, ...) makes it non-zero (state N), so a row that reaches an exit through it is
//! unprunable. PRelu's per-channel slope is an accessory of the row.
use super::{Attrs, OpParse, OpRule};
use crate::error::Result;
use crate::shape::ctx::same;
use crate::shape::{InferCtx, OutInfo};
use crate::zig::prop::{channel_vec, const_scalar, input, node, pass, per_channel_const, slots_of, static_shape, taint_here};
use crate::zig::{MemberKind, State};
use oto_onnx::tensor::BOOL;

/// The activation or math function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryKind {
    Relu,
    LeakyRelu,
    Elu,
    Selu,
    Celu,
    Gelu,
    Tanh,
    HardSwish,
    Mish,
    Swish,
    Abs,
    Neg,
    Sign,
    Sqrt,
    Sin,
    Sinh,
    Tan,
    Atan,
    Asin,
    Erf,
    Softsign,
    ThresholdedRelu,
    Floor,
    Ceil,
    Round,
    Sigmoid,
    HardSigmoid,
    Softplus,
    Exp,
    Cos,
    Cosh,
    Acos,
    Reciprocal,
    Log,
    Not,
    IsNaN,
    Shrink,
}

use UnaryKind as U;

/// (op type, kind, f(0) = 0).
const KINDS: &[(&str, UnaryKind, bool)] = &[
    ("Relu", U::Relu, true),
    ("LeakyRelu", U::LeakyRelu, true),
    ("Elu", U::Elu, true),
    ("Selu", U::Selu, true),
    ("Celu", U::Celu, true),
    ("Gelu", U::Gelu, true),
    ("Tanh", U::Tanh, true),
    ("HardSwish", U::HardSwish, true),
    ("Mish", U::Mish, true),
    ("Swish", U::Swish, true),
    ("Abs", U::Abs, true),
    ("Neg", U::Neg, true),
    ("Sign", U::Sign, true),
    ("Sqrt", U::Sqrt, true),
    ("Sin", U::Sin, true),
    ("Sinh", U::Sinh, true),
    ("Tan", U::Tan, true),
    ("Atan", U::Atan, true),
    ("Asin", U::Asin, true),
    ("Erf", U::Erf, true),
    ("Softsign", U::Softsign, true),
    ("ThresholdedRelu", U::ThresholdedRelu, true),
    ("Floor", U::Floor, true),
    ("Ceil", U::Ceil, true),
    ("Round", U::Round, true),
    ("Sigmoid", U::Sigmoid, false),
    ("HardSigmoid", U::HardSigmoid, false),
    ("Softplus", U::Softplus, false),
    ("Exp", U::Exp, false),
    ("Cos", U::Cos, false),
    ("Cosh", U::Cosh, false),
    ("Acos", U::Acos, false),
    ("Reciprocal", U::Reciprocal, false),
    ("Log", U::Log, false),
    ("Not", U::Not, false),
    ("IsNaN", U::IsNaN, false),
    ("Shrink", U::Shrink, false),
];

/// A unary op with its attributes resolved (unused ones keep their defaults).
#[derive(Clone, Debug, PartialEq)]
pub struct Unary {
    pub kind: UnaryKind,
    /// LeakyRelu 0.01, Elu/Celu 1, Selu 1.6733, HardSigmoid 0.2, ThresholdedRelu 1.
    pub alpha: f32,
    /// HardSigmoid 0.5; Shrink `bias` 0.
    pub beta: f32,
    /// Selu 1.0507; Shrink `lambd` 0.5.
    pub gamma: f32,
    /// Gelu `approximate = "tanh"`.
    pub tanh_approx: bool,
}

impl Unary {
    /// f(0) = 0: a zero channel stays exactly zero.
    pub fn zero_preserving(&self) -> bool {
        KINDS.iter().any(|(_, k, z)| *k == self.kind && *z)
    }
}

impl OpParse for Unary {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        let Some(&(_, kind, _)) = KINDS.iter().find(|(n, _, _)| *n == a.op_type) else { return Ok(None) };
        let (alpha, beta, gamma) = match kind {
            U::LeakyRelu => (a.float("alpha", 0.01)?, 0.0, 0.0),
            U::Elu | U::Celu => (a.float("alpha", 1.0)?, 0.0, 0.0),
            U::Selu => (a.float("alpha", 1.673_263_2)?, 0.0, a.float("gamma", 1.050_701)?),
            U::HardSigmoid => (a.float("alpha", 0.2)?, a.float("beta", 0.5)?, 0.0),
            U::ThresholdedRelu => (a.float("alpha", 1.0)?, 0.0, 0.0),
            U::Shrink => (0.0, a.float("bias", 0.0)?, a.float("lambd", 0.5)?),
            _ => (0.0, 0.0, 0.0),
        };
        let tanh_approx = kind == U::Gelu && a.choice("approximate", "none", &["none", "tanh"])? == "tanh";
        Ok(Some(Unary { kind, alpha, beta, gamma, tanh_approx }))
    }
}

impl OpRule for Unary {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        let dt = if matches!(self.kind, U::IsNaN) { BOOL } else { c.dtype(0) };
        Ok(vec![same(c.shape(0), dt)])
    }
    fn zig(&self, st: &mut State) {
        let taint = if self.zero_preserving() { 0 } else { taint_here(st) };
        pass(st, taint)
    }
}

/// `Clip`: bounds from attributes (opset < 11) or the optional inputs 1 and 2.
#[derive(Clone, Debug, PartialEq)]
pub struct Clip {
    pub min_attr: Option<f32>,
    pub max_attr: Option<f32>,
}

impl OpParse for Clip {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        if a.op_type != "Clip" {
            return Ok(None);
        }
        Ok(Some(Clip { min_attr: a.float_opt("min")?, max_attr: a.float_opt("max")? }))
    }
}

impl OpRule for Clip {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        Ok(vec![same(c.shape(0), c.dtype(0))])
    }
    fn zig(&self, st: &mut State) {
        let lo = const_scalar(st, 1).or(self.min_attr).unwrap_or(f32::NEG_INFINITY);
        let hi = const_scalar(st, 2).or(self.max_attr).unwrap_or(f32::INFINITY);
        // zero-preserving when 0 lies inside [lo, hi]
        let taint = if lo <= 0.0 && 0.0 <= hi { 0 } else { taint_here(st) };
        pass(st, taint)
    }
}

/// `PRelu`: y = x if x ≥ 0 else slope·x, slope broadcast (often per channel).
#[derive(Clone, Debug, PartialEq)]
pub struct PRelu {
    /// Before opset 7 a 1-D slope of size C applies per channel (axis 1), not numpy-style
    /// against the last axis.
    pub slope_on_channels: bool,
}

impl OpParse for PRelu {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        Ok((a.op_type == "PRelu").then_some(PRelu { slope_on_channels: a.opset < 7 }))
    }
}

impl OpRule for PRelu {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        Ok(vec![same(c.shape(0), c.dtype(0))])
    }
    fn zig(&self, st: &mut State) {
        pass(st, 0);
        let legacy = (self.slope_on_channels, input(st, 1), node(st).output(0));
        if let (true, Some(slope), Some(o)) = legacy {
            let len = static_shape(st, slope).filter(|s| s.len() == 1).map(|s| s[0]);
            let out = st.ids[o].clone();
            if let (Some(c), Some(out)) = (len.filter(|&c| c > 1), out) {
                if out.rank() > 1 && out.chan[1] && out.dims[1] == c {
                    if let Some(x) = channel_vec(st, &out, 1, c) {
                        st.member(slope, 0, MemberKind::Accessory, slots_of(&x));
                    }
                } else {
                    st.unprunable_all(&out, "const_over_channels");
                }
            }
            return;
        }
        per_channel_const(st, 1, MemberKind::Accessory);
    }
}
