//! [oto] One pruning configuration for both pruners: what to remove ([`Target`]) and when
//! ([`PruneConfig`]: the schedule's start and deadline in steps, `group_divisible` q and the
//! per-group cap ρ). [`super::DhspgConfig`] and [`super::HessoConfig`] each hold one
//! (`cfg.prune`) next to their own hyper-parameters; `oto train` builds it from
//! `--target-sparsity` / `--target-flops` / `--prune-rows` (`train::optimizers::prune_config`).
//!
//! The configuration is never changed by training: what the pruners derive from it (the row
//! count a FLOPs target comes to at DHSPG's partition, the global rows of a row list) lives in
//! the optimizer's state, and in its checkpoint where a resume needs it.
use super::rows::RowLayout;
use crate::OptimError;
use serde::{Deserialize, Serialize};

/// [oto] The default pruning window of both pruners, as shares of the run's steps: the rows are
/// chosen at 3/8 of the run (DHSPG's partition, HESSO's first period) and the target is reached
/// by half of it, so the pruned network trains for the second half. Measured side by side with
/// the peers (docs/benchmarks.md, ResNet-20 at 50 % of the MACs, 1,248 steps): DHSPG 70.23 %
/// over two seeds against 67.44 % with the earlier window (a fifth of the run, then a quarter),
/// windows 2/8–4/8 and 4/8–5/8 lower; HESSO +3.3 pt.
pub const DEFAULT_WINDOW: (f64, f64) = (0.375, 0.5);

/// The default schedule of a run of `total` steps: (start step, deadline), see [`DEFAULT_WINDOW`].
pub fn default_window(total: u64) -> (u64, u64) {
    let at = |share: f64| (share * total as f64).round() as u64;
    let start = at(DEFAULT_WINDOW.0);
    (start, at(DEFAULT_WINDOW.1).max(start + 1))
}

/// What a pruner removes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The fraction `s ∈ [0, 1)` of the prunable rows to zero: `⌊s·N⌋` rows, chosen by the
    /// pruner (DHSPG's saliency partition and half-space projection, HESSO's importance).
    GroupSparsity(f64),
    /// The fraction of the full model's MACs to keep, in (0, 1]: rows are zeroed until the MACs
    /// of the model without them are within it (needs the pruner's `with_macs` and `q = 1`).
    Flops(f64),
    /// Exactly these rows (channels), by analysis row id (`oto_graph::zig::Row::id`): they are
    /// the rows the pruner zeroes, on its usual schedule, instead of the ones its score would
    /// pick — DHSPG's `G_p` is this set (pushed, projected, forced by the ramp and the deadline),
    /// HESSO's periods pick from it. Every id must be a prunable row, and every group must keep
    /// at least one row and `1 − ρ` of its rows (needs `q = 1` and DHSPG's exact mode).
    Channels(Vec<usize>),
}

impl Default for Target {
    fn default() -> Self {
        Target::GroupSparsity(0.5)
    }
}

impl Target {
    /// `s` of a group-sparsity target.
    pub fn group_sparsity(&self) -> Option<f64> {
        match self {
            Target::GroupSparsity(s) => Some(*s),
            _ => None,
        }
    }
    /// The MACs share of a FLOPs target.
    pub fn flops(&self) -> Option<f64> {
        match self {
            Target::Flops(f) => Some(*f),
            _ => None,
        }
    }
    /// The row ids of a row-list target.
    pub fn channels(&self) -> Option<&[usize]> {
        match self {
            Target::Channels(r) => Some(r),
            _ => None,
        }
    }
}

