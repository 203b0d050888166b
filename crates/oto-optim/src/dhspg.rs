//! DHSPG (Dual Half-Space Projected Gradient), spec §3, over the ZIG rows of the analysis.
//!
//! One step (§3.11, reorganised as in §3.2 [oto]):
//! 1. baseline direction `d` per tensor ([`Direction`], §3.3);
//! 2. one fused pass per tensor with prunable rows: `‖x_g‖², ⟨x_g, d_g⟩, ‖d_g‖²` per row
//!    ([`RowLayout::row_sums`], one `index_add_` per tensor, one device→host copy);
//! 3. host-side row logic in f64 over `N` rows: partition (§3.5, once, `Dhspg::do_partition`),
//!    adaptive λ (§3.6) and half-space test (§3.7, evaluated analytically:
//!    `x̂_g = α_g·x_g − η·d_g`) with exact-sparsity capping (`Dhspg::push_and_project`),
//!    zero-freeze (§3.8), the exact mode's ramp and deadline (§6 item 6,
//!    `Dhspg::force_lagging_rows`);
//! 4. the update of every tensor: `x ← A_b ⊙ x − η·M_b ⊙ d` where `A = mask·α`, `M = mask` are
//!    per-row factors broadcast along the row axis (one host→device copy per step);
//! 5. sparsity, ω of both parts and λ statistics of the new point, computed analytically from the
//!    sums of step 2 (§3.9, fused with the update — no second pass).
//!
//! The configuration ([`DhspgConfig`], its target in [`PruneConfig`]) is not changed by a step:
//! what the partition derives from it — `G_p`, the target row count `K_s` (for a FLOPs target,
//! the count its MACs budget comes to) — is optimizer state, saved by [`Optimizer::state`].

pub use super::dhspg_config::{DhspgConfig, SaliencyMagnitude, SparsityMode, WeightDecayType};
pub use super::dhspg_math::{
    adaptive_lambda, deadline_pick, group_rank_blend, partition, ramp_floor, reachable_target, round_half_even, saliency,
};

use super::baseline::{Direction, Variant};
use super::flat::FlatRows;
use super::flops_target::{pick_to_macs, ramp_macs_goal, rows_for_flops, LayoutMacs};
use super::prune_config::{PruneConfig, Target};
use super::row_step::{self, flags_tensor, norm_after, zero_after, RowStep, SavedRows};
use super::rows::RowLayout;
use super::{OptimStats, Optimizer, Param};
use crate::OptimError;
use oto_graph::flops::RowMacs;
use oto_graph::zig::Analysis;
use tch::Tensor;

/// DHSPG over the prunable rows of an analysis.
pub struct Dhspg {
    cfg: DhspgConfig,
    /// The current η (starts at `cfg.lr`; `set_lr` and a loaded state change it).
    lr: f64,
    params: Vec<Param>,
    dir: Direction,
    layout: RowLayout,
    /// Multi-tensor buffer of the single-entry row tensors (None: per-tensor path only).
    flat: Option<FlatRows>,
    t: u64,
    partitioned: bool,
    /// `G_p` membership per row.
    gp: Vec<bool>,
    /// ‖x_g‖ at partition time.
    part_norm: Vec<f64>,
    /// Exact-mode target `K_s`: `⌊s·N⌋` or the row list's size from the start, adjusted at the
    /// partition; for a FLOPs target 0 until the partition derives it from the MACs budget.
    k_s: usize,
    /// A row-list target over the global rows (`Target::Channels`, resolved once).
    listed: Option<Vec<bool>>,
    deadline_done: bool,
    /// Rows forced to zero by the ramp before the deadline.
    ramp_forced: usize,
    stats: OptimStats,
    events: Vec<String>,
    /// MACs as a function of the removed rows (for a FLOPs target and `saliency_flops`).
    macs: Option<LayoutMacs>,
}

impl std::fmt::Debug for Dhspg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dhspg").field("cfg", &self.cfg).field("rows", &self.layout.n_rows).field("t", &self.t).finish()
    }
}

