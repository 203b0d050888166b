//! Broadcasting element-wise ops with two or more inputs: arithmetic (`Add`, `Mul`, `Div`, ...),
//! variadic (`Sum`, `Mean`, `Max`, `Min`), comparisons, logic and `Where`.
//!
//! ZIG rule: operands that carry the output's channel axes are tied position by position (one
//! row); whether a removed row's output is exactly zero depends on the op (a product is zero when
//! any factor is, a sum only when all terms are; a divisor or exponent that carries the channel
//! makes the row unprunable). Per-channel constants are accessories (Add/Sub/Mul/Sum) or
//! sliced-only (the others).
use super::{Attrs, OpParse, OpRule};
use crate::error::Result;
use crate::shape::broadcast::broadcast;
use crate::shape::fold::{binary, select};
use crate::shape::{InferCtx, OutInfo};
use crate::zig::ids::IdTensor;
use crate::zig::prop::{input, input_ids, is_const, node, out_rank, per_channel_const_of, set_out, taint_here, unknown};
use crate::zig::{MemberKind, State};
use oto_onnx::tensor::BOOL;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryKind {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Max,
    Min,
    Sum,
    Mean,
    Equal,
    Less,
    Greater,
    LessOrEqual,
    GreaterOrEqual,
    And,
    Or,
    Xor,
    Mod,
    BitShift,
    Where,
}

use BinaryKind as B;

const KINDS: &[(&str, BinaryKind)] = &[
    ("Add", B::Add),
    ("Sub", B::Sub),
    ("Mul", B::Mul),
    ("Div", B::Div),
    ("Pow", B::Pow),
    ("Max", B::Max),
    ("Min", B::Min),
    ("Sum", B::Sum),
    ("Mean", B::Mean),
    ("Equal", B::Equal),
    ("Less", B::Less),
    ("Greater", B::Greater),
    ("LessOrEqual", B::LessOrEqual),
    ("GreaterOrEqual", B::GreaterOrEqual),
    ("And", B::And),
    ("Or", B::Or),
    ("Xor", B::Xor),
    ("Mod", B::Mod),
    ("BitShift", B::BitShift),
    ("Where", B::Where),
];

impl BinaryKind {
    /// The result is boolean.
    pub fn is_comparison(self) -> bool {
        matches!(self, B::Equal | B::Less | B::Greater | B::LessOrEqual | B::GreaterOrEqual | B::And | B::Or | B::Xor)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Binary {
    pub kind: BinaryKind,
    /// `Mod`: C-style fmod (1) or Python-style (0).
    pub fmod: bool,
    /// `BitShift`: `direction == "RIGHT"`.
    pub shift_right: bool,
}

impl OpParse for Binary {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        let Some(&(_, kind)) = KINDS.iter().find(|(n, _)| *n == a.op_type) else { return Ok(None) };
        let fmod = kind == B::Mod && a.flag("fmod")?;
        let shift_right = kind == B::BitShift && a.choice("direction", "LEFT", &["LEFT", "RIGHT"])? == "RIGHT";
        Ok(Some(Binary { kind, fmod, shift_right }))
    }
}

impl OpRule for Binary {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        let n = c.node();
        let shapes: Vec<_> = (0..n.inputs.len()).filter_map(|i| c.shape(i)).collect();
        if shapes.len() < n.inputs.iter().flatten().count() {
            return Ok(vec![OutInfo::default()]);
        }
        let refs: Vec<_> = shapes.iter().collect();
        let s = broadcast(&refs).map_err(|e| c.err(e))?;
        let dtype = match self.kind {
            k if k.is_comparison() => BOOL,
            B::Where => c.dtype(1),
            _ => c.dtype(0),
        };
        let folded = match (c.folded(0), c.folded(1), c.folded(2)) {
            (Some(a), Some(b), None) if n.inputs.len() == 2 => binary(self.kind, &a, &b),
            (Some(w), Some(a), Some(b)) if self.kind == B::Where => select(&w, &a, &b),
            _ => None,
        };
        Ok(vec![OutInfo { shape: Some(s), dtype, folded }])
    }
    fn zig(&self, st: &mut State) {
        match self.kind {
            B::And | B::Or | B::Xor | B::BitShift => {
                let reason = format!("unknown_op:{}", node(st).op_type);
                unknown(st, &reason)
            }
            k => zig_elementwise(k, st),
        }
    }
}