/// What DHSPG and HESSO share: the target, the schedule in optimizer steps, and the group rules.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PruneConfig {
    pub target: Target,
    /// `S`: the dense steps before pruning. DHSPG partitions (and, by default, starts projecting)
    /// at step `S + 1`; HESSO's first period starts at step `S + 1`.
    pub start_step: u64,
    /// The step by which the target is reached. DHSPG (exact mode): the pruning deadline, where
    /// the rows still missing are forced to zero (none: `S + max(1, total_steps / 4)` when
    /// [`super::DhspgConfig::total_steps`] is known, else no deadline). HESSO: the end of its
    /// periods, `D = max(1, ⌊(deadline − S) / P⌋)` steps each (none: `deadline − S` = 1, the
    /// original's one-shot schedule).
    pub deadline: Option<u64>,
    /// q: surviving rows of every group are a multiple of q, at least q.
    pub group_divisible: usize,
    /// ρ: at most `⌊ρ·n_G⌋` rows of a group are removed (1 = no cap).
    pub upper_group_sparsity: f64,
}

impl Default for PruneConfig {
    fn default() -> Self {
        PruneConfig::new(Target::default())
    }
}

impl PruneConfig {
    /// `target` from step 0, no deadline, `q = 1`, no ρ cap.
    pub fn new(target: Target) -> Self {
        PruneConfig { target, start_step: 0, deadline: None, group_divisible: 1, upper_group_sparsity: 1.0 }
    }

    /// Range checks; `who` names the optimizer in the messages.
    pub fn validate(&self, who: &str) -> Result<(), OptimError> {
        let bad = |m: String| Err(OptimError::Config(format!("{who}: {m}")));
        match &self.target {
            Target::GroupSparsity(s) if !(0.0..1.0).contains(s) => {
                return bad(format!("the target group sparsity must be in [0, 1), got {s}"))
            }
            Target::Flops(f) if !(*f > 0.0 && *f <= 1.0) => {
                return bad(format!("target_flops (fraction of MACs to keep) must be in (0, 1], got {f}"))
            }
            Target::Flops(_) if self.group_divisible != 1 => return bad("target_flops needs group_divisible = 1".into()),
            Target::Channels(r) if r.is_empty() => return bad("the target's row list is empty".into()),
            Target::Channels(_) if self.group_divisible != 1 => {
                return bad("a target row list needs group_divisible = 1".into())
            }
            _ => {}
        }
        if self.group_divisible == 0 {
            return bad("group_divisible must be ≥ 1".into());
        }
        if !(0.0..=1.0).contains(&self.upper_group_sparsity) {
            return bad("upper_group_sparsity must be in [0, 1]".into());
        }
        Ok(())
    }

    /// A row-list target as flags over the layout's global rows (`None` for the other targets).
    /// Errors name an id that is not a prunable row, and a group the list would empty or thin
    /// past ρ.
    pub fn listed_rows(&self, layout: &RowLayout, who: &str) -> Result<Option<Vec<bool>>, OptimError> {
        let Target::Channels(ids) = &self.target else { return Ok(None) };
        let bad = |m: String| Err(OptimError::Config(format!("{who}: {m}")));
        let mut global = vec![None; layout.row_ids.iter().max().map_or(0, |m| m + 1)];
        for (g, &r) in layout.row_ids.iter().enumerate() {
            global[r] = Some(g);
        }
        let mut listed = vec![false; layout.n_rows];
        for &id in ids {
            match global.get(id).copied().flatten() {
                Some(g) => listed[g] = true,
                None => {
                    return bad(format!(
                        "row {id} of the target's row list is not a prunable row of the analysis (the {} prunable rows have ids {}..={})",
                        layout.n_rows,
                        layout.row_ids.iter().min().copied().unwrap_or(0),
                        layout.row_ids.iter().max().copied().unwrap_or(0)
                    ))
                }
            }
        }
        for (group, rows) in &layout.groups {
            let n = rows.len();
            let k = rows.iter().filter(|&&g| listed[g]).count();
            let cap = (self.upper_group_sparsity * n as f64).floor() as usize;
            if k == n {
                return bad(format!("the target's row list removes all {n} prunable rows of group {group}; a group keeps at least one"));
            }
            if k > cap {
                return bad(format!(
                    "the target's row list removes {k} of the {n} rows of group {group}, more than upper_group_sparsity ρ = {} allows ({cap})",
                    self.upper_group_sparsity
                ));
            }
        }
        Ok(Some(listed))
    }
}
