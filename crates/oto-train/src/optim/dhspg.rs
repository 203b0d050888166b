//! DHSPG (Dual Half-Space Projected Gradient), spec §3, over the ZIG rows of the analysis.
//!
//! One step (§3.11, reorganised as in §3.2 [oto]):
//! 1. baseline direction `d` per tensor ([`Direction`], §3.3);
//! 2. one fused pass per tensor with prunable rows: `‖x_g‖², ⟨x_g, d_g⟩, ‖d_g‖²` per row
//!    ([`RowLayout::row_sums`], one `index_add_` per tensor, one device→host copy);
//! 3. host-side row logic in f64 over `N` rows: partition (§3.5, once), adaptive λ (§3.6),
//!    half-space test (§3.7, evaluated analytically: `x̂_g = α_g·x_g − η·d_g`), exact-sparsity
//!    capping and deadline (§6 item 6), zero-freeze (§3.8);
//! 4. the update of every tensor: `x ← A_b ⊙ x − η·M_b ⊙ d` where `A = mask·α`, `M = mask` are
//!    per-row factors broadcast along the row axis (one host→device copy per step);
//! 5. sparsity, ω of both parts and λ statistics of the new point, computed analytically from the
//!    sums of step 2 (§3.9, fused with the update — no second pass).

use super::baseline::{AdamInit, Direction, DirectionConfig, Variant};
use super::flat::FlatRows;
use super::flops_target::{pick_to_macs, ramp_macs_goal, rows_for_flops, LayoutMacs};
use super::row_step::{self, flags_tensor, norm_after, zero_after, RowStep, SavedRows};
use super::rows::RowLayout;
use super::{OptimStats, Optimizer, Param};
use crate::TrainError;
use oto_graph::flops::RowMacs;
use oto_graph::zig::Analysis;
use serde::{Deserialize, Serialize};
use tch::Tensor;

/// `weight_decay_type` (§3.3 item 4; AdamW only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WeightDecayType {
    /// `x̂ −= η·wd·x`.
    #[default]
    L2Norm,
    /// `x̂_g −= η·wd·x_g/‖x_g‖` on prunable rows (group-lasso decay); L2 elsewhere.
    L1Norm,
}

/// How the target sparsity is controlled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SparsityMode {
    /// Spec §6 item 6: at most `K_s − Z` projections per step, forced completion at the deadline,
    /// final zero count `K_s` exactly.
    #[default]
    Exact,
    /// The original: project every candidate, stop globally once sparsity ≥ s.
    Legacy,
}

/// The magnitude term `a_g` of the saliency score (§3.5 step 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SaliencyMagnitude {
    /// The original's `a_g = ‖x_g‖/w` = RMS/√w: wide rows — many-member groups such as a ResNet
    /// stage's residual channels — look small and are pruned first.
    #[default]
    PerWidth,
    /// [oto] `a_g = ‖x_g‖/√w`, the root-mean-square entry: rows of equal per-entry scale score
    /// alike whatever their width. Keeps wide layers wider: on ResNet-20 (3 seeds) +1.9 pt at
    /// +5 pt of FLOPs kept — a different point of the trade-off, not a free gain (benchmarks.md).
    Rms,
}

