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
use crate::ops::{IntsArg, Op};
use crate::zig::Analysis;
use oto_onnx::pb::TensorProto;

/// Replaces the constant data of `v` (initializer or Constant-node output).
pub(crate) fn set_const(g: &mut Graph, v: ValueId, t: TensorProto) {
    let dims: Vec<Dim> = t.dims.iter().map(|&d| Dim::Known(d)).collect();
    if let Some(p) = g.values[v].producer {
        let node = &mut g.nodes[p];
        if matches!(node.op, Op::Constant(_)) {
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

/// `v` with `changes` (position, value) written in.
fn with_changes(mut v: Vec<i64>, changes: &[(usize, i64)]) -> Vec<i64> {
    for &(i, x) in changes {
        if let Some(e) = v.get_mut(i) {
            *e = x;
        }
    }
    v
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

/// Whether [`Rewriter::set_ints`] can write new values into the integer value `v`:
/// a constant, or a value whose contents are all known (its changed constant pieces are
/// rewritten, or it is replaced by a fresh constant). A value with run-time contents (e.g. a
/// symbolic batch read from a shape) is not. Checked at analysis time, so a cut that
/// construction could not express is never promised.
pub(crate) fn ints_writable(g: &Graph, v: ValueId) -> bool {
    g.init(v).is_some() || g.const_i64(v).is_some()
}

/// Whether [`Rewriter::set_ints_at`] can write positions `pos` of the integer value `v`: it
/// is writable as a whole, or it is a `Concat` whose pieces holding `pos` are (a dynamic-batch
/// export's `x.view(N, 2, C/2, H, W)`: N read from the shape at run time, the rest known).
pub(crate) fn ints_writable_at(g: &Graph, v: ValueId, pos: &[usize]) -> bool {
    if ints_writable(g, v) {
        return true;
    }
    let Some((_, pieces)) = concat_pieces(g, v) else { return false };
    pos.iter().all(|&i| pieces.iter().find(|(_, _, r)| r.contains(&i)).is_some_and(|(_, pv, r)| ints_writable_at(g, *pv, &[i - r.start])))
}

/// The 1-D pieces of the `Concat` producing `v`: (its node, then per piece its input slot,
/// value and positions in `v`); `None` when `v` is no Concat or a piece's length is unknown.
#[allow(clippy::type_complexity)]
fn concat_pieces(g: &Graph, v: ValueId) -> Option<(NodeId, Vec<(usize, ValueId, std::ops::Range<usize>)>)> {
    let p = g.value(v).producer?;
    // a Concat read elsewhere too (one shape target for Q, K and V) is not rewritten in place:
    // its other readers may keep other counts
    if !matches!(g.nodes[p].op, Op::Concat(_)) || g.value(v).consumers.len() != 1 || g.outputs.contains(&v) {
        return None;
    }
    let mut off = 0;
    let mut out = vec![];
    for (ps, pv) in g.nodes[p].inputs.iter().enumerate() {
        let Some(pv) = *pv else { continue };
        let len = g.value(pv).dim(0)?.max(0) as usize;
        out.push((ps, pv, off..off + len));
        off += len;
    }
    Some((p, out))
}

/// A fresh initializer holding `t` (named `<base>_oto…`), read by input `slot` of node `nid`
/// instead of its old value.
pub(crate) fn repoint_const(g: &mut Graph, nid: NodeId, slot: usize, base: &str, t: TensorProto) -> ValueId {
    let mut k = 0;
    let name = loop {
        let n = if k == 0 { format!("{base}_oto") } else { format!("{base}_oto{k}") };
        if g.id(&n).is_none() {
            break n;
        }
        k += 1;
    };
    let id = g.add_const(&name, t);
    g.values[id].consumers.push((nid, slot));
    if let Some(old) = g.nodes[nid].inputs[slot] {
        g.values[old].consumers.retain(|&c| c != (nid, slot));
    }
    g.nodes[nid].inputs[slot] = Some(id);
    id
}

pub struct Rewriter<'a> {
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
    pub(crate) fn kept(&self, v: Option<ValueId>, axis: usize) -> Option<Vec<bool>> {
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

    pub(crate) fn err(&self, nid: NodeId, what: String) -> GraphError {
        let n = &self.g.nodes[nid];
        GraphError::Shape { node: n.name.clone(), op: n.op_type.clone(), reason: format!("cannot rewrite for compression: {what}") }
    }

    fn log(&mut self, nid: NodeId, what: &str, old: Vec<i64>, new: Vec<i64>) {
        self.log.push(Rewrite { node: self.g.nodes[nid].name.clone(), what: what.into(), old, new });
    }

    /// Sets an int attribute (logged) and re-parses the node's typed op.
    pub(crate) fn set_attr_int(&mut self, nid: NodeId, name: &str, new: i64) -> Result<()> {
        let old = oto_onnx::attr::int(&self.g.nodes[nid].proto, name);
        if old == Some(new) {
            return Ok(());
        }
        self.log(nid, name, old.into_iter().collect(), vec![new]);
        oto_onnx::attr::set(&mut self.g.nodes[nid].proto, oto_onnx::attr::a_int(name, new));
        self.g.reparse(nid)
    }

    /// Sets an int-list attribute (logged) and re-parses the node's typed op.
    pub(crate) fn set_attr_ints(&mut self, nid: NodeId, name: &str, new: Vec<i64>) -> Result<()> {
        let old = oto_onnx::attr::ints(&self.g.nodes[nid].proto, name).unwrap_or_default();
        if old == new {
            return Ok(());
        }
        self.log(nid, name, old, new.clone());
        oto_onnx::attr::set(&mut self.g.nodes[nid].proto, oto_onnx::attr::a_ints(name, &new));
        self.g.reparse(nid)
    }

    /// Removes an attribute and re-parses the node's typed op.
    pub(crate) fn remove_attr(&mut self, nid: NodeId, name: &str) -> Result<()> {
        self.g.nodes[nid].proto.attribute.retain(|a| a.name.as_deref() != Some(name));
        self.g.reparse(nid)
    }

    /// Sets the integer input `slot` of node `nid` to `new` (1-D, or a scalar when it was one).
    pub(crate) fn set_ints(&mut self, nid: NodeId, slot: usize, new: Vec<i64>, what: &str) -> Result<()> {
        let v = self.g.nodes[nid].input(slot);
        let old = v.and_then(|v| self.g.const_i64(v));
        // a computed value equal to `new` is still pinned: it may follow changed shapes at run time
        if old.as_ref() == Some(&new) && v.is_some_and(|v| self.g.init(v).is_some()) {
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
            repoint_const(self.g, nid, slot, &base, t);
            return Ok(());
        };
        let val = self.g.value(v).clone();
        let dims: Vec<i64> = match (val.rank(), new.len()) {
            (Some(0), 1) => vec![],
            (Some(0), n) => return Err(self.err(nid, format!("'{}' is declared a scalar but holds {n} values", val.name))),
            (_, n) => vec![n as i64],
        };
        if let Some(init) = &val.init {
            let t = int_tensor(Some(init), &dims, &new);
            let shared = val.consumers.len() != 1 || self.g.outputs.contains(&v);
            if shared {
                repoint_const(self.g, nid, slot, &val.name, t);
            } else {
                set_const(self.g, v, t);
                self.dirty.push(v);
            }
            return Ok(());
        }
        // computed: a Concat of 1-D pieces whose changed pieces are constants -> rewrite those
        // pieces (the graph keeps its structure); otherwise the value, fully known, is replaced
        // by a fresh constant
        if let (Some((p, pieces)), Some(old)) = (concat_pieces(self.g, v), old.as_ref()) {
            if old.len() == new.len() {
                let changed = |r: &std::ops::Range<usize>| old.get(r.clone()) != new.get(r.clone());
                if pieces.iter().all(|(_, pv, r)| !changed(r) || self.g.value(*pv).init.is_some()) {
                    for (ps, _, r) in pieces.iter().filter(|(_, _, r)| changed(r)) {
                        self.set_ints(p, *ps, new[r.clone()].to_vec(), what)?;
                    }
                    return Ok(());
                }
            }
        }
        if old.is_some() {
            let t = int_tensor(None, &dims, &new);
            repoint_const(self.g, nid, slot, &val.name, t);
            return Ok(());
        }
        Err(self.err(nid, format!("'{}' is not a constant", val.name)))
    }

    /// Writes `changes` (position, new value) into the integer input `slot` of node `nid`,
    /// where the other positions may be known only at run time (see [`ints_writable_at`]).
    pub(crate) fn set_ints_at(&mut self, nid: NodeId, slot: usize, changes: &[(usize, i64)], what: &str) -> Result<()> {
        let Some(v) = self.g.nodes[nid].input(slot) else { return Err(self.err(nid, format!("no input {slot} to write {what} into"))) };
        if let Some(old) = self.g.const_i64(v) {
            return self.set_ints(nid, slot, with_changes(old, changes), what);
        }
        let Some((p, pieces)) = concat_pieces(self.g, v) else {
            return Err(self.err(nid, format!("'{}' is computed at run time", self.g.value(v).name)));
        };
        for (ps, _, r) in pieces {
            let mine: Vec<(usize, i64)> = changes.iter().filter(|(i, _)| r.contains(i)).map(|&(i, x)| (i - r.start, x)).collect();
            if !mine.is_empty() {
                self.set_ints_at(p, ps, &mine, what)?;
            }
        }
        Ok(())
    }

    /// An attribute-or-input int list entry by entry: known values, or symbols computed at
    /// run time (a dynamic batch read from a shape).
    pub(crate) fn arg_dims(&self, nid: NodeId, a: &IntsArg) -> Option<Vec<Dim>> {
        match a {
            IntsArg::Attr(v) => Some(v.iter().map(|&d| Dim::Known(d)).collect()),
            IntsArg::Input(slot) => {
                let v = self.g.nodes[nid].input(*slot)?;
                match self.g.init(v) {
                    Some(_) => self.g.const_i64(v).map(|x| x.into_iter().map(Dim::Known).collect()),
                    None => self.g.value(v).folded.clone(),
                }
            }
            IntsArg::Absent => None,
        }
    }

    /// [`Rewriter::set_ints_at`] for an attribute-or-input int list (an attribute is known).
    pub(crate) fn set_arg_at(&mut self, nid: NodeId, a: &IntsArg, name: &str, slot: usize, changes: &[(usize, i64)]) -> Result<()> {
        match a {
            IntsArg::Attr(v) => self.set_attr_ints(nid, name, with_changes(v.clone(), changes)),
            IntsArg::Input(s) => self.set_ints_at(nid, *s, changes, name),
            IntsArg::Absent => self.set_ints_at(nid, slot, changes, name),
        }
    }

    /// The new entry `i` of the int list at input `slot` of node `nid` that sizes axis `ax` of
    /// `o`: the kept count when channels are removed there, unless the entry is read at run time
    /// from the shape of a value that keeps exactly those positions (then it follows by itself).
    pub(crate) fn kept_count(&self, nid: NodeId, slot: Option<usize>, i: usize, o: Option<ValueId>, ax: usize) -> Option<i64> {
        let k = self.kept(o, ax)?;
        let source = slot.and_then(|s| self.g.nodes[nid].input(s)).and_then(|v| crate::shape::source::entry_source(self.g, v, i));
        if source.is_some_and(|(x, a)| self.kept(Some(x), a).is_some_and(|p| p == k)) {
            return None;
        }
        Some(k.iter().filter(|&&x| x).count() as i64)
    }

    /// Integer values of input `slot` (constant or folded).
    pub(crate) fn ints(&self, nid: NodeId, slot: usize) -> Option<Vec<i64>> {
        self.g.nodes[nid].input(slot).and_then(|v| self.g.const_i64(v))
    }

    /// The values of an attribute-or-input int list of node `nid`.
    pub(crate) fn arg(&self, nid: NodeId, a: &IntsArg) -> Option<Vec<i64>> {
        a.values(self.g, nid)
    }

    /// Writes an attribute-or-input int list: the attribute `name` when it was one, input `slot`
    /// otherwise.
    pub(crate) fn set_arg(&mut self, nid: NodeId, a: &IntsArg, name: &str, slot: usize, new: Vec<i64>) -> Result<()> {
        match a {
            IntsArg::Attr(_) => self.set_attr_ints(nid, name, new),
            IntsArg::Input(s) => self.set_ints(nid, *s, new, name),
            IntsArg::Absent => self.set_ints(nid, slot, new, name),
        }
    }

    /// Whether the int-list argument is computed at run time (an input that is not a constant).
    pub(crate) fn computed(&self, nid: NodeId, a: &IntsArg) -> bool {
        match a {
            IntsArg::Input(slot) => self.g.nodes[nid].input(*slot).is_some_and(|v| self.g.init(v).is_none()),
            _ => false,
        }
    }

    /// Applies node `nid`'s slice rule (its op family's `OpRule::slice`).
    pub fn node(&mut self, nid: NodeId) -> Result<()> {
        let op = self.g.nodes[nid].op.clone();
        op.rule().slice(self, nid)
    }
}
