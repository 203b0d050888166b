//! Ops that regroup the same elements into another shape: `Reshape`, `Flatten`, `Squeeze`,
//! `Unsqueeze`.
//!
//! ZIG rule: the id tensor is re-indexed through the reshape (`zig::reshape::reshape_ids`): a
//! channel axis split into several axes, or merged with spatial axes (Flatten before a
//! classifier), keeps each channel's positions in its row; a reshape whose shapes are not known
//! is `dynamic_spatial`. Slice rule: a constant target shape's channel entries become the kept
//! counts (a computed shape is rewritten in its constant pieces).
use super::{Attrs, IntsArg, OpParse, OpRule};
use crate::compress::rewrite::Rewriter;
use crate::error::Result;
use crate::ir::{Dim, NodeId, Shape};
use crate::shape::broadcast::{product, quotient};
use crate::shape::ctx::out;
use crate::shape::fold::norm_axis;
use crate::shape::{InferCtx, OutInfo};
use crate::compress::rewrite::ints_writable_at;
use crate::ir::ValueId;
use crate::zig::prop::{cut_axes, follows_itself, input, input_ids, node, set_out, unknown};
use crate::zig::reshape::reshape_ids;
use crate::zig::State;

const K: fn(i64) -> Dim = Dim::Known;

/// `Reshape`: target shape from the `shape` attribute (opset < 5) or input 1.
#[derive(Clone, Debug, PartialEq)]
pub struct Reshape {
    pub shape: IntsArg,
    /// Opset ≥ 14: a 0 in the target is a real 0, not "copy the input dim".
    pub allowzero: bool,
}

impl OpParse for Reshape {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        if a.op_type != "Reshape" {
            return Ok(None);
        }
        Ok(Some(Reshape { shape: a.ints_attr_or_input("shape", 1, 5)?, allowzero: a.flag("allowzero")? }))
    }
}

impl OpRule for Reshape {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        infer_reshape(self, c).map(|o| vec![o])
    }
    fn zig(&self, st: &mut State) {
        zig_reshape(st)
    }
    fn slice(&self, rw: &mut Rewriter, nid: NodeId) -> Result<()> {
        // entry by entry: a dynamic batch read from the shape stays computed
        let Some(target) = rw.arg_dims(nid, &self.shape) else { return Ok(()) };
        let o = rw.g.nodes[nid].output(0);
        let mut changes = vec![];
        for (ax, t) in target.iter().enumerate() {
            // entries 0 (copy) and -1 (inferred) follow the kept channels by themselves
            if !matches!(t, Dim::Known(d) if *d > 0) {
                continue;
            }
            let slot = match self.shape {
                IntsArg::Input(s) => Some(s),
                _ => None,
            };
            changes.extend(rw.kept_count(nid, slot, ax, o, ax).map(|c| (ax, c)));
        }
        if !changes.is_empty() {
            rw.set_arg_at(nid, &self.shape, "shape", 1, &changes)?;
        }
        Ok(())
    }
    fn unsliceable(&self, st: &State) -> Vec<(ValueId, String)> {
        let IntsArg::Input(slot) = self.shape else { return vec![] };
        let n = node(st);
        let (Some(v), Some(o)) = (n.input(slot), n.output(0)) else { return vec![] };
        let folded = st.g.value(v).folded.as_ref();
        // entries 0 (copy) and -1 (inferred) follow the kept channels by themselves
        let pos: Vec<usize> = cut_axes(st, Some(o))
            .into_iter()
            .filter(|&ax| !matches!(folded.and_then(|f| f.get(ax)), Some(Dim::Known(d)) if *d <= 0))
            .filter(|&ax| !follows_itself(st, v, ax, o, ax))
            .collect();
        if pos.is_empty() || ints_writable_at(st.g, v, &pos) {
            return vec![];
        }
        vec![(o, "reshape_shape_computed".into())]
    }
}

/// `Squeeze` / `Unsqueeze`: axes from the attribute (opset < 13) or input 1.
#[derive(Clone, Debug, PartialEq)]
pub struct Squeeze {
    pub axes: IntsArg,
}

impl OpParse for Squeeze {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        if a.op_type != "Squeeze" {
            return Ok(None);
        }
        Ok(Some(Squeeze { axes: a.ints_attr_or_input("axes", 1, 13)? }))
    }
}

impl OpRule for Squeeze {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        let Some(s) = c.shape(0) else { return Ok(vec![OutInfo::default()]) };
        let keep: Vec<Dim> = match c.arg(&self.axes) {
            Some(ax) => {
                let ax: Vec<usize> = ax.iter().filter_map(|&a| norm_axis(a, s.len())).collect();
                s.iter().enumerate().filter(|(i, _)| !ax.contains(i)).map(|(_, d)| d.clone()).collect()
            }
            None => s.iter().filter(|d| **d != K(1)).cloned().collect(),
        };
        Ok(vec![OutInfo { shape: Some(keep), dtype: c.dtype(0), folded: c.folded(0) }])
    }
    fn zig(&self, st: &mut State) {
        zig_unit_axes(st, &self.axes, false)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Unsqueeze {
    pub axes: IntsArg,
}

impl OpParse for Unsqueeze {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        if a.op_type != "Unsqueeze" {
            return Ok(None);
        }
        Ok(Some(Unsqueeze { axes: a.ints_attr_or_input("axes", 1, 13)? }))
    }
}

