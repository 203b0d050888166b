//! Ops whose outputs are shape or index data, never channels: `Constant`, `Shape`, `Size`,
//! `ConstantOfShape`, `Range`, and `NonZero` / `EyeLike` / `TopK` (index-only).
//!
//! ZIG rule: none (their outputs carry no channel ids). Shape rule: exact, with folded contents
//! for the small integer tensors that feed Reshape/Expand/Resize.
use super::{Attrs, OpParse, OpRule};
use crate::error::Result;
use crate::ir::Dim;
use crate::shape::broadcast::product;
use crate::shape::ctx::out;
use crate::shape::{InferCtx, OutInfo};
use crate::zig::State;
use oto_onnx::pb::{NodeProto, TensorProto};
use oto_onnx::tensor::{FLOAT, INT64};

const K: fn(i64) -> Dim = Dim::Known;

/// `Constant`: its tensor becomes the output value's constant data at load ([`Constant::tensor`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Constant;

impl Constant {
    /// The tensor a Constant node produces (any of its value forms).
    pub fn tensor(p: &NodeProto) -> Option<TensorProto> {
        use oto_onnx::tensor::{f32_tensor, i64_tensor};
        if let Some(t) = oto_onnx::attr::tensor(p, "value") {
            return Some(t.clone());
        }
        if let Some(f) = oto_onnx::attr::float(p, "value_float") {
            return Some(f32_tensor("", &[], &[f]));
        }
        if let Some(a) = oto_onnx::attr::find(p, "value_floats") {
            return Some(f32_tensor("", &[a.floats.len() as i64], &a.floats));
        }
        if let Some(i) = oto_onnx::attr::int(p, "value_int") {
            return Some(i64_tensor("", &[], &[i]));
        }
        if let Some(a) = oto_onnx::attr::find(p, "value_ints") {
            return Some(i64_tensor("", &[a.ints.len() as i64], &a.ints));
        }
        None
    }
}

impl OpParse for Constant {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        Ok((a.op_type == "Constant").then_some(Constant))
    }
}

impl OpRule for Constant {
    fn infer(&self, _c: &InferCtx) -> Result<Vec<OutInfo>> {
        Ok(vec![]) // set at load from the tensor
    }
    fn zig(&self, _st: &mut State) {}
}

/// `Shape` (opset 15 adds `start` / `end`).
#[derive(Clone, Debug, PartialEq)]
pub struct ShapeOf {
    pub start: i64,
    pub end: Option<i64>,
}

impl ShapeOf {
    /// The axes of a rank-`rank` input it reads (`start`/`end` normalised and clamped, as the
    /// spec says).
    pub fn range(&self, rank: usize) -> std::ops::Range<usize> {
        let r = rank as i64;
        let cl = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
        let (start, end) = (cl(self.start), cl(self.end.unwrap_or(r)));
        start..end.max(start)
    }
}

impl OpParse for ShapeOf {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        if a.op_type != "Shape" {
            return Ok(None);
        }
        Ok(Some(ShapeOf { start: a.int("start", 0)?, end: a.int_opt("end")? }))
    }
}

impl OpRule for ShapeOf {
    fn reads_values(&self) -> bool {
        false
    }
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        let Some(s) = c.shape(0) else { return Ok(vec![out(vec![Dim::Sym(format!("{}_rank", c.node().name))], INT64)]) };
        let d = s[self.range(s.len())].to_vec();
        Ok(vec![OutInfo { shape: Some(vec![K(d.len() as i64)]), dtype: INT64, folded: Some(d) }])
    }
    fn zig(&self, _st: &mut State) {}
}

#[derive(Clone, Debug, PartialEq)]
pub struct Size;

impl OpParse for Size {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        Ok((a.op_type == "Size").then_some(Size))
    }
}

impl OpRule for Size {
    fn reads_values(&self) -> bool {
        false
    }
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        Ok(vec![OutInfo { shape: Some(vec![]), dtype: INT64, folded: c.shape(0).map(|s| vec![product(&s)]) }])
    }
    fn zig(&self, _st: &mut State) {}
}

/// `ConstantOfShape(shape)` filled with `value` (a one-element tensor, default float 0).
#[derive(Clone, Debug, PartialEq)]
pub struct ConstantOfShape {
    pub value: Option<TensorProto>,
}

impl OpParse for ConstantOfShape {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        if a.op_type != "ConstantOfShape" {
            return Ok(None);
        }
        let value = a.tensor_opt("value")?.cloned();
        if value.as_ref().is_some_and(|t| oto_onnx::tensor::numel(&t.dims) != 1) {
            return Err(a.err("value", "must hold exactly one element"));
        }
        Ok(Some(ConstantOfShape { value }))
    }
}

impl OpRule for ConstantOfShape {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        let Some(f) = c.folded(0) else { return Ok(vec![OutInfo::default()]) };
        let vt = self.value.as_ref();
        let dtype = vt.and_then(|t| t.data_type).unwrap_or(FLOAT);
        let folded = match (vt, f.iter().map(|d| d.known()).collect::<Option<Vec<_>>>()) {
            (Some(t), Some(dims)) if dtype != FLOAT && dims.iter().product::<i64>() <= 64 => oto_onnx::tensor::to_i64(t)
                .ok()
                .and_then(|v| v.first().copied())
                .map(|v| vec![K(v); dims.iter().product::<i64>().max(0) as usize]),
            _ => None,
        };
        Ok(vec![OutInfo { shape: Some(f), dtype, folded }])
    }
    fn zig(&self, _st: &mut State) {}
}

/// `Range(start, limit, delta)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Range;

impl OpParse for Range {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        Ok((a.op_type == "Range").then_some(Range))
    }
}

impl OpRule for Range {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        let dt = c.dtype(0);
        let (Some(a), Some(b), Some(d)) = (c.ints(0), c.ints(1), c.ints(2)) else {
            return Ok(vec![OutInfo { shape: Some(vec![Dim::Sym(format!("{}_len", c.node().name))]), dtype: dt, folded: None }]);
        };
        let (Some(&a), Some(&b), Some(&d)) = (a.first(), b.first(), d.first()) else { return Err(c.err("empty start/limit/delta")) };
        if d == 0 {
            return Err(c.err("delta is 0"));
        }
        let len = (((b - a) as f64) / d as f64).ceil().max(0.0) as i64;
        let folded = (len <= 64).then(|| (0..len).map(|i| K(a + i * d)).collect());
        Ok(vec![OutInfo { shape: Some(vec![K(len)]), dtype: dt, folded }])
    }
    fn zig(&self, _st: &mut State) {}
}

/// Ops whose outputs are indices or masks (`NonZero`, `EyeLike`, `TopK`): no channels; shapes
/// come from the model's declarations.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexOnly {
    pub op_type: &'static str,
}

impl OpParse for IndexOnly {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        Ok(["NonZero", "EyeLike", "TopK"].into_iter().find(|t| *t == a.op_type).map(|op_type| IndexOnly { op_type }))
    }
}

impl OpRule for IndexOnly {
    fn infer(&self, _c: &InferCtx) -> Result<Vec<OutInfo>> {
        Ok(vec![])
    }
    fn zig(&self, _st: &mut State) {}
}
