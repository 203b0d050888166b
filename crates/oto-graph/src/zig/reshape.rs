//! Moving channel ids through Reshape/Flatten/Squeeze/Unsqueeze.
//!
//! Input and output axes are matched into contiguous groups of equal size (leading and trailing
//! identical dims — e.g. a symbolic batch — are their own groups). A group containing a channel
//! axis is materialised and relabelled, which gives the Flatten index expansion
//! `c → c·E … c·E+E−1` (§2.9), channels-last flattening, channel shuffles and PixelShuffle as
//! Reshape-Transpose-Reshape with no special case. When one channel axis is split into several
//! axes (e.g. `[C'·r·r] → [C', r, r]`), the minor axes are tied so the kept set stays rectangular
//! and the new Reshape targets can be rewritten at construction.
use super::ids::IdTensor;
use super::uf::UnionFind;
use crate::ir::Dim;

struct AxisGroup {
    ins: Vec<usize>,
    outs: Vec<usize>,
    out_sizes: Vec<usize>,
}

pub(crate) fn reshape_ids(t: &IdTensor, is: &[Dim], os: &[Dim], uf: &mut UnionFind) -> Option<IdTensor> {
    if t.rank() != is.len() {
        return None;
    }
    if t.chan_axes().is_empty() {
        let c = t.collapse_to(None, uf);
        return Some(IdTensor::scalar(os.len(), c.slots[0]));
    }
    let groups = match_axes(is, os)?;
    let mut target = t.dims.clone();
    let mut dims = vec![1; os.len()];
    let mut chan = vec![false; os.len()];
    let mut split_groups = vec![];
    for g in &groups {
        if !g.ins.iter().any(|&a| t.chan[a]) {
            continue;
        }
        for &a in &g.ins {
            target[a] = match is[a] {
                Dim::Known(v) => v as usize,
                _ if g.ins.len() == 1 && g.outs.len() == 1 => t.dims[a],
                _ => return None,
            };
        }
        let mut any = false;
        for (k, &o) in g.outs.iter().enumerate() {
            dims[o] = g.out_sizes[k];
            chan[o] = g.out_sizes[k] > 1;
            any |= chan[o];
        }
        if !any {
            if let Some(&o) = g.outs.first() {
                chan[o] = true;
            }
        }
        if g.outs.iter().filter(|&&o| dims[o] > 1).count() > 1 {
            split_groups.push(g.outs.clone());
        }
    }
    let e = t.expand(&target);
    if dims.iter().product::<usize>() != e.slots.len() {
        return None;
    }
    let out = e.relabel(dims.clone(), chan);
    for outs in split_groups {
        let major = *outs.iter().max_by_key(|&&o| (dims[o], std::cmp::Reverse(o)))?;
        for &o in &outs {
            if o != major && dims[o] > 1 {
                out.tie_along(o, uf);
            }
        }
    }
    Some(out)
}

fn size_of(d: &Dim, t_dim: usize) -> usize {
    d.known().map(|v| v as usize).unwrap_or(t_dim)
}

/// Splits input/output axes into groups of equal element count.
fn match_axes(is: &[Dim], os: &[Dim]) -> Option<Vec<AxisGroup>> {
    let mut pre = 0;
    while pre < is.len() && pre < os.len() && is[pre] == os[pre] && matches!(is[pre], Dim::Sym(_)) {
        pre += 1;
    }
    let mut suf = 0;
    while suf < is.len() - pre && suf < os.len() - pre && is[is.len() - 1 - suf] == os[os.len() - 1 - suf] && matches!(is[is.len() - 1 - suf], Dim::Sym(_)) {
        suf += 1;
    }
    let mut groups: Vec<AxisGroup> = (0..pre).map(|a| AxisGroup { ins: vec![a], outs: vec![a], out_sizes: vec![size_of(&os[a], 1)] }).collect();
    let mid_in: Vec<usize> = (pre..is.len() - suf).collect();
    let mid_out: Vec<usize> = (pre..os.len() - suf).collect();
    let known = |d: &Dim| d.known().filter(|&v| v > 0).map(|v| v as u64);
    if mid_in.iter().all(|&a| known(&is[a]).is_some()) && mid_out.iter().all(|&a| known(&os[a]).is_some()) {
        let (mut i, mut j) = (0, 0);
        while i < mid_in.len() || j < mid_out.len() {
            let mut g = AxisGroup { ins: vec![], outs: vec![], out_sizes: vec![] };
            let (mut pi, mut pj) = (1u64, 1u64);
            if i < mid_in.len() {
                g.ins.push(mid_in[i]);
                pi *= known(&is[mid_in[i]])?;
                i += 1;
            }
            if j < mid_out.len() {
                g.outs.push(mid_out[j]);
                pj *= known(&os[mid_out[j]])?;
                j += 1;
            }
            while pi != pj {
                if pi < pj {
                    let a = *mid_in.get(i)?;
                    g.ins.push(a);
                    pi *= known(&is[a])?;
                    i += 1;
                } else {
                    let a = *mid_out.get(j)?;
                    g.outs.push(a);
                    pj *= known(&os[a])?;
                    j += 1;
                }
            }
            groups.push(g);
        }
    } else {
        groups.push(AxisGroup { ins: mid_in, outs: mid_out, out_sizes: vec![] });
    }
    for k in 0..suf {
        let (a, b) = (is.len() - suf + k, os.len() - suf + k);
        groups.push(AxisGroup { ins: vec![a], outs: vec![b], out_sizes: vec![] });
    }
    for g in groups.iter_mut() {
        if g.out_sizes.len() != g.outs.len() {
            // unknown middle: sizes are only usable when no channel axis is inside (checked by caller)
            g.out_sizes = g.outs.iter().map(|&o| os[o].known().map(|v| v as usize).unwrap_or(0)).collect();
        }
    }
    Some(groups)
}
