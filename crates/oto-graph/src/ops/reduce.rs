//! Reductions (`ReduceSum`, `ReduceMean`, `ReduceMax`, ..., `ArgMax`, `ArgMin`).
//!
//! ZIG rule: reducing over a channel axis ends the channel space: exactly zero-invariant for
//! summing reductions (zeros add nothing: an exit), unprunable for the others (a mean over
//! channels is the first half of a decomposed LayerNorm). Reducing other axes ties the reduced
//! positions of each row. ArgMax/ArgMin give indices, not channels.
use super::elementwise::BinaryKind;
use super::{Attrs, IntsArg, Op, OpParse, OpRule};
use crate::error::Result;
use crate::ir::{Dim, ValueId};
use crate::shape::ctx::out;
use crate::shape::fold::norm_axis;
use crate::shape::{InferCtx, OutInfo};
use crate::zig::ids::IdTensor;
use crate::zig::prop::{arg, input, input_ids, node, out_rank, set_out, taint_here};
use crate::zig::State;
use oto_onnx::tensor::INT64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceKind {
    Sum,
    Mean,
    Max,
    Min,
    Prod,
    L1,
    L2,
    SumSquare,
    LogSum,
    LogSumExp,
}

impl ReduceKind {
    /// Zeros contribute nothing: reducing a zero channel away is exact.
    pub fn sums(self) -> bool {
        matches!(self, ReduceKind::Sum | ReduceKind::L1 | ReduceKind::L2 | ReduceKind::SumSquare)
    }
}

const KINDS: &[(&str, ReduceKind, i64)] = &[
    // (op type, kind, first opset with `axes` as an input)
    ("ReduceSum", ReduceKind::Sum, 13),
    ("ReduceMean", ReduceKind::Mean, 18),
    ("ReduceMax", ReduceKind::Max, 18),
    ("ReduceMin", ReduceKind::Min, 18),
    ("ReduceProd", ReduceKind::Prod, 18),
    ("ReduceL1", ReduceKind::L1, 18),
    ("ReduceL2", ReduceKind::L2, 18),
    ("ReduceSumSquare", ReduceKind::SumSquare, 18),
    ("ReduceLogSum", ReduceKind::LogSum, 18),
    ("ReduceLogSumExp", ReduceKind::LogSumExp, 18),
];

#[derive(Clone, Debug, PartialEq)]
pub struct Reduce {
    pub kind: ReduceKind,
    pub axes: IntsArg,
    pub keepdims: bool,
    pub noop_with_empty_axes: bool,
}

impl OpParse for Reduce {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        let Some(&(_, kind, input_from)) = KINDS.iter().find(|(n, _, _)| *n == a.op_type) else { return Ok(None) };
        Ok(Some(Reduce {
            kind,
            axes: a.ints_attr_or_input("axes", 1, input_from)?,
            keepdims: a.int("keepdims", 1)? != 0,
            noop_with_empty_axes: a.flag("noop_with_empty_axes")?,
        }))
    }
}

impl OpRule for Reduce {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        let Some(s) = c.shape(0) else { return Ok(vec![OutInfo::default()]) };
        let axes: Vec<usize> = match c.arg(&self.axes) {
            Some(a) if !a.is_empty() => a.iter().filter_map(|&a| norm_axis(a, s.len())).collect(),
            _ if self.noop_with_empty_axes => vec![],
            _ if matches!(self.axes, IntsArg::Input(_)) => return Ok(vec![OutInfo::default()]),
            _ => (0..s.len()).collect(),
        };
        Ok(vec![out(reduced(&s, &axes, self.keepdims), c.dtype(0))])
    }
    fn zig(&self, st: &mut State) {
        zig_reduce(self, st)
    }
}

fn reduced(s: &[Dim], axes: &[usize], keep: bool) -> Vec<Dim> {
    s.iter()
        .enumerate()
        .filter_map(|(i, d)| if axes.contains(&i) { keep.then_some(Dim::Known(1)) } else { Some(d.clone()) })
        .collect()
}

/// `ArgMax` / `ArgMin`: int64 indices along `axis`.
#[derive(Clone, Debug, PartialEq)]
pub struct ArgReduce {
    pub max: bool,
    pub axis: i64,
    pub keepdims: bool,
    pub select_last_index: bool,
}

impl OpParse for ArgReduce {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        let max = match a.op_type {
            "ArgMax" => true,
            "ArgMin" => false,
            _ => return Ok(None),
        };
        Ok(Some(ArgReduce { max, axis: a.int("axis", 0)?, keepdims: a.int("keepdims", 1)? != 0, select_last_index: a.flag("select_last_index")? }))
    }
}

impl OpRule for ArgReduce {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        let Some(s) = c.shape(0) else { return Ok(vec![OutInfo::default()]) };
        let axes: Vec<usize> = norm_axis(self.axis, s.len()).into_iter().collect();
        Ok(vec![out(reduced(&s, &axes, self.keepdims), INT64)])
    }
    fn zig(&self, _st: &mut State) {}
}

fn zig_reduce(rd: &Reduce, st: &mut State) {
    let n = node(st);
    let Some(t) = input_ids(st, 0) else { return };
    let rank = t.rank();
    let keep = rd.keepdims;
    let axes: Vec<usize> = match arg(st, &rd.axes) {
        Some(a) if !a.is_empty() => a.iter().filter_map(|&a| norm_axis(a, rank)).collect(),
        _ if rd.noop_with_empty_axes => vec![],
        _ => (0..rank).collect(),
    };
    if axes.iter().any(|&a| t.chan[a]) {
        // the channel space ends here; a summing reduction is exact (zeros add nothing)
        let reason = if rd.kind.sums() {
            st.exit(&t);
            "reduce_over_channels"
        } else {
            let ln = rd.kind == ReduceKind::Mean && input(st, 0).is_some_and(|x| is_layernorm_mean(st, x));
            let r = if ln { "layernorm_over_channels" } else { "reduce_over_channels" };
            st.unprunable_all(&t, r);
            r
        };
        let what = format!("{} '{}'", n.op_type, n.name);
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
    let taint = if matches!(rd.kind, ReduceKind::LogSumExp | ReduceKind::LogSum) { taint_here(st) } else { 0 };
    set_out(st, 0, if taint != 0 { out.with_taint(taint) } else { out });
}

/// `x - ReduceMean(x)` over the channel axis: the decomposed form of a LayerNorm.
fn is_layernorm_mean(st: &State, x: ValueId) -> bool {
    let Some(o) = node(st).output(0) else { return false };
    st.g.value(o).consumers.iter().any(|&(c, _)| {
        let cn = &st.g.nodes[c];
        matches!(&cn.op, Op::Binary(b) if b.kind == BinaryKind::Sub) && cn.inputs.contains(&Some(x))
    })
}
