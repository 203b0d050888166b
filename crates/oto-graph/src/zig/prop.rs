//! The shared vocabulary of the ZIG rules (each op family's rule is in `crate::ops`): reading a
//! node's input ids, writing its outputs, channel vectors, stems, members and unknown ops.
use super::state::State;
use super::ids::{IdTensor, Slot};
use super::{ElemId, MemberKind};
use crate::ir::ValueId;
use std::rc::Rc;


/// The current node (borrowed from the graph, not from `st`, so `st` stays mutable).
pub(crate) fn node<'g>(st: &State<'g>) -> &'g crate::ir::Node {
    let g: &'g crate::ir::Graph = st.g;
    &g.nodes[st.nid]
}
pub(crate) fn taint_here(st: &State) -> u32 {
    st.nid as u32 + 1
}
pub(crate) fn input(st: &State, slot: usize) -> Option<ValueId> {
    node(st).input(slot)
}
/// The ids of input `slot` (shared, not copied).
pub(crate) fn input_ids(st: &State, slot: usize) -> Option<Rc<IdTensor>> {
    input(st, slot).and_then(|v| st.ids[v].clone())
}
pub(crate) fn out_rank(st: &State, slot: usize) -> Option<usize> {
    node(st).output(slot).and_then(|v| st.g.value(v).rank())
}
pub(crate) fn static_shape(st: &State, v: ValueId) -> Option<Vec<usize>> {
    st.g.static_shape(v).map(|s| s.into_iter().map(|d| d.max(0) as usize).collect())
}
pub(crate) fn is_const(st: &State, v: ValueId) -> bool {
    st.g.value(v).is_const()
}
pub(crate) fn const_scalar(st: &State, slot: usize) -> Option<f32> {
    input(st, slot).and_then(|v| st.g.const_f32(v)).and_then(|d| (d.len() == 1).then(|| d[0]))
}
/// Sets output `slot`'s channel ids, unless they disagree with the value's static shape (a
/// rule reading a corrupt or inconsistent graph): then the output gets none, and the safety net
/// ([`super::analyze`]'s `not_followed`) makes the inputs' rows unprunable instead.
pub(crate) fn set_out(st: &mut State, slot: usize, t: impl Into<Rc<IdTensor>>) {
    if let Some(o) = node(st).output(slot) {
        let t = t.into();
        if fits(&t, static_shape(st, o).as_deref()) {
            st.ids[o] = Some(t);
        }
    }
}

/// `t` is a well-formed id tensor of a value of shape `shape` (when known): one slot per
/// position, the same rank, each axis the value's size or a broadcast 1, no empty axis.
fn fits(t: &IdTensor, shape: Option<&[usize]>) -> bool {
    let whole = t.dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d)) == Some(t.slots.len()) && !t.dims.contains(&0);
    whole && shape.is_none_or(|s| s.len() == t.dims.len() && s.iter().zip(&t.dims).all(|(&v, &d)| d == v || d == 1))
}
pub(crate) fn slots_of(t: &IdTensor) -> Vec<ElemId> {
    t.slots.iter().map(|s| s.e).collect()
}
/// Channel vector of `t` along `axis`, of length `size` (collapsing other axes by union and
/// repeating a broadcast element); `None` after marking `t` unprunable when `size` is past
/// what can be tracked (a corrupt dim: the caller follows nothing there).
pub(crate) fn channel_vec(st: &mut State, t: &IdTensor, axis: usize, size: usize) -> Option<IdTensor> {
    if size > super::state::MAX_CHANNELS {
        st.unprunable_all(t, "too_large_to_track");
        return None;
    }
    let mismatch = axis < t.rank() && t.dims[axis] != size && t.dims[axis] != 1;
    if mismatch {
        // `size` channels expected where the ids have another count (an inconsistent graph):
        // nothing here is followed channel by channel
        st.unprunable_all(t, "channel_count_mismatch");
    }
    if axis >= t.rank() || mismatch {
        // ids of unknown rank (e.g. an unknown op's output without a shape): one element everywhere
        let c = t.collapse_to(None, &mut st.uf);
        let mut target = vec![1; axis + 1];
        target[axis] = size;
        let mut e = IdTensor::scalar(axis + 1, c.slots[0]).expand(&target)?;
        e.chan[axis] = true;
        return Some(e);
    }
    let c = t.collapse_to(Some(axis), &mut st.uf);
    if c.dims[axis] == size {
        return Some(c);
    }
    let mut target = c.dims.clone();
    target[axis] = size;
    let Some(mut e) = c.expand(&target) else {
        st.unprunable_all(t, "too_large_to_track");
        return None;
    };
    e.chan[axis] = true;
    Some(e)
}

/// Copies input 0's ids to output 0, setting the taint if non-zero.
pub(crate) fn pass(st: &mut State, taint: u32) {
    let Some(t) = input_ids(st, 0) else { return };
    if taint != 0 {
        set_out(st, 0, Rc::unwrap_or_clone(t).with_taint(taint))
    } else {
        set_out(st, 0, t)
    }
}

/// Marks every data input's elements unprunable and gives each output fresh unprunable channels.
pub(crate) fn unknown(st: &mut State, reason: &str) {
    let n = node(st);
    for slot in 0..n.inputs.len() {
        if let Some(t) = input_ids(st, slot) {
            st.unprunable_all(&t, reason);
        }
    }
    fresh_outputs(st, reason);
}

