//! `Conv` and `ConvTranspose` (1-D to 3-D, grouped and depthwise).
//!
//! ZIG rule (OTOv2 spec §3.1): a stem. Its output channels are fresh rows whose producer slices
//! are the weight's output axis and the bias; its input channels end there (an exit), and the
//! weight's input axis is a consumer slice of the feeding rows. A depthwise conv is an accessory
//! of its input rows; a grouped conv ties each conv group (input block + output block) into one
//! row. Slice rule: a grouped conv's `group` becomes the kept input channels / channels per group.
//! Cost: H_out·W_out·M·(C/group)·k… MACs (ConvTranspose: per input pixel).
use super::{Attrs, OpParse, OpRule};
use crate::compress::rewrite::Rewriter;
use crate::error::{GraphError, Result};
use crate::ir::{Dim, Graph, NodeId};
use crate::shape::ctx::out;
use crate::shape::{InferCtx, OutInfo};
use crate::zig::ids::{IdTensor, Slot};
use crate::zig::prop::{channel_vec, consumer, input, input_ids, is_const, node, out_rank, slots_of, static_shape, stem_outputs, unknown};
use crate::zig::{ElemId, MemberKind, State};
use std::rc::Rc;

/// How `auto_pad` places the padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoPad {
    NotSet,
    SameUpper,
    SameLower,
    Valid,
}

impl AutoPad {
    pub(crate) fn parse(a: &Attrs) -> Result<AutoPad> {
        Ok(match a.choice("auto_pad", "NOTSET", &["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"])?.as_str() {
            "SAME_UPPER" => AutoPad::SameUpper,
            "SAME_LOWER" => AutoPad::SameLower,
            "VALID" => AutoPad::Valid,
            _ => AutoPad::NotSet,
        })
    }
}

/// Conv / ConvTranspose attributes; spatial lists are `None` when absent (their defaults depend
/// on the input's rank: ones for strides/dilations, zeros for pads, the weight's kernel).
#[derive(Clone, Debug, PartialEq)]
pub struct Conv {
    pub transpose: bool,
    pub group: i64,
    pub kernel_shape: Option<Vec<i64>>,
    pub strides: Option<Vec<i64>>,
    pub pads: Option<Vec<i64>>,
    pub dilations: Option<Vec<i64>>,
    pub auto_pad: AutoPad,
    pub output_padding: Option<Vec<i64>>,
    pub output_shape: Option<Vec<i64>>,
}

impl OpParse for Conv {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        let transpose = match a.op_type {
            "Conv" => false,
            "ConvTranspose" => true,
            _ => return Ok(None),
        };
        if !(2..=3).contains(&a.proto.input.len()) {
            let reason = format!("takes 2 or 3 inputs (X, W and an optional B), got {}; fix or re-export the model", a.proto.input.len());
            return Err(GraphError::Shape { node: a.name.into(), op: a.op_type.into(), reason });
        }
        Ok(Some(Conv {
            transpose,
            group: a.int_at_least("group", 1, 1)?,
            kernel_shape: a.ints_at_least("kernel_shape", 1)?,
            strides: a.ints_at_least("strides", 1)?,
            pads: a.ints_at_least("pads", 0)?,
            dilations: a.ints_at_least("dilations", 1)?,
            auto_pad: AutoPad::parse(a)?,
            output_padding: a.ints_at_least("output_padding", 0)?,
            output_shape: a.ints_opt("output_shape")?,
        }))
    }
}

/// Spatial list `v` or `fill` repeated `n` times.
pub(crate) fn or_fill(v: &Option<Vec<i64>>, fill: i64, n: usize) -> Vec<i64> {
    v.clone().unwrap_or_else(|| vec![fill; n])
}

impl OpRule for Conv {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        infer_conv(self, c).map(|o| vec![o])
    }
    fn zig(&self, st: &mut State) {
        zig_conv(self, st)
    }
    fn slice(&self, rw: &mut Rewriter, nid: NodeId) -> Result<()> {
        if self.group <= 1 {
            return Ok(());
        }
        let n = &rw.g.nodes[nid];
        let (x, w) = (n.input(0), n.input(1));
        if let (Some(k), Some(w)) = (rw.kept(x, 1), w) {
            let cg = rw.g.init(w).and_then(|t| t.dims.get(1).copied()).unwrap_or(1).max(1);
            let cin = k.iter().filter(|&&x| x).count() as i64;
            if cin % cg != 0 {
                return Err(rw.err(nid, format!("{cin} kept input channels are not a multiple of {cg}")));
            }
            rw.set_attr_int(nid, "group", cin / cg)?;
        }
        Ok(())
    }
    fn macs(&self, g: &Graph, nid: NodeId) -> u64 {
        let n = &g.nodes[nid];
        let dims = |v: Option<usize>| super::matmul::known_dims(g, v);
        if self.transpose {
            let (Some(x), Some(w)) = (dims(n.input(0)), dims(n.input(1))) else { return 0 };
            // every input pixel and channel scatters (M/group)·k… products
            x.iter().skip(2).product::<u64>() * w.iter().product::<u64>()
        } else {
            let (Some(y), Some(w)) = (dims(n.output(0)), dims(n.input(1))) else { return 0 };
            // H_out·W_out·M·(C/group)·kH·kW
            y.iter().skip(2).product::<u64>() * w.iter().product::<u64>()
        }
    }
    fn mac_operands(&self) -> &'static [usize] {
        &[1]
    }
}

