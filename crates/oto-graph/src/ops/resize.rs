//! Spatial resampling: `Resize`, `Upsample`, `DepthToSpace` (PixelShuffle), `SpaceToDepth`.
//!
//! ZIG rule: Resize/Upsample work per channel (like pooling); resizing the channel axis is
//! unprunable. DepthToSpace ties the b² input channels of each output channel into one row;
//! SpaceToDepth repeats each input row b² times. Slice rule: a Resize `sizes` entry on a channel
//! axis becomes the kept count.
use super::pool::zig_spatial;
use super::{Attrs, OpParse, OpRule};
use crate::compress::rewrite::Rewriter;
use crate::error::Result;
use crate::ir::{Dim, NodeId};
use crate::shape::ctx::out;
use crate::shape::fold::norm_axis;
use crate::shape::{InferCtx, OutInfo};
use crate::zig::ids::{IdTensor, Slot};
use crate::compress::rewrite::ints_writable_at;
use crate::ir::ValueId;
use crate::zig::prop::{channel_vec, cut_axes, follows_itself, input, input_ids, node, set_out, unknown};
use crate::zig::State;

#[derive(Clone, Debug, PartialEq)]
pub struct Resize {
    /// The op is `Upsample` (scales from input 1 or, before opset 9, the `scales` attribute).
    pub upsample: bool,
    /// "nearest", "linear" (also "bilinear" in Upsample-7), "cubic".
    pub mode: String,
    /// Default "half_pixel"; "asymmetric" for Upsample and Resize-10, which have no such
    /// attribute.
    pub coordinate_transformation_mode: String,
    /// Default "round_prefer_floor"; "floor" for Upsample and Resize-10.
    pub nearest_mode: String,
    pub cubic_coeff_a: f32,
    pub exclude_outside: bool,
    pub extrapolation_value: f32,
    /// Opset ≥ 18: the axes `scales`/`sizes` apply to.
    pub axes: Option<Vec<i64>>,
    /// Upsample before opset 9.
    pub scales_attr: Option<Vec<f32>>,
    /// Opset ≥ 18: resample with an antialiasing filter when downscaling.
    pub antialias: bool,
    /// Opset ≥ 18: "stretch" (default), "not_larger" or "not_smaller".
    pub keep_aspect_ratio_policy: String,
    /// Opset of the model (the input slots moved at opset 11).
    pub opset: i64,
}

impl Resize {
    /// Input slot of `scales`: 1 for Upsample and Resize-10, 2 from Resize-11 (after `roi`).
    pub fn scales_slot(&self) -> usize {
        if self.upsample || self.opset < 11 {
            1
        } else {
            2
        }
    }
    /// Input slot of `sizes` (Resize-11 and later).
    pub fn sizes_slot(&self) -> Option<usize> {
        (!self.upsample && self.opset >= 11).then_some(3)
    }
}

impl OpParse for Resize {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        let upsample = match a.op_type {
            "Resize" => false,
            "Upsample" => true,
            _ => return Ok(None),
        };
        let legacy = upsample || a.opset < 11;
        Ok(Some(Resize {
            upsample,
            mode: a.choice("mode", "nearest", &["nearest", "linear", "bilinear", "cubic"])?,
            coordinate_transformation_mode: a
                .string("coordinate_transformation_mode", if legacy { "asymmetric" } else { "half_pixel" })?,
            nearest_mode: a.string("nearest_mode", if legacy { "floor" } else { "round_prefer_floor" })?,
            cubic_coeff_a: a.float("cubic_coeff_a", -0.75)?,
            exclude_outside: a.flag("exclude_outside")?,
            extrapolation_value: a.float("extrapolation_value", 0.0)?,
            axes: a.ints_opt("axes")?,
            scales_attr: a.floats_opt("scales")?,
            antialias: a.flag("antialias")?,
            keep_aspect_ratio_policy: a.string("keep_aspect_ratio_policy", "stretch")?,
            opset: a.opset,
        }))
    }
}

