//! Where an entry of a computed integer list comes from: `F.interpolate(x, size=y.shape[-2:])`
//! exports its sizes as `Concat(Shape(x)[:2], Shape(y)[2:])`, so the channel entry is read
//! from `x`'s own shape at run time. When `x` loses exactly the channels the consumer's output
//! loses, that entry follows by itself and needs no rewrite, even with a symbolic batch beside
//! it (the slice rules of Reshape / Resize / Expand ask [`entry_source`]).
use crate::ir::{Graph, ValueId};
use crate::ops::Op;
use crate::shape::fold::norm_axis;

/// `(X, axis)` when entry `i` of the integer value `v` is `X.shape[axis]` copied through
/// Shape, Concat, Slice/Gather with constant indices, Unsqueeze/Squeeze, Identity and Cast.
pub(crate) fn entry_source(g: &Graph, v: ValueId, i: usize) -> Option<(ValueId, usize)> {
    let mut v = v;
    let mut i = i;
    for _ in 0..16 {
        let p = g.value(v).producer?;
        let n = &g.nodes[p];
        match &n.op {
            Op::ShapeOf(s) => {
                let x = n.input(0)?;
                let a = s.range(g.value(x).rank()?).nth(i)?;
                return Some((x, a));
            }
            Op::Concat(_) => {
                let mut off = 0;
                let mut next = None;
                for pv in n.inputs.iter().flatten() {
                    let len = g.value(*pv).dim(0)?.max(0) as usize;
                    if i < off + len {
                        next = Some((*pv, i - off));
                        break;
                    }
                    off += len;
                }
                (v, i) = next?;
            }
            Op::Unsqueeze(_) | Op::Squeeze(_) | Op::Identity(_) | Op::Cast(_) => v = n.input(0)?,
            Op::Gather(ga) => {
                let (data, idx) = (n.input(0)?, n.input(1)?);
                let len = g.value(data).dim(0)? as usize;
                if norm_axis(ga.axis, 1)? != 0 {
                    return None;
                }
                let idx = g.const_i64(idx)?;
                let k = *idx.get(if idx.len() == 1 { 0 } else { i })?;
                (v, i) = (data, norm_axis(k, len)?);
            }
            Op::Slice(sl) => {
                let data = n.input(0)?;
                let len = g.value(data).dim(0)?;
                let starts = sl.starts.values(g, p)?;
                let steps = sl.steps.values(g, p).unwrap_or(vec![1]);
                if sl.axes.values(g, p).is_some_and(|a| a != [0] && a != [-1]) || starts.len() != 1 {
                    return None;
                }
                let step = *steps.first()?;
                let s0 = starts[0];
                let s0 = if s0 < 0 { (s0 + len).max(0) } else { s0.min(len) };
                if step <= 0 {
                    return None;
                }
                (v, i) = (data, (s0 + step * i as i64) as usize);
            }
            _ => return None,
        }
    }
    None
}
