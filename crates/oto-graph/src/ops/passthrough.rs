//! Ops that pass their input through unchanged in value (`Identity`, `Dropout` at inference) or
//! in everything but the element type (`Cast`, `CastLike`). All are zero-preserving.
use super::{Attrs, OpParse, OpRule};
use crate::compress::rewrite::Rewriter;
use crate::error::Result;
use crate::ir::NodeId;
use crate::shape::ctx::same;
use crate::shape::{InferCtx, OutInfo};
use crate::zig::prop::pass;
use crate::zig::State;
use oto_onnx::tensor::BOOL;

#[derive(Clone, Debug, PartialEq)]
pub struct Identity;

impl OpParse for Identity {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        Ok((a.op_type == "Identity").then_some(Identity))
    }
}

impl OpRule for Identity {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        Ok(vec![OutInfo { shape: c.shape(0), dtype: c.dtype(0), folded: c.folded(0) }])
    }
    fn zig(&self, st: &mut State) {
        pass(st, 0)
    }
}

/// `Dropout`: the identity at inference; in training it scales kept entries by 1/(1-ratio),
/// which keeps zeros zero. `training_mode` is input 2 from opset 12, `is_test` before opset 7.
#[derive(Clone, Debug, PartialEq)]
pub struct Dropout {
    /// `ratio` attribute (opset < 12; input 1 from then on), default 0.5.
    pub ratio: f32,
    /// Opset < 7: `is_test = 0` means training mode.
    pub is_test: bool,
}

impl OpParse for Dropout {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        if a.op_type != "Dropout" {
            return Ok(None);
        }
        Ok(Some(Dropout { ratio: a.float("ratio", 0.5)?, is_test: a.opset >= 7 || a.flag("is_test")? }))
    }
}

impl OpRule for Dropout {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        let x = c.shape(0);
        let mut outs = vec![same(x.clone(), c.dtype(0))];
        if c.n_outputs() > 1 {
            outs.push(same(x, BOOL));
        }
        Ok(outs)
    }
    fn zig(&self, st: &mut State) {
        pass(st, 0)
    }
}

/// `Cast` to element type `to` (an ONNX `TensorProto.DataType`).
#[derive(Clone, Debug, PartialEq)]
pub struct Cast {
    pub to: i32,
}

impl OpParse for Cast {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        if a.op_type != "Cast" {
            return Ok(None);
        }
        let to = a.int_opt("to")?.ok_or_else(|| a.err("to", "is required"))?;
        Ok(Some(Cast { to: to as i32 }))
    }
}

impl OpRule for Cast {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        Ok(vec![OutInfo { shape: c.shape(0), dtype: self.to, folded: c.folded(0) }])
    }
    fn zig(&self, st: &mut State) {
        pass(st, 0)
    }
    fn slice(&self, rw: &mut Rewriter, nid: NodeId) -> Result<()> {
        pin_float_shape_data(rw, nid, self.to)
    }
}

/// Shape data entering float arithmetic (SDPA's `1/sqrt(q.size(-1))`, a mean's `1/C`) keeps
/// its original value: the full model computed with it. A computed integer input that reads a
/// cut axis is pinned to the constant it was.
fn pin_float_shape_data(rw: &mut Rewriter, nid: NodeId, to: i32) -> Result<()> {
    use oto_onnx::tensor::{DOUBLE, FLOAT, FLOAT16};
    let Some(x) = rw.g.nodes[nid].input(0) else { return Ok(()) };
    if ![FLOAT, DOUBLE, FLOAT16].contains(&to) || rw.g.init(x).is_some() {
        return Ok(());
    }
    let Some(old) = rw.g.const_i64(x) else { return Ok(()) };
    let reads_cut =
        (0..old.len()).any(|i| crate::shape::source::entry_source(rw.g, x, i).is_some_and(|(v, a)| rw.kept(Some(v), a).is_some()));
    if reads_cut {
        rw.set_ints(nid, 0, old, "pinned shape data")?;
    }
    Ok(())
}

/// `CastLike` (opset 15; the dynamo exporter without its optimiser): `Cast` to the element
/// type of input 1.
#[derive(Clone, Debug, PartialEq)]
pub struct CastLike;

impl OpParse for CastLike {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        Ok((a.op_type == "CastLike").then_some(CastLike))
    }
}

impl OpRule for CastLike {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        Ok(vec![OutInfo { shape: c.shape(0), dtype: c.dtype(1), folded: c.folded(0) }])
    }
    fn zig(&self, st: &mut State) {
        pass(st, 0)
    }
    fn slice(&self, rw: &mut Rewriter, nid: NodeId) -> Result<()> {
        let to = rw.g.nodes[nid].input(1).map(|v| rw.g.value(v).dtype).unwrap_or(0);
        pin_float_shape_data(rw, nid, to)
    }
}