/// Every hyper-parameter of spec §3.10 (names as in the original), plus oto's additions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DhspgConfig {
    pub variant: Variant,
    pub lr: f64,
    /// SGD momentum μ or Adam β1.
    pub first_momentum: f64,
    /// Adam β2.
    pub second_momentum: f64,
    pub dampening: f64,
    /// [oto] SGD Nesterov (not in the original; default false).
    pub nesterov: bool,
    pub weight_decay: f64,
    pub weight_decay_type: WeightDecayType,
    pub lmbda: f64,
    pub lmbda_amplify: f64,
    pub hat_lmbda_coeff: f64,
    pub epsilon: f64,
    pub target_group_sparsity: f64,
    /// [oto] FLOPs target: the fraction of the full model's MACs to keep. When set, the partition
    /// derives `target_group_sparsity` from it ([`super::flops_target`]) and rows are zeroed until
    /// the MACs are within it (instead of until `K_s` rows); needs [`Dhspg::with_macs`], the exact
    /// mode and `group_divisible = 1`.
    pub target_flops: Option<f64>,
    pub tolerance_group_sparsity: f64,
    pub start_pruning_steps: u64,
    /// Default (None): `start_pruning_steps` (if either this or `half_space_project_steps` is
    /// unset, both become `start_pruning_steps`, as in the original).
    pub partition_step: Option<u64>,
    pub half_space_project_steps: Option<u64>,
    pub warm_up_steps: u64,
    pub group_divisible: usize,
    pub fixed_zero_groups: bool,
    /// ρ: at most `⌊ρ·n_G⌋` zero rows per group. The original caps the projections only; oto's
    /// exact mode also caps `G_p` at the partition, so the ramp and the deadline respect it too.
    pub upper_group_sparsity: f64,
    /// Safe-guard in `x/(‖x‖ + ·)` and cosine denominators.
    pub safe_guard: f64,
    pub adam_eps: f64,
    /// ε in `1/(a + ·)` of the magnitude score.
    pub score_eps: f64,
    /// The saliency's magnitude term: the original's per-width mean (default) or oto's
    /// width-neutral RMS.
    pub saliency_magnitude: SaliencyMagnitude,
    /// [oto] Multiply each row's saliency by `c_g / mean c`, `c_g` = the MACs its removal alone
    /// saves, so the partition prefers rows that cost more compute (needs [`Dhspg::with_macs`]).
    pub saliency_flops: bool,
    /// Adam moment initialisation: the original's `m = g, v = g²` by default.
    pub adam_init: AdamInit,
    pub mode: SparsityMode,
    /// Exact mode: step at which the remaining `K_s − Z` rows are forced to zero.
    pub pruning_deadline: Option<u64>,
    /// Exact mode: spread the forced zeroing from the partition to the deadline — at step `t` at
    /// least `⌊K_s·(t − P)/(deadline − P)⌋` rows are zero, the lagging ones forced like at the
    /// deadline, a few per step, so the network adapts in between (gradual pruning). `false`:
    /// everything still missing is forced at the deadline in one step.
    pub pruning_ramp: bool,
    /// [oto] Multi-tensor form ([`super::flat`]): the single-entry row tensors become views of
    /// one buffer and the per-row work runs on it in a constant number of kernels (same
    /// arithmetic, summation order aside). `None` (default): on for CUDA parameters, where a
    /// small model's step is bound by kernel launches; off on the CPU, whose `index_add_` over
    /// every element costs more than the per-tensor reductions it replaces.
    pub multi_tensor: Option<bool>,
    /// Total training steps, if known: default deadline = `S + max(1, total_steps / 4)`.
    pub total_steps: Option<u64>,
}

impl Default for DhspgConfig {
    fn default() -> Self {
        DhspgConfig::for_variant(Variant::Sgd)
    }
}

impl DhspgConfig {
    /// The original's per-variant defaults (`optimizer/hyperparameter.py`, spec §3.10).
    pub fn for_variant(v: Variant) -> Self {
        let b = v.defaults();
        let (lmbda, amp, hat) = match v {
            Variant::Sgd => (1e-3, 2.0, 10.0),
            Variant::Adam | Variant::AdamW => (1e-2, 20.0, 1e3),
        };
        DhspgConfig {
            variant: v,
            lr: b.lr,
            first_momentum: b.first_momentum,
            second_momentum: b.second_momentum,
            dampening: 0.0,
            nesterov: false,
            weight_decay: b.weight_decay,
            weight_decay_type: WeightDecayType::L2Norm,
            lmbda,
            lmbda_amplify: amp,
            hat_lmbda_coeff: hat,
            epsilon: 0.0,
            target_group_sparsity: 0.5,
            target_flops: None,
            tolerance_group_sparsity: 0.05,
            start_pruning_steps: 0,
            partition_step: None,
            half_space_project_steps: None,
            warm_up_steps: 0,
            group_divisible: 1,
            fixed_zero_groups: true,
            upper_group_sparsity: 1.0,
            safe_guard: 1e-8,
            adam_eps: 1e-8,
            score_eps: 1e-6,
            saliency_magnitude: SaliencyMagnitude::PerWidth,
            saliency_flops: false,
            adam_init: AdamInit::Original,
            mode: SparsityMode::Exact,
            pruning_deadline: None,
            pruning_ramp: true,
            multi_tensor: None,
            total_steps: None,
        }
    }