/// One step's row sums (from [`RowStep::begin`]) and what follows from them, before the update.
struct Sums {
    xx: Vec<f64>,
    xd: Vec<f64>,
    dd: Vec<f64>,
    /// `‖x_g‖`.
    nx: Vec<f64>,
    /// Rows exactly zero before the step, and how many of them count towards the target.
    zero_pre: Vec<bool>,
    z_pre: usize,
}

/// The per-row factors of the update `x ← α·mask·x − η·mask·d` (`N + 1` entries, the last for
/// positions outside prunable rows), and `α` of the tensors without rows.
struct Factors {
    alpha: Vec<f64>,
    mask: Vec<f64>,
    base_alpha: f64,
}

/// What the push and the projection of one step did (for the statistics).
#[derive(Default)]
struct Push {
    lam_sum: f64,
    lam_max: f64,
    lam_cnt: usize,
    projected: usize,
}

impl Dhspg {
    pub fn new(params: Vec<Param>, analysis: &Analysis, cfg: DhspgConfig) -> Result<Self, OptimError> {
        cfg.validate()?;
        let (layout, dir, flat) = row_step::frame(&params, analysis, cfg.direction(), cfg.multi_tensor);
        let n = layout.n_rows;
        let listed = cfg.prune.listed_rows(&layout, "DHSPG")?;
        let k_s = match (&cfg.prune.target, &listed) {
            (Target::GroupSparsity(s), _) => (s * n as f64).floor() as usize,
            (_, Some(l)) => l.iter().filter(|&&b| b).count(),
            _ => 0,
        };
        let flops = cfg.prune.target.flops();
        let stats = OptimStats {
            group_sparsity: Some(0.0),
            zero_rows: Some(0),
            target_zero_rows: flops.is_none().then_some(k_s),
            target_macs: flops,
            stage: Some("dense".into()),
            ..Default::default()
        };
        Ok(Dhspg {
            lr: cfg.lr,
            cfg,
            params,
            dir,
            layout,
            flat,
            t: 0,
            partitioned: false,
            gp: vec![false; n],
            part_norm: vec![0.0; n],
            k_s,
            listed,
            deadline_done: false,
            ramp_forced: 0,
            stats,
            events: vec![],
            macs: None,
        })
    }

    /// Attaches the MACs model of the graph (`RowMacs::new(graph, analysis)`, the analysis given
    /// to [`Dhspg::new`]); required by a FLOPs target and `saliency_flops`.
    pub fn with_macs(mut self, model: RowMacs) -> Self {
        self.macs = Some(LayoutMacs::new(model, &self.layout));
        self
    }
    /// MACs per sample once the global rows with `zero[g]` are removed (needs [`Dhspg::with_macs`]).
    fn macs_without(&self, zero: &[bool]) -> u64 {
        self.macs.as_ref().expect("with_macs").without(zero)
    }
    /// MACs saved by removing each global row alone.
    fn row_costs(&self) -> Vec<f64> {
        self.macs.as_ref().map_or_else(|| vec![1.0; self.layout.n_rows], |m| m.saved_alone())
    }
    /// The MACs budget of a FLOPs target.
    fn flops_budget(&self) -> Option<u64> {
        Some(self.macs.as_ref()?.budget(self.cfg.prune.target.flops()?))
    }

    /// The configuration, as given to [`Dhspg::new`] (a step never changes it).
    pub fn config(&self) -> &DhspgConfig {
        &self.cfg
    }
    /// The target and schedule shared with HESSO.
    pub fn prune_config(&self) -> &PruneConfig {
        &self.cfg.prune
    }
    pub fn layout(&self) -> &RowLayout {
        &self.layout
    }
    pub fn params(&self) -> &[Param] {
        &self.params
    }
    /// `G_p` membership per global row (empty set before the partition).
    pub fn penalised(&self) -> &[bool] {
        &self.gp
    }
    pub fn partitioned(&self) -> bool {
        self.partitioned
    }
    /// Number of parameters in the multi-tensor buffer (0: per-tensor path only).
    pub fn multi_tensor_params(&self) -> usize {
        self.flat.as_ref().map_or(0, |f| f.members.len())
    }
    /// Steps taken.
    pub fn steps(&self) -> u64 {
        self.t
    }
    /// The exact-mode target count (`⌊s·N⌋`, or the row list's size, before the partition,
    /// adjusted after; for a FLOPs target 0 before the partition, then the count it derives).
    pub fn target_zero_rows(&self) -> usize {
        self.k_s
    }
    /// Logged events (partition, deadline).
    pub fn events(&self) -> &[String] {
        &self.events
    }
    /// Current per-row norms ‖x_g‖ (one pass; for tests and reports).
    pub fn row_norms(&self) -> Vec<f64> {
        self.layout.norms(&self.params)
    }

