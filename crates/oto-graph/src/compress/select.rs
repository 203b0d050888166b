//! One-shot pruning helpers: score rows by a criterion, pick `round(S · N)` of the `N` prunable
//! rows globally (ties broken by row id) without ever emptying a value, and zero their in-row
//! slices to get the "masked" full model.
use super::rewrite::set_const;
use super::tensor;
use crate::error::{GraphError, Result};
use crate::ir::Graph;
use crate::zig::{Analysis, RowId};
use std::collections::{BTreeSet, HashMap};

/// How rows are ranked for removal (lowest first).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Criterion {
    /// L2 norm of the row vector over all in-row slices.
    Magnitude,
    /// A seeded random order.
    Random { seed: u64 },
}

/// The rows chosen by [`select_rows`].
#[derive(Clone, Debug, PartialEq)]
pub struct Selection {
    /// Prunable rows with parameters (the `N` of `round(S · N)`).
    pub candidates: usize,
    /// `round(S · N)`.
    pub requested: usize,
    /// Chosen rows, sorted.
    pub rows: Vec<RowId>,
    /// Rows passed over because removing them would have emptied a value.
    pub skipped: Vec<RowId>,
}

impl Selection {
    /// A note when fewer rows than requested could be chosen, or some were passed over.
    pub fn adjustment(&self) -> Option<String> {
        if self.skipped.is_empty() {
            return None;
        }
        Some(format!(
            "{} row(s) passed over because removing them would leave a value without channels; zeroed {} of {} requested",
            self.skipped.len(),
            self.rows.len(),
            self.requested
        ))
    }
}

