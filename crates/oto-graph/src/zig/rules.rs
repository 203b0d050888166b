//! The per-op pruning rules: how each ONNX op moves, ties, consumes or creates channel elements.
//! One `match` arm per op family; to support a new op, add an arm here (and a golden test).
use super::analyze::State;
use super::ids::{IdTensor, Slot};
use super::reshape::reshape_ids;
use super::{ElemId, MemberKind};
use crate::ir::{NodeId, ValueId};
use crate::shape::fold::norm_axis;
use crate::shape::ops::slice_bounds;
use std::rc::Rc;

/// Unary ops with f(0) = 0: a zero channel stays exactly zero.
const ZERO_PRESERVING: &[&str] = &[
    "Relu", "LeakyRelu", "Elu", "Selu", "Celu", "Gelu", "Tanh", "HardSwish", "Mish", "Abs", "Neg", "Sign",
    "Sqrt", "Sin", "Sinh", "Tan", "Atan", "Asin", "Erf", "Identity", "Dropout", "Cast", "Softsign",
    "ThresholdedRelu", "Floor", "Ceil", "Round",
];
/// Unary ops with f(0) != 0: a zero channel becomes non-zero (state N).
const NOT_ZERO_PRESERVING: &[&str] =
    &["Sigmoid", "HardSigmoid", "Softplus", "Exp", "Cos", "Cosh", "Acos", "Reciprocal", "Log", "Not", "IsNaN", "Shrink"];
/// Ops whose outputs are shape/index data, never channels.
const NO_CHANNELS: &[&str] =
    &["Shape", "Size", "NonZero", "ConstantOfShape", "Range", "EyeLike", "ArgMax", "ArgMin", "Constant", "TopK"];
/// Reductions over the channel axis that are exactly zero-invariant (zeros add nothing).
const SUMMING_REDUCE: &[&str] = &["ReduceSum", "ReduceL1", "ReduceL2", "ReduceSumSquare"];

pub(crate) fn apply(st: &mut State, nid: NodeId) {
    let n = &st.g.nodes[nid];
    if !(n.domain.is_empty() || n.domain == "ai.onnx") {
        return unknown(st, &format!("unknown_op:{}:{}", n.domain, n.op));
    }
    let op = n.op.as_str();
    match op {
        _ if NO_CHANNELS.contains(&op) => {}
        _ if ZERO_PRESERVING.contains(&op) => pass(st, 0),
        _ if NOT_ZERO_PRESERVING.contains(&op) => pass(st, nid as u32 + 1),
        "Clip" => {
            let lo = const_scalar(st, 1).or(n.attr_float("min")).unwrap_or(f32::NEG_INFINITY);
            let hi = const_scalar(st, 2).or(n.attr_float("max")).unwrap_or(f32::INFINITY);
            pass(st, if lo <= 0.0 && 0.0 <= hi { 0 } else { nid as u32 + 1 })
        }
        "PRelu" => {
            pass(st, 0);
            per_channel_const(st, 1, MemberKind::Accessory);
        }
        "Conv" => conv(st, false),
        "ConvTranspose" => conv(st, true),
        "Gemm" => gemm(st),
        "MatMul" => matmul(st),
        "BatchNormalization" | "InstanceNormalization" => channel_norm(st, 1),
        "GroupNormalization" => channel_norm(st, n.attr_int("num_groups").unwrap_or(1).max(1) as usize),
        "LayerNormalization" => layer_norm(st),
        "Add" | "Sub" | "Mul" | "Div" | "Pow" | "Max" | "Min" | "Sum" | "Mean" | "Where" | "Equal" | "Less"
        | "Greater" | "LessOrEqual" | "GreaterOrEqual" | "Mod" => elementwise(st),
        "Concat" => concat(st),
        "Split" => split(st),
        "Slice" => slice(st),
        "Gather" => gather(st),
        "Transpose" => {
            let Some(t) = input_ids(st, 0) else { return };
            let perm: Vec<usize> = match n.attr_ints("perm") {
                Some(p) => p.iter().map(|&x| x as usize).collect(),
                None => (0..t.rank()).rev().collect(),
            };
            if perm.len() == t.rank() && perm.iter().all(|&p| p < t.rank()) {
                set_out(st, 0, t.permute(&perm));
            } else {
                unknown(st, "bad_transpose")
            }
        }
        "Squeeze" | "Unsqueeze" | "Reshape" | "Flatten" => reshape(st),
        "Expand" | "Tile" => expand(st),
        "Pad" => pad(st),
        "MaxPool" | "AveragePool" | "LpPool" | "GlobalAveragePool" | "GlobalMaxPool" | "GlobalLpPool" => spatial(st, 0),
        "Resize" | "Upsample" => resize(st),
        "DepthToSpace" => depth_to_space(st),
        "SpaceToDepth" => space_to_depth(st),
        "Softmax" | "LogSoftmax" | "Hardmax" | "LpNormalization" => softmax(st),
        _ if op.starts_with("Reduce") => reduce(st),
        _ => unknown(st, &format!("unknown_op:{op}")),
    }
}