impl OpRule for Unsqueeze {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        let Some(s) = c.shape(0) else { return Ok(vec![OutInfo::default()]) };
        let Some(axes) = c.arg(&self.axes) else { return Ok(vec![OutInfo::default()]) };
        let r = s.len() + axes.len();
        let mut ax: Vec<usize> = axes.iter().filter_map(|&a| norm_axis(a, r)).collect();
        ax.sort();
        let mut o = vec![];
        let mut it = s.iter();
        for i in 0..r {
            if ax.contains(&i) {
                o.push(K(1));
            } else if let Some(d) = it.next() {
                o.push(d.clone());
            }
        }
        Ok(vec![OutInfo { shape: Some(o), dtype: c.dtype(0), folded: c.folded(0) }])
    }
    fn zig(&self, st: &mut State) {
        zig_unit_axes(st, &self.axes, true)
    }
}

/// `Flatten` into `[prod(dims[..axis]), prod(dims[axis..])]` (axis default 1).
#[derive(Clone, Debug, PartialEq)]
pub struct Flatten {
    pub axis: i64,
}

impl OpParse for Flatten {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        if a.op_type != "Flatten" {
            return Ok(None);
        }
        Ok(Some(Flatten { axis: a.int("axis", 1)? }))
    }
}

impl OpRule for Flatten {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        let Some(s) = c.shape(0) else { return Ok(vec![OutInfo::default()]) };
        let axis = norm_axis(self.axis, s.len() + 1).ok_or_else(|| c.err("axis out of range"))?;
        Ok(vec![out(vec![product(&s[..axis]), product(&s[axis..])], c.dtype(0))])
    }
    fn zig(&self, st: &mut State) {
        zig_reshape(st)
    }
}

fn infer_reshape(r: &Reshape, c: &InferCtx) -> Result<OutInfo> {
    let n = c.node();
    let (x, dt) = (c.shape(0), c.dtype(0));
    let target = match &r.shape {
        IntsArg::Attr(v) => Some(v.iter().map(|&d| K(d)).collect()),
        IntsArg::Input(slot) => c.folded(*slot),
        IntsArg::Absent => None,
    };
    let (Some(s), Some(t)) = (x, target) else { return Ok(OutInfo::default()) };
    let allowzero = r.allowzero;
    let mut o: Shape = t
        .iter()
        .enumerate()
        .map(|(i, d)| match d {
            Dim::Known(0) if !allowzero => s.get(i).cloned().unwrap_or(K(0)),
            _ => d.clone(),
        })
        .collect();
    let neg: Vec<usize> = o.iter().enumerate().filter(|(_, d)| **d == K(-1)).map(|(i, _)| i).collect();
    if neg.len() > 1 {
        return Err(c.err("target shape has more than one -1"));
    }
    // element counts as symbols × a known factor: `[17, N, 768] → [17, N*12, -1]` gives 64
    let total_in = product(&s);
    let rest: Vec<Dim> = o.iter().filter(|d| **d != K(-1)).cloned().collect();
    let total_out = product(&rest);
    let both_known = total_in.known().is_some() && total_out.known().is_some();
    match neg.first() {
        Some(&i) => {
            o[i] = match quotient(&total_in, &total_out) {
                Some(d) => d,
                None if both_known => return Err(c.err(format!("cannot reshape {total_in} elements into {t:?}"))),
                None => Dim::Sym(format!("{}_r", n.name)),
            };
        }
        None => {
            if both_known && total_in != total_out {
                return Err(c.err(format!("cannot reshape {total_in} elements into {total_out} elements")));
            }
        }
    }
    let folded = c.folded(0);
    Ok(OutInfo { shape: Some(o), dtype: dt, folded })
}

/// Squeeze / Unsqueeze with known axes: size-1 axes leave or join the id tensor as they are
/// (a size-1 channel axis, e.g. q after `qkv[0]`, keeps its element); otherwise as a reshape.
fn zig_unit_axes(st: &mut State, axes: &IntsArg, insert: bool) {
    let (Some(t), Some(o)) = (input_ids(st, 0), node(st).output(0)) else { return zig_reshape(st) };
    let (Some(r_out), Some(ax)) = (st.g.value(o).rank(), crate::zig::prop::arg(st, axes)) else { return zig_reshape(st) };
    let r = if insert { r_out } else { t.rank() };
    let mut ax: Vec<usize> = ax.iter().filter_map(|&a| norm_axis(a, r)).collect();
    ax.sort_unstable();
    ax.dedup();
    if insert {
        let (mut dims, mut chan, mut src) = (vec![], vec![], 0);
        for a in 0..r_out {
            if ax.contains(&a) {
                dims.push(1);
                chan.push(false);
            } else {
                dims.push(*t.dims.get(src).unwrap_or(&1));
                chan.push(*t.chan.get(src).unwrap_or(&false));
                src += 1;
            }
        }
        if src != t.rank() {
            return zig_reshape(st);
        }
        set_out(st, 0, t.relabel(dims, chan));
    } else {
        if ax.iter().any(|&a| t.dims[a] != 1) || t.rank() - ax.len() != r_out {
            return zig_reshape(st);
        }
        let kept = |a: &usize| !ax.contains(a);
        let dims: Vec<usize> = (0..t.rank()).filter(kept).map(|a| t.dims[a]).collect();
        let chan: Vec<bool> = (0..t.rank()).filter(kept).map(|a| t.chan[a]).collect();
        set_out(st, 0, t.relabel(dims, chan));
    }
}

fn zig_reshape(st: &mut State) {
    let Some(t) = input_ids(st, 0) else { return };
    let (Some(x), Some(o)) = (input(st, 0), node(st).output(0)) else { return };
    let (is, os) = (st.g.shape(x).cloned(), st.g.shape(o).cloned());
    match (is, os) {
        (Some(is), Some(os)) => match reshape_ids(&t, &is, &os, &mut st.uf) {
            Some(out) => set_out(st, 0, out),
            None => unknown(st, "dynamic_spatial"),
        },
        _ => unknown(st, "dynamic_spatial"),
    }
}