fn zig_elementwise(op: BinaryKind, st: &mut State) {
    let n = node(st);
    let Some(rank) = out_rank(st, 0) else { return };
    let slots: Vec<usize> = if op == B::Where { vec![1, 2] } else { (0..n.inputs.len()).collect() };
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
    let compare = matches!(op, B::Equal | B::Less | B::Greater | B::LessOrEqual | B::GreaterOrEqual | B::Mod);
    let here = taint_here(st);
    let div_like = matches!(op, B::Div | B::Pow | B::Mod);
    // denominators / exponents carrying the channel: zeroing the row divides by zero
    if div_like && covering_slot(1) {
        for (_, t) in &data {
            st.unprunable_all(t, &format!("not_zero_preserving:{}", n.name));
        }
    }
    let is_mul = op == B::Mul;
    let numerator_ok = !div_like || covering_slot(0);
    // operands with channels on fewer axes (a per-channel branch added to a stream whose ids
    // also vary spatially) are cut with the output on those axes: each of their rows is tied to
    // every output position it reaches (one without channels, e.g. a mean, is only broadcast)
    let partials: Vec<IdTensor> = data
        .iter()
        .zip(&covers)
        .filter(|((_, t), c)| !**c && t.chan.iter().zip(&t.dims).any(|(&ch, &d)| ch && d > 1))
        .map(|((_, t), _)| t.clone())
        .collect();
    // every operand's ids must broadcast to the output's (an inconsistent graph: not followed)
    if data.iter().any(|(_, t)| t.rank() != rank || (0..rank).any(|a| t.dims[a] != 1 && t.dims[a] != dims[a])) {
        return unknown(st, "channel_axes_mismatch");
    }
    let covering: Option<Vec<(usize, IdTensor)>> =
        data.into_iter().zip(covers).filter(|(_, c)| *c).map(|((s, t), _)| Some((s, t.expand(&dims)?))).collect();
    let partials: Option<Vec<IdTensor>> = partials.iter().map(|t| t.expand(&dims)).collect();
    let (Some(covering), Some(partials)) = (covering, partials) else { return unknown(st, "too_large_to_track") };
    let mut covering = covering.into_iter();
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
    for t in &partials {
        for (o, p) in out.slots.iter().zip(&t.slots) {
            st.uf.union(o.e, p.e);
        }
    }
    out.chan = out_chan;
    // non-data operands: constants (per-channel → members) and foreign data
    let mut taint_all = false;
    for &s in &slots {
        let Some(v) = input(st, s) else { continue };
        if st.ids[v].is_some() {
            continue;
        }
        let is_num = s == 0 || !matches!(op, B::Div | B::Pow | B::Mod);
        if is_const(st, v) {
            let kind = match op {
                B::Add | B::Sub | B::Mul | B::Sum => MemberKind::Accessory,
                _ => MemberKind::SliceOnly,
            };
            let per_channel = per_channel_const_of(st, s, kind, &out);
            let all = |f: fn(f32) -> bool| st.g.const_f32(v).is_some_and(|d| d.iter().all(|&x| f(x)));
            taint_all |= match op {
                B::Mul => false,
                B::Div if s == 1 => false,
                B::Pow if s == 1 => !all(|x| x > 0.0),
                B::Add | B::Sub | B::Sum if per_channel => false,
                _ => !all(|x| x == 0.0),
            };
        } else if !(op == B::Mul || !is_num) {
            taint_all = true; // a foreign operand that does not vanish with the row
        }
    }
    if taint_all {
        out = out.with_taint(here);
    }
    if slots.iter().any(|&s| materialised(st, s, &out)) {
        st.unprunable_all(&out, "broadcast_materialized");
    }
    set_out(st, 0, out);
}

/// Operand `slot` is materialised to the full size of a channel axis of `out` without carrying
/// its channels (`norm.expand_as(q)` in Swin V2's cosine attention): it cannot follow the cut.
fn materialised(st: &State, slot: usize, out: &IdTensor) -> bool {
    let rank = out.rank();
    let Some(v) = input(st, slot).filter(|&v| !is_const(st, v)) else { return false };
    let t = st.ids[v].as_ref().map(|t| t.align(rank));
    let shape = st.g.value(v).shape.as_ref();
    let off = rank.saturating_sub(shape.map_or(0, |s| s.len()));
    (off..rank).any(|a| {
        let full = shape.and_then(|sh| sh.get(a - off)).is_none_or(|d| d.known() != Some(1));
        out.chan[a] && out.dims[a] > 1 && full && !t.as_ref().is_some_and(|t| t.chan[a])
    })
}