    /// The zero rows among `zero` that count towards the target: all of them, or for a row list
    /// the listed ones (a row outside it that happens to be zero does not stand in for one).
    fn zeros_counted(&self, zero: impl Fn(usize) -> bool) -> usize {
        (0..self.layout.n_rows).filter(|&g| zero(g) && self.listed.as_ref().is_none_or(|l| l[g])).count()
    }

    /// `s` of the legacy mode (which only takes a group-sparsity target).
    fn legacy_sparsity(&self) -> f64 {
        self.cfg.prune.target.group_sparsity().unwrap_or(0.0)
    }

    /// The saliency of §3.5 (high = redundant), weighted by the rows' MACs with `saliency_flops`.
    fn partition_score(&self, xx: &[f64], xd: &[f64], dd: &[f64]) -> Vec<f64> {
        let c = &self.cfg;
        let mut score = saliency(xx, xd, dd, &self.layout.row_width, c.saliency_magnitude, c.safe_guard, c.score_eps);
        if c.saliency_flops {
            let cost = self.row_costs();
            let mean = cost.iter().sum::<f64>() / cost.len().max(1) as f64;
            if mean > 0.0 {
                for (s, c) in score.iter_mut().zip(&cost) {
                    *s *= c / mean; // score_g · c_g / mean c
                }
            }
        }
        if c.group_rank > 0.0 {
            score = group_rank_blend(&score, &self.layout.groups, c.group_rank);
        }
        score
    }

    /// The sparsity `s` a FLOPs target `keep` comes to ([`rows_for_flops`]), and the note of the
    /// partition event.
    fn sparsity_for_flops(&self, score: &[f64], keep: f64) -> (f64, String) {
        let (c, Some(m)) = (&self.cfg, &self.macs) else { return (0.0, String::new()) };
        let p = rows_for_flops(score, &self.layout.groups, c.prune.group_divisible, c.partition_cap(), m.full(), &|z| self.macs_without(z), keep);
        let note = format!(
            "; FLOPs target {:.1}%: about {} rows (the top-ranked ones leave {:.1}% of the MACs){}; rows are zeroed until the MACs are within the target",
            100.0 * keep,
            p.k,
            100.0 * p.fraction(),
            if p.reached { "" } else { " — out of reach: every group keeps a channel (and 1 − ρ of its rows)" }
        );
        (p.sparsity, note)
    }

    /// The partition (§3.5): `G_p` (the top rows by saliency, or a row-list target's rows), the
    /// norms at partition time, and the exact target `K_s` — all optimizer state.
    fn do_partition(&mut self, xx: &[f64], xd: &[f64], dd: &[f64]) {
        let n = self.layout.n_rows;
        let (gp, base, note) = match &self.listed {
            Some(listed) => (listed.clone(), listed.iter().filter(|&&b| b).count(), "; G_p = the target's row list".to_string()),
            None => {
                let score = self.partition_score(xx, xd, dd);
                let (s, note) = match &self.cfg.prune.target {
                    Target::Flops(keep) => self.sparsity_for_flops(&score, *keep),
                    t => (t.group_sparsity().unwrap_or(0.0), String::new()),
                };
                let c = &self.cfg;
                let gp = partition(&score, &self.layout.groups, s, c.tolerance_group_sparsity, c.prune.group_divisible, c.partition_cap());
                (gp, (s * n as f64).floor() as usize, note)
            }
        };
        self.gp = gp;
        self.part_norm = xx.iter().map(|v| v.sqrt()).collect();
        let per_group: Vec<(usize, usize)> =
            self.layout.groups.iter().map(|(_, rows)| (rows.len(), rows.iter().filter(|&&g| self.gp[g]).count())).collect();
        self.k_s = match self.cfg.mode {
            SparsityMode::Exact => reachable_target(base, &per_group, self.cfg.prune.group_divisible),
            SparsityMode::Legacy => base,
        };
        let np = self.gp.iter().filter(|&&b| b).count();
        self.events.push(format!(
            "step {}: partition: {np} of {n} rows penalised (G_p), target {} zero rows{}{note}",
            self.t,
            self.k_s,
            if self.k_s < base { format!(" (⌊s·N⌋ = {base} adjusted for group_divisible / G_p size)") } else { String::new() }
        ));
    }