// ---------------------------------------------------------------- helpers

/// The current node (borrowed from the graph, not from `st`, so `st` stays mutable).
fn node<'g>(st: &State<'g>) -> &'g crate::ir::Node {
    let g: &'g crate::ir::Graph = st.g;
    &g.nodes[st.nid]
}
fn taint_here(st: &State) -> u32 {
    st.nid as u32 + 1
}
fn input(st: &State, slot: usize) -> Option<ValueId> {
    node(st).input(slot)
}
/// The ids of input `slot` (shared, not copied).
fn input_ids(st: &State, slot: usize) -> Option<Rc<IdTensor>> {
    input(st, slot).and_then(|v| st.ids[v].clone())
}
fn out_rank(st: &State, slot: usize) -> Option<usize> {
    node(st).output(slot).and_then(|v| st.g.value(v).rank())
}
fn static_shape(st: &State, v: ValueId) -> Option<Vec<usize>> {
    st.g.static_shape(v).map(|s| s.into_iter().map(|d| d.max(0) as usize).collect())
}
fn is_const(st: &State, v: ValueId) -> bool {
    st.g.value(v).is_const()
}
fn const_scalar(st: &State, slot: usize) -> Option<f32> {
    input(st, slot).and_then(|v| st.g.const_f32(v)).and_then(|d| (d.len() == 1).then(|| d[0]))
}
fn set_out(st: &mut State, slot: usize, t: impl Into<Rc<IdTensor>>) {
    if let Some(o) = node(st).output(slot) {
        st.ids[o] = Some(t.into());
    }
}
fn slots_of(t: &IdTensor) -> Vec<ElemId> {
    t.slots.iter().map(|s| s.e).collect()
}
/// Channel vector of `t` along `axis`, of length `size` (collapsing other axes by union and
/// repeating a broadcast element).
fn channel_vec(st: &mut State, t: &IdTensor, axis: usize, size: usize) -> IdTensor {
    if axis >= t.rank() {
        // ids of unknown rank (e.g. an unknown op's output without a shape): one element everywhere
        let c = t.collapse_to(None, &mut st.uf);
        let mut target = vec![1; axis + 1];
        target[axis] = size;
        let mut e = IdTensor::scalar(axis + 1, c.slots[0]).expand(&target);
        e.chan[axis] = true;
        return e;
    }
    let c = t.collapse_to(Some(axis), &mut st.uf);
    if c.dims[axis] == size {
        return c;
    }
    let mut target = c.dims.clone();
    target[axis] = size;
    let mut e = c.expand(&target);
    e.chan[axis] = true;
    e
}

/// Copies input 0's ids to output 0, setting the taint if non-zero.
fn pass(st: &mut State, taint: u32) {
    let Some(t) = input_ids(st, 0) else { return };
    if taint != 0 {
        set_out(st, 0, Rc::unwrap_or_clone(t).with_taint(taint))
    } else {
        set_out(st, 0, t)
    }
}

/// Marks every data input's elements unprunable and gives each output fresh unprunable channels.
fn unknown(st: &mut State, reason: &str) {
    let n = node(st);
    for slot in 0..n.inputs.len() {
        if let Some(t) = input_ids(st, slot) {
            st.unprunable_all(&t, reason);
        }
    }
    fresh_outputs(st, reason);
}

