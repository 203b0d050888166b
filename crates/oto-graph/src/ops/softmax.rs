//! `Softmax`, `LogSoftmax`, `Hardmax` and `LpNormalization`: normalise along an axis.
//!
//! ZIG rule: normalising over a channel axis mixes channels (unprunable); over other axes the
//! rows pass through, but a zero row does not stay zero (softmax of zeros is uniform): state N.
use super::{Attrs, OpParse, OpRule};
use crate::error::Result;
use crate::shape::ctx::same;
use crate::shape::fold::norm_axis;
use crate::shape::{InferCtx, OutInfo};
use crate::zig::prop::{input_ids, set_out, taint_here};
use crate::zig::State;
use std::rc::Rc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SoftmaxKind {
    Softmax,
    LogSoftmax,
    Hardmax,
    LpNormalization,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Softmax {
    pub kind: SoftmaxKind,
    /// Default -1 from opset 13 (and for LpNormalization), 1 before.
    pub axis: i64,
    /// Opset ≥ 13 (or LpNormalization): along `axis` only; before, over the flattened `[axis..]`.
    pub single_axis: bool,
    /// LpNormalization order (1 or 2).
    pub p: i64,
}

impl OpParse for Softmax {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        let kind = match a.op_type {
            "Softmax" => SoftmaxKind::Softmax,
            "LogSoftmax" => SoftmaxKind::LogSoftmax,
            "Hardmax" => SoftmaxKind::Hardmax,
            "LpNormalization" => SoftmaxKind::LpNormalization,
            _ => return Ok(None),
        };
        let lp = kind == SoftmaxKind::LpNormalization;
        let single_axis = lp || a.opset >= 13;
        let axis = a.int("axis", if single_axis { -1 } else { 1 })?;
        let p = a.int("p", 2)?;
        if lp && !(p == 1 || p == 2) {
            return Err(a.err("p", format!("must be 1 or 2, got {p}")));
        }
        Ok(Some(Softmax { kind, axis, single_axis, p }))
    }
}

impl OpRule for Softmax {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        Ok(vec![same(c.shape(0), c.dtype(0))])
    }
    fn zig(&self, st: &mut State) {
        zig_softmax(self, st)
    }
}

fn zig_softmax(sm: &Softmax, st: &mut State) {
    let Some(t) = input_ids(st, 0) else { return };
    let Some(axis) = norm_axis(sm.axis, t.rank()) else { return };
    let lp = sm.kind == SoftmaxKind::LpNormalization;
    // before opset 13 Softmax flattens [axis..] into one axis
    let mixed = if sm.single_axis || lp { t.chan[axis] } else { (axis..t.rank()).any(|a| t.chan[a]) };
    if mixed {
        st.unprunable_all(&t, if lp { "reduce_over_channels" } else { "softmax_over_channels" });
    }
    let taint = taint_here(st);
    set_out(st, 0, Rc::unwrap_or_clone(t).with_taint(taint));
}

