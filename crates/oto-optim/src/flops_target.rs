//! [oto] A FLOPs target for DHSPG: instead of a group sparsity `s`, the user asks for a fraction
//! of the full model's MACs, and DHSPG removes rows until the compressed model is within it.
//!
//! At the partition (§3.5) rows keep the saliency order of the original; [`rows_for_flops`]
//! estimates the *count*: the smallest `k` whose top-`k` rows (through [`partition`], so group
//! rules hold) leave at most the budget, by bisection over `k` with `oto_graph::flops::RowMacs`
//! (the compressed graph's MACs predicted from the removed rows, exact on every zoo model). That
//! count gives the partition its `s` (optimizer state, not the configuration: the count ends up
//! in `K_s`); the partition then takes `s + τ` as usual, and which rows of `G_p` end at zero
//! is left to training, as with a sparsity target. Only the stopping rule changes: rows are
//! projected or forced (ramp [`ramp_macs_goal`], deadline) while the MACs exceed the budget,
//! through [`pick_to_macs`], whose last row is the one among the next few candidates that lands
//! closest below the goal — so the result lands within one (small) row of it. (Fixing the set at
//! the partition with τ = 0 was tried first: the last rows forced are then the ones training
//! fought to keep, and ResNet-20 lost 30 pt.)
use super::dhspg_math::partition;
use super::rows::RowLayout;
use oto_graph::flops::RowMacs;
use oto_graph::zig::RowId;

/// The graph's MACs as a function of the optimizer's global rows (`RowMacs` keyed by analysis
/// row ids, mapped through the layout), as DHSPG and HESSO use it.
#[derive(Debug)]
pub struct LayoutMacs {
    model: RowMacs,
    /// Global row of every analysis row id (`None`: not a prunable row of the layout).
    global: Vec<Option<usize>>,
    /// Analysis row id of every global row.
    row_ids: Vec<RowId>,
}

impl LayoutMacs {
    /// `model` = `RowMacs::new(graph, analysis)` of the analysis the layout was built from.
    pub fn new(model: RowMacs, layout: &RowLayout) -> Self {
        let ids = &layout.row_ids;
        let mut global = vec![None; ids.iter().max().map_or(0, |m| m + 1)];
        for (g, &r) in ids.iter().enumerate() {
            global[r] = Some(g);
        }
        LayoutMacs { model, global, row_ids: ids.clone() }
    }
    /// MACs per sample of the full model.
    pub fn full(&self) -> u64 {
        self.model.full()
    }
    /// MACs per sample once the global rows with `zero[g]` are removed.
    pub fn without(&self, zero: &[bool]) -> u64 {
        self.model.macs(&|r| self.global.get(r).copied().flatten().is_some_and(|g| zero[g]))
    }
    /// `macs` as a share of the full model's MACs (what the log and `macs_kept` report).
    pub fn share(&self, macs: u64) -> f64 {
        macs as f64 / self.full().max(1) as f64
    }
    /// MACs saved by removing each global row alone.
    pub fn saved_alone(&self) -> Vec<f64> {
        self.model.saved_alone(&self.row_ids).into_iter().map(|c| c as f64).collect()
    }
    /// The MACs budget of a FLOPs target `keep` (fraction of the full model's MACs).
    pub fn budget(&self, keep: f64) -> u64 {
        (keep * self.full() as f64).floor() as u64
    }
}

/// The row count estimated for a FLOPs target.
#[derive(Clone, Debug, PartialEq)]
pub struct FlopsPick {
    /// Rows to prune (top-`k` by saliency).
    pub k: usize,
    /// The equivalent group sparsity `s` with `⌊s·N⌋ = k`.
    pub sparsity: f64,
    /// Predicted MACs per sample after removing them, and of the full model.
    pub macs: u64,
    pub full_macs: u64,
    /// False when even the largest allowed `k` stays above the budget (its MACs are reported).
    pub reached: bool,
}

impl FlopsPick {
    pub fn fraction(&self) -> f64 {
        self.macs as f64 / self.full_macs.max(1) as f64
    }
}

