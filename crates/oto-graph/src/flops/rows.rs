//! MACs as a function of the removed rows, without building the compressed graph: the cost model
//! behind a FLOPs target (`oto train --target-flops`), which must try many row sets per decision.
//!
//! Every counted node's MACs are a product over the sliced axes of its operands, so removing rows
//! scales them by `kept/len` per axis: a weight operand (Conv / ConvTranspose / Gemm `B`, either
//! MatMul operand) by the analysis members on its axes (the same positions [`crate::compress`]
//! slices), and a MatMul between activations (attention) by its output's channel positions and the
//! channel positions of its contraction axis. The result equals `macs(compress(...).graph)` for
//! every zoo model (tests/compress_zoo.rs); what it cannot see (a weight computed at run time)
//! counts as unchanged, an upper bound.
use super::node_macs;
use crate::ir::Graph;
use crate::zig::{ids::IdTensor, Analysis, RowId};

/// One sliced axis: the rows behind each of its positions (a position is kept unless all of its
/// rows are removed).
#[derive(Clone, Debug)]
struct Axis {
    pos: Vec<Vec<RowId>>,
}

impl Axis {
    fn kept(&self, removed: &dyn Fn(RowId) -> bool) -> u128 {
        self.pos.iter().filter(|rows| !rows.iter().all(|&r| removed(r))).count() as u128
    }
}

/// A counted node: its full MACs and the axes that scale them.
#[derive(Clone, Debug)]
struct Term {
    macs: u64,
    axes: Vec<Axis>,
}

/// MACs per sample of the graph after removing a set of rows (see the module docs).
#[derive(Clone, Debug)]
pub struct RowMacs {
    full: u64,
    terms: Vec<Term>,
}

impl RowMacs {
    pub fn new(g: &Graph, a: &Analysis) -> RowMacs {
        let mut terms = vec![];
        for nid in 0..g.nodes.len() {
            let macs = node_macs(g, nid);
            if macs == 0 {
                continue;
            }
            let n = &g.nodes[nid];
            let weight_slots = n.op.rule().mac_operands();
            let mut axes = vec![];
            for &slot in weight_slots {
                let Some(v) = n.input(slot) else { continue };
                axes.extend(weight_axes(a, v));
            }
            if axes.is_empty() && matches!(n.op, crate::ops::Op::MatMul(_)) {
                axes = activation_axes(g, a, nid);
            }
            terms.push(Term { macs, axes });
        }
        RowMacs { full: terms.iter().map(|t| t.macs).sum(), terms }
    }

    /// MACs of the unpruned graph (= [`super::macs`]).
    pub fn full(&self) -> u64 {
        self.full
    }

    /// MACs once every row with `removed(row)` is gone.
    pub fn macs(&self, removed: &dyn Fn(RowId) -> bool) -> u64 {
        self.terms
            .iter()
            .map(|t| {
                // macs · Π kept/len, in integers: every weight axis length divides the node's MACs
                let (num, den) = t.axes.iter().fold((t.macs as u128, 1u128), |(n, d), ax| (n * ax.kept(removed), d * ax.pos.len() as u128));
                (num / den.max(1)) as u64
            })
            .sum()
    }

    /// MACs saved by removing each of `rows` alone (`full() − macs(only that row)`), in one pass over
    /// the positions instead of one [`RowMacs::macs`] per row (the per-row cost of a FLOPs-aware
    /// saliency on ImageNet-size graphs): a row alone removes exactly the positions it alone holds.
    pub fn saved_alone(&self, rows: &[RowId]) -> Vec<u64> {
        let index: std::collections::HashMap<RowId, usize> = rows.iter().enumerate().map(|(i, &r)| (r, i)).collect();
        let mut saved = vec![0u64; rows.len()];
        for t in &self.terms {
            // per asked row of this term: on each axis, the positions it alone holds
            let mut sole: std::collections::BTreeMap<usize, Vec<u128>> = Default::default();
            for (ai, ax) in t.axes.iter().enumerate() {
                for p in &ax.pos {
                    let Some(&r) = p.first() else { continue };
                    if let (true, Some(&i)) = (p.iter().all(|&x| x == r), index.get(&r)) {
                        sole.entry(i).or_insert_with(|| vec![0; t.axes.len()])[ai] += 1;
                    }
                }
            }
            for (i, cnt) in sole {
                let (num, den) = t.axes.iter().zip(&cnt).fold((t.macs as u128, 1u128), |(n, d), (ax, &c)| {
                    let len = ax.pos.len() as u128;
                    (n * (len - c), d * len)
                });
                saved[i] += t.macs - (num / den.max(1)) as u64;
            }
        }
        saved
    }
}

/// The sliced axes of an initializer (one per axis, from its first member on that axis).
fn weight_axes(a: &Analysis, v: usize) -> Vec<Axis> {
    let mut axes: Vec<(usize, Axis)> = vec![];
    for m in a.members.iter().filter(|m| m.tensor == v) {
        if axes.iter().any(|(ax, _)| *ax == m.axis) {
            continue;
        }
        axes.push((m.axis, Axis { pos: m.map.iter().map(|&e| vec![a.elem_row[e]]).collect() }));
    }
    axes.into_iter().map(|(_, ax)| ax).collect()
}

/// `A·B` between activations: MACs = |Y| · K, scaled by Y's kept channel positions and the kept
/// positions of A's last (contraction) axis.
fn activation_axes(g: &Graph, a: &Analysis, nid: usize) -> Vec<Axis> {
    let n = &g.nodes[nid];
    let ids = |v: Option<usize>| v.and_then(|v| a.value_ids.get(v)).and_then(|t| t.as_ref());
    let mut axes = vec![];
    if let Some(y) = ids(n.output(0)) {
        axes.push(Axis { pos: y.slots.iter().map(|s| vec![a.elem_row[s.e]]).collect() });
    }
    if let Some(x) = ids(n.input(0)) {
        if let Some(ax) = along(a, x, x.rank().saturating_sub(1)) {
            axes.push(ax);
        }
    }
    axes
}

/// Positions along one channel axis of an id tensor, each with the rows found at that index.
fn along(a: &Analysis, t: &IdTensor, axis: usize) -> Option<Axis> {
    if axis >= t.rank() || !t.chan[axis] {
        return None;
    }
    let inner: usize = t.dims[axis + 1..].iter().product();
    let mut pos = vec![vec![]; t.dims[axis]];
    for (flat, s) in t.slots.iter().enumerate() {
        pos[(flat / inner) % t.dims[axis]].push(a.elem_row[s.e]);
    }
    for p in &mut pos {
        p.sort_unstable();
        p.dedup();
    }
    Some(Axis { pos })
}
