//! Normalisations: `BatchNormalization`, `InstanceNormalization`, `GroupNormalization`,
//! `LayerNormalization`.
//!
//! ZIG rule: Batch/Instance norm are accessories of their channel rows (scale and bias are in the
//! row; running statistics are sliced only), so a zeroed row's output is exactly zero. A group
//! norm ties each normalisation group into one row. A layer norm over the channel axis mixes
//! channels (`layernorm_over_channels`). Slice rule: a group norm's `num_groups` follows the kept
//! channels.
use super::{Attrs, OpParse, OpRule};
use crate::compress::rewrite::Rewriter;
use crate::error::Result;
use crate::ir::NodeId;
use crate::shape::ctx::same;
use crate::shape::fold::norm_axis;
use crate::shape::{InferCtx, OutInfo};
use crate::zig::ids::IdTensor;
use crate::zig::prop::{channel_vec, input, input_ids, node, per_channel_const, set_out, slots_of, static_shape, taint_here, unknown};
use crate::zig::{ElemId, MemberKind, State};
use std::rc::Rc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NormKind {
    Batch,
    Instance,
    Group,
    Layer,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Norm {
    pub kind: NormKind,
    /// Default 1e-5.
    pub epsilon: f32,
    /// BatchNormalization running-stat momentum (default 0.9).
    pub momentum: f32,
    /// BatchNormalization `training_mode` attribute (opset ≥ 14).
    pub training_mode: bool,
    /// BatchNormalization `is_test` (opsets < 7; always true from opset 7).
    pub is_test: bool,
    /// GroupNormalization `num_groups`.
    pub num_groups: i64,
    /// LayerNormalization first normalised axis (default -1).
    pub axis: i64,
}

impl OpParse for Norm {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        let kind = match a.op_type {
            "BatchNormalization" => NormKind::Batch,
            "InstanceNormalization" => NormKind::Instance,
            "GroupNormalization" => NormKind::Group,
            "LayerNormalization" => NormKind::Layer,
            _ => return Ok(None),
        };
        let training_mode = kind == NormKind::Batch && a.flag("training_mode")?;
        let is_test = a.opset >= 7 || a.flag("is_test")?;
        let num_groups = if kind == NormKind::Group {
            a.int_opt("num_groups")?.ok_or_else(|| a.err("num_groups", "is required"))?
        } else {
            1
        };
        if num_groups < 1 {
            return Err(a.err("num_groups", format!("must be >= 1, got {num_groups}")));
        }
        Ok(Some(Norm {
            kind,
            epsilon: a.float("epsilon", 1e-5)?,
            momentum: a.float("momentum", 0.9)?,
            training_mode,
            is_test,
            num_groups,
            axis: a.int("axis", -1)?,
        }))
    }
}

impl OpRule for Norm {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        let x = c.shape(0);
        let dt = c.dtype(0);
        let mut outs = vec![same(x.clone(), dt)];
        if self.kind == NormKind::Batch && c.n_outputs() > 1 {
            // running mean / var (and the saved statistics of opsets < 14): one value per channel
            let ch = x.as_ref().and_then(|s| s.get(1).cloned()).map(|d| vec![d]);
            outs.extend((1..c.n_outputs()).map(|_| same(ch.clone(), dt)));
        }
        Ok(outs)
    }
    fn zig(&self, st: &mut State) {
        match self.kind {
            NormKind::Batch | NormKind::Instance => zig_channel_norm(self, st, 1),
            NormKind::Group => zig_channel_norm(self, st, self.num_groups.max(1) as usize),
            NormKind::Layer => zig_layer_norm(self, st),
        }
    }
    fn slice(&self, rw: &mut Rewriter, nid: NodeId) -> Result<()> {
        if self.kind != NormKind::Group {
            return Ok(());
        }
        if let Some(k) = rw.kept(rw.g.nodes[nid].input(0), 1) {
            let bs = (k.len() as i64 / self.num_groups).max(1);
            let kc = k.iter().filter(|&&x| x).count() as i64;
            rw.set_attr_int(nid, "num_groups", kc / bs)?;
        }
        Ok(())
    }
}

/// BatchNorm / InstanceNorm (`blocks == 1` per channel) and GroupNorm (`blocks` = num_groups):
/// the norm's scale and bias are in the row, so the output of a zeroed row is exactly zero.
fn zig_channel_norm(nm: &Norm, st: &mut State, num_groups: usize) {
    let n = node(st);
    let Some(t) = input_ids(st, 0) else { return };
    let Some(c) = input(st, 0).and_then(|x| st.g.value(x).dim(1)).map(|c| c as usize) else {
        return unknown(st, "norm_unknown_channels");
    };
    let Some(x) = channel_vec(st, &t, 1, c) else { return unknown(st, "too_large_to_track") };
    let is_gn = nm.kind == NormKind::Group;
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
        let kind = if nm.kind == NormKind::Batch && slot >= 3 { MemberKind::SliceOnly } else { MemberKind::Accessory };
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

fn zig_layer_norm(nm: &Norm, st: &mut State) {
    let Some(t) = input_ids(st, 0) else { return };
    let rank = t.rank();
    let Some(axis) = norm_axis(nm.axis, rank) else { return unknown(st, "bad_axis") };
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