fn fresh_outputs(st: &mut State, reason: &str) {
    let n = node(st);
    for (slot, o) in n.outputs.iter().enumerate() {
        let Some(o) = *o else { continue };
        let v = st.g.value(o);
        let rank = v.rank().unwrap_or(0);
        let what = format!("{} '{}'", n.op, n.name);
        let t = match (rank >= 2).then(|| v.dim(1)).flatten() {
            Some(c) if c > 0 => {
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
fn stem_outputs(st: &mut State, w: ValueId, n_out: usize) -> Vec<Slot> {
    if let Some(first) = st.weight_elems[w] {
        if first + n_out <= st.uf.len() {
            return (first..first + n_out).map(Slot::z).collect();
        }
    }
    let what = format!("{} '{}'", node(st).op, node(st).name);
    let s = st.fresh(Some(st.nid), &what, n_out);
    st.weight_elems[w] = Some(s[0].e);
    s
}

/// A consumer slice of `w` along `axis` (a weight used by several consumers ties their inputs,
/// see [`State::member`]).
fn consumer(st: &mut State, w: ValueId, axis: usize, map: Vec<ElemId>) {
    st.member(w, axis, MemberKind::Consumer, map);
}

/// Attaches a constant input whose values vary along channel axes of output 0 as a member.
/// Returns false when the constant is channel-independent (scalar or broadcast over channels).
fn per_channel_const(st: &mut State, slot: usize, kind: MemberKind) -> bool {
    let Some(out) = node(st).output(0).and_then(|o| st.ids[o].clone()) else { return false };
    per_channel_const_of(st, slot, kind, &out)
}

/// [`per_channel_const`] against the given ids of output 0.
fn per_channel_const_of(st: &mut State, slot: usize, kind: MemberKind, out: &IdTensor) -> bool {
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
            let v = channel_vec(st, out, off + i, cshape[*i]);
            st.member(c, *i, kind, slots_of(&v));
            true
        }
        _ => {
            st.unprunable_all(out, "const_over_channels");
            true
        }
    }
}

// ---------------------------------------------------------------- stems

fn conv(st: &mut State, transpose: bool) {
    let n = node(st);
    let (Some(w), Some(o)) = (input(st, 1), n.output(0)) else { return unknown(st, "conv_without_weight") };
    let Some(ws) = static_shape(st, w).filter(|_| is_const(st, w)) else { return unknown(st, "dynamic_weight") };
    let rank = out_rank(st, 0).unwrap_or(ws.len());
    let group = n.attr_int("group").unwrap_or(1).max(1) as usize;
    let (cin, m) = if transpose { (ws[0], ws[1] * group) } else { (ws[1] * group, ws[0]) };
    let xin = input_ids(st, 0).map(|t| channel_vec(st, &t, 1, cin));
    let b = input(st, 2);
    let out_slots: Vec<Slot>;
    if group == 1 {
        if let Some(x) = &xin {
            st.exit(x);
            consumer(st, w, if transpose { 0 } else { 1 }, slots_of(x));
        }
        out_slots = stem_outputs(st, w, m);
        let map: Vec<ElemId> = out_slots.iter().map(|s| s.e).collect();
        st.member(w, if transpose { 1 } else { 0 }, MemberKind::Producer, map.clone());
        if let Some(b) = b {
            st.member(b, 0, MemberKind::Producer, map);
        }
    } else if !transpose && group == cin && m % cin == 0 && xin.is_some() {
        // depthwise (channel multiplier m / cin): an accessory of the input channels
        let x = xin.unwrap();
        let mult = m / cin;
        out_slots = (0..m).map(|i| Slot::z(x.slots[i / mult].e)).collect();
        let map: Vec<ElemId> = out_slots.iter().map(|s| s.e).collect();
        st.member(w, 0, MemberKind::Accessory, map.clone());
        if let Some(b) = b {
            st.member(b, 0, MemberKind::Accessory, map);
        }
    } else if !transpose && cin % group == 0 && m % group == 0 && xin.is_some() {
        // grouped conv: a row is a whole conv group (its input block and its output block)
        let x = xin.unwrap();
        out_slots = stem_outputs(st, w, m);
        let (cg, mg) = (cin / group, m / group);
        for blk in 0..group {
            let anchor = out_slots[blk * mg].e;
            for s in &out_slots[blk * mg..(blk + 1) * mg] {
                st.uf.union(anchor, s.e);
            }
            for s in &x.slots[blk * cg..(blk + 1) * cg] {
                st.uf.union(anchor, s.e);
            }
        }
        let map: Vec<ElemId> = out_slots.iter().map(|s| s.e).collect();
        st.member(w, 0, MemberKind::Producer, map.clone());
        if let Some(b) = b {
            st.member(b, 0, MemberKind::Producer, map);
        }
    } else {
        if let Some(x) = &xin {
            st.unprunable_all(x, "grouped_conv");
        }
        out_slots = stem_outputs(st, w, m);
        let t = IdTensor::along(rank, 1, out_slots.clone());
        st.unprunable_all(&t, "grouped_conv");
    }
    st.param(w);
    if let Some(b) = b {
        st.param(b);
    }
    st.ids[o] = Some(Rc::new(IdTensor::along(rank, 1, out_slots)));
}

fn gemm(st: &mut State) {
    let n = node(st);
    let Some(b) = input(st, 1).filter(|&b| is_const(st, b)) else { return activation_product(st) };
    let Some(bs) = static_shape(st, b).filter(|s| s.len() == 2) else { return unknown(st, "gemm_weight_rank") };
    let ta = n.attr_int("transA").unwrap_or(0) != 0;
    let tb = n.attr_int("transB").unwrap_or(0) != 0;
    let (k, nout) = if tb { (bs[1], bs[0]) } else { (bs[0], bs[1]) };
    if let Some(a) = input_ids(st, 0) {
        if ta || a.rank() != 2 {
            // transA, or an input that is not a plain [batch, k] matrix; the rank is unknown when
            // an upstream op left its output without a shape
            let reason = if ta {
                "gemm_transA"
            } else if input(st, 0).and_then(|x| st.g.value(x).rank()).is_none() {
                "unknown_rank"
            } else {
                "gemm_input_rank"
            };
            st.unprunable_all(&a, reason);
        } else {
            let x = channel_vec(st, &a, 1, k);
            st.exit(&x);
            consumer(st, b, if tb { 1 } else { 0 }, slots_of(&x));
        }
    }
    let outs = stem_outputs(st, b, nout);
    let map: Vec<ElemId> = outs.iter().map(|s| s.e).collect();
    st.member(b, if tb { 0 } else { 1 }, MemberKind::Producer, map.clone());
    let mut taint = 0;
    if let Some(c) = input(st, 2) {
        st.param(c);
        match static_shape(st, c) {
            Some(cs) if cs.last().copied() == Some(nout) && nout > 1 && cs.iter().rev().skip(1).all(|&d| d == 1) => {
                st.member(c, cs.len() - 1, MemberKind::Producer, map)
            }
            _ => {
                if st.g.const_f32(c).is_none_or(|v| v.iter().any(|&x| x != 0.0)) {
                    taint = taint_here(st);
                }
            }
        }
    }
    st.param(b);
    let t = IdTensor::along(2, 1, outs).with_taint(taint);
    set_out(st, 0, t);
}

fn matmul(st: &mut State) {
    let (Some(a), Some(b)) = (input(st, 0), input(st, 1)) else { return };
    let bshape = static_shape(st, b);
    if is_const(st, b) && bshape.as_ref().is_some_and(|s| s.len() == 2) {
        let bs = bshape.unwrap();
        let rank = out_rank(st, 0).unwrap_or(2);
        if let Some(at) = st.ids[a].clone() {
            let last = at.rank().saturating_sub(1);
            let x = channel_vec(st, &at, last, bs[0]);
            st.exit(&x);
            consumer(st, b, 0, slots_of(&x));
        }
        let outs = stem_outputs(st, b, bs[1]);
        st.member(b, 1, MemberKind::Producer, outs.iter().map(|s| s.e).collect());
        st.param(b);
        set_out(st, 0, IdTensor::along(rank, rank - 1, outs));
    } else if is_const(st, a) {
        unknown(st, "matmul_const_left")
    } else {
        activation_product(st)
    }
}

/// A product of two activations (attention scores, attention·V): channels mix across positions.
fn activation_product(st: &mut State) {
    unknown(st, "attention")
}

// ---------------------------------------------------------------- accessories

/// BatchNorm / InstanceNorm (`blocks == 1` per channel) and GroupNorm (`blocks` = num_groups):
/// the norm's scale and bias are in the row, so the output of a zeroed row is exactly zero.
fn channel_norm(st: &mut State, num_groups: usize) {
    let n = node(st);
    let Some(t) = input_ids(st, 0) else { return };
    let Some(c) = input(st, 0).and_then(|x| st.g.value(x).dim(1)).map(|c| c as usize) else {
        return unknown(st, "norm_unknown_channels");
    };
    let x = channel_vec(st, &t, 1, c);
    let is_gn = n.op == "GroupNormalization";
    if is_gn {
        if num_groups == 1 || c % num_groups != 0 {
            st.unprunable_all(&x, "layernorm_over_channels");
        } else {
            let bs = c / num_groups;
            for blk in 0..num_groups {
                for i in 1..bs {
                    st.uf.union(x.slots[blk * bs].e, x.slots[blk * bs + i].e);
                }
            }
        }
    }
    for slot in 1..n.inputs.len() {
        let Some(p) = input(st, slot) else { continue };
        let kind = if n.op == "BatchNormalization" && slot >= 3 { MemberKind::SliceOnly } else { MemberKind::Accessory };
        let ps = static_shape(st, p);
        let len = ps.as_ref().map(|s| s.iter().product::<usize>()).unwrap_or(0);
        let map: Vec<ElemId> = if len == c {
            slots_of(&x)
        } else if is_gn && len == num_groups && c % num_groups == 0 {
            (0..num_groups).map(|b| x.slots[b * (c / num_groups)].e).collect()
        } else {
            st.unprunable_all(&x, "norm_param_shape");
            continue;
        };
        if ps.is_some_and(|s| s.len() == 1) {
            st.member(p, 0, kind, map);
        } else {
            st.unprunable_all(&x, "norm_param_shape");
        }
    }
    let mut out = IdTensor::along(t.rank(), 1, x.slots).with_taint(0);
    out.chan[1] = true;
    set_out(st, 0, out);
}

fn layer_norm(st: &mut State) {
    let n = node(st);
    let Some(t) = input_ids(st, 0) else { return };
    let rank = t.rank();
    let Some(axis) = norm_axis(n.attr_int("axis").unwrap_or(-1), rank) else { return unknown(st, "bad_axis") };
    if (axis..rank).any(|a| t.chan[a]) {
        st.unprunable_all(&t, "layernorm_over_channels");
        set_out(st, 0, t);
        for slot in [1, 2] {
            if let Some(p) = input(st, slot) {
                st.param(p);
            }
        }
        per_channel_const(st, 1, MemberKind::Accessory);
        per_channel_const(st, 2, MemberKind::Accessory);
        return;
    }
    for slot in [1, 2] {
        if let Some(p) = input(st, slot) {
            st.param(p);
        }
    }
    let taint = if input(st, 2).is_some() { taint_here(st) } else { 0 };
    set_out(st, 0, Rc::unwrap_or_clone(t).with_taint(taint));
}

// ---------------------------------------------------------------- element-wise

fn elementwise(st: &mut State) {
    let n = node(st);
    let op = n.op.as_str();
    let Some(rank) = out_rank(st, 0) else { return };
    let slots: Vec<usize> = if op == "Where" { vec![1, 2] } else { (0..n.inputs.len()).collect() };
    let data: Vec<(usize, IdTensor)> =
        slots.iter().filter_map(|&s| input_ids(st, s).map(|t| (s, t.align(rank)))).collect();
    if data.is_empty() {
        return;
    }
    let out_chan: Vec<bool> = (0..rank).map(|a| data.iter().any(|(_, t)| t.chan[a])).collect();
    let full = |t: &IdTensor| (0..rank).all(|a| !out_chan[a] || t.chan[a]);
    let mut dims = vec![1; rank];
    for (_, t) in &data {
        for a in 0..rank {
            dims[a] = dims[a].max(t.dims[a]);
        }
    }
    // operands whose channel axes cover the output's (the others are partial)
    let covers: Vec<bool> = data.iter().map(|(_, t)| full(t)).collect();
    if !covers.contains(&true) {
        // operands carry channels on different axes: no per-channel correspondence to keep
        return unknown(st, "channel_axes_mismatch");
    }
    let covering_slot = |slot: usize| data.iter().zip(&covers).any(|((s, _), &c)| c && *s == slot);
    let partial = covers.iter().filter(|&&c| !c).count();
    let compare = matches!(op, "Equal" | "Less" | "Greater" | "LessOrEqual" | "GreaterOrEqual" | "Mod");
    let here = taint_here(st);
    let div_like = matches!(op, "Div" | "Pow" | "Mod");
    // denominators / exponents carrying the channel: zeroing the row divides by zero
    if div_like && covering_slot(1) {
        for (_, t) in &data {
            st.unprunable_all(t, &format!("not_zero_preserving:{}", n.name));
        }
    }
    let is_mul = op == "Mul";
    let numerator_ok = !div_like || covering_slot(0);
    let mut covering = data
        .into_iter()
        .zip(covers)
        .filter(|(_, c)| *c)
        .map(|((s, t), _)| (s, if t.dims == dims { t } else { t.expand(&dims) }));
    // the first covering operand is the output's starting point; the others are tied to it
    let (s0, mut out) = covering.next().unwrap();
    let rest: Vec<(usize, IdTensor)> = covering.collect();
    for i in 0..out.slots.len() {
        let z0 = out.slots[i].taint == 0;
        let counts0 = !(div_like && s0 != 0);
        let mut any_z = counts0 && z0;
        let mut all_z = !counts0 || z0;
        for (s, t) in &rest {
            st.uf.union(out.slots[i].e, t.slots[i].e);
            let z = t.slots[i].taint == 0;
            if !(div_like && *s != 0) {
                any_z |= z;
                all_z &= z;
            }
        }
        let zero = if is_mul {
            any_z
        } else if div_like {
            numerator_ok && all_z
        } else {
            all_z && partial == 0
        };
        out.slots[i].taint = if zero && !compare { 0 } else { here };
    }
    out.chan = out_chan;
    // non-data operands: constants (per-channel → members) and foreign data
    let mut taint_all = false;
    for &s in &slots {
        let Some(v) = input(st, s) else { continue };
        if st.ids[v].is_some() {
            continue;
        }
        let is_num = s == 0 || !matches!(op, "Div" | "Pow" | "Mod");
        if is_const(st, v) {
            let kind = match op {
                "Add" | "Sub" | "Mul" | "Sum" => MemberKind::Accessory,
                _ => MemberKind::SliceOnly,
            };
            let per_channel = per_channel_const_of(st, s, kind, &out);
            let all = |f: fn(f32) -> bool| st.g.const_f32(v).is_some_and(|d| d.iter().all(|&x| f(x)));
            taint_all |= match op {
                "Mul" => false,
                "Div" if s == 1 => false,
                "Pow" if s == 1 => !all(|x| x > 0.0),
                "Add" | "Sub" | "Sum" if per_channel => false,
                _ => !all(|x| x == 0.0),
            };
        } else if !(op == "Mul" || !is_num) {
            taint_all = true; // a foreign operand that does not vanish with the row
        }
    }
    if taint_all {
        out = out.with_taint(here);
    }
    set_out(st, 0, out);
}

// ---------------------------------------------------------------- index transforms

fn concat(st: &mut State) {
    let n = node(st);
    let Some(rank) = out_rank(st, 0) else { return };
    let Some(axis) = norm_axis(n.attr_int("axis").unwrap_or(0), rank) else { return };
    let parts: Vec<Option<IdTensor>> = (0..n.inputs.len()).map(|s| input_ids(st, s).map(|t| t.align(rank))).collect();
    if parts.iter().all(|p| p.is_none()) {
        return;
    }
    let channel_concat = parts.iter().flatten().any(|t| t.chan[axis]);
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
                    let mut e = t.expand(&d);
                    e.chan[axis] = true;
                    e
                }
                None => constant_channels(st, v, rank, axis, size),
            });
        }
        set_out(st, 0, IdTensor::concat(&full, axis));
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
        datas = datas.iter().map(|t| t.expand(&dims)).collect();
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