/// L2 norm of every row over its in-row slices (each `(tensor, axis)` counted once).
pub fn row_norms(g: &Graph, a: &Analysis) -> Result<Vec<f64>> {
    let mut sq = vec![0.0f64; a.rows.len()];
    let mut seen = BTreeSet::new();
    for m in a.members.iter().filter(|m| m.kind.in_row()) {
        if !seen.insert((m.tensor, m.axis)) {
            continue;
        }
        let t = g.init(m.tensor).ok_or_else(|| GraphError::Other(format!("'{}' has no data", g.value(m.tensor).name)))?;
        let s = tensor::slice_sumsq(t, m.axis)?;
        for (i, &e) in m.map.iter().enumerate() {
            sq[a.elem_row[e]] += s.get(i).copied().unwrap_or(0.0);
        }
    }
    Ok(sq.into_iter().map(f64::sqrt).collect())
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Channel positions of every value as "hyperplanes" of rows: removing a row kills a position when
/// it was the last live row there; a value axis with no live position left is empty.
struct Liveness {
    row_hps: HashMap<RowId, Vec<usize>>,
    hp_axis: Vec<usize>,
    hp_live: Vec<usize>,
    axis_live: Vec<usize>,
}

impl Liveness {
    fn new(a: &Analysis) -> Liveness {
        let prunable: Vec<bool> = a.rows.iter().map(|r| r.prunable()).collect();
        let mut l = Liveness { row_hps: HashMap::new(), hp_axis: vec![], hp_live: vec![], axis_live: vec![] };
        for t in a.value_ids.iter().flatten() {
            for ax in 0..t.rank() {
                if !t.chan[ax] {
                    continue;
                }
                let inner: usize = t.dims[ax + 1..].iter().product();
                let mut per: Vec<Vec<RowId>> = vec![vec![]; t.dims[ax]];
                for (f, s) in t.slots.iter().enumerate() {
                    per[(f / inner) % t.dims[ax]].push(a.elem_row[s.e]);
                }
                let axis_id = l.axis_live.len();
                let mut live = 0;
                for mut rows in per {
                    rows.sort_unstable();
                    rows.dedup();
                    live += 1;
                    if rows.iter().any(|&r| !prunable[r]) {
                        continue; // never dies
                    }
                    let h = l.hp_axis.len();
                    l.hp_axis.push(axis_id);
                    l.hp_live.push(rows.len());
                    for r in rows {
                        l.row_hps.entry(r).or_default().push(h);
                    }
                }
                l.axis_live.push(live);
            }
        }
        l
    }

    /// Removes `r` unless that empties an axis; returns whether it was removed.
    fn try_remove(&mut self, r: RowId) -> bool {
        let hps = self.row_hps.get(&r).cloned().unwrap_or_default();
        let mut dead_axes: HashMap<usize, usize> = HashMap::new();
        for &h in &hps {
            if self.hp_live[h] == 1 {
                *dead_axes.entry(self.hp_axis[h]).or_default() += 1;
            }
        }
        if dead_axes.iter().any(|(&ax, &n)| self.axis_live[ax] <= n) {
            return false;
        }
        for &h in &hps {
            self.hp_live[h] -= 1;
        }
        for (ax, n) in dead_axes {
            self.axis_live[ax] -= n;
        }
        true
    }
}

/// Chooses `round(sparsity · N)` prunable rows with parameters by `criterion` (lowest score first,
/// ties by row id), skipping rows whose removal would leave a value without channels.
pub fn select_rows(g: &Graph, a: &Analysis, sparsity: f64, criterion: Criterion) -> Result<Selection> {
    if !(0.0..=1.0).contains(&sparsity) {
        return Err(GraphError::Other(format!("sparsity must be in [0, 1], got {sparsity}")));
    }
    let cands: Vec<RowId> = a.rows.iter().filter(|r| r.prunable() && r.has_params).map(|r| r.id).collect();
    let requested = (sparsity * cands.len() as f64).round() as usize;
    let score: Vec<f64> = match criterion {
        Criterion::Magnitude => row_norms(g, a)?,
        Criterion::Random { seed } => {
            (0..a.rows.len()).map(|r| splitmix(splitmix(seed) ^ r as u64) as f64).collect()
        }
    };
    let mut order = cands.clone();
    order.sort_by(|&x, &y| score[x].total_cmp(&score[y]).then(x.cmp(&y)));
    let mut live = Liveness::new(a);
    let (mut rows, mut skipped) = (vec![], vec![]);
    for r in order {
        if rows.len() == requested {
            break;
        }
        if live.try_remove(r) {
            rows.push(r);
        } else {
            skipped.push(r);
        }
    }
    rows.sort_unstable();
    Ok(Selection { candidates: cands.len(), requested, rows, skipped })
}

/// A copy of `g` with every in-row slice of `rows` set to exactly zero.
pub fn zero_rows(g: &Graph, a: &Analysis, rows: &[RowId]) -> Result<Graph> {
    let set: BTreeSet<RowId> = rows.iter().copied().collect();
    let mut out = g.clone();
    let mut seen = BTreeSet::new();
    for m in a.members.iter().filter(|m| m.kind.in_row()) {
        let idx: Vec<usize> = (0..m.map.len()).filter(|&i| set.contains(&a.elem_row[m.map[i]])).collect();
        if idx.is_empty() || !seen.insert((m.tensor, m.axis, idx.clone())) {
            continue;
        }
        let mut t = out.init(m.tensor).cloned().ok_or_else(|| GraphError::Other(format!("'{}' has no data", g.value(m.tensor).name)))?;
        tensor::zero_slices(&mut t, m.axis, &idx)?;
        set_const(&mut out, m.tensor, t);
    }
    Ok(out)
}

/// [`select_rows`] then [`zero_rows`]: the masked full model and the selection.
pub fn prune(g: &Graph, a: &Analysis, sparsity: f64, criterion: Criterion) -> Result<(Graph, Selection)> {
    let sel = select_rows(g, a, sparsity, criterion)?;
    let z = zero_rows(g, a, &sel.rows)?;
    Ok((z, sel))
}

/// Alias of [`zero_rows`] (the "masked" full model of a removal set).
pub fn masked(g: &Graph, a: &Analysis, rows: &[RowId]) -> Result<Graph> {
    zero_rows(g, a, rows)
}
