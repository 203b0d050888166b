//! `LRN` (local response normalisation, AlexNet / GoogLeNet):
//! y_c = x_c / (bias + α/size · Σ_{k ∈ window(c)} x_k²)^β, the window `size` channels wide.
//!
//! ZIG rule: a zero channel stays zero (its numerator is zero), but removing it would shift the
//! windows of its neighbours, so the channels it normalises are unprunable
//! (`lrn_over_channels`). Slice rule: nothing to rewrite (its rows are never cut). Cost: not
//! counted (the original counts Conv/Gemm/MatMul only).
use super::{Attrs, OpParse, OpRule};
use crate::error::Result;
use crate::shape::ctx::same;
use crate::shape::{InferCtx, OutInfo};
use crate::zig::prop::{input_ids, pass};
use crate::zig::State;

#[derive(Clone, Debug, PartialEq)]
pub struct Lrn {
    /// Window width in channels (required, ≥ 1).
    pub size: i64,
    pub alpha: f32,
    pub beta: f32,
    pub bias: f32,
}

impl OpParse for Lrn {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        if a.op_type != "LRN" {
            return Ok(None);
        }
        let size = a.int_opt("size")?.ok_or_else(|| a.err("size", "is required"))?;
        if size < 1 {
            return Err(a.err("size", format!("must be >= 1, got {size}")));
        }
        Ok(Some(Lrn { size, alpha: a.float("alpha", 1e-4)?, beta: a.float("beta", 0.75)?, bias: a.float("bias", 1.0)? }))
    }
}

impl OpRule for Lrn {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        Ok(vec![same(c.shape(0), c.dtype(0))])
    }
    fn zig(&self, st: &mut State) {
        if let Some(t) = input_ids(st, 0) {
            st.unprunable_all(&t, "lrn_over_channels");
        }
        pass(st, 0)
    }
}
