//! `Expand` and `Tile`: repeat elements along axes.
//!
//! ZIG rule: a channel axis that grows repeats its rows position by position; a target shape that
//! is not known on a channel axis is `dynamic_spatial`. Slice rule: a constant Expand shape's
//! channel entries become the kept counts.
use super::{Attrs, OpParse, OpRule};
use crate::compress::rewrite::Rewriter;
use crate::error::Result;
use crate::ir::{Dim, NodeId};
use crate::shape::broadcast::broadcast;
use crate::shape::ctx::out;
use crate::shape::fold::binary;
use crate::shape::{InferCtx, OutInfo};
use crate::compress::rewrite::ints_writable_at;
use crate::ir::ValueId;
use crate::zig::prop::{cut_axes, follows_itself, input_ids, node, out_rank, set_out, static_shape, unknown};
use crate::zig::State;
use super::elementwise::BinaryKind;

/// `Expand(x, shape)`: numpy-style broadcast to `shape`.
#[derive(Clone, Debug, PartialEq)]
pub struct Expand;

impl OpParse for Expand {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        Ok((a.op_type == "Expand").then_some(Expand))
    }
}

impl OpRule for Expand {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        let (Some(s), Some(t)) = (c.shape(0), c.folded(1)) else { return Ok(vec![OutInfo::default()]) };
        Ok(vec![out(broadcast(&[&s, &t]).map_err(|e| c.err(e))?, c.dtype(0))])
    }
    fn zig(&self, st: &mut State) {
        zig_expand(st)
    }
    fn slice(&self, rw: &mut Rewriter, nid: NodeId) -> Result<()> {
        let o = rw.g.nodes[nid].output(0);
        let (Some(shape), Some(r)) = (rw.arg_dims(nid, &crate::ops::IntsArg::Input(1)), o.and_then(|o| rw.g.value(o).rank())) else { return Ok(()) };
        let off = r.saturating_sub(shape.len());
        let mut changes = vec![];
        for (i, d) in shape.iter().enumerate() {
            // entries <= 1 keep the input's size; a symbolic entry is not a channel count
            if !matches!(d, Dim::Known(d) if *d > 1) {
                continue;
            }
            changes.extend(rw.kept_count(nid, Some(1), i, o, off + i).map(|c| (i, c)));
        }
        if !changes.is_empty() {
            rw.set_ints_at(nid, 1, &changes, "shape")?;
        }
        Ok(())
    }
    fn unsliceable(&self, st: &State) -> Vec<(ValueId, String)> {
        let n = node(st);
        let (Some(v), Some(o)) = (n.input(1), n.output(0)) else { return vec![] };
        let len = st.g.value(v).dim(0).unwrap_or(0).max(0) as usize;
        let off = st.g.value(o).rank().unwrap_or(0).saturating_sub(len);
        let folded = st.g.value(v).folded.as_ref();
        // entries <= 1 keep the input's size on that axis and need no rewrite
        let pos: Vec<usize> = cut_axes(st, Some(o))
            .into_iter()
            .filter(|&ax| ax >= off)
            .map(|ax| ax - off)
            .filter(|&i| !matches!(folded.and_then(|f| f.get(i)), Some(Dim::Known(d)) if *d <= 1))
            .filter(|&i| !follows_itself(st, v, i, o, off + i))
            .collect();
        if pos.is_empty() || ints_writable_at(st.g, v, &pos) {
            return vec![];
        }
        vec![(o, "expand_shape_computed".into())]
    }
}

/// `Tile(x, repeats)`.
#[derive(Clone, Debug, PartialEq)]
pub struct Tile;

impl OpParse for Tile {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        Ok((a.op_type == "Tile").then_some(Tile))
    }
}

impl OpRule for Tile {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        let (Some(s), Some(r)) = (c.shape(0), c.ints(1)) else { return Ok(vec![OutInfo::default()]) };
        let o = s
            .iter()
            .zip(r)
            .map(|(d, k)| binary(BinaryKind::Mul, &[d.clone()], &[Dim::Known(k)]).map(|v| v[0].clone()).unwrap_or(Dim::Sym("tile".into())))
            .collect();
        Ok(vec![out(o, c.dtype(0))])
    }
    fn zig(&self, st: &mut State) {
        zig_expand(st)
    }
}

fn zig_expand(st: &mut State) {
    let n = node(st);
    let Some(t) = input_ids(st, 0) else { return };
    let (Some(o), Some(rank)) = (n.output(0), out_rank(st, 0)) else { return };
    let t = t.align(rank);
    let Some(os) = static_shape(st, o) else {
        if t.chan_axes().is_empty() {
            return set_out(st, 0, t);
        }
        return unknown(st, "dynamic_spatial");
    };
    let mut out = t.clone();
    for a in 0..rank {
        if t.chan[a] && os[a] != t.dims[a] {
            let n0 = t.dims[a];
            let idx: Vec<usize> = (0..os[a]).map(|i| i % n0).collect();
            out = out.index(a, &idx);
        }
    }
    set_out(st, 0, out);
}