    /// ρ as the partition applies it: exact mode caps `G_p`; legacy, like the original, does not.
    pub fn partition_cap(&self) -> f64 {
        match self.mode {
            SparsityMode::Exact => self.upper_group_sparsity,
            SparsityMode::Legacy => 1.0,
        }
    }

    /// (partition_step, half_space_project_steps) after the original's defaulting.
    pub fn schedule(&self) -> (u64, u64) {
        match (self.partition_step, self.half_space_project_steps) {
            (Some(p), Some(h)) => (p, h),
            _ => (self.start_pruning_steps, self.start_pruning_steps),
        }
    }

    /// The exact-mode deadline, if any.
    pub fn deadline(&self) -> Option<u64> {
        self.pruning_deadline.or(self.total_steps.map(|t| self.start_pruning_steps + (t / 4).max(1)))
    }

    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |m: &str| Err(TrainError::Config(format!("DHSPG: {m}")));
        if !(0.0..1.0).contains(&self.target_group_sparsity) {
            return bad("target_group_sparsity must be in [0, 1)");
        }
        if let Some(f) = self.target_flops {
            if !(f > 0.0 && f <= 1.0) {
                return bad(&format!("target_flops (fraction of MACs to keep) must be in (0, 1], got {f}"));
            }
            if self.mode != SparsityMode::Exact {
                return bad("target_flops needs the exact sparsity mode (not legacy)");
            }
            if self.group_divisible != 1 {
                return bad("target_flops needs group_divisible = 1");
            }
        }
        if self.tolerance_group_sparsity < 0.0 {
            return bad("tolerance_group_sparsity must be ≥ 0");
        }
        if self.group_divisible == 0 {
            return bad("group_divisible must be ≥ 1");
        }
        if !(self.lr > 0.0) {
            return bad("lr must be > 0");
        }
        if self.lmbda < 0.0 || self.lmbda_amplify <= 0.0 || self.hat_lmbda_coeff < 1.0 {
            return bad("need lmbda ≥ 0, lmbda_amplify > 0, hat_lmbda_coeff ≥ 1");
        }
        if !(0.0..=1.0).contains(&self.upper_group_sparsity) {
            return bad("upper_group_sparsity must be in [0, 1]");
        }
        Ok(())
    }

    fn direction(&self) -> DirectionConfig {
        DirectionConfig {
            variant: self.variant,
            momentum: self.first_momentum,
            beta2: self.second_momentum,
            dampening: self.dampening,
            nesterov: self.nesterov,
            weight_decay: self.weight_decay,
            adam_eps: self.adam_eps,
            adam_init: self.adam_init,
        }
    }
}

/// Python's `round` (half to even), used by the divisibility refinement.
pub fn round_half_even(x: f64) -> f64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 {
        2.0 * (x / 2.0).round()
    } else {
        r
    }
}

/// Saliency score of §3.5 per row (high = redundant); `mag` picks the magnitude term `a_g`.
pub fn saliency(
    xx: &[f64],
    xd: &[f64],
    dd: &[f64],
    width: &[usize],
    mag: SaliencyMagnitude,
    safe: f64,
    score_eps: f64,
) -> Vec<f64> {
    let n = xx.len();
    let mut cos = vec![0.0; n];
    let mut inv = vec![0.0; n];
    for g in 0..n {
        let (nx, nd) = (xx[g].sqrt(), dd[g].sqrt());
        cos[g] = if nx > 0.0 && nd > 0.0 { xd[g] / (nx * nd + safe) } else { 0.0 };
        let w = width[g].max(1) as f64;
        let a = match mag {
            SaliencyMagnitude::Rms => nx / w.sqrt(),
            SaliencyMagnitude::PerWidth => nx / w,
        };
        inv[g] = 1.0 / (a + score_eps);
    }
    let nc = cos.iter().map(|c| c * c).sum::<f64>().sqrt();
    let ni = inv.iter().map(|c| c * c).sum::<f64>().sqrt();
    (0..n)
        .map(|g| 0.5 * if nc > 0.0 { cos[g] / nc } else { 0.0 } + 0.5 * if ni > 0.0 { inv[g] / ni } else { 0.0 })
        .collect()
}