/// `s` with `⌊N·s⌋ = k` in [`partition`]'s floating-point arithmetic.
pub fn sparsity_for_rows(k: usize, n: usize) -> f64 {
    (k as f64 + 0.5) / n.max(1) as f64
}

/// Smallest `k` whose partition leaves MACs ≤ `keep · full` (see the module docs).
/// `macs_without(zero)` = MACs once the global rows with `zero[g]` are removed; `groups`, `q`,
/// `rho` as in [`partition`].
pub fn rows_for_flops(
    score: &[f64],
    groups: &[(usize, Vec<usize>)],
    q: usize,
    rho: f64,
    full: u64,
    macs_without: &dyn Fn(&[bool]) -> u64,
    keep: f64,
) -> FlopsPick {
    let n = score.len();
    let budget = (keep * full as f64).floor() as u64;
    let macs_at = |k: usize| macs_without(&partition(score, groups, sparsity_for_rows(k, n), 0.0, q, rho));
    let pick = |k: usize, macs: u64, reached: bool| FlopsPick { k, sparsity: sparsity_for_rows(k, n), macs, full_macs: full, reached };
    let m0 = macs_at(0);
    if m0 <= budget {
        return pick(0, m0, true);
    }
    let k_max = (n as f64 * 0.999).floor() as usize; // partition's own cap
    let top = macs_at(k_max);
    if top > budget {
        return pick(k_max, top, false);
    }
    // invariant: macs_at(lo) > budget ≥ macs_at(hi)
    let (mut lo, mut hi, mut hi_macs) = (0usize, k_max, top);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        let m = macs_at(mid);
        if m <= budget {
            (hi, hi_macs) = (mid, m);
        } else {
            lo = mid;
        }
    }
    pick(hi, hi_macs, true)
}

/// How many candidates past the one that crosses a MACs goal [`pick_to_macs`] may take instead.
pub const CROSSING_WINDOW: usize = 32;

/// Marks `cand` rows zero, in order, until `macs_without(zero) ≤ goal`, and returns them. The row
/// that crosses the goal is the one, among it and the next [`CROSSING_WINDOW`] candidates, that
/// leaves the most MACs within the goal: the next row in saliency order may be a wide layer's
/// channel that overshoots the budget, where one a few places later removes just enough (ties keep
/// the order). Takes every candidate when even that stays above the goal. MACs only fall as rows
/// go, so the crossing is found by bisection: O(log |cand| + window) evaluations, not one per row.
pub fn pick_to_macs(zero: &mut [bool], cand: &[usize], goal: u64, macs_without: &dyn Fn(&[bool]) -> u64) -> Vec<usize> {
    if macs_without(zero) <= goal {
        return vec![];
    }
    let with_prefix = |k: usize| {
        let mut z = zero.to_vec();
        cand[..k].iter().for_each(|&g| z[g] = true);
        z
    };
    // prefix `lo` is above the goal; prefix `hi` (MACs `hi_macs`) within it
    let (mut lo, mut hi, mut hi_macs) = (0, cand.len(), macs_without(&with_prefix(cand.len())));
    if hi_macs > goal {
        cand.iter().for_each(|&g| zero[g] = true);
        return cand.to_vec();
    }
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        let m = macs_without(&with_prefix(mid));
        if m <= goal {
            (hi, hi_macs) = (mid, m);
        } else {
            lo = mid;
        }
    }
    let i = hi - 1; // cand[i] crosses the goal
    let mut z = with_prefix(i);
    let mut best = (hi_macs, cand[i]);
    for &h in cand[hi..].iter().take(CROSSING_WINDOW) {
        z[h] = true;
        let m = macs_without(&z);
        z[h] = false;
        if m <= goal && m > best.0 {
            best = (m, h);
        }
    }
    let mut picked = cand[..i].to_vec();
    picked.push(best.1);
    picked.iter().for_each(|&g| zero[g] = true);
    picked
}

