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
use crate::shape::broadcast::factors;

struct AxisGroup {
    ins: Vec<usize>,
    outs: Vec<usize>,
    out_sizes: Vec<usize>,
}

pub(crate) fn reshape_ids(t: &IdTensor, is: &[Dim], os: &[Dim], uf: &mut UnionFind) -> Option<IdTensor> {
    reshape_exact(t, is, os, uf).or_else(|| {
        // a channel axis whose rows are already tied along it (heads, after a qkv split) is
        // the same everywhere: as a broadcast axis it can merge with a symbolic batch
        // (`[N, H, T, D] → [N*H, T, D]`, the dynamo exporter's attention)
        let u = drop_uniform_axes(t, uf);
        if u != *t {
            if let Some(r) = reshape_exact(&u, is, os, uf) {
                return Some(r);
            }
        }
        // `[T, N, H·D] ↔ [T, N*H, D]` (nn.MultiheadAttention): through `[T, N, H, D]`, where
        // the split ties the heads and the uniform head axis then merges with the batch
        let (fi, fo) = (refine(is), refine(os));
        if fi.len() == is.len() && fo.len() == os.len() {
            return None;
        }
        let a = drop_uniform_axes(&reshape_exact(t, is, &fi, uf)?, uf);
        let b = drop_uniform_axes(&reshape_exact(&a, &fi, &fo, uf)?, uf);
        reshape_exact(&b, &fo, os, uf)
    })
}

/// `os` with every `X*k` symbol written as the two axes `[X, k]`.
fn refine(os: &[Dim]) -> Vec<Dim> {
    let mut out = vec![];
    for d in os {
        match factors(d) {
            (syms, k) if matches!(d, Dim::Sym(_)) && syms.len() == 1 && k > 1 => {
                out.push(Dim::Sym(syms[0].clone()));
                out.push(Dim::Known(k));
            }
            _ => out.push(d.clone()),
        }
    }
    out
}

/// `t` with every channel axis whose elements are one row along it (under `uf`) made a
/// broadcast axis.
fn drop_uniform_axes(t: &IdTensor, uf: &mut UnionFind) -> IdTensor {
    let mut t = t.clone();
    for a in 0..t.rank() {
        if !t.chan[a] || t.dims[a] <= 1 {
            continue;
        }
        let first = t.index(a, &vec![0; t.dims[a]]);
        if t.slots.iter().zip(&first.slots).all(|(x, y)| uf.find(x.e) == uf.find(y.e)) {
            t = t.index(a, &[0]);
            t.chan[a] = false;
        }
    }
    t
}

fn reshape_exact(t: &IdTensor, is: &[Dim], os: &[Dim], uf: &mut UnionFind) -> Option<IdTensor> {
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
    let e = t.expand(&target)?;
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

/// Whether product `a` must grow to meet `b` (its symbols are a sub-multiset of `b`'s, and
/// with equal symbols its factor is smaller); `None` when neither can grow into the other.
fn smaller(a: &(Vec<String>, i64), b: &(Vec<String>, i64)) -> Option<bool> {
    let sub = |x: &[String], y: &[String]| {
        let mut y = y.to_vec();
        x.iter().all(|s| y.iter().position(|t| t == s).map(|i| y.remove(i)).is_some())
    };
    match (sub(&a.0, &b.0), sub(&b.0, &a.0)) {
        (true, true) => Some(a.1 < b.1),
        (true, false) => Some(true),
        (false, true) => Some(false),
        (false, false) => None,
    }
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
    // dims as symbols × a known factor, so `[N, 3, 3, …] → [N*9, …]` still pairs up
    let fac = |d: &Dim| Some(factors(d)).filter(|(_, k)| *k > 0);
    if mid_in.iter().all(|&a| fac(&is[a]).is_some()) && mid_out.iter().all(|&a| fac(&os[a]).is_some()) {
        let (mut i, mut j) = (0, 0);
        while i < mid_in.len() || j < mid_out.len() {
            let mut g = AxisGroup { ins: vec![], outs: vec![], out_sizes: vec![] };
            let (mut pi, mut pj) = ((vec![], 1i64), (vec![], 1i64));
            let mul = |p: &mut (Vec<String>, i64), d: &Dim| {
                let (s, k) = factors(d);
                p.0.extend(s);
                p.0.sort();
                p.1 *= k;
            };
            if i < mid_in.len() {
                g.ins.push(mid_in[i]);
                mul(&mut pi, &is[mid_in[i]]);
                i += 1;
            }
            if j < mid_out.len() {
                g.outs.push(mid_out[j]);
                mul(&mut pj, &os[mid_out[j]]);
                j += 1;
            }
            while pi != pj {
                if smaller(&pi, &pj)? {
                    let a = *mid_in.get(i)?;
                    g.ins.push(a);
                    mul(&mut pi, &is[a]);
                    i += 1;
                } else {
                    let a = *mid_out.get(j)?;
                    g.outs.push(a);
                    mul(&mut pj, &os[a]);
                    j += 1;
                }
            }
            g.out_sizes = g.outs.iter().map(|&o| os[o].known().filter(|&v| v > 0).map(|v| v as usize).unwrap_or(0)).collect();
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
