//! `Slice` and `Gather` (index selection along an axis).
//!
//! ZIG rule: on a channel axis both keep the selected rows in their new positions (a strided
//! slice on a channel axis is unprunable; non-constant indices are unknown). Slice rule: the
//! bounds and indices are renumbered over the kept channels.
use super::{Attrs, IntsArg, OpParse, OpRule};
use crate::compress::rewrite::Rewriter;
use crate::error::{Result};
use crate::ir::{Dim, NodeId};
use crate::shape::fold::{gather_nd, norm_axis};
use crate::shape::{InferCtx, OutInfo};
use crate::zig::ids::IdTensor;
use crate::zig::prop::{arg, input, input_ids, out_rank, set_out, static_shape, unknown};
use crate::zig::State;

/// Clamped (start, end) of a Slice on an axis of size `dim`, per the ONNX spec.
pub fn slice_bounds(start: i64, end: i64, step: i64, dim: i64) -> (i64, i64) {
    let fix = |v: i64| if v < 0 { v + dim } else { v };
    if step > 0 {
        (fix(start).clamp(0, dim), fix(end).clamp(0, dim))
    } else {
        (fix(start).clamp(0, dim - 1), fix(end).clamp(-1, dim - 1))
    }
}

/// `Slice`: attributes before opset 10, inputs 1–4 (starts, ends, axes, steps) from then on.
#[derive(Clone, Debug, PartialEq)]
pub struct Slice {
    pub starts: IntsArg,
    pub ends: IntsArg,
    pub axes: IntsArg,
    pub steps: IntsArg,
}

impl OpParse for Slice {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        if a.op_type != "Slice" {
            return Ok(None);
        }
        Ok(Some(Slice {
            starts: a.ints_attr_or_input("starts", 1, 10)?,
            ends: a.ints_attr_or_input("ends", 2, 10)?,
            axes: a.ints_attr_or_input("axes", 3, 10)?,
            steps: if a.opset < 10 { IntsArg::Absent } else { a.ints_attr_or_input("steps", 4, 10)? },
        }))
    }
}

impl OpRule for Slice {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        infer_slice(self, c).map(|o| vec![o])
    }
    fn zig(&self, st: &mut State) {
        zig_slice(self, st)
    }
    fn slice(&self, rw: &mut Rewriter, nid: NodeId) -> Result<()> {
        let x = rw.g.nodes[nid].input(0);
        let Some(r) = x.and_then(|v| rw.g.value(v).rank()) else { return Ok(()) };
        let (Some(mut starts), Some(mut ends)) = (rw.arg(nid, &self.starts), rw.arg(nid, &self.ends)) else {
            return Ok(());
        };
        let axes = rw.arg(nid, &self.axes).unwrap_or_else(|| (0..starts.len() as i64).collect());
        let steps = rw.arg(nid, &self.steps).unwrap_or_else(|| vec![1; axes.len()]);
        let (mut cs, mut ce) = (false, false);
        for (k, &ax) in axes.iter().enumerate() {
            let Some(ax) = norm_axis(ax, r) else { continue };
            let Some(kept) = rw.kept(x, ax) else { continue };
            // bounds computed from the input's shape (`x.chunk(2, dim=1)` exports as
            // `Slice(x, C/2·k, …)`) would follow the smaller shape at run time, not the kept
            // channels: pin them to constants
            cs |= rw.computed(nid, &self.starts);
            ce |= rw.computed(nid, &self.ends);
            if steps.get(k).copied().unwrap_or(1) != 1 {
                return Err(rw.err(nid, "a strided slice on a channel axis".into()));
            }
            let (Some(&s0), Some(&e0)) = (starts.get(k), ends.get(k)) else {
                return Err(rw.err(nid, "starts/ends are shorter than axes".into()));
            };
            let dim = kept.len() as i64;
            let (b, e) = slice_bounds(s0, e0, 1, dim);
            let below = |x: i64| kept.iter().take(x.max(0) as usize).filter(|&&k| k).count() as i64;
            let nb = below(b);
            if nb != s0 {
                starts[k] = nb;
                cs = true;
            }
            let ne = if e0 >= dim { e0 } else { below(e) };
            if ne != e0 {
                ends[k] = ne;
                ce = true;
            }
        }
        if cs {
            rw.set_arg(nid, &self.starts, "starts", 1, starts)?;
        }
        if ce {
            rw.set_arg(nid, &self.ends, "ends", 2, ends)?;
        }
        Ok(())
    }
}