fn infer_conv(cv: &Conv, c: &InferCtx) -> Result<OutInfo> {
    let n = c.node();
    c.same_type(&[0, 1, 2])?;
    let (Some(x), Some(w)) = (c.shape(0), c.shape(1)) else { return Ok(OutInfo::default()) };
    if x.len() < 3 || w.len() != x.len() {
        return Err(c.err(format!("input rank {} and weight rank {} do not match (expected equal ranks >= 3)", x.len(), w.len())));
    }
    let sp = x.len() - 2;
    let group = cv.group;
    let cin = x[1].known();
    let (wc_in, out_ch) = if cv.transpose {
        (w[0].known(), w[1].known().map(|m| m * group))
    } else {
        (w[1].known().map(|k| k * group), w[0].known())
    };
    if let (Some(ci), Some(wi)) = (cin, wc_in) {
        if ci != wi {
            return Err(c.err(format!("input has {ci} channels but the weight expects {wi} (group = {group})")));
        }
    }
    let kernel = cv.kernel_shape.clone().unwrap_or_else(|| w[2..].iter().map(|d| d.known().unwrap_or(1)).collect());
    let strides = or_fill(&cv.strides, 1, sp);
    let dil = or_fill(&cv.dilations, 1, sp);
    let pads = or_fill(&cv.pads, 0, 2 * sp);
    if kernel.len() != sp || strides.len() != sp || dil.len() != sp || pads.len() != 2 * sp {
        return Err(c.err("kernel_shape/strides/dilations/pads lengths do not match the spatial rank"));
    }
    let mut o = vec![x[0].clone(), out_ch.map(Dim::Known).unwrap_or(Dim::Sym("C".into()))];
    let opad = or_fill(&cv.output_padding, 0, sp);
    if opad.len() != sp {
        return Err(c.err("output_padding length does not match the spatial rank"));
    }
    for i in 0..sp {
        let ek = dil[i] * (kernel[i] - 1) + 1;
        let d = match x[2 + i].known() {
            None => Dim::Sym(format!("{}_s{i}", n.name)),
            Some(h) => Dim::Known(if cv.transpose {
                match &cv.output_shape {
                    Some(os) if os.len() >= sp => os[os.len() - sp + i],
                    _ => strides[i] * (h - 1) + opad[i] + ek - pads[i] - pads[i + sp],
                }
            } else {
                match cv.auto_pad {
                    AutoPad::SameUpper | AutoPad::SameLower => (h + strides[i] - 1) / strides[i],
                    AutoPad::Valid => (h - ek) / strides[i] + 1,
                    AutoPad::NotSet => (h + pads[i] + pads[i + sp] - ek).div_euclid(strides[i]) + 1,
                }
            }),
        };
        if let Dim::Known(v) = d {
            if v <= 0 {
                return Err(c.err(format!("spatial size {v} <= 0 on axis {}: the input is too small for this kernel/stride", 2 + i)));
            }
        }
        o.push(d);
    }
    Ok(out(o, c.dtype(0)))
}

fn zig_conv(c: &Conv, st: &mut State) {
    let n = node(st);
    let transpose = c.transpose;
    let (Some(w), Some(o)) = (input(st, 1), n.output(0)) else { return unknown(st, "conv_without_weight") };
    let Some(ws) = static_shape(st, w).filter(|_| is_const(st, w)) else { return unknown(st, "dynamic_weight") };
    if ws.len() < 3 {
        return unknown(st, "conv_weight_rank");
    }
    let rank = out_rank(st, 0).unwrap_or(ws.len());
    let group = c.group.max(1) as usize;
    let (cin, m) = if transpose { (ws[0], ws[1] * group) } else { (ws[1] * group, ws[0]) };
    let xin = match input_ids(st, 0) {
        Some(t) => match channel_vec(st, &t, 1, cin) {
            Some(x) => Some(x),
            None => return unknown(st, "too_large_to_track"),
        },
        None => None,
    };
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

