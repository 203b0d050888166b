//! `Gemm` and `MatMul`.
//!
//! ZIG rule: with a constant weight, a stem (like Conv): the contraction axis of the input is an
//! exit and a consumer slice of the weight, the weight's output axis and the bias are producer
//! slices of fresh rows. A product of two activations (attention scores, attention·V) prunes
//! head dims consistently across Q, K, V and the output projection ([`activation_product`]).
//! Cost: output elements × contraction length.
use super::{Attrs, OpParse, OpRule};
use crate::error::Result;
use crate::ir::{Graph, NodeId, Shape, ValueId};
use crate::shape::broadcast::broadcast;
use crate::shape::ctx::{out, InferCtx};
use crate::shape::OutInfo;
use crate::zig::ids::IdTensor;
use crate::zig::prop::{channel_vec, consumer, input, input_ids, is_const, node, out_rank, set_out, slots_of, static_shape, stem_outputs, taint_here, unknown};
use crate::zig::{ElemId, MemberKind, State};

/// Known dims of value `v` (a symbolic dim counts as 1: MACs are per sample).
pub(crate) fn known_dims(g: &Graph, v: Option<ValueId>) -> Option<Vec<u64>> {
    v.and_then(|v| g.shape(v)).map(|s| s.iter().map(|d| d.known().unwrap_or(1).max(0) as u64).collect())
}

#[derive(Clone, Debug, PartialEq)]
pub struct Gemm {
    pub alpha: f32,
    pub beta: f32,
    pub trans_a: bool,
    pub trans_b: bool,
}

impl OpParse for Gemm {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        if a.op_type != "Gemm" {
            return Ok(None);
        }
        Ok(Some(Gemm { alpha: a.float("alpha", 1.0)?, beta: a.float("beta", 1.0)?, trans_a: a.flag("transA")?, trans_b: a.flag("transB")? }))
    }
}

impl OpRule for Gemm {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        c.same_type(&[0, 1, 2])?;
        let (Some(a), Some(b)) = (c.shape(0), c.shape(1)) else { return Ok(vec![OutInfo::default()]) };
        if a.len() != 2 || b.len() != 2 {
            return Err(c.err(format!("Gemm needs rank-2 A and B, got ranks {} and {}", a.len(), b.len())));
        }
        let (m, ka) = if self.trans_a { (a[1].clone(), a[0].clone()) } else { (a[0].clone(), a[1].clone()) };
        let (kb, nn) = if self.trans_b { (b[1].clone(), b[0].clone()) } else { (b[0].clone(), b[1].clone()) };
        if let (Some(p), Some(q)) = (ka.known(), kb.known()) {
            if p != q {
                return Err(c.err(format!("inner dimensions differ: A has {p}, B has {q}")));
            }
        }
        Ok(vec![out(vec![m, nn], c.dtype(0))])
    }
    fn zig(&self, st: &mut State) {
        zig_gemm(self, st)
    }
    fn macs(&self, g: &Graph, nid: NodeId) -> u64 {
        let n = &g.nodes[nid];
        let (Some(y), Some(a)) = (known_dims(g, n.output(0)), known_dims(g, n.input(0))) else { return 0 };
        let (Some(&yl), Some(&a0), Some(&al)) = (y.last(), a.first(), a.last()) else { return 0 };
        yl * if self.trans_a { a0 } else { al }
    }
    fn mac_operands(&self) -> &'static [usize] {
        &[1]
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct MatMul;

impl OpParse for MatMul {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        Ok((a.op_type == "MatMul").then_some(MatMul))
    }
}

impl OpRule for MatMul {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        c.same_type(&[0, 1])?;
        let (Some(a), Some(b)) = (c.shape(0), c.shape(1)) else { return Ok(vec![OutInfo::default()]) };
        Ok(vec![out(matmul_shape(c, &a, &b)?, c.dtype(0))])
    }
    fn zig(&self, st: &mut State) {
        zig_matmul(st)
    }
    fn macs(&self, g: &Graph, nid: NodeId) -> u64 {
        let n = &g.nodes[nid];
        let (Some(y), Some(a)) = (known_dims(g, n.output(0)), known_dims(g, n.input(0))) else { return 0 };
        // the batch axis (symbolic → 1) counts once per sample
        y.iter().product::<u64>() * a.last().copied().unwrap_or(1)
    }
    fn mac_operands(&self) -> &'static [usize] {
        &[0, 1]
    }
}

fn matmul_shape(c: &InferCtx, a: &Shape, b: &Shape) -> Result<Shape> {
    if a.is_empty() || b.is_empty() {
        return Err(c.err("MatMul operands must have rank >= 1"));
    }
    let k1 = crate::ir::Dim::Known(1);
    let a2 = if a.len() == 1 { vec![k1.clone(), a[0].clone()] } else { a.clone() };
    let b2 = if b.len() == 1 { vec![b[0].clone(), k1] } else { b.clone() };
    let (ka, kb) = (&a2[a2.len() - 1], &b2[b2.len() - 2]);
    if let (Some(p), Some(q)) = (ka.known(), kb.known()) {
        if p != q {
            return Err(c.err(format!("inner dimensions differ: {p} vs {q}")));
        }
    }
    let ba: Shape = a2[..a2.len() - 2].to_vec();
    let bb: Shape = b2[..b2.len() - 2].to_vec();
    let mut o = broadcast(&[&ba, &bb]).map_err(|e| c.err(e))?;
    if a.len() > 1 {
        o.push(a2[a2.len() - 2].clone());
    }
    if b.len() > 1 {
        o.push(b2[b2.len() - 1].clone());
    }
    Ok(o)
}