fn infer_slice(sl: &Slice, c: &InferCtx) -> Result<OutInfo> {
    let n = c.node();
    let Some(s) = c.shape(0) else { return Ok(OutInfo::default()) };
    let (Some(starts), Some(ends)) = (c.arg(&sl.starts), c.arg(&sl.ends)) else { return Ok(OutInfo::default()) };
    let axes: Vec<usize> = match c.arg(&sl.axes) {
        Some(a) => a.iter().map(|&a| norm_axis(a, s.len()).ok_or_else(|| c.err("axis out of range"))).collect::<Result<_>>()?,
        None if starts.len() <= s.len() => (0..starts.len()).collect(),
        None => return Err(c.err(format!("{} starts for an input of rank {}", starts.len(), s.len()))),
    };
    let steps = c.arg(&sl.steps).unwrap_or_else(|| vec![1; axes.len()]);
    if starts.len() != axes.len() || ends.len() != axes.len() || steps.len() != axes.len() {
        return Err(c.err("starts/ends/axes/steps have different lengths"));
    }
    let mut o = s.clone();
    // positions kept along every axis, for folding shape data of any rank
    let static_dims: Option<Vec<usize>> = s.iter().map(|d| d.known().map(|v| v.max(0) as usize)).collect();
    // (only for folded data, which is small: an unfolded input's dims may be any size)
    let mut picks: Option<Vec<Vec<usize>>> =
        static_dims.as_ref().filter(|_| c.folded(0).is_some()).map(|d| d.iter().map(|&n| (0..n).collect()).collect());
    for (k, &a) in axes.iter().enumerate() {
        let step = steps[k];
        if step == 0 {
            return Err(c.err("slice step 0"));
        }
        let Some(dim) = s[a].known() else {
            if starts[k] == 0 && ends[k] >= i32::MAX as i64 && step == 1 {
                continue;
            }
            o[a] = Dim::Sym(format!("{}_sl", n.name));
            continue;
        };
        let (b, e) = slice_bounds(starts[k], ends[k], step, dim);
        let len = if step > 0 { ((e - b).max(0) + step - 1) / step } else { ((b - e).max(0) + (-step) - 1) / (-step) };
        o[a] = Dim::Known(len);
        if let Some(p) = picks.as_mut() {
            p[a] = (0..len).map(|i| (b + i * step) as usize).collect();
        }
    }
    let folded = match (c.folded(0), static_dims, picks) {
        (Some(f), Some(d), Some(p)) => gather_nd(&f, &d, &p),
        _ => None,
    };
    Ok(OutInfo { shape: Some(o), dtype: c.dtype(0), folded })
}

#[derive(Clone, Debug, PartialEq)]
pub struct Gather {
    pub axis: i64,
}

impl OpParse for Gather {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        Ok((a.op_type == "Gather").then(|| a.int("axis", 0)).transpose()?.map(|axis| Gather { axis }))
    }
}