    /// Forced completion (exact mode): picks up to `budget` more rows of `G_p` (nonzero, not yet
    /// masked) by smallest ‖x_g‖/‖x_g at partition‖, respecting divisibility ([`deadline_pick`]).
    fn deadline_pick(&self, nx: &[f64], mask: &[f64], budget: usize) -> Vec<usize> {
        deadline_pick(&self.layout.groups, &self.gp, &self.part_norm, nx, mask, self.cfg.prune.group_divisible, budget)
    }

    /// The factors before the row logic: `α` = 1, or AdamW's decoupled decay `1 − η·wd` (per row
    /// `1 − η·wd/‖x_g‖` with `l1_norm`); every mask entry 1.
    fn base_factors(&self, nx: &[f64]) -> Factors {
        let (c, lr, n) = (&self.cfg, self.lr, self.layout.n_rows);
        let decoupled = c.variant == Variant::AdamW && c.weight_decay != 0.0;
        let base_alpha = if decoupled { 1.0 - lr * c.weight_decay } else { 1.0 };
        let mut alpha = vec![base_alpha; n + 1];
        if decoupled && c.weight_decay_type == WeightDecayType::L1Norm {
            for g in 0..n {
                alpha[g] = 1.0 - lr * c.weight_decay / (nx[g] + c.safe_guard);
            }
        }
        Factors { alpha, mask: vec![1.0; n + 1], base_alpha }
    }

    /// Whether the push and the projection run this step: after the partition, while the target
    /// is not reached (legacy: the sparsity before the step; exact: the count, or the MACs).
    fn pruning_active(&self, s: &Sums, budget: Option<u64>) -> bool {
        let n = self.layout.n_rows;
        self.partitioned
            && match self.cfg.mode {
                SparsityMode::Legacy => (s.z_pre as f64) / (n as f64) < self.legacy_sparsity(),
                SparsityMode::Exact => match budget {
                    Some(b) => self.macs_without(&s.zero_pre) > b,
                    None => s.z_pre < self.k_s,
                },
            }
    }

    /// The adaptive push (§3.6) of every nonzero `G_p` row into `f.alpha`, then from
    /// `half_space_project_steps` on the half-space projection (§3.7) of the candidates into
    /// `f.mask`.
    fn push_and_project(&self, s: &Sums, f: &mut Factors, budget: Option<u64>) -> Push {
        let (c, t, lr) = (&self.cfg, self.t, self.lr);
        let mut push = Push::default();
        for g in 0..self.layout.n_rows {
            if !self.gp[g] || s.nx[g] == 0.0 {
                continue;
            }
            let lam = if t >= c.warm_up_steps {
                adaptive_lambda(s.xd[g], s.nx[g], s.dd[g], c.lmbda, c.lmbda_amplify, c.hat_lmbda_coeff)
            } else {
                c.lmbda
            };
            push.lam_sum += lam;
            push.lam_max = push.lam_max.max(lam);
            push.lam_cnt += 1;
            f.alpha[g] -= lr * lam / (s.nx[g] + c.safe_guard);
        }
        if t >= c.schedule().1 {
            let cand = self.projection_candidates(s, &f.alpha, budget);
            for &g in &cand {
                f.mask[g] = 0.0;
            }
            push.projected = cand.len();
        }
        push
    }