fn zig_gemm(gm: &Gemm, st: &mut State) {
    let Some(b) = input(st, 1).filter(|&b| is_const(st, b)) else { return activation_product(st) };
    let Some(bs) = static_shape(st, b).filter(|s| s.len() == 2) else { return unknown(st, "gemm_weight_rank") };
    let (ta, tb) = (gm.trans_a, gm.trans_b);
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
            let Some(x) = channel_vec(st, &a, 1, k) else { return unknown(st, "too_large_to_track") };
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

fn zig_matmul(st: &mut State) {
    let (Some(a), Some(b)) = (input(st, 0), input(st, 1)) else { return };
    let bshape = static_shape(st, b);
    if is_const(st, b) && bshape.as_ref().is_some_and(|s| s.len() == 2) {
        let bs = bshape.unwrap();
        // without the output's rank the channel axis is unknown: nothing can be promised
        let Some(rank) = out_rank(st, 0) else { return unknown(st, "unknown_rank") };
        if let Some(at) = st.ids[a].clone() {
            let last = at.rank().saturating_sub(1);
            let Some(x) = channel_vec(st, &at, last, bs[0]) else { return unknown(st, "too_large_to_track") };
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

/// A product of two activations `Y[.., m, n] = Σ_k A[.., m, k] · B[.., k, n]` (attention).
///
/// * contraction (`Q·Kᵀ` over the head dim): a zero row of either operand removes its term, so
///   A's and B's elements at the same (batch, k) are one row, exited (no channel in `Y`);
/// * pass-through (`attn·V`): B's channels on `n` are Y's, zero exactly when B's are;
/// * batch axes with channels (heads): tied along the axis, so a row is one head dim in every
///   head and the head count (shared with the other operand) never changes;
/// * anything else (channels on `m`, a contraction with channels on one side only, B with
///   channels on both `k` and `n`) is unprunable (`attention`).
///
/// Y's channels that no operand explains are fresh and unprunable (scores: `attention`).
fn activation_product(st: &mut State) {
    let Some(rank) = out_rank(st, 0).filter(|&r| r >= 2) else { return unknown(st, "attention") };
    if (0..2).any(|s| input(st, s).and_then(|v| st.g.value(v).rank()).is_none_or(|r| r < 2)) {
        return unknown(st, "attention");
    }
    let (m, k) = (rank - 2, rank - 1);
    let a = input_ids(st, 0).map(|t| t.align(rank));
    let b = input_ids(st, 1).map(|t| t.align(rank));
    let chan = |t: &Option<IdTensor>, ax: usize| t.as_ref().is_some_and(|t| t.chan[ax] && t.dims[ax] > 1);
    let (a_k, b_k, b_n) = (chan(&a, k), chan(&b, m), chan(&b, k));
    let k_len = |t: &Option<IdTensor>, ax: usize| t.as_ref().map(|t| t.dims[ax]);
    if chan(&a, m) || a_k != b_k || (b_k && b_n) || (a_k && k_len(&a, k) != k_len(&b, m)) {
        return unknown(st, "attention");
    }
    for (t, covered) in [(&a, a_k), (&b, b_k || b_n)] {
        let Some(t) = t else { continue };
        for ax in 0..m {
            if t.chan[ax] {
                t.tie_along(ax, &mut st.uf);
            }
        }
        if !covered {
            // channels on batch axes only: their rows cannot leave one operand alone
            st.unprunable_all(t, "attention");
        }
    }
    if let (true, Some(ta), Some(tb)) = (a_k, &a, &b) {
        contract(st, ta, tb);
        st.exit(ta);
        st.exit(tb);
    }
    match b.filter(|_| b_n) {
        // B's k axis (no channels) becomes Y's m axis; a zero column of B is a zero column of Y
        Some(mut y) if y.dims[m] == 1 => {
            y.chan[m] = false;
            set_out(st, 0, y)
        }
        Some(_) => unknown(st, "attention"),
        None => {
            // scores: no channel of Y is an operand's (fresh, unprunable, on no axis)
            let what = format!("{} '{}'", node(st).op_type, node(st).name);
            let s = st.fresh(Some(st.nid), &what, 1);
            let t = IdTensor::scalar(rank, s[0]);
            st.unprunable_all(&t, "attention");
            set_out(st, 0, t)
        }
    }
}

/// Ties A's element at (batch, ·, k) with B's at (batch, k, ·) for every batch index and k.
fn contract(st: &mut State, ta: &IdTensor, tb: &IdTensor) {
    let rank = ta.rank();
    let (m, k) = (rank - 2, rank - 1);
    let kk = ta.dims[k].max(tb.dims[m]);
    let bd: Vec<usize> = (0..m).map(|ax| ta.dims[ax].max(tb.dims[ax])).collect();
    let (mut da, mut db) = (bd.clone(), bd);
    da.extend([1, kk]);
    db.extend([kk, 1]);
    // one position along A's m and B's n (no channels there); same flat order (batch…, k)
    let (Some(ea), Some(eb)) = (ta.index(m, &[0]).expand(&da), tb.index(k, &[0]).expand(&db)) else {
        // operands that do not broadcast together (an inconsistent graph): not followed
        st.unprunable_all(ta, "channel_axes_mismatch");
        st.unprunable_all(tb, "channel_axes_mismatch");
        return;
    };
    for (x, y) in ea.slots.iter().zip(&eb.slots) {
        st.uf.union(x.e, y.e);
    }
}