impl OpRule for Gather {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        let (Some(s), Some(ish)) = (c.shape(0), c.shape(1)) else { return Ok(vec![OutInfo::default()]) };
        let axis = norm_axis(self.axis, s.len()).ok_or_else(|| c.err("axis out of range"))?;
        let mut o = s[..axis].to_vec();
        o.extend(ish.iter().cloned());
        o.extend(s[axis + 1..].iter().cloned());
        let folded = match (c.folded(0), c.ints(1)) {
            (Some(d), Some(idx)) if s.len() == 1 => idx.iter().map(|&i| norm_axis(i, d.len()).map(|i| d[i].clone())).collect::<Option<Vec<_>>>(),
            _ => None,
        };
        Ok(vec![OutInfo { shape: Some(o), dtype: c.dtype(0), folded }])
    }
    fn zig(&self, st: &mut State) {
        zig_gather(self, st)
    }
    fn slice(&self, rw: &mut Rewriter, nid: NodeId) -> Result<()> {
        let n = rw.g.nodes[nid].clone();
        let Some(r) = n.input(0).and_then(|v| rw.g.value(v).rank()) else { return Ok(()) };
        let Some(axis) = norm_axis(self.axis, r) else { return Ok(()) };
        let Some(kept) = rw.kept(n.input(0), axis) else { return Ok(()) };
        let Some(idx) = rw.ints(nid, 1) else { return Err(rw.err(nid, "indices are not constant".into())) };
        // new position of each kept channel
        let pos: Vec<i64> = kept.iter().scan(0i64, |c, &k| { let r = *c; if k { *c += 1 } Some(r) }).collect();
        let mut new = vec![];
        for &i in &idx {
            let Some(p) = norm_axis(i, kept.len()) else { return Err(rw.err(nid, format!("index {i} out of range"))) };
            if kept[p] {
                new.push(pos[p]);
            }
        }
        if n.input(1).and_then(|v| rw.g.value(v).rank()) != Some(1) && new.len() != idx.len() {
            return Err(rw.err(nid, "a gathered channel is removed but the indices are not 1-D".into()));
        }
        if new != idx {
            rw.set_ints(nid, 1, new, "indices")?;
        }
        Ok(())
    }
}

/// `GatherElements` (`torch.gather`; BERT's token-type buffer): the output takes the indices'
/// shape. ZIG rule: an index per element names no channel mapping, so data with channels is
/// unprunable (`gather_elements`).
#[derive(Clone, Debug, PartialEq)]
pub struct GatherElements {
    pub axis: i64,
}

impl OpParse for GatherElements {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        Ok((a.op_type == "GatherElements").then(|| a.int("axis", 0)).transpose()?.map(|axis| GatherElements { axis }))
    }
}

impl OpRule for GatherElements {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        let (Some(s), Some(ish)) = (c.shape(0), c.shape(1)) else { return Ok(vec![OutInfo::default()]) };
        if s.len() != ish.len() || norm_axis(self.axis, s.len()).is_none() {
            return Err(c.err(format!("data rank {} and indices rank {} must match, axis {} in range", s.len(), ish.len(), self.axis)));
        }
        Ok(vec![OutInfo { shape: Some(ish), dtype: c.dtype(0), folded: None }])
    }
    fn zig(&self, st: &mut State) {
        unknown(st, "gather_elements")
    }
}

/// `GatherND` (the dynamo exporter's relative-position-bias lookup): the output is
/// `indices.shape[..-1] ++ data.shape[batch_dims + k..]`. ZIG rule: unprunable data channels
/// (`gather_nd`), as for GatherElements.
#[derive(Clone, Debug, PartialEq)]
pub struct GatherNd {
    pub batch_dims: i64,
}

impl OpParse for GatherNd {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        Ok((a.op_type == "GatherND").then(|| a.int("batch_dims", 0)).transpose()?.map(|batch_dims| GatherNd { batch_dims }))
    }
}

impl OpRule for GatherNd {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        let (Some(s), Some(ish)) = (c.shape(0), c.shape(1)) else { return Ok(vec![OutInfo::default()]) };
        let (Some(k), b) = (ish.last().and_then(|d| d.known()), self.batch_dims.max(0) as usize) else { return Ok(vec![OutInfo::default()]) };
        if b + k as usize > s.len() {
            return Err(c.err(format!("indices of depth {k} (batch_dims {b}) do not fit data of rank {}", s.len())));
        }
        let mut o = ish[..ish.len() - 1].to_vec();
        o.extend(s[b + k as usize..].iter().cloned());
        Ok(vec![OutInfo { shape: Some(o), dtype: c.dtype(0), folded: None }])
    }
    fn zig(&self, st: &mut State) {
        unknown(st, "gather_nd")
    }
}