    /// The rows the half-space test projects: nonzero `G_p` rows with `⟨x̂_g, x_g⟩/‖x_g‖² < ε`,
    /// smallest ratio first, within each group's ρ cap; the exact mode takes only the first
    /// `K_s − Z` of them (or, for a FLOPs target, only while the MACs are above the budget).
    fn projection_candidates(&self, s: &Sums, alpha: &[f64], budget: Option<u64>) -> Vec<usize> {
        let (c, lr, n, xx) = (&self.cfg, self.lr, self.layout.n_rows, &s.xx);
        let mut cand: Vec<(f64, usize)> = (0..n)
            .filter(|&g| self.gp[g] && xx[g] > 0.0)
            .map(|g| ((alpha[g] * xx[g] - lr * s.xd[g]) / xx[g], g))
            .filter(|(r, _)| *r < c.epsilon)
            .collect();
        cand.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal).then(a.1.cmp(&b.1)));
        // per-group cap ρ
        let rho = c.prune.upper_group_sparsity;
        if rho < 1.0 {
            let mut room = vec![0usize; n];
            for (_, rows) in &self.layout.groups {
                let cap = (rho * rows.len() as f64).floor() as usize;
                let z = rows.iter().filter(|&&g| xx[g] == 0.0).count();
                for &g in rows {
                    room[g] = cap.saturating_sub(z);
                }
            }
            let mut used = std::collections::HashMap::new();
            cand.retain(|&(_, g)| {
                let grp = self.layout.row_group[g];
                let u = used.entry(grp).or_insert(0usize);
                if *u < room[g] {
                    *u += 1;
                    true
                } else {
                    false
                }
            });
        }
        let mut cand: Vec<usize> = cand.into_iter().map(|(_, g)| g).collect();
        if c.mode == SparsityMode::Exact {
            match budget {
                // FLOPs target: project candidates in order while the MACs are above it
                Some(b) => cand = pick_to_macs(&mut s.zero_pre.clone(), &cand, b, &|z| self.macs_without(z)),
                None => cand.truncate(self.k_s.saturating_sub(s.z_pre)),
            }
        }
        cand
    }

    /// Zero-freeze (§3.8): with `fixed_zero_groups`, or after the first projection step, rows
    /// that were zero before the step stay zero.
    fn freeze_zero_rows(&self, xx: &[f64], mask: &mut [f64]) {
        if self.cfg.fixed_zero_groups || self.t > self.cfg.schedule().1 {
            for g in 0..self.layout.n_rows {
                if xx[g] == 0.0 {
                    mask[g] = 0.0;
                }
            }
        }
    }

    /// The exact mode's ramp and deadline: rows still missing from the linear floor (at the
    /// deadline: from the target) are forced to zero in `mask`. Returns the deadline's event.
    fn force_lagging_rows(&mut self, nx: &[f64], mask: &mut [f64], budget: Option<u64>) -> Option<String> {
        if self.cfg.mode != SparsityMode::Exact || !self.partitioned || self.deadline_done {
            return None;
        }
        let dl = self.cfg.deadline()?;
        let (p, _) = self.cfg.schedule();
        let (t, n) = (self.t, self.layout.n_rows);
        let (done, span) = if t >= dl {
            (1, 1)
        } else if self.cfg.pruning_ramp && dl > p {
            (t.saturating_sub(p), dl - p)
        } else {
            (0, 1)
        };
        let z_now = self.zeros_counted(|g| mask[g] == 0.0);
        let picked = match budget {
            None => {
                let need = ramp_floor(self.k_s, done, span).saturating_sub(z_now);
                if need > 0 { self.deadline_pick(nx, mask, need) } else { vec![] }
            }
            // FLOPs target: the ramp (and the deadline) bound the MACs instead of the count
            Some(b) => {
                let full = self.macs.as_ref().map_or(0, |m| m.full());
                let goal = ramp_macs_goal(full, b, done, span);
                let mut zero: Vec<bool> = (0..n).map(|g| mask[g] == 0.0).collect();
                if self.macs_without(&zero) > goal {
                    let order = self.deadline_pick(nx, mask, n);
                    pick_to_macs(&mut zero, &order, goal, &|z| self.macs_without(z))
                } else {
                    vec![]
                }
            }
        };
        for &g in &picked {
            mask[g] = 0.0;
        }
        if t < dl {
            self.ramp_forced += picked.len();
            return None;
        }
        self.deadline_done = true;
        let msg = self.deadline_message(picked.len(), z_now, mask, budget);
        self.events.push(msg.clone());
        Some(msg)
    }

    /// The deadline's event: rows forced now and by the ramp, and what the target is measured in
    /// (MACs for a FLOPs target, else the row count) reached.
    fn deadline_message(&self, forced: usize, z_now: usize, mask: &[f64], budget: Option<u64>) -> String {
        let n = self.layout.n_rows;
        let reached = match (budget, &self.macs) {
            (Some(b), Some(m)) => {
                let now = self.macs_without(&(0..n).map(|g| mask[g] == 0.0).collect::<Vec<_>>());
                format!(
                    "{} zero rows, MACs {:.1}% of full (target {:.1}%){}",
                    z_now + forced,
                    100.0 * m.share(now),
                    100.0 * self.cfg.prune.target.flops().unwrap_or(1.0),
                    if now > b { " — G_p ran out of rows before the target" } else { "" }
                )
            }
            _ => format!("{} of target {} zero rows", z_now + forced, self.k_s),
        };
        format!(
            "step {}: pruning deadline: {forced} rows forced to zero (smallest ‖x_g‖/‖x_g at partition‖ in G_p), {} earlier by the ramp; {reached}",
            self.t, self.ramp_forced,
        )
    }

    /// Statistics of the new point (§3.9), analytic from the sums and the factors of the step.
    fn new_point_stats(&self, s: &Sums, f: &Factors, budget: Option<u64>, push: Push, event: Option<String>) -> OptimStats {
        let (n, lr) = (self.layout.n_rows, self.lr);
        let (mut om_p, mut om_np) = (0.0, 0.0);
        let mut zero = vec![false; n];
        for g in 0..n {
            let nn = norm_after(s.xx[g], s.xd[g], s.dd[g], f.alpha[g] * f.mask[g], f.mask[g], lr);
            zero[g] = zero_after(s.xx[g], s.dd[g], f.mask[g]);
            if self.gp[g] {
                om_p += nn;
            } else {
                om_np += nn;
            }
        }
        let z = zero.iter().filter(|&&b| b).count();
        // MACs of the new point (FLOPs target only)
        let flops = self.cfg.prune.target.flops();
        let macs_now = match (flops, &self.macs) {
            (Some(_), Some(_)) => Some(self.macs_without(&zero)),
            _ => None,
        };
        let stage = if !self.partitioned {
            "dense"
        } else if match self.cfg.mode {
            SparsityMode::Legacy => (z as f64) / (n as f64) >= self.legacy_sparsity(),
            SparsityMode::Exact => match (budget, macs_now) {
                (Some(b), Some(now)) => now <= b,
                _ => self.zeros_counted(|g| zero[g]) >= self.k_s,
            },
        } {
            "after_target"
        } else if self.t >= self.cfg.schedule().1 {
            "pruning"
        } else {
            "pushing"
        };
        OptimStats {
            group_sparsity: Some(if n > 0 { z as f64 / n as f64 } else { 0.0 }),
            zero_rows: Some(z),
            // a FLOPs target is met in MACs; k_s is then only the size of G_p (an upper bound)
            target_zero_rows: flops.is_none().then_some(self.k_s),
            macs_kept: macs_now.zip(self.macs.as_ref()).map(|(now, m)| m.share(now)),
            target_macs: flops,
            omega_p: Some(om_p),
            omega_np: Some(om_np),
            lambda_mean: if push.lam_cnt > 0 { Some(push.lam_sum / push.lam_cnt as f64) } else { None },
            lambda_max: if push.lam_cnt > 0 { Some(push.lam_max) } else { None },
            stage: Some(stage.into()),
            projected_rows: Some(push.projected),
            event,
        }
    }
}