/// The MACs allowed after `done` of `span` steps from the partition to the deadline: the linear
/// ramp of the count form ([`super::dhspg_math::ramp_floor`]) applied to the MACs to remove.
pub fn ramp_macs_goal(full: u64, budget: u64, done: u64, span: u64) -> u64 {
    let cut = full.saturating_sub(budget) as u128;
    let removed = if span == 0 || done >= span { cut } else { cut * done as u128 / span as u128 };
    full - removed as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Additive MACs: `full` minus the cost of every zero row.
    fn additive(cost: &[u64], full: u64) -> impl Fn(&[bool]) -> u64 + '_ {
        move |z: &[bool]| full - cost.iter().zip(z).filter(|(_, &z)| z).map(|(c, _)| c).sum::<u64>()
    }

    #[test]
    fn pick_to_macs_swaps_the_crossing_row_for_one_that_lands_closer() {
        let cost = [10, 10, 50, 5, 20];
        let f = additive(&cost, 100);
        // in order: 90, 80, then row 2 would land at 30; row 3 lands at 75 ≤ 76, row 4 at 60
        let mut zero = vec![false; 5];
        assert_eq!(pick_to_macs(&mut zero, &[0, 1, 2, 3, 4], 76, &f), vec![0, 1, 3]);
        assert_eq!(f(&zero), 75);
        assert_eq!(zero, [true, true, false, true, false]);
        // no later row reaches the goal alone: the crossing row stays
        let mut zero = vec![false; 5];
        assert_eq!(pick_to_macs(&mut zero, &[0, 2, 3], 60, &f), vec![0, 2]);
        // already within the goal, and candidates running out
        assert!(pick_to_macs(&mut vec![false; 5], &[0, 1], 100, &f).is_empty());
        let mut zero = vec![false; 5];
        assert_eq!(pick_to_macs(&mut zero, &[3, 0], 10, &f), vec![3, 0]);
        assert_eq!(f(&zero), 85);
        // rows already zero stay zero and count
        let mut zero = vec![false, false, true, false, false];
        assert_eq!(pick_to_macs(&mut zero, &[0, 3, 4], 35, &f), vec![0, 3]);
        assert_eq!(f(&zero), 35);
    }

    #[test]
    fn pick_to_macs_looks_only_a_window_past_the_crossing() {
        // the crossing row removes 60; the exact fit (cost 1) sits past the window
        let mut cost = vec![60];
        cost.extend(std::iter::repeat(100).take(CROSSING_WINDOW));
        cost.push(1);
        let f = additive(&cost, 10_000);
        let order: Vec<usize> = (0..cost.len()).collect();
        let mut zero = vec![false; cost.len()];
        assert_eq!(pick_to_macs(&mut zero, &order, 9_999, &f), vec![0]);
    }

    #[test]
    fn pick_to_macs_bisection_agrees_with_the_row_by_row_walk() {
        // pseudo-random costs and orders; the walk adds rows one by one until the goal is met
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = |m: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % m
        };
        for _ in 0..200 {
            let n = 1 + next(80) as usize;
            let cost: Vec<u64> = (0..n).map(|_| 1 + next(50)).collect();
            let full = cost.iter().sum::<u64>() + next(100);
            let f = additive(&cost, full);
            let order: Vec<usize> = (0..n).filter(|_| next(4) > 0).collect();
            let goal = next(full + 1);
            let mut walk = vec![false; n];
            let mut k = 0;
            while k < order.len() && f(&walk) > goal {
                walk[order[k]] = true;
                k += 1;
            }
            let mut zero = vec![false; n];
            let picked = pick_to_macs(&mut zero, &order, goal, &f);
            assert_eq!(picked.len(), k, "same count as the walk");
            assert_eq!(picked[..k.saturating_sub(1)], order[..k.saturating_sub(1)]);
            assert!(f(&zero) >= f(&walk), "never further below the goal than the walk");
            assert_eq!(f(&zero) <= goal, f(&walk) <= goal);
        }
    }
}
