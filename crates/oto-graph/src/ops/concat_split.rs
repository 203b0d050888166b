//! `Concat` and `Split`.
//!
//! ZIG rule: a concat on a channel axis lays its inputs' rows side by side (a constant input adds
//! fresh channels: zero when the constant is zero); on another axis every input shares the
//! channel mask (their rows are tied). A split on a channel axis hands each output its range of
//! rows. Slice rule: the split sizes become the kept counts per output.
use super::{Attrs, IntsArg, OpParse, OpRule};
use crate::compress::rewrite::Rewriter;
use crate::error::Result;
use crate::ir::{Dim, NodeId};
use crate::shape::ctx::{out, unknown_outputs};
use crate::shape::fold::norm_axis;
use crate::shape::{InferCtx, OutInfo};
use crate::zig::ids::IdTensor;
use crate::compress::rewrite::ints_writable;
use crate::ir::ValueId;
use crate::zig::prop::{constant_channels, cut_axes, input, input_ids, node, out_rank, set_out, taint_here, unknown};
use crate::zig::State;
use std::rc::Rc;

#[derive(Clone, Debug, PartialEq)]
pub struct Concat {
    pub axis: i64,
}

impl OpParse for Concat {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        if a.op_type != "Concat" {
            return Ok(None);
        }
        // required since opset 4 (default 1 before)
        let axis = match a.int_opt("axis")? {
            Some(v) => v,
            None if a.opset < 4 => 1,
            None => return Err(a.err("axis", "is required")),
        };
        Ok(Some(Concat { axis }))
    }
}

impl OpRule for Concat {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        let n = c.node();
        let shapes: Vec<_> = (0..n.inputs.len()).map(|i| c.shape(i)).collect();
        let Some(first) = shapes.iter().flatten().next().cloned() else { return Ok(vec![OutInfo::default()]) };
        let axis = norm_axis(self.axis, first.len()).ok_or_else(|| c.err("axis out of range"))?;
        let mut o = first.clone();
        let mut parts = vec![];
        for s in &shapes {
            let Some(s) = s else { return Ok(vec![OutInfo::default()]) };
            if s.len() != first.len() {
                return Err(c.err(format!("inputs have different ranks ({} and {})", first.len(), s.len())));
            }
            parts.push(s[axis].clone());
        }
        o[axis] = match parts.iter().map(|d| d.known()).collect::<Option<Vec<_>>>() {
            Some(v) => Dim::Known(v.iter().sum()),
            None => Dim::Sym(format!("{}_cat", n.name)),
        };
        let folded: Option<Vec<Dim>> = (0..n.inputs.len()).map(|i| c.folded(i)).collect::<Option<Vec<_>>>().map(|v| v.concat());
        Ok(vec![OutInfo { shape: Some(o), dtype: c.dtype(0), folded }])
    }
    fn zig(&self, st: &mut State) {
        zig_concat(self, st)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    pub axis: i64,
    /// Sizes: the `split` attribute before opset 13, input 1 from then on.
    pub split: IntsArg,
    /// Opset ≥ 18: equal parts when no sizes are given.
    pub num_outputs: Option<i64>,
}

impl OpParse for Split {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        if a.op_type != "Split" {
            return Ok(None);
        }
        let num_outputs = a.int_opt("num_outputs")?;
        if num_outputs.is_some_and(|k| k < 1) {
            return Err(a.err("num_outputs", "must be >= 1"));
        }
        Ok(Some(Split { axis: a.int("axis", 0)?, split: a.ints_attr_or_input("split", 1, 13)?, num_outputs }))
    }
}

impl OpRule for Split {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        let nout = c.n_outputs();
        let Some(s) = c.shape(0) else { return Ok(unknown_outputs(nout)) };
        let axis = norm_axis(self.axis, s.len()).ok_or_else(|| c.err("axis out of range"))?;
        let sizes = match c.arg(&self.split) {
            Some(v) => v,
            None => {
                let Some(total) = s[axis].known() else { return Ok(unknown_outputs(nout)) };
                let k = self.num_outputs.unwrap_or(nout as i64).max(1);
                let chunk = (total + k - 1) / k;
                (0..k).map(|i| chunk.min(total - i * chunk).max(0)).collect()
            }
        };
        if let Some(total) = s[axis].known() {
            if sizes.iter().sum::<i64>() != total {
                return Err(c.err(format!("split sizes {sizes:?} do not add up to {total}")));
            }
        }
        Ok(sizes
            .iter()
            .map(|&k| {
                let mut o = s.clone();
                o[axis] = Dim::Known(k);
                out(o, c.dtype(0))
            })
            .collect())
    }
    fn zig(&self, st: &mut State) {
        zig_split(self, st)
    }
    fn slice(&self, rw: &mut Rewriter, nid: NodeId) -> Result<()> {
        let n = rw.g.nodes[nid].clone();
        let Some(r) = n.input(0).and_then(|v| rw.g.value(v).rank()) else { return Ok(()) };
        let Some(axis) = norm_axis(self.axis, r) else { return Ok(()) };
        if rw.kept(n.input(0), axis).is_none() {
            return Ok(());
        }
        let mut sizes = vec![];
        for o in &n.outputs {
            let old = o.and_then(|o| rw.g.value(o).dim(axis)).unwrap_or(0);
            sizes.push(match rw.kept(*o, axis) {
                Some(k) => k.iter().filter(|&&x| x).count() as i64,
                None => old,
            });
        }
        if matches!(self.split, IntsArg::Attr(_)) || rw.g.opset < 13 {
            return rw.set_attr_ints(nid, "split", sizes);
        }
        rw.set_ints(nid, 1, sizes, "split")?;
        // explicit sizes replace `num_outputs` (opset 18 forbids both); the typed op now reads them
        rw.remove_attr(nid, "num_outputs")
    }
    fn unsliceable(&self, st: &State) -> Vec<(ValueId, String)> {
        let IntsArg::Input(slot) = self.split else { return vec![] };
        let n = node(st);
        let (Some(x), Some(v)) = (n.input(0), n.input(slot)) else { return vec![] };
        let Some(axis) = st.g.value(x).rank().and_then(|r| norm_axis(self.axis, r)) else { return vec![] };
        if !cut_axes(st, Some(x)).contains(&axis) || ints_writable(st.g, v) {
            return vec![];
        }
        vec![(x, "split_sizes_computed".into())]
    }
}