impl Optimizer for Dhspg {
    fn step(&mut self) -> Result<(), OptimError> {
        if (self.cfg.prune.target.flops().is_some() || self.cfg.saliency_flops) && self.macs.is_none() {
            return Err(OptimError::Config(
                "DHSPG: target_flops and saliency_flops need the graph's MACs model: attach it with Dhspg::with_macs(RowMacs::new(&graph, &analysis))".into(),
            ));
        }
        let _guard = tch::no_grad_guard();
        self.t += 1;
        let n = self.layout.n_rows;
        // 1–2. directions and per-row sums
        let mut rs = RowStep::begin("DHSPG", &self.params, &mut self.dir, &self.layout, &mut self.flat)?;
        let (xx, xd, dd) = (std::mem::take(&mut rs.xx), std::mem::take(&mut rs.xd), std::mem::take(&mut rs.dd));
        let nx: Vec<f64> = xx.iter().map(|v| v.sqrt()).collect();
        let zero_pre: Vec<bool> = xx.iter().map(|&v| v == 0.0).collect();
        let z_pre = self.zeros_counted(|g| zero_pre[g]);
        let s = Sums { xx, xd, dd, nx, zero_pre, z_pre };
        // 3. row logic
        let mut event = None;
        if !self.partitioned && self.t - 1 == self.cfg.schedule().0 && n > 0 {
            self.do_partition(&s.xx, &s.xd, &s.dd);
            self.partitioned = true;
            event = self.events.last().cloned();
        }
        let mut f = self.base_factors(&s.nx);
        let budget = if self.partitioned { self.flops_budget() } else { None };
        let push = if self.pruning_active(&s, budget) { self.push_and_project(&s, &mut f, budget) } else { Push::default() };
        self.freeze_zero_rows(&s.xx, &mut f.mask);
        if let Some(msg) = self.force_lagging_rows(&s.nx, &mut f.mask, budget) {
            event = Some(match event {
                Some(e) => format!("{e}; {msg}"),
                None => msg,
            });
        }
        // 4. update
        rs.apply(&self.layout, &mut self.flat, &mut self.params, &f.alpha, &f.mask, self.lr, f.base_alpha);
        // 5. statistics of the new point (analytic)
        self.stats = self.new_point_stats(&s, &f, budget, push, event);
        Ok(())
    }