impl OpRule for Resize {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        Ok(vec![infer_resize(self, c)])
    }
    fn zig(&self, st: &mut State) {
        zig_resize(st)
    }
    fn slice(&self, rw: &mut Rewriter, nid: NodeId) -> Result<()> {
        let Some(slot) = self.sizes_slot() else { return Ok(()) };
        let Some(sizes) = rw.arg_dims(nid, &crate::ops::IntsArg::Input(slot)).filter(|s| !s.is_empty()) else { return Ok(()) };
        let o = rw.g.nodes[nid].output(0);
        let Some(r) = o.and_then(|o| rw.g.value(o).rank()) else { return Ok(()) };
        let axes: Vec<usize> = match &self.axes {
            Some(a) => a.iter().filter_map(|&a| norm_axis(a, r)).collect(),
            None => (0..r).collect(),
        };
        let mut changes = vec![];
        for (i, &ax) in axes.iter().enumerate().take(sizes.len()) {
            changes.extend(rw.kept_count(nid, Some(slot), i, o, ax).map(|c| (i, c)));
        }
        if !changes.is_empty() {
            rw.set_ints_at(nid, slot, &changes, "sizes")?;
        }
        Ok(())
    }
    fn unsliceable(&self, st: &State) -> Vec<(ValueId, String)> {
        let n = node(st);
        let (Some(v), Some(o)) = (self.sizes_slot().and_then(|s| n.input(s)), n.output(0)) else { return vec![] };
        let Some(r) = st.g.value(o).rank() else { return vec![] };
        let axes: Vec<usize> = match &self.axes {
            Some(a) => a.iter().filter_map(|&a| norm_axis(a, r)).collect(),
            None => (0..r).collect(),
        };
        let cut = cut_axes(st, Some(o));
        let pos: Vec<usize> =
            axes.iter().enumerate().filter(|(i, ax)| cut.contains(ax) && !follows_itself(st, v, *i, o, **ax)).map(|(i, _)| i).collect();
        if pos.is_empty() || st.g.value(v).dim(0) == Some(0) || ints_writable_at(st.g, v, &pos) {
            return vec![];
        }
        vec![(o, "resize_sizes_computed".into())]
    }
}

/// `DepthToSpace` (mode DCR, or CRD as in PyTorch's PixelShuffle).
#[derive(Clone, Debug, PartialEq)]
pub struct DepthToSpace {
    pub blocksize: i64,
    pub crd: bool,
}

impl OpParse for DepthToSpace {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        if a.op_type != "DepthToSpace" {
            return Ok(None);
        }
        let blocksize = a.int_opt("blocksize")?.ok_or_else(|| a.err("blocksize", "is required"))?;
        if blocksize < 1 {
            return Err(a.err("blocksize", format!("must be >= 1, got {blocksize}")));
        }
        Ok(Some(DepthToSpace { blocksize, crd: a.choice("mode", "DCR", &["DCR", "CRD"])? == "CRD" }))
    }
}

impl OpRule for DepthToSpace {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        infer_block(c, self.blocksize, true)
    }
    fn zig(&self, st: &mut State) {
        zig_depth_to_space(self, st)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct SpaceToDepth {
    pub blocksize: i64,
}

impl OpParse for SpaceToDepth {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        if a.op_type != "SpaceToDepth" {
            return Ok(None);
        }
        let blocksize = a.int_opt("blocksize")?.ok_or_else(|| a.err("blocksize", "is required"))?;
        if blocksize < 1 {
            return Err(a.err("blocksize", format!("must be >= 1, got {blocksize}")));
        }
        Ok(Some(SpaceToDepth { blocksize }))
    }
}

impl OpRule for SpaceToDepth {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        infer_block(c, self.blocksize, false)
    }
    fn zig(&self, st: &mut State) {
        zig_space_to_depth(self, st)
    }
}

fn mulk(d: &Dim, mul: i64, div: i64) -> Dim {
    match d {
        Dim::Known(v) => Dim::Known(v * mul / div),
        Dim::Sym(s) => Dim::Sym(format!("{s}*{mul}/{div}")),
    }
}

