//! Rewriting attributes and integer shape constants that encode channel counts.
//!
//! Every rule reads the kept positions of the node's data values (from the analysis' id tensors)
//! and writes the new count. Integer constants (initializers or `Constant` nodes) are modified in
//! place when this node is their only reader, otherwise cloned into a fresh initializer; a
//! computed shape (`Concat` of pieces, as exporters emit for `x.view(N, -1, ...)`) is rewritten in
//! its constant piece.
use super::manifest::Rewrite;
use super::KeptMap;
use crate::error::{GraphError, Result};
use crate::ir::{Dim, Graph, NodeId, ValueId};
use crate::shape::fold::norm_axis;
use crate::shape::ops::slice_bounds;
use crate::zig::Analysis;
use oto_onnx::pb::TensorProto;

/// Replaces the constant data of `v` (initializer or Constant-node output).
pub(crate) fn set_const(g: &mut Graph, v: ValueId, t: TensorProto) {
    let dims: Vec<Dim> = t.dims.iter().map(|&d| Dim::Known(d)).collect();
    if let Some(p) = g.values[v].producer {
        let node = &mut g.nodes[p];
        if node.op == "Constant" {
            node.proto.attribute.retain(|a| !a.name.as_deref().unwrap_or("").starts_with("value"));
            let mut t2 = t.clone();
            t2.name = None;
            oto_onnx::attr::set(&mut node.proto, oto_onnx::attr::a_tensor("value", t2));
        }
    }
    let val = &mut g.values[v];
    val.shape = Some(dims);
    val.folded = None;
    val.init = Some(t);
}

/// Graph inputs that are also initializers (old exporters) get their declared shapes updated.
pub(crate) fn refresh_template_inputs(g: &mut Graph) {
    let updates: Vec<(usize, ValueId)> = g
        .template
        .graph
        .as_ref()
        .map(|gp| {
            gp.input
                .iter()
                .enumerate()
                .filter_map(|(i, vi)| g.id(vi.name.as_deref().unwrap_or("")).filter(|&id| g.values[id].is_initializer).map(|id| (i, id)))
                .collect()
        })
        .unwrap_or_default();
    for (i, id) in updates {
        let v = &g.values[id];
        if let Some(s) = v.shape.clone() {
            let vi = crate::save::value_info(&v.name, v.dtype, &s);
            if let Some(gp) = g.template.graph.as_mut() {
                gp.input[i] = vi;
            }
        }
    }
}

fn int_tensor(like: Option<&TensorProto>, dims: &[i64], data: &[i64]) -> TensorProto {
    let int32 = like.and_then(|t| t.data_type) == Some(oto_onnx::tensor::INT32);
    let name = like.and_then(|t| t.name.clone()).unwrap_or_default();
    if int32 {
        TensorProto {
            name: Some(name),
            dims: dims.to_vec(),
            data_type: Some(oto_onnx::tensor::INT32),
            raw_data: Some(data.iter().flat_map(|&x| (x as i32).to_le_bytes()).collect()),
            ..Default::default()
        }
    } else {
        oto_onnx::tensor::i64_tensor(&name, dims, data)
    }
}

pub(crate) struct Rewriter<'a> {
    pub g: &'a mut Graph,
    pub a: &'a Analysis,
    /// Kept positions of the values that lose channels (see [`super::KeptMap`]).
    pub kept: &'a KeptMap,
    pub log: &'a mut Vec<Rewrite>,
    /// Values whose constant data this rewriter replaced (for the shape re-inference).
    pub dirty: &'a mut Vec<ValueId>,
}