/// Partition (§3.5 steps 5–6): returns the `G_p` membership per row.
/// `groups` = rows of each group (global ids), `q` = `group_divisible`, `rho` = [oto] at most
/// `⌊ρ·n_G⌋` rows of a group in `G_p` (1 = no cap, the original), so that no later pick —
/// projection, ramp or deadline — can thin a group below `1 − ρ` of its rows.
pub fn partition(score: &[f64], groups: &[(usize, Vec<usize>)], s: f64, tau: f64, q: usize, rho: f64) -> Vec<bool> {
    let n = score.len();
    let k = (n as f64 * (s + tau).min(0.999)).floor() as usize;
    let mut order: Vec<usize> = (0..n).collect();
    // top-K by score (descending); ties by index.
    order.sort_by(|&a, &b| score[b].partial_cmp(&score[a]).unwrap_or(std::cmp::Ordering::Equal).then(a.cmp(&b)));
    let mut selected = vec![false; n];
    for &g in order.iter().take(k) {
        selected[g] = true;
    }
    let mut gp = vec![false; n];
    for (_, rows) in groups {
        let ng = rows.len();
        if ng <= q {
            continue;
        }
        let m = rows.iter().filter(|&&g| !selected[g]).count();
        let floor_keep = ng - ((rho * ng as f64).floor() as usize).min(ng);
        let m2 = (q * (round_half_even(m as f64 / q as f64) as usize).max(1)).max(floor_keep.div_ceil(q) * q).min(ng);
        let mut by_score = rows.clone();
        by_score.sort_by(|&a, &b| score[a].partial_cmp(&score[b]).unwrap_or(std::cmp::Ordering::Equal).then(a.cmp(&b)));
        for &g in &by_score[m2..] {
            gp[g] = true;
        }
    }
    gp
}

/// Adaptive λ of §3.6 for one row (`ip = ⟨x, d⟩`, `nx = ‖x‖`, `nd2 = ‖d‖²`).
pub fn adaptive_lambda(ip: f64, nx: f64, nd2: f64, lmbda: f64, amplify: f64, hat: f64) -> f64 {
    if ip < 0.0 && nx > 0.0 {
        let l = -ip / nx;
        let u = -nd2 * nx / ip;
        let mut lam = (amplify * l).max(lmbda).min(lmbda * hat);
        if lam >= u {
            lam = 0.5 * (l + u);
        }
        lam
    } else {
        lmbda
    }
}

/// Exact-mode ramp: zero rows required after `done` of `span` steps from the partition to the
/// deadline, `⌊K_s · done / span⌋` (linear; `K_s` at the deadline).
pub fn ramp_floor(k_s: usize, done: u64, span: u64) -> usize {
    if span == 0 || done >= span {
        return k_s;
    }
    ((k_s as u128 * done as u128) / span as u128) as usize
}

/// The largest total ≤ `target` reachable as Σ z_G with, per group (n_G rows, p_G rows in G_p),
/// `z_G ∈ {0} ∪ {z ≤ p_G : (n_G − z) mod q = 0}` (exact-mode `K_s` adjusted for divisibility).
pub fn reachable_target(target: usize, groups: &[(usize, usize)], q: usize) -> usize {
    if q == 1 {
        return target.min(groups.iter().map(|g| g.1).sum());
    }
    let mut can = vec![false; target + 1];
    can[0] = true;
    for &(n, p) in groups {
        let opts: Vec<usize> = (1..=p.min(target)).filter(|z| (n - z) % q == 0).collect();
        if opts.is_empty() {
            continue;
        }
        let prev = can.clone();
        for s in 0..=target {
            if prev[s] {
                for &z in &opts {
                    if s + z <= target {
                        can[s + z] = true;
                    }
                }
            }
        }
    }
    (0..=target).rev().find(|&s| can[s]).unwrap_or(0)
}

/// DHSPG over the prunable rows of an analysis.
pub struct Dhspg {
    pub cfg: DhspgConfig,
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
    /// Exact-mode target `K_s` (set at partition).
    k_s: usize,
    deadline_done: bool,
    /// Rows forced to zero by the ramp before the deadline.
    ramp_forced: usize,
    stats: OptimStats,
    events: Vec<String>,
    /// MACs as a function of the removed rows (for `target_flops` and `saliency_flops`).
    macs: Option<LayoutMacs>,
}