/// Channels that come from a constant (or channel-less data) input: all-zero constants are
/// zero channels; anything else is non-zero.
fn constant_channels(st: &mut State, v: ValueId, rank: usize, axis: usize, size: usize) -> IdTensor {
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

fn split(st: &mut State) {
    let n = node(st);
    let Some(t) = input_ids(st, 0) else { return };
    let Some(axis) = norm_axis(n.attr_int("axis").unwrap_or(0), t.rank()) else { return };
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

fn slice(st: &mut State) {
    let n = node(st);
    let Some(t) = input_ids(st, 0) else { return };
    let x = input(st, 0).unwrap();
    let Some(xs) = static_shape(st, x).or_else(|| Some(t.dims.clone())) else { return };
    let ints = |slot: usize, attr: &str| {
        if st.g.opset < 10 {
            n.attr_ints(attr)
        } else {
            input(st, slot).and_then(|v| st.g.const_i64(v))
        }
    };
    let (Some(starts), Some(ends)) = (ints(1, "starts"), ints(2, "ends")) else {
        if t.chan_axes().is_empty() {
            return set_out(st, 0, t);
        }
        return unknown(st, "split_on_channel_axis");
    };
    let axes: Vec<i64> = ints(3, "axes").unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps: Vec<i64> = if st.g.opset < 10 { vec![1; axes.len()] } else { ints(4, "").unwrap_or_else(|| vec![1; axes.len()]) };
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
        out = out.index(a, &idx);
    }
    set_out(st, 0, out);
}

fn gather(st: &mut State) {
    let n = node(st);
    let Some(t) = input_ids(st, 0) else { return };
    let Some(axis) = norm_axis(n.attr_int("axis").unwrap_or(0), t.rank()) else { return };
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

fn reshape(st: &mut State) {
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

fn expand(st: &mut State) {
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

fn pad(st: &mut State) {
    let n = node(st);
    let Some(t) = input_ids(st, 0) else { return };
    let rank = t.rank();
    let pads = n.attr_ints("pads").or_else(|| input(st, 1).and_then(|v| st.g.const_i64(v)));
    let Some(pads) = pads else { return unknown(st, "dynamic_pad") };
    let axes: Vec<usize> = match input(st, 3).and_then(|v| st.g.const_i64(v)) {
        Some(a) => a.iter().filter_map(|&a| norm_axis(a, rank)).collect(),
        None => (0..rank).collect(),
    };
    if pads.len() != 2 * axes.len() {
        return unknown(st, "bad_pad");
    }
    let mode = n.attr_string("mode").unwrap_or_else(|| "constant".into());
    let value = n.attr_float("value").or_else(|| const_scalar(st, 2)).unwrap_or(0.0);
    let mut out = IdTensor::clone(&t);
    let mut spatial_nonzero = false;
    for (k, &a) in axes.iter().enumerate() {
        let (b, e) = (pads[k], pads[k + axes.len()]);
        if b == 0 && e == 0 {
            continue;
        }
        if !t.chan[a] {
            spatial_nonzero |= mode == "constant" && value != 0.0;
            continue;
        }
        if mode != "constant" || b < 0 || e < 0 {
            st.unprunable_all(&t, "pad_on_channel_axis");
            return fresh_outputs(st, "pad_on_channel_axis");
        }
        let what = format!("padding channels of '{}'", n.name);
        let mut parts = vec![];
        for cnt in [b as usize, 0, e as usize] {
            if cnt == 0 {
                continue;
            }
            let s = st.fresh(Some(st.nid), &what, cnt);
            let mut p = IdTensor::along(rank, a, s);
            if value != 0.0 {
                p = p.with_taint(taint_here(st));
            }
            parts.push(p);
        }
        let before = if b > 0 { vec![parts.remove(0)] } else { vec![] };
        let mut all = before;
        all.push(out.clone());
        all.extend(parts);
        out = IdTensor::concat(&all, a);
    }
    if spatial_nonzero {
        out = out.with_taint(taint_here(st));
    }
    set_out(st, 0, out);
}

/// Pools and other ops that change spatial sizes (axes >= `from + 2`): channel ids living on
/// resized axes are merged into one row per remaining position.
fn spatial(st: &mut State, _from: usize) {
    let Some(t) = input_ids(st, 0) else { return };
    let (Some(x), Some(o)) = (input(st, 0), node(st).output(0)) else { return };
    let (is, os) = (st.g.shape(x).cloned().unwrap_or_default(), st.g.shape(o).cloned().unwrap_or_default());
    let mut out = Rc::unwrap_or_clone(t);
    for a in 2..out.rank() {
        let changed = is.get(a) != os.get(a) || os.get(a).is_none();
        if out.chan[a] && changed {
            out.tie_along(a, &mut st.uf);
            out = out.index(a, &[0]);
            out.chan[a] = false;
        }
    }
    set_out(st, 0, out);
}

fn resize(st: &mut State) {
    let Some(t) = input_ids(st, 0) else { return };
    let (Some(x), Some(o)) = (input(st, 0), node(st).output(0)) else { return };
    let (is, os) = (st.g.shape(x).cloned(), st.g.shape(o).cloned());
    if let (Some(is), Some(os)) = (is, os) {
        if t.rank() > 1 && t.chan[1] && is.get(1) != os.get(1) {
            return unknown(st, "resize_over_channels");
        }
    }
    spatial(st, 0)
}

/// Shared prologue of DepthToSpace/SpaceToDepth: the input rank, the block size, the channel
/// count and the input's channel vector (`None` after marking the op unknown, or without ids).
fn block_rearrange_input(st: &mut State) -> Option<(usize, usize, usize, IdTensor)> {
    let t = input_ids(st, 0)?;
    let b = node(st).attr_int("blocksize").unwrap_or(1).max(1) as usize;
    let Some(c) = input(st, 0).and_then(|x| st.g.value(x).dim(1)).map(|c| c as usize) else {
        unknown(st, "depth_to_space");
        return None;
    };
    let x = channel_vec(st, &t, 1, c);
    Some((t.rank(), b, c, x))
}

fn depth_to_space(st: &mut State) {
    let Some((rank, b, c, x)) = block_rearrange_input(st) else { return };
    let r2 = b * b;
    let co = c / r2;
    let crd = node(st).attr_string("mode").as_deref() == Some("CRD");
    let mut outs = vec![];
    for oc in 0..co {
        let src: Vec<usize> = (0..r2).map(|k| if crd { oc * r2 + k } else { k * co + oc }).collect();
        let mut taint = 0;
        for &s in &src {
            st.uf.union(x.slots[src[0]].e, x.slots[s].e);
            if x.slots[s].taint != 0 {
                taint = x.slots[s].taint;
            }
        }
        outs.push(Slot { e: x.slots[src[0]].e, taint });
    }
    set_out(st, 0, IdTensor::along(rank, 1, outs));
}

fn space_to_depth(st: &mut State) {
    let Some((rank, b, c, x)) = block_rearrange_input(st) else { return };
    let outs: Vec<Slot> = (0..b * b * c).map(|i| x.slots[i % c]).collect();
    set_out(st, 0, IdTensor::along(rank, 1, outs));
}

fn softmax(st: &mut State) {
    let n = node(st);
    let Some(t) = input_ids(st, 0) else { return };
    let default_axis = if st.g.opset >= 13 { -1 } else { 1 };
    let Some(axis) = norm_axis(n.attr_int("axis").unwrap_or(default_axis), t.rank()) else { return };
    let mixed = if st.g.opset >= 13 || n.op == "LpNormalization" { t.chan[axis] } else { (axis..t.rank()).any(|a| t.chan[a]) };
    if mixed {
        st.unprunable_all(&t, if n.op == "LpNormalization" { "reduce_over_channels" } else { "softmax_over_channels" });
    }
    let taint = taint_here(st);
    set_out(st, 0, Rc::unwrap_or_clone(t).with_taint(taint));
}

fn reduce(st: &mut State) {
    let n = node(st);
    let Some(t) = input_ids(st, 0) else { return };
    let rank = t.rank();
    let keep = n.attr_int("keepdims").unwrap_or(1) != 0;
    let axes = n.attr_ints("axes").or_else(|| input(st, 1).and_then(|v| st.g.const_i64(v)));
    let axes: Vec<usize> = match axes {
        Some(a) if !a.is_empty() => a.iter().filter_map(|&a| norm_axis(a, rank)).collect(),
        _ if n.attr_int("noop_with_empty_axes").unwrap_or(0) != 0 => vec![],
        _ => (0..rank).collect(),
    };
    if axes.iter().any(|&a| t.chan[a]) {
        // the channel space ends here; a summing reduction is exact (zeros add nothing)
        let reason = if SUMMING_REDUCE.contains(&n.op.as_str()) {
            st.exit(&t);
            "reduce_over_channels"
        } else {
            let ln = n.op == "ReduceMean" && is_layernorm_mean(st, input(st, 0).unwrap());
            let r = if ln { "layernorm_over_channels" } else { "reduce_over_channels" };
            st.unprunable_all(&t, r);
            r
        };
        let what = format!("{} '{}'", n.op, n.name);
        let s = st.fresh(Some(st.nid), &what, 1);
        st.unprunable(s[0].e, reason);
        let orank = out_rank(st, 0).unwrap_or(0);
        return set_out(st, 0, IdTensor::scalar(orank, s[0]));
    }
    let mut out = IdTensor::clone(&t);
    for &a in &axes {
        if out.dims[a] > 1 {
            out.tie_along(a, &mut st.uf);
            out = out.index(a, &[0]);
        }
        out.chan[a] = false;
    }
    if !keep {
        let dims: Vec<usize> = (0..rank).filter(|a| !axes.contains(a)).map(|a| out.dims[a]).collect();
        let chan: Vec<bool> = (0..rank).filter(|a| !axes.contains(a)).map(|a| out.chan[a]).collect();
        out = out.relabel(dims, chan);
    }
    let taint = if matches!(n.op.as_str(), "ReduceLogSumExp" | "ReduceLogSum") { taint_here(st) } else { 0 };
    set_out(st, 0, if taint != 0 { out.with_taint(taint) } else { out });
}

/// `x - ReduceMean(x)` over the channel axis: the decomposed form of a LayerNorm.
fn is_layernorm_mean(st: &State, x: ValueId) -> bool {
    let Some(o) = node(st).output(0) else { return false };
    st.g.value(o).consumers.iter().any(|&(c, _)| {
        let cn = &st.g.nodes[c];
        cn.op == "Sub" && cn.inputs.contains(&Some(x))
    })
}
