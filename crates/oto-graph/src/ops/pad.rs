//! `Pad` (constant, reflect, edge, wrap).
//!
//! ZIG rule: padding on a channel axis adds fresh channels (zero channels when the constant is
//! 0, non-zero otherwise); a non-constant mode or a negative pad on a channel axis is unprunable
//! (`pad_on_channel_axis`); a non-zero constant on spatial axes makes the output non-zero. Slice
//! rule: the pads of a channel axis count only the kept padding channels.
use super::{Attrs, IntsArg, OpParse, OpRule};
use crate::compress::rewrite::Rewriter;
use crate::error::Result;
use crate::ir::{Dim, NodeId};
use crate::shape::ctx::out;
use crate::shape::fold::{binary, norm_axis};
use crate::shape::{InferCtx, OutInfo};
use crate::zig::ids::IdTensor;
use crate::zig::prop::{arg, const_scalar, fresh_outputs, input, input_ids, node, set_out, taint_here, unknown};
use crate::zig::State;
use super::elementwise::BinaryKind;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PadMode {
    Constant,
    Reflect,
    Edge,
    Wrap,
}

/// `Pad`: pads (begin…, end…) from the attribute (opset < 11) or input 1; the constant from the
/// `value` attribute (opset < 11) or input 2; axes (opset ≥ 18) from input 3.
#[derive(Clone, Debug, PartialEq)]
pub struct Pad {
    pub mode: PadMode,
    pub pads: IntsArg,
    pub value_attr: Option<f32>,
}

impl OpParse for Pad {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        if a.op_type != "Pad" {
            return Ok(None);
        }
        let mode = match a.choice("mode", "constant", &["constant", "reflect", "edge", "wrap"])?.as_str() {
            "reflect" => PadMode::Reflect,
            "edge" => PadMode::Edge,
            "wrap" => PadMode::Wrap,
            _ => PadMode::Constant,
        };
        let pads = a.ints_attr_or_input("pads", 1, 11)?;
        if a.opset < 11 && pads == IntsArg::Absent {
            return Err(a.err("pads", "is required before opset 11"));
        }
        Ok(Some(Pad { mode, pads, value_attr: a.float_opt("value")? }))
    }
}

impl OpRule for Pad {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        let Some(s) = c.shape(0) else { return Ok(vec![OutInfo::default()]) };
        let Some(pads) = c.arg(&self.pads) else { return Ok(vec![OutInfo::default()]) };
        let axes: Vec<usize> = match c.ints(3) {
            Some(a) => a.iter().filter_map(|&a| norm_axis(a, s.len())).collect(),
            None => (0..s.len()).collect(),
        };
        if pads.len() != 2 * axes.len() {
            return Err(c.err(format!("pads has {} entries, expected {}", pads.len(), 2 * axes.len())));
        }
        let mut o = s.clone();
        for (k, &a) in axes.iter().enumerate() {
            let add = pads[k] + pads[k + axes.len()];
            o[a] = binary(BinaryKind::Add, &[s[a].clone()], &[Dim::Known(add)]).map(|v| v[0].clone()).unwrap_or(Dim::Sym("pad".into()));
        }
        Ok(vec![out(o, c.dtype(0))])
    }
    fn zig(&self, st: &mut State) {
        zig_pad(self, st)
    }
    fn slice(&self, rw: &mut Rewriter, nid: NodeId) -> Result<()> {
        let n = rw.g.nodes[nid].clone();
        let Some(r) = n.input(0).and_then(|v| rw.g.value(v).rank()) else { return Ok(()) };
        let Some(mut pads) = rw.arg(nid, &self.pads) else { return Ok(()) };
        let axes: Vec<usize> = match rw.ints(nid, 3) {
            Some(a) => a.iter().filter_map(|&a| norm_axis(a, r)).collect(),
            None => (0..r).collect(),
        };
        if pads.len() != 2 * axes.len() {
            return Err(rw.err(nid, format!("pads has {} entries for {} axes", pads.len(), axes.len())));
        }
        let mut changed = false;
        for (k, &ax) in axes.iter().enumerate() {
            let (b, e) = (pads[k], pads[k + axes.len()]);
            if b <= 0 && e <= 0 {
                continue;
            }
            let Some(kept) = rw.kept(n.output(0), ax) else { continue };
            let len = kept.len();
            let (b_len, e_len) = (b.max(0) as usize, e.max(0) as usize);
            if b_len + e_len > len {
                return Err(rw.err(nid, format!("pads {b}+{e} exceed the {len} output channels")));
            }
            let nb = kept[..b_len].iter().filter(|&&x| x).count() as i64;
            let ne = kept[len - e_len..].iter().filter(|&&x| x).count() as i64;
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
            rw.set_arg(nid, &self.pads, "pads", 1, pads)?;
        }
        Ok(())
    }
}

fn zig_pad(p: &Pad, st: &mut State) {
    let n = node(st);
    let Some(t) = input_ids(st, 0) else { return };
    let rank = t.rank();
    let pads = arg(st, &p.pads);
    let Some(pads) = pads else { return unknown(st, "dynamic_pad") };
    let axes: Vec<usize> = match input(st, 3).and_then(|v| st.g.const_i64(v)) {
        Some(a) => a.iter().filter_map(|&a| norm_axis(a, rank)).collect(),
        None => (0..rank).collect(),
    };
    if pads.len() != 2 * axes.len() {
        return unknown(st, "bad_pad");
    }
    let constant = p.mode == PadMode::Constant;
    let value = p.value_attr.or_else(|| const_scalar(st, 2)).unwrap_or(0.0);
    let mut out = IdTensor::clone(&t);
    let mut spatial_nonzero = false;
    for (k, &a) in axes.iter().enumerate() {
        let (b, e) = (pads[k], pads[k + axes.len()]);
        if b == 0 && e == 0 {
            continue;
        }
        if !t.chan[a] {
            spatial_nonzero |= constant && value != 0.0;
            continue;
        }
        if !constant || b < 0 || e < 0 {
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
        let Some(padded) = IdTensor::concat(&all, a) else { return unknown(st, "too_large_to_track") };
        out = padded;
    }
    if spatial_nonzero {
        out = out.with_taint(taint_here(st));
    }
    set_out(st, 0, out);
}