impl std::fmt::Debug for Dhspg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dhspg").field("cfg", &self.cfg).field("rows", &self.layout.n_rows).field("t", &self.t).finish()
    }
}

impl Dhspg {
    pub fn new(params: Vec<Param>, analysis: &Analysis, cfg: DhspgConfig) -> Result<Self, TrainError> {
        cfg.validate()?;
        let (layout, dir, flat) = row_step::frame(&params, analysis, cfg.direction(), cfg.multi_tensor);
        let n = layout.n_rows;
        let k_s = (cfg.target_group_sparsity * n as f64).floor() as usize;
        let mut d = Dhspg {
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
            deadline_done: false,
            ramp_forced: 0,
            stats: OptimStats::default(),
            events: vec![],
            macs: None,
        };
        d.stats = OptimStats {
            group_sparsity: Some(0.0),
            zero_rows: Some(0),
            target_zero_rows: d.cfg.target_flops.is_none().then_some(k_s),
            target_macs: d.cfg.target_flops,
            stage: Some("dense".into()),
            ..Default::default()
        };
        Ok(d)
    }

    /// Attaches the MACs model of the graph (`RowMacs::new(graph, analysis)`, the analysis given
    /// to [`Dhspg::new`]); required by `target_flops`.
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
    /// The MACs budget of `target_flops`.
    fn flops_budget(&self) -> Option<u64> {
        Some(self.macs.as_ref()?.budget(self.cfg.target_flops?))
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
    /// The exact-mode target count (⌊s·N⌋ before the partition, adjusted after).
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

    fn do_partition(&mut self, xx: &[f64], xd: &[f64], dd: &[f64]) {
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
        let mut flops_note = String::new();
        if let (Some(keep), Some(m)) = (c.target_flops, &self.macs) {
            let p = rows_for_flops(&score, &self.layout.groups, c.group_divisible, c.partition_cap(), m.full(), &|z| self.macs_without(z), keep);
            flops_note = format!(
                "; FLOPs target {:.1}%: about {} rows (the top-ranked ones leave {:.1}% of the MACs){}; rows are zeroed until the MACs are within the target",
                100.0 * keep,
                p.k,
                100.0 * p.fraction(),
                if p.reached { "" } else { " — out of reach: every group keeps a channel (and 1 − ρ of its rows)" }
            );
            self.cfg.target_group_sparsity = p.sparsity;
        }
        let c = &self.cfg;
        self.gp = partition(&score, &self.layout.groups, c.target_group_sparsity, c.tolerance_group_sparsity, c.group_divisible, c.partition_cap());
        self.part_norm = xx.iter().map(|v| v.sqrt()).collect();
        let n = self.layout.n_rows;
        let base = (c.target_group_sparsity * n as f64).floor() as usize;
        let per_group: Vec<(usize, usize)> =
            self.layout.groups.iter().map(|(_, rows)| (rows.len(), rows.iter().filter(|&&g| self.gp[g]).count())).collect();
        self.k_s = match c.mode {
            SparsityMode::Exact => reachable_target(base, &per_group, c.group_divisible),
            SparsityMode::Legacy => base,
        };
        let np = self.gp.iter().filter(|&&b| b).count();
        self.events.push(format!(
            "step {}: partition: {np} of {n} rows penalised (G_p), target {} zero rows{}{flops_note}",
            self.t,
            self.k_s,
            if self.k_s < base { format!(" (⌊s·N⌋ = {base} adjusted for group_divisible / G_p size)") } else { String::new() }
        ));
    }

    /// Forced completion at the deadline (exact mode): picks up to `budget` more rows of `G_p`
    /// (nonzero, not yet masked) by smallest ‖x_g‖/‖x_g at partition‖, respecting divisibility.
    fn deadline_pick(&self, nx: &[f64], mask: &[f64], budget: usize) -> Vec<usize> {
        let q = self.cfg.group_divisible;
        let rel = |g: usize| if self.part_norm[g] > 0.0 { nx[g] / self.part_norm[g] } else { 0.0 };
        let mut picked = vec![];
        if q == 1 {
            let mut cand: Vec<usize> = (0..nx.len()).filter(|&g| self.gp[g] && mask[g] != 0.0).collect();
            cand.sort_by(|&a, &b| rel(a).partial_cmp(&rel(b)).unwrap_or(std::cmp::Ordering::Equal).then(a.cmp(&b)));
            picked.extend(cand.into_iter().take(budget));
            return picked;
        }
        // Per group: current zeros and sorted candidates.
        let mut state: Vec<(usize, usize, Vec<usize>)> = self
            .layout
            .groups
            .iter()
            .map(|(_, rows)| {
                let z = rows.iter().filter(|&&g| mask[g] == 0.0).count();
                let mut c: Vec<usize> = rows.iter().copied().filter(|&g| self.gp[g] && mask[g] != 0.0).collect();
                c.sort_by(|&a, &b| rel(a).partial_cmp(&rel(b)).unwrap_or(std::cmp::Ordering::Equal).then(a.cmp(&b)));
                (rows.len(), z, c)
            })
            .collect();
        let mut left = budget;
        // Fix-ups first: groups whose survivor count is not a multiple of q.
        for (n, z, c) in state.iter_mut() {
            let r = (*n - *z) % q;
            if *z > 0 && r != 0 && r <= c.len() && r <= left {
                picked.extend(c.drain(..r));
                *z += r;
                left -= r;
            }
        }
        // Then the cheapest valid increments.
        loop {
            let mut best: Option<(f64, usize, usize)> = None;
            for (i, (n, z, c)) in state.iter().enumerate() {
                let r = match (*n - *z) % q {
                    0 => q,
                    r => r,
                };
                if r > left || r > c.len() || *n - *z - r < q {
                    continue;
                }
                let cost = c[..r].iter().map(|&g| rel(g)).sum::<f64>() / r as f64;
                if best.is_none_or(|b| cost < b.0) {
                    best = Some((cost, i, r));
                }
            }
            let Some((_, i, r)) = best else { break };
            let (_, z, c) = &mut state[i];
            picked.extend(c.drain(..r));
            *z += r;
            left -= r;
        }
        picked
    }
}

impl Optimizer for Dhspg {
    fn step(&mut self) -> Result<(), TrainError> {
        if (self.cfg.target_flops.is_some() || self.cfg.saliency_flops) && self.macs.is_none() {
            return Err(TrainError::Config(
                "DHSPG: target_flops and saliency_flops need the graph's MACs model: attach it with Dhspg::with_macs(RowMacs::new(&graph, &analysis))".into(),
            ));
        }
        let _guard = tch::no_grad_guard();
        self.t += 1;
        let t = self.t;
        let lr = self.cfg.lr;
        let n = self.layout.n_rows;
        // 1–2. directions and per-row sums
        let mut rs = RowStep::begin("DHSPG", &self.params, &mut self.dir, &self.layout, &mut self.flat)?;
        let (xx, xd, dd) = (std::mem::take(&mut rs.xx), std::mem::take(&mut rs.xd), std::mem::take(&mut rs.dd));
        let nx: Vec<f64> = xx.iter().map(|v| v.sqrt()).collect();
        let z_pre = xx.iter().filter(|&&v| v == 0.0).count();
        // 3. row logic
        let (p_step, hsp_step) = self.cfg.schedule();
        let mut event = None;
        if !self.partitioned && t - 1 == p_step && n > 0 {
            self.do_partition(&xx, &xd, &dd);
            self.partitioned = true;
            event = self.events.last().cloned();
        }
        let c = self.cfg.clone();
        let decoupled = c.variant == Variant::AdamW && c.weight_decay != 0.0;
        let base_alpha = if decoupled { 1.0 - lr * c.weight_decay } else { 1.0 };
        let mut alpha = vec![base_alpha; n + 1];
        if decoupled && c.weight_decay_type == WeightDecayType::L1Norm {
            for g in 0..n {
                alpha[g] = 1.0 - lr * c.weight_decay / (nx[g] + c.safe_guard);
            }
        }
        let mut mask = vec![1.0; n + 1];
        let budget = if self.partitioned { self.flops_budget() } else { None };
        let zero_pre: Vec<bool> = xx.iter().map(|&v| v == 0.0).collect();
        let active = self.partitioned
            && match c.mode {
                SparsityMode::Legacy => (z_pre as f64) / (n as f64) < c.target_group_sparsity,
                SparsityMode::Exact => match budget {
                    Some(b) => self.macs_without(&zero_pre) > b,
                    None => z_pre < self.k_s,
                },
            };
        let (mut lam_sum, mut lam_max, mut lam_cnt) = (0.0, 0.0f64, 0usize);
        let mut projected = 0usize;
        if active {
            for g in 0..n {
                if !self.gp[g] || nx[g] == 0.0 {
                    continue;
                }
                let lam = if t >= c.warm_up_steps {
                    adaptive_lambda(xd[g], nx[g], dd[g], c.lmbda, c.lmbda_amplify, c.hat_lmbda_coeff)
                } else {
                    c.lmbda
                };
                lam_sum += lam;
                lam_max = lam_max.max(lam);
                lam_cnt += 1;
                alpha[g] -= lr * lam / (nx[g] + c.safe_guard);
            }
            if t >= hsp_step {
                // candidates with ratio ⟨x̂_g, x_g⟩ / ‖x_g‖² < ε
                let mut cand: Vec<(f64, usize)> = (0..n)
                    .filter(|&g| self.gp[g] && xx[g] > 0.0)
                    .map(|g| ((alpha[g] * xx[g] - lr * xd[g]) / xx[g], g))
                    .filter(|(r, _)| *r < c.epsilon)
                    .collect();
                cand.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal).then(a.1.cmp(&b.1)));
                // per-group cap ρ
                if c.upper_group_sparsity < 1.0 {
                    let mut room = vec![0usize; n];
                    for (_, rows) in &self.layout.groups {
                        let cap = (c.upper_group_sparsity * rows.len() as f64).floor() as usize;
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
                if c.mode == SparsityMode::Exact {
                    match budget {
                        // FLOPs target: project candidates in order while the MACs are above it
                        Some(b) => {
                            let order: Vec<usize> = cand.iter().map(|&(_, g)| g).collect();
                            let picked = pick_to_macs(&mut zero_pre.clone(), &order, b, &|z| self.macs_without(z));
                            cand = picked.into_iter().map(|g| (0.0, g)).collect();
                        }
                        None => cand.truncate(self.k_s.saturating_sub(z_pre)),
                    }
                }
                for &(_, g) in &cand {
                    mask[g] = 0.0;
                }
                projected = cand.len();
            }
        }
        // zero-freeze
        if c.fixed_zero_groups || t > hsp_step {
            for g in 0..n {
                if xx[g] == 0.0 {
                    mask[g] = 0.0;
                }
            }
        }
        // exact-mode deadline, and the ramp towards it: rows still missing are forced to zero
        if c.mode == SparsityMode::Exact && self.partitioned && !self.deadline_done {
            if let Some(dl) = c.deadline() {
                let (p, _) = c.schedule();
                let (done, span) = if t >= dl {
                    (1, 1)
                } else if c.pruning_ramp && dl > p {
                    (t.saturating_sub(p), dl - p)
                } else {
                    (0, 1)
                };
                let z_now = (0..n).filter(|&g| mask[g] == 0.0).count();
                let picked = match budget {
                    None => {
                        let need = ramp_floor(self.k_s, done, span).saturating_sub(z_now);
                        if need > 0 { self.deadline_pick(&nx, &mask, need) } else { vec![] }
                    }
                    // FLOPs target: the ramp (and the deadline) bound the MACs instead of the count
                    Some(b) => {
                        let full = self.macs.as_ref().map_or(0, |m| m.full());
                        let goal = ramp_macs_goal(full, b, done, span);
                        let mut zero: Vec<bool> = (0..n).map(|g| mask[g] == 0.0).collect();
                        if self.macs_without(&zero) > goal {
                            let order = self.deadline_pick(&nx, &mask, n);
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
                } else {
                    self.deadline_done = true;
                    // what the target is measured in: MACs for a FLOPs target, else the row count
                    let reached = match (budget, &self.macs) {
                        (Some(b), Some(m)) => {
                            let now = self.macs_without(&(0..n).map(|g| mask[g] == 0.0).collect::<Vec<_>>());
                            format!(
                                "{} zero rows, MACs {:.1}% of full (target {:.1}%){}",
                                z_now + picked.len(),
                                100.0 * m.share(now),
                                100.0 * c.target_flops.unwrap_or(1.0),
                                if now > b { " — G_p ran out of rows before the target" } else { "" }
                            )
                        }
                        _ => format!("{} of target {} zero rows", z_now + picked.len(), self.k_s),
                    };
                    let msg = format!(
                        "step {t}: pruning deadline: {} rows forced to zero (smallest ‖x_g‖/‖x_g at partition‖ in G_p), {} earlier by the ramp; {reached}",
                        picked.len(),
                        self.ramp_forced,
                    );
                    self.events.push(msg.clone());
                    event = Some(match event {
                        Some(e) => format!("{e}; {msg}"),
                        None => msg,
                    });
                }
            }
        }
        // 4. update
        rs.apply(&self.layout, &mut self.flat, &mut self.params, &alpha, &mask, lr, base_alpha);
        // 5. statistics of the new point (analytic)
        let (mut om_p, mut om_np) = (0.0, 0.0);
        let mut zero = vec![false; n];
        for g in 0..n {
            let nn = norm_after(xx[g], xd[g], dd[g], alpha[g] * mask[g], mask[g], lr);
            zero[g] = zero_after(xx[g], dd[g], mask[g]);
            if self.gp[g] {
                om_p += nn;
            } else {
                om_np += nn;
            }
        }
        let z = zero.iter().filter(|&&b| b).count();
        // MACs of the new point (FLOPs target only)
        let macs_now = match (c.target_flops, &self.macs) {
            (Some(_), Some(_)) => Some(self.macs_without(&zero)),
            _ => None,
        };
        let stage = if !self.partitioned {
            "dense"
        } else if match c.mode {
            SparsityMode::Legacy => (z as f64) / (n as f64) >= c.target_group_sparsity,
            SparsityMode::Exact => match (budget, macs_now) {
                (Some(b), Some(now)) => now <= b,
                _ => z >= self.k_s,
            },
        } {
            "after_target"
        } else if t >= hsp_step {
            "pruning"
        } else {
            "pushing"
        };
        let _ = projected;
        self.stats = OptimStats {
            group_sparsity: Some(if n > 0 { z as f64 / n as f64 } else { 0.0 }),
            zero_rows: Some(z),
            // a FLOPs target is met in MACs; k_s is then only the size of G_p (an upper bound)
            target_zero_rows: c.target_flops.is_none().then_some(self.k_s),
            macs_kept: macs_now.zip(self.macs.as_ref()).map(|(now, m)| m.share(now)),
            target_macs: c.target_flops,
            omega_p: Some(om_p),
            omega_np: Some(om_np),
            lambda_mean: if lam_cnt > 0 { Some(lam_sum / lam_cnt as f64) } else { None },
            lambda_max: if lam_cnt > 0 { Some(lam_max) } else { None },
            stage: Some(stage.into()),
            projected_rows: Some(projected),
            event,
        };
        Ok(())
    }

    fn lr(&self) -> f64 {
        self.cfg.lr
    }
    fn set_lr(&mut self, lr: f64) {
        self.cfg.lr = lr;
    }
    fn stats(&self) -> OptimStats {
        self.stats.clone()
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let mut s = self.dir.state(&self.params, self.cfg.lr);
        s.push(("dhspg.t".into(), Tensor::from(self.t as i64)));
        s.push(("dhspg.partitioned".into(), Tensor::from(self.partitioned as i64)));
        s.push(("dhspg.deadline_done".into(), Tensor::from(self.deadline_done as i64)));
        s.push(("dhspg.ramp_forced".into(), Tensor::from(self.ramp_forced as i64)));
        s.push(("dhspg.k_s".into(), Tensor::from(self.k_s as i64)));
        s.push(("dhspg.gp".into(), flags_tensor(&self.gp)));
        s.push(("dhspg.partition_norm".into(), Tensor::from_slice(&self.part_norm)));
        s
    }

    fn load_state(&mut self, state: &[(String, Tensor)]) -> Result<(), TrainError> {
        if let Some(lr) = self.dir.load_state(&self.params, state)? {
            self.cfg.lr = lr;
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
