//! Pooling: `MaxPool`, `AveragePool`, `LpPool` and their global forms.
//!
//! ZIG rule: pooling works per channel, so channel rows pass through; channel ids living on
//! pooled (resized) spatial axes are merged into one row per remaining position. Zeros pool to
//! zero (max of zeros, mean of zeros).
use super::conv::{or_fill, AutoPad};
use super::{Attrs, OpParse, OpRule};
use crate::error::Result;
use crate::ir::Dim;
use crate::shape::ctx::out;
use crate::shape::{InferCtx, OutInfo};
use crate::zig::prop::{input, input_ids, node, set_out};
use crate::zig::State;
use oto_onnx::tensor::INT64;
use std::rc::Rc;

const K: fn(i64) -> Dim = Dim::Known;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    Max,
    Average,
    Lp,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    pub kind: PoolKind,
    pub kernel_shape: Vec<i64>,
    pub strides: Option<Vec<i64>>,
    pub pads: Option<Vec<i64>>,
    pub dilations: Option<Vec<i64>>,
    pub auto_pad: AutoPad,
    pub ceil_mode: bool,
    /// AveragePool: padding counts in the divisor.
    pub count_include_pad: bool,
    /// LpPool exponent (default 2).
    pub p: i64,
    /// MaxPool: layout of the Indices output (0 row major, 1 column major).
    pub storage_order: i64,
}

impl OpParse for Pool {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        let kind = match a.op_type {
            "MaxPool" => PoolKind::Max,
            "AveragePool" => PoolKind::Average,
            "LpPool" => PoolKind::Lp,
            _ => return Ok(None),
        };
        let kernel_shape = a.ints_at_least("kernel_shape", 1)?.ok_or_else(|| a.err("kernel_shape", "is required"))?;
        Ok(Some(Pool {
            kind,
            kernel_shape,
            strides: a.ints_at_least("strides", 1)?,
            pads: a.ints_at_least("pads", 0)?,
            dilations: a.ints_at_least("dilations", 1)?,
            auto_pad: AutoPad::parse(a)?,
            ceil_mode: a.flag("ceil_mode")?,
            count_include_pad: a.flag("count_include_pad")?,
            p: a.int("p", 2)?,
            storage_order: a.int("storage_order", 0)?,
        }))
    }
}

impl OpRule for Pool {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        let mut o = infer_pool(self, c)?;
        let mut v = vec![o.clone()];
        if c.n_outputs() > 1 {
            o.dtype = INT64; // MaxPool indices
            v.push(o);
        }
        Ok(v)
    }
    fn zig(&self, st: &mut State) {
        zig_spatial(st)
    }
}

/// `GlobalAveragePool` / `GlobalMaxPool` / `GlobalLpPool`: every spatial axis to 1.
#[derive(Clone, Debug, PartialEq)]
pub struct GlobalPool {
    pub kind: PoolKind,
    pub p: i64,
}

impl OpParse for GlobalPool {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        let kind = match a.op_type {
            "GlobalMaxPool" => PoolKind::Max,
            "GlobalAveragePool" => PoolKind::Average,
            "GlobalLpPool" => PoolKind::Lp,
            _ => return Ok(None),
        };
        Ok(Some(GlobalPool { kind, p: a.int("p", 2)? }))
    }
}

impl OpRule for GlobalPool {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        match c.shape(0) {
            Some(s) if s.len() >= 3 => {
                let mut o = s[..2].to_vec();
                o.extend(std::iter::repeat_n(K(1), s.len() - 2));
                Ok(vec![out(o, c.dtype(0))])
            }
            Some(_) => Err(c.err("expects an input of rank >= 3 (N, C, spatial...)")),
            None => Ok(vec![OutInfo::default()]),
        }
    }
    fn zig(&self, st: &mut State) {
        zig_spatial(st)
    }
}

fn infer_pool(p: &Pool, c: &InferCtx) -> Result<OutInfo> {
    let n = c.node();
    let Some(x) = c.shape(0) else { return Ok(OutInfo::default()) };
    if x.len() < 3 {
        return Err(c.err("expects an input of rank >= 3"));
    }
    let sp = x.len() - 2;
    let kernel = p.kernel_shape.clone();
    let strides = or_fill(&p.strides, 1, sp);
    let dil = or_fill(&p.dilations, 1, sp);
    let pads = or_fill(&p.pads, 0, 2 * sp);
    let ceil = p.ceil_mode;
    if kernel.len() != sp || strides.len() != sp || pads.len() != 2 * sp || dil.len() != sp {
        return Err(c.err("kernel_shape/strides/pads lengths do not match the spatial rank"));
    }
    let mut o = x[..2].to_vec();
    for i in 0..sp {
        let ek = dil[i] * (kernel[i] - 1) + 1;
        o.push(match x[2 + i].known() {
            None => Dim::Sym(format!("{}_s{i}", n.name)),
            Some(h) => {
                let v = match p.auto_pad {
                    AutoPad::SameUpper | AutoPad::SameLower => (h + strides[i] - 1) / strides[i],
                    AutoPad::Valid => (h - ek) / strides[i] + 1,
                    AutoPad::NotSet => {
                        let num = h + pads[i] + pads[i + sp] - ek;
                        let mut v = if ceil { (num + strides[i] - 1).div_euclid(strides[i]) + 1 } else { num.div_euclid(strides[i]) + 1 };
                        // a window must start inside the (left-padded) input
                        if ceil && (v - 1) * strides[i] >= h + pads[i] {
                            v -= 1;
                        }
                        v
                    }
                };
                if v <= 0 {
                    return Err(c.err(format!("spatial size {v} <= 0: the input is too small for this pool")));
                }
                K(v)
            }
        });
    }
    Ok(out(o, c.dtype(0)))
}

/// Pools and other ops that change spatial sizes (axes >= `from + 2`): channel ids living on
/// resized axes are merged into one row per remaining position.
pub(crate) fn zig_spatial(st: &mut State) {
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