fn infer_block(c: &InferCtx, b: i64, to_space: bool) -> Result<Vec<OutInfo>> {
    let Some(s) = c.shape(0) else { return Ok(vec![OutInfo::default()]) };
    if s.len() != 4 {
        return Err(c.err("expects a rank-4 input"));
    }
    let o = if to_space {
        if let Some(ch) = s[1].known() {
            if ch % (b * b) != 0 {
                return Err(c.err(format!("{ch} channels are not divisible by blocksize² = {}", b * b)));
            }
        }
        vec![s[0].clone(), mulk(&s[1], 1, b * b), mulk(&s[2], b, 1), mulk(&s[3], b, 1)]
    } else {
        vec![s[0].clone(), mulk(&s[1], b * b, 1), mulk(&s[2], 1, b), mulk(&s[3], 1, b)]
    };
    Ok(vec![out(o, c.dtype(0))])
}

fn infer_resize(r: &Resize, c: &InferCtx) -> OutInfo {
    let n = c.node();
    let dt = c.dtype(0);
    let Some(s) = c.shape(0) else { return OutInfo::default() };
    let scales_slot = r.scales_slot();
    if !r.upsample && c.g.opset >= 11 {
        // sizes entry by entry (a dynamic batch read from a shape is a symbol)
        if let Some(sizes) = c.folded(3).filter(|v| !v.is_empty()) {
            let mut o = s.clone();
            match &r.axes {
                Some(ax) => {
                    for (k, a) in ax.iter().enumerate() {
                        if let (Some(a), Some(d)) = (norm_axis(*a, s.len()), sizes.get(k)) {
                            o[a] = d.clone();
                        }
                    }
                }
                None => o = sizes,
            }
            return out(o, dt);
        }
    }
    let scales = r.scales_attr.clone().or_else(|| c.floats(scales_slot)).filter(|v| !v.is_empty());
    let Some(scales) = scales else { return OutInfo::default() };
    let axes: Vec<usize> = match &r.axes {
        Some(a) => a.iter().filter_map(|&a| norm_axis(a, s.len())).collect(),
        None => (0..s.len()).collect(),
    };
    let mut o = s.clone();
    for (k, &a) in axes.iter().enumerate() {
        let sc = scales.get(k).copied().unwrap_or(1.0);
        o[a] = match &s[a] {
            Dim::Known(v) => Dim::Known(((*v as f64) * sc as f64).floor() as i64),
            d if sc == 1.0 => d.clone(),
            _ => Dim::Sym(format!("{}_rs{a}", n.name)),
        };
    }
    out(o, dt)
}

fn zig_resize(st: &mut State) {
    let Some(t) = input_ids(st, 0) else { return };
    let (Some(x), Some(o)) = (input(st, 0), node(st).output(0)) else { return };
    let (is, os) = (st.g.shape(x).cloned(), st.g.shape(o).cloned());
    if let (Some(is), Some(os)) = (is, os) {
        if t.rank() > 1 && t.chan[1] && is.get(1) != os.get(1) {
            return unknown(st, "resize_over_channels");
        }
    }
    zig_spatial(st)
}

/// Shared prologue of DepthToSpace/SpaceToDepth: the input rank, the block size, the channel
/// count and the input's channel vector (`None` after marking the op unknown, or without ids).
fn block_rearrange_input(st: &mut State, blocksize: i64) -> Option<(usize, usize, usize, IdTensor)> {
    let t = input_ids(st, 0)?;
    let b = blocksize.max(1) as usize;
    let Some(c) = input(st, 0).and_then(|x| st.g.value(x).dim(1)).map(|c| c as usize) else {
        unknown(st, "depth_to_space");
        return None;
    };
    let Some(x) = channel_vec(st, &t, 1, c) else {
        unknown(st, "too_large_to_track");
        return None;
    };
    Some((t.rank(), b, c, x))
}

fn zig_depth_to_space(d: &DepthToSpace, st: &mut State) {
    let Some((rank, b, c, x)) = block_rearrange_input(st, d.blocksize) else { return };
    let r2 = b * b;
    let co = c / r2;
    let crd = d.crd;
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

fn zig_space_to_depth(d: &SpaceToDepth, st: &mut State) {
    let Some((rank, b, c, x)) = block_rearrange_input(st, d.blocksize) else { return };
    let outs: Vec<Slot> = (0..b * b * c).map(|i| x.slots[i % c]).collect();
    set_out(st, 0, IdTensor::along(rank, 1, outs));
}