fn zig_slice(sl: &Slice, st: &mut State) {
    let Some(t) = input_ids(st, 0) else { return };
    if t.rank() == 0 {
        // one element everywhere (an input of unknown rank): nothing to select
        return set_out(st, 0, t);
    }
    let xs = input(st, 0).and_then(|x| static_shape(st, x)).filter(|s| s.len() == t.rank()).unwrap_or_else(|| t.dims.clone());
    let (Some(starts), Some(ends)) = (arg(st, &sl.starts), arg(st, &sl.ends)) else {
        if t.chan_axes().is_empty() {
            return set_out(st, 0, t);
        }
        return unknown(st, "split_on_channel_axis");
    };
    let axes: Vec<i64> = arg(st, &sl.axes).unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps: Vec<i64> = arg(st, &sl.steps).unwrap_or_else(|| vec![1; axes.len()]);
    if starts.len() != axes.len() || ends.len() != axes.len() || steps.len() != axes.len() {
        return unknown(st, "bad_slice");
    }
    let mut out = IdTensor::clone(&t);
    for (k, &a) in axes.iter().enumerate() {
        let Some(a) = norm_axis(a, t.rank()) else { return unknown(st, "bad_axis") };
        if !t.chan[a] {
            continue;
        }
        let dim = xs[a] as i64;
        let step = steps.get(k).copied().unwrap_or(1);
        if step == 0 {
            return unknown(st, "bad_slice");
        }
        let (b, e) = slice_bounds(starts[k], ends[k], step, dim);
        let idx: Vec<usize> = if step > 0 {
            (b..e).step_by(step as usize).map(|i| i as usize).collect()
        } else {
            let mut v = vec![];
            let mut i = b;
            while i > e {
                v.push(i as usize);
                i += step;
            }
            v
        };
        if step != 1 {
            st.unprunable_all(&t, "split_on_channel_axis");
        }
        if t.dims[a] == 1 {
            continue;
        }
        if xs[a] != t.dims[a] || idx.iter().any(|&i| i >= t.dims[a]) {
            return unknown(st, "bad_slice");
        }
        out = out.index(a, &idx);
    }
    set_out(st, 0, out);
}


fn zig_gather(ga: &Gather, st: &mut State) {
    let Some(t) = input_ids(st, 0) else { return };
    let Some(axis) = norm_axis(ga.axis, t.rank()) else { return };
    let Some(orank) = out_rank(st, 0) else { return };
    let idx_rank = input(st, 1).and_then(|v| st.g.value(v).rank()).unwrap_or(0);
    let picked = if t.chan[axis] && t.dims[axis] > 1 {
        let Some(idx) = input(st, 1).and_then(|v| st.g.const_i64(v)) else {
            return unknown(st, "split_on_channel_axis");
        };
        let idx: Option<Vec<usize>> = idx.iter().map(|&i| norm_axis(i, t.dims[axis])).collect();
        let Some(idx) = idx else { return unknown(st, "split_on_channel_axis") };
        t.index(axis, &idx)
    } else {
        IdTensor::clone(&t)
    };
    // replace `axis` by idx_rank axes
    let mut dims = picked.dims[..axis].to_vec();
    let mut chan = picked.chan[..axis].to_vec();
    if idx_rank >= 1 {
        dims.push(picked.dims[axis]);
        chan.push(picked.chan[axis]);
        for _ in 1..idx_rank {
            dims.push(1);
            chan.push(false);
        }
    }
    dims.extend(&picked.dims[axis + 1..]);
    chan.extend(&picked.chan[axis + 1..]);
    if dims.len() != orank || dims.iter().product::<usize>() != picked.slots.len() {
        return unknown(st, "split_on_channel_axis");
    }
    set_out(st, 0, picked.relabel(dims, chan));
}