    fn lr(&self) -> f64 {
        self.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }
    fn stats(&self) -> OptimStats {
        self.stats.clone()
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let mut s = self.dir.state(&self.params, self.lr);
        s.push(("dhspg.t".into(), Tensor::from(self.t as i64)));
        s.push(("dhspg.partitioned".into(), Tensor::from(self.partitioned as i64)));
        s.push(("dhspg.deadline_done".into(), Tensor::from(self.deadline_done as i64)));
        s.push(("dhspg.ramp_forced".into(), Tensor::from(self.ramp_forced as i64)));
        s.push(("dhspg.k_s".into(), Tensor::from(self.k_s as i64)));
        s.push(("dhspg.gp".into(), flags_tensor(&self.gp)));
        s.push(("dhspg.partition_norm".into(), Tensor::from_slice(&self.part_norm)));
        s
    }

    fn load_state(&mut self, state: &[(String, Tensor)]) -> Result<(), OptimError> {
        if let Some(lr) = self.dir.load_state(&self.params, state)? {
            self.lr = lr;
        }
        let saved = SavedRows { state, who: "DHSPG", n_rows: self.layout.n_rows };
        self.t = saved.int("dhspg.t")? as u64;
        self.partitioned = saved.int("dhspg.partitioned")? != 0;
        self.deadline_done = saved.int("dhspg.deadline_done")? != 0;
        self.ramp_forced = saved.int("dhspg.ramp_forced").unwrap_or(0) as usize; // absent before the ramp existed
        self.k_s = saved.int("dhspg.k_s")? as usize;
        self.gp = saved.flags("dhspg.gp")?;
        self.part_norm = saved.values("dhspg.partition_norm")?;
        Ok(())
    }
}