impl Rewriter<'_> {
    /// Kept flags along `axis` of data value `v`, when that axis carries channels with the
    /// value's full size and at least one position is removed.
    fn kept(&self, v: Option<ValueId>, axis: usize) -> Option<Vec<bool>> {
        let v = v?;
        let t = self.a.value_ids.get(v)?.as_ref()?;
        if axis >= t.rank() || !t.chan[axis] {
            return None;
        }
        let size = self.g.value(v).dim(axis)?;
        if size as usize != t.dims[axis] {
            return None;
        }
        let k = self.kept.get(v)?.as_ref()?[axis].as_ref()?;
        k.iter().any(|&x| !x).then(|| k.clone())
    }

    fn err(&self, nid: NodeId, what: String) -> GraphError {
        let n = &self.g.nodes[nid];
        GraphError::Shape { node: n.name.clone(), op: n.op.clone(), reason: format!("cannot rewrite for compression: {what}") }
    }

    fn log(&mut self, nid: NodeId, what: &str, old: Vec<i64>, new: Vec<i64>) {
        self.log.push(Rewrite { node: self.g.nodes[nid].name.clone(), what: what.into(), old, new });
    }

    fn set_attr_int(&mut self, nid: NodeId, name: &str, new: i64) {
        let old = self.g.nodes[nid].attr_int(name);
        if old == Some(new) {
            return;
        }
        self.log(nid, name, old.into_iter().collect(), vec![new]);
        oto_onnx::attr::set(&mut self.g.nodes[nid].proto, oto_onnx::attr::a_int(name, new));
    }

    fn set_attr_ints(&mut self, nid: NodeId, name: &str, new: Vec<i64>) {
        let old = self.g.nodes[nid].attr_ints(name).unwrap_or_default();
        if old == new {
            return;
        }
        self.log(nid, name, old, new.clone());
        oto_onnx::attr::set(&mut self.g.nodes[nid].proto, oto_onnx::attr::a_ints(name, &new));
    }

    /// A fresh initializer holding `t`, read by input `slot` of node `nid` instead of its old value.
    fn repoint(&mut self, nid: NodeId, slot: usize, base: &str, mut t: TensorProto) {
        let mut k = 0;
        let name = loop {
            let n = if k == 0 { format!("{base}_oto") } else { format!("{base}_oto{k}") };
            if self.g.id(&n).is_none() {
                break n;
            }
            k += 1;
        };
        t.name = Some(name.clone());
        let id = self.g.add_value(&name);
        {
            let v = &mut self.g.values[id];
            v.dtype = t.data_type.unwrap_or(0);
            v.shape = Some(t.dims.iter().map(|&d| Dim::Known(d)).collect());
            v.init = Some(t);
            v.is_initializer = true;
            v.consumers.push((nid, slot));
        }
        if let Some(old) = self.g.nodes[nid].inputs[slot] {
            self.g.values[old].consumers.retain(|&c| c != (nid, slot));
        }
        self.g.nodes[nid].inputs[slot] = Some(id);
    }

    /// Sets the integer input `slot` of node `nid` to `new` (1-D, or a scalar when it was one).
    fn set_ints(&mut self, nid: NodeId, slot: usize, new: Vec<i64>, what: &str) -> Result<()> {
        let v = self.g.nodes[nid].input(slot);
        let old = v.and_then(|v| self.g.const_i64(v));
        if old.as_ref() == Some(&new) {
            return Ok(());
        }
        self.log(nid, what, old.clone().unwrap_or_default(), new.clone());
        let Some(v) = v else {
            // an absent optional input (e.g. Split sizes given implicitly)
            while self.g.nodes[nid].inputs.len() <= slot {
                self.g.nodes[nid].inputs.push(None);
            }
            let base = format!("{}_{what}", self.g.nodes[nid].name);
            let t = int_tensor(None, &[new.len() as i64], &new);
            self.repoint(nid, slot, &base, t);
            return Ok(());
        };
        let val = self.g.value(v).clone();
        let dims: Vec<i64> = if val.rank() == Some(0) { vec![] } else { vec![new.len() as i64] };
        if let Some(init) = &val.init {
            let t = int_tensor(Some(init), &dims, &new);
            let shared = val.consumers.len() != 1 || self.g.outputs.contains(&v);
            if shared {
                self.repoint(nid, slot, &val.name, t);
            } else {
                set_const(self.g, v, t);
                self.dirty.push(v);
            }
            return Ok(());
        }
        // computed: a Concat of 1-D pieces -> rewrite the constant pieces that change
        if let (Some(p), Some(old)) = (val.producer, old.as_ref()) {
            if self.g.nodes[p].op == "Concat" && old.len() == new.len() {
                let pieces = self.g.nodes[p].inputs.clone();
                let mut off = 0;
                for (ps, pv) in pieces.iter().enumerate() {
                    let Some(pv) = *pv else { continue };
                    let len = self.g.value(pv).dim(0).unwrap_or(1).max(1) as usize;
                    if old[off..off + len] != new[off..off + len] {
                        if self.g.value(pv).init.is_none() {
                            return Err(self.err(nid, format!("shape piece '{}' is computed, not constant", self.g.value(pv).name)));
                        }
                        self.set_ints(p, ps, new[off..off + len].to_vec(), what)?;
                    }
                    off += len;
                }
                return Ok(());
            }
        }
        if let Some(old) = &old {
            let _ = old;
            let t = int_tensor(None, &dims, &new);
            self.repoint(nid, slot, &val.name, t);
            return Ok(());
        }
        Err(self.err(nid, format!("'{}' is not a constant", val.name)))
    }

    /// Integer values of input `slot` (constant or folded).
    fn ints(&self, nid: NodeId, slot: usize) -> Option<Vec<i64>> {
        self.g.nodes[nid].input(slot).and_then(|v| self.g.const_i64(v))
    }

    pub fn node(&mut self, nid: NodeId) -> Result<()> {
        const OPS: &[&str] = &["Conv", "GroupNormalization", "Split", "Slice", "Gather", "Pad", "Reshape", "Expand", "Resize"];
        if !OPS.contains(&self.g.nodes[nid].op.as_str()) {
            return Ok(());
        }
        let n = self.g.nodes[nid].clone();
        let opset = self.g.opset;
        let rank_of = |g: &Graph, v: Option<ValueId>| v.and_then(|v| g.value(v).rank());
        match n.op.as_str() {
            "Conv" => {
                let group = n.attr_int("group").unwrap_or(1);
                if group > 1 {
                    if let (Some(k), Some(w)) = (self.kept(n.input(0), 1), n.input(1)) {
                        let cg = self.g.init(w).and_then(|t| t.dims.get(1).copied()).unwrap_or(1).max(1);
                        let cin = k.iter().filter(|&&x| x).count() as i64;
                        if cin % cg != 0 {
                            return Err(self.err(nid, format!("{cin} kept input channels are not a multiple of {cg}")));
                        }
                        self.set_attr_int(nid, "group", cin / cg);
                    }
                }
            }
            "GroupNormalization" => {
                if let Some(k) = self.kept(n.input(0), 1) {
                    let g0 = n.attr_int("num_groups").unwrap_or(1).max(1);
                    let bs = (k.len() as i64 / g0).max(1);
                    let kc = k.iter().filter(|&&x| x).count() as i64;
                    self.set_attr_int(nid, "num_groups", kc / bs);
                }
            }
            "Split" => {
                let Some(r) = rank_of(self.g, n.input(0)) else { return Ok(()) };
                let Some(axis) = norm_axis(n.attr_int("axis").unwrap_or(0), r) else { return Ok(()) };
                if self.kept(n.input(0), axis).is_none() {
                    return Ok(());
                }
                let mut sizes = vec![];
                for o in &n.outputs {
                    let old = o.and_then(|o| self.g.value(o).dim(axis)).unwrap_or(0);
                    sizes.push(match self.kept(*o, axis) {
                        Some(k) => k.iter().filter(|&&x| x).count() as i64,
                        None => old,
                    });
                }
                if opset < 13 {
                    self.set_attr_ints(nid, "split", sizes);
                } else {
                    if n.input(1).is_none() && n.attr_int("num_outputs").is_some() {
                        self.g.nodes[nid].proto.attribute.retain(|a| a.name.as_deref() != Some("num_outputs"));
                    }
                    self.set_ints(nid, 1, sizes, "split")?;
                }
            }
            "Slice" => {
                let Some(r) = rank_of(self.g, n.input(0)) else { return Ok(()) };
                let (st_slot, en_slot) = (1, 2);
                let get = |s: &Self, slot: usize, attr: &str| if opset < 10 { n.attr_ints(attr) } else { s.ints(nid, slot) };
                let (Some(mut starts), Some(mut ends)) = (get(self, st_slot, "starts"), get(self, en_slot, "ends")) else {
                    return Ok(());
                };
                let axes = get(self, 3, "axes").unwrap_or_else(|| (0..starts.len() as i64).collect());
                let steps = if opset < 10 { vec![1; axes.len()] } else { self.ints(nid, 4).unwrap_or_else(|| vec![1; axes.len()]) };
                let (mut cs, mut ce) = (false, false);
                for (k, &ax) in axes.iter().enumerate() {
                    let Some(ax) = norm_axis(ax, r) else { continue };
                    let Some(kept) = self.kept(n.input(0), ax) else { continue };
                    if steps.get(k).copied().unwrap_or(1) != 1 {
                        return Err(self.err(nid, "a strided slice on a channel axis".into()));
                    }
                    let dim = kept.len() as i64;
                    let (b, e) = slice_bounds(starts[k], ends[k], 1, dim);
                    let below = |x: i64| kept.iter().take(x.max(0) as usize).filter(|&&k| k).count() as i64;
                    let nb = below(b);
                    if nb != starts[k] {
                        starts[k] = nb;
                        cs = true;
                    }
                    let ne = if ends[k] >= dim { ends[k] } else { below(e) };
                    if ne != ends[k] {
                        ends[k] = ne;
                        ce = true;
                    }
                }
                if opset < 10 {
                    if cs {
                        self.set_attr_ints(nid, "starts", starts);
                    }
                    if ce {
                        self.set_attr_ints(nid, "ends", ends);
                    }
                } else {
                    if cs {
                        self.set_ints(nid, st_slot, starts, "starts")?;
                    }
                    if ce {
                        self.set_ints(nid, en_slot, ends, "ends")?;
                    }
                }
            }
            "Gather" => {
                let Some(r) = rank_of(self.g, n.input(0)) else { return Ok(()) };
                let Some(axis) = norm_axis(n.attr_int("axis").unwrap_or(0), r) else { return Ok(()) };
                let Some(kept) = self.kept(n.input(0), axis) else { return Ok(()) };
                let Some(idx) = self.ints(nid, 1) else { return Err(self.err(nid, "indices are not constant".into())) };
                let rank: Vec<i64> = kept.iter().scan(0i64, |c, &k| { let r = *c; if k { *c += 1 } Some(r) }).collect();
                let mut new = vec![];
                for &i in &idx {
                    let Some(p) = norm_axis(i, kept.len()) else { return Err(self.err(nid, format!("index {i} out of range"))) };
                    if kept[p] {
                        new.push(rank[p]);
                    }
                }
                if rank_of(self.g, n.input(1)) != Some(1) && new.len() != idx.len() {
                    return Err(self.err(nid, "a gathered channel is removed but the indices are not 1-D".into()));
                }
                if new != idx {
                    self.set_ints(nid, 1, new, "indices")?;
                }
            }
            "Pad" => {
                let Some(r) = rank_of(self.g, n.input(0)) else { return Ok(()) };
                let from_attr = opset < 11;
                let Some(mut pads) = (if from_attr { n.attr_ints("pads") } else { self.ints(nid, 1) }) else { return Ok(()) };
                let axes: Vec<usize> = match self.ints(nid, 3) {
                    Some(a) if !from_attr => a.iter().filter_map(|&a| norm_axis(a, r)).collect(),
                    _ => (0..r).collect(),
                };
                let mut changed = false;
                for (k, &ax) in axes.iter().enumerate() {
                    let (b, e) = (pads[k], pads[k + axes.len()]);
                    if b <= 0 && e <= 0 {
                        continue;
                    }
                    let Some(kept) = self.kept(n.output(0), ax) else { continue };
                    let len = kept.len();
                    let nb = kept[..b.max(0) as usize].iter().filter(|&&x| x).count() as i64;
                    let ne = kept[len - e.max(0) as usize..].iter().filter(|&&x| x).count() as i64;
                    if b > 0 && nb != b {
                        pads[k] = nb;
                        changed = true;
                    }
                    if e > 0 && ne != e {
                        pads[k + axes.len()] = ne;
                        changed = true;
                    }
                }
                if changed {
                    if from_attr {
                        self.set_attr_ints(nid, "pads", pads);
                    } else {
                        self.set_ints(nid, 1, pads, "pads")?;
                    }
                }
            }
            "Reshape" => {
                let Some(mut target) = self.ints(nid, 1) else { return Ok(()) };
                let mut changed = false;
                for ax in 0..target.len() {
                    if target[ax] <= 0 {
                        continue;
                    }
                    if let Some(k) = self.kept(n.output(0), ax) {
                        target[ax] = k.iter().filter(|&&x| x).count() as i64;
                        changed = true;
                    }
                }
                if changed {
                    self.set_ints(nid, 1, target, "shape")?;
                }
            }
            "Expand" => {
                let (Some(mut shape), Some(r)) = (self.ints(nid, 1), rank_of(self.g, n.output(0))) else { return Ok(()) };
                let off = r.saturating_sub(shape.len());
                let mut changed = false;
                for i in 0..shape.len() {
                    if shape[i] <= 1 {
                        continue;
                    }
                    if let Some(k) = self.kept(n.output(0), off + i) {
                        shape[i] = k.iter().filter(|&&x| x).count() as i64;
                        changed = true;
                    }
                }
                if changed {
                    self.set_ints(nid, 1, shape, "shape")?;
                }
            }
            "Resize" if opset >= 11 => {
                let Some(mut sizes) = self.ints(nid, 3).filter(|s| !s.is_empty()) else { return Ok(()) };
                let Some(r) = rank_of(self.g, n.output(0)) else { return Ok(()) };
                let axes: Vec<usize> = match n.attr_ints("axes") {
                    Some(a) => a.iter().filter_map(|&a| norm_axis(a, r)).collect(),
                    None => (0..r).collect(),
                };
                let mut changed = false;
                for (i, &ax) in axes.iter().enumerate() {
                    if let Some(k) = self.kept(n.output(0), ax) {
                        sizes[i] = k.iter().filter(|&&x| x).count() as i64;
                        changed = true;
                    }
                }
                if changed {
                    self.set_ints(nid, 3, sizes, "sizes")?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}