fn zig_concat(cc: &Concat, st: &mut State) {
    let n = node(st);
    let Some(rank) = out_rank(st, 0) else { return };
    let Some(axis) = norm_axis(cc.axis, rank) else { return };
    let parts: Vec<Option<IdTensor>> = (0..n.inputs.len()).map(|s| input_ids(st, s).map(|t| t.align(rank))).collect();
    if parts.iter().all(|p| p.is_none()) {
        return;
    }
    let channel_concat = parts.iter().flatten().any(|t| t.chan[axis]);
    // every input's ids must cover its size along the axis (or broadcast): else the graph is
    // inconsistent (inputs of other ranks, a corrupt shape) and nothing is followed
    let size_of = |st: &State, s: usize| input(st, s).and_then(|v| st.g.value(v).dim(axis)).unwrap_or(1).max(0) as usize;
    if parts.iter().enumerate().any(|(s, p)| p.as_ref().is_some_and(|t| t.dims[axis] != 1 && t.dims[axis] != size_of(st, s))) {
        return unknown(st, "concat_inconsistent_shapes");
    }
    if channel_concat {
        let mut full = vec![];
        for (s, p) in parts.into_iter().enumerate() {
            let v = input(st, s).unwrap();
            let size = st.g.value(v).dim(axis).unwrap_or(1).max(0) as usize;
            full.push(match p {
                Some(t) if t.dims[axis] == size => t,
                Some(t) => {
                    let mut d = t.dims.clone();
                    d[axis] = size;
                    let Some(mut e) = t.expand(&d) else { return unknown(st, "channel_count_mismatch") };
                    e.chan[axis] = true;
                    e
                }
                None => constant_channels(st, v, rank, axis, size),
            });
        }
        match IdTensor::concat(&full, axis) {
            Some(out) => set_out(st, 0, out),
            None => unknown(st, "concat_inconsistent_shapes"),
        }
    } else {
        // concat along a non-channel axis: every input shares the channel mask
        let mut datas: Vec<IdTensor> = parts.iter().flatten().cloned().collect();
        let mut dims = vec![1; rank];
        for t in &datas {
            for a in 0..rank {
                if a != axis {
                    dims[a] = dims[a].max(t.dims[a]);
                }
            }
        }
        if datas.iter().any(|t| t.dims.iter().zip(&dims).enumerate().any(|(a, (&d, &m))| a != axis && d != 1 && d != m)) {
            return unknown(st, "concat_inconsistent_shapes");
        }
        let Some(expanded) = datas.iter().map(|t| t.expand(&dims)).collect() else {
            return unknown(st, "concat_inconsistent_shapes");
        };
        datas = expanded;
        let mut out = datas[0].clone();
        for t in &datas[1..] {
            for i in 0..out.slots.len() {
                st.uf.union(out.slots[i].e, t.slots[i].e);
                if t.slots[i].taint != 0 {
                    out.slots[i].taint = t.slots[i].taint;
                }
            }
        }
        let foreign = parts.iter().enumerate().any(|(s, p)| {
            p.is_none() && input(st, s).and_then(|v| st.g.const_f32(v)).is_none_or(|d| d.iter().any(|&x| x != 0.0))
        });
        if foreign {
            out = out.with_taint(taint_here(st));
        }
        set_out(st, 0, out);
    }
}


fn zig_split(sp: &Split, st: &mut State) {
    let n = node(st);
    let Some(t) = input_ids(st, 0) else { return };
    let Some(axis) = norm_axis(sp.axis, t.rank()) else { return };
    let mut start = 0;
    for (slot, o) in n.outputs.iter().enumerate() {
        let Some(o) = *o else { continue };
        let size = st.g.value(o).dim(axis).unwrap_or(0).max(0) as usize;
        let out = if t.chan[axis] {
            let size = if t.dims[axis] == 1 { 1 } else { size };
            let idx: Vec<usize> = (start..start + size).collect();
            start += size;
            if idx.iter().any(|&i| i >= t.dims[axis]) {
                return unknown(st, "split_on_channel_axis");
            }
            Rc::new(t.index(axis, &idx))
        } else {
            t.clone()
        };
        set_out(st, slot, out);
    }
}