pub(crate) fn fresh_outputs(st: &mut State, reason: &str) {
    let n = node(st);
    for (slot, o) in n.outputs.iter().enumerate() {
        let Some(o) = *o else { continue };
        let v = st.g.value(o);
        let rank = v.rank().unwrap_or(0);
        let what = format!("{} '{}'", n.op_type, n.name);
        let t = match (rank >= 2).then(|| v.dim(1)).flatten() {
            Some(c) if c > 0 && c <= super::state::MAX_CHANNELS as i64 => {
                let s = st.fresh(Some(st.nid), &what, c as usize);
                IdTensor::along(rank, 1, s)
            }
            _ => {
                let s = st.fresh(Some(st.nid), &what, 1);
                IdTensor::scalar(rank, s[0])
            }
        };
        st.unprunable_all(&t, reason);
        set_out(st, slot, t);
    }
}

/// Output channels of a stem: fresh elements, or the same elements when the weight is shared.
pub(crate) fn stem_outputs(st: &mut State, w: ValueId, n_out: usize) -> Vec<Slot> {
    if let Some(first) = st.weight_elems[w] {
        if first + n_out <= st.uf.len() {
            return (first..first + n_out).map(Slot::z).collect();
        }
    }
    let what = format!("{} '{}'", node(st).op_type, node(st).name);
    let s = st.fresh(Some(st.nid), &what, n_out);
    st.weight_elems[w] = Some(s[0].e);
    s
}

/// A consumer slice of `w` along `axis` (a weight used by several consumers ties their inputs,
/// see [`State::member`]).
pub(crate) fn consumer(st: &mut State, w: ValueId, axis: usize, map: Vec<ElemId>) {
    st.member(w, axis, MemberKind::Consumer, map);
}

/// Attaches a constant input whose values vary along channel axes of output 0 as a member.
/// Returns false when the constant is channel-independent (scalar or broadcast over channels).
pub(crate) fn per_channel_const(st: &mut State, slot: usize, kind: MemberKind) -> bool {
    let Some(out) = node(st).output(0).and_then(|o| st.ids[o].clone()) else { return false };
    per_channel_const_of(st, slot, kind, &out)
}

/// [`per_channel_const`] against the given ids of output 0.
pub(crate) fn per_channel_const_of(st: &mut State, slot: usize, kind: MemberKind, out: &IdTensor) -> bool {
    let (Some(c), Some(_)) = (input(st, slot), node(st).output(0)) else { return false };
    let Some(cshape) = static_shape(st, c) else { return false };
    if cshape.len() > out.rank() {
        return false;
    }
    let off = out.rank() - cshape.len();
    let axes: Vec<usize> = (0..cshape.len()).filter(|&i| cshape[i] > 1 && out.chan[off + i]).collect();
    match axes.as_slice() {
        [] => false,
        [i] => {
            if let Some(v) = channel_vec(st, out, off + i, cshape[*i]) {
                st.member(c, *i, kind, slots_of(&v));
            }
            true
        }
        _ => {
            st.unprunable_all(out, "const_over_channels");
            true
        }
    }
}

/// Channels that come from a constant (or channel-less data) input: all-zero constants are
/// zero channels; anything else is non-zero.
pub(crate) fn constant_channels(st: &mut State, v: ValueId, rank: usize, axis: usize, size: usize) -> IdTensor {
    let zero = st.g.const_f32(v).is_some_and(|d| d.iter().all(|&x| x == 0.0));
    let what = format!("constant channels of '{}'", node(st).name);
    let s = st.fresh(Some(st.nid), &what, size);
    let t = IdTensor::along(rank, axis, s);
    if zero {
        t
    } else {
        t.with_taint(taint_here(st))
    }
}


/// The values of an attribute-or-input int list (`None` when absent or not constant).
pub(crate) fn arg(st: &State, a: &crate::ops::IntsArg) -> Option<Vec<i64>> {
    a.values(st.g, st.nid)
}

/// Channel axes of value `v` that removing rows could shrink (a channel axis longer than 1).
pub(crate) fn cut_axes(st: &State, v: Option<ValueId>) -> Vec<usize> {
    let Some(t) = v.and_then(|v| st.ids[v].as_ref()) else { return vec![] };
    (0..t.rank()).filter(|&a| t.chan[a] && t.dims[a] > 1).collect()
}

/// Entry `i` of the integer list `v` is read at run time from the shape of a value whose axis
/// holds the same rows as axis `ax` of `o` ([`crate::shape::source::entry_source`]): it
/// follows the cut by itself, so it needs no rewrite (a symbolic batch beside it is fine).
pub(crate) fn follows_itself(st: &State, v: ValueId, i: usize, o: ValueId, ax: usize) -> bool {
    let Some((x, a)) = crate::shape::source::entry_source(st.g, v, i) else { return false };
    let (Some(tx), Some(to)) = (st.ids[x].as_ref(), st.ids[o].as_ref()) else { return false };
    if tx.chan_axes() != [a] || to.chan_axes() != [ax] || tx.dims[a] != to.dims[ax] {
        return false;
    }
    tx.slots.len() == tx.dims[a] && to.slots.len() == to.dims[ax] && tx.slots.iter().zip(&to.slots).all(|(p, q)| st.uf.root(p.e) == st.uf.root(q.e))
}
