//! DHSPG's hyper-parameters (spec §3.10) and its switches. What DHSPG shares with HESSO — the
//! target, the schedule's start and deadline, q and ρ — is the [`PruneConfig`] in
//! [`DhspgConfig::prune`].
use super::baseline::{AdamInit, DirectionConfig, Variant};
use super::prune_config::{PruneConfig, Target};
use crate::OptimError;
use serde::{Deserialize, Serialize};

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

/// Every hyper-parameter of spec §3.10 (names as in the original), plus oto's additions; the
/// target and the schedule shared with HESSO are in [`Self::prune`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DhspgConfig {
    pub variant: Variant,
    /// The initial η (`Optimizer::set_lr` changes the optimizer's, not this).
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
    /// The target (`s` = `target_group_sparsity` of the original, [oto] a FLOPs share or a row
    /// list), `start_pruning_steps` (`prune.start_step`), the exact-mode `pruning_deadline`
    /// (`prune.deadline`), `group_divisible` and `upper_group_sparsity`. With a FLOPs target the
    /// partition derives the row count from it ([`super::flops_target`]) and rows are zeroed
    /// until the MACs are within it (instead of until `K_s` rows); it needs [`super::Dhspg::with_macs`],
    /// the exact mode and `group_divisible = 1`. ρ caps the projections (the original); oto's
    /// exact mode also caps `G_p` at the partition, so the ramp and the deadline respect it too.
    pub prune: PruneConfig,
    pub tolerance_group_sparsity: f64,
    /// Default (None): `prune.start_step` (if either this or `half_space_project_steps` is
    /// unset, both become the start, as in the original).
    pub partition_step: Option<u64>,
    pub half_space_project_steps: Option<u64>,
    pub warm_up_steps: u64,
    pub fixed_zero_groups: bool,
    /// Safe-guard in `x/(‖x‖ + ·)` and cosine denominators.
    pub safe_guard: f64,
    pub adam_eps: f64,
    /// ε in `1/(a + ·)` of the magnitude score.
    pub score_eps: f64,
    /// The saliency's magnitude term: the original's per-width mean (default) or oto's
    /// width-neutral RMS.
    pub saliency_magnitude: SaliencyMagnitude,
    /// [oto] Multiply each row's saliency by `c_g / mean c`, `c_g` = the MACs its removal alone
    /// saves, so the partition prefers rows that cost more compute (needs [`super::Dhspg::with_macs`]).
    pub saliency_flops: bool,
    /// [oto] Rank rows within their group as well as globally: the partition ranks by
    /// `w · rank in group + (1 − w) · global rank` ([`super::dhspg_math::group_rank_blend`]);
    /// 1 = every group gives up the same share of its rows, 0 (default) = the saliency's order.
    pub group_rank: f64,
    /// Adam moment initialisation: the original's `m = g, v = g²` by default.
    pub adam_init: AdamInit,
    pub mode: SparsityMode,
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
            prune: PruneConfig::new(Target::GroupSparsity(0.5)),
            tolerance_group_sparsity: 0.05,
            partition_step: None,
            half_space_project_steps: None,
            warm_up_steps: 0,
            fixed_zero_groups: true,
            safe_guard: 1e-8,
            adam_eps: 1e-8,
            score_eps: 1e-6,
            saliency_magnitude: SaliencyMagnitude::PerWidth,
            saliency_flops: false,
            group_rank: 0.0,
            adam_init: AdamInit::Original,
            mode: SparsityMode::Exact,
            pruning_ramp: true,
            multi_tensor: None,
            total_steps: None,
        }
    }

    /// ρ as the partition applies it: exact mode caps `G_p`; legacy, like the original, does not.
    pub fn partition_cap(&self) -> f64 {
        match self.mode {
            SparsityMode::Exact => self.prune.upper_group_sparsity,
            SparsityMode::Legacy => 1.0,
        }
    }

    /// (partition_step, half_space_project_steps) after the original's defaulting.
    pub fn schedule(&self) -> (u64, u64) {
        match (self.partition_step, self.half_space_project_steps) {
            (Some(p), Some(h)) => (p, h),
            _ => (self.prune.start_step, self.prune.start_step),
        }
    }

    /// The exact-mode deadline, if any: `prune.deadline`, else (with `total_steps`) the start plus
    /// the length of the default window (an eighth of the run, [`super::prune_config::DEFAULT_WINDOW`]).
    pub fn deadline(&self) -> Option<u64> {
        let start = self.prune.start_step;
        let (w0, w1) = super::prune_config::DEFAULT_WINDOW;
        self.prune.deadline.or(self.total_steps.map(|t| start + (((w1 - w0) * t as f64).round() as u64).max(1)))
    }

    pub fn validate(&self) -> Result<(), OptimError> {
        self.prune.validate("DHSPG")?;
        let bad = |m: &str| Err(OptimError::Config(format!("DHSPG: {m}")));
        if self.mode != SparsityMode::Exact {
            match self.prune.target {
                Target::Flops(_) => return bad("target_flops needs the exact sparsity mode (not legacy)"),
                Target::Channels(_) => return bad("a target row list needs the exact sparsity mode (not legacy)"),
                Target::GroupSparsity(_) => {}
            }
        }
        if self.tolerance_group_sparsity < 0.0 {
            return bad("tolerance_group_sparsity must be ≥ 0");
        }
        if !(self.lr > 0.0) {
            return bad("lr must be > 0");
        }
        if self.lmbda < 0.0 || self.lmbda_amplify <= 0.0 || self.hat_lmbda_coeff < 1.0 {
            return bad("need lmbda ≥ 0, lmbda_amplify > 0, hat_lmbda_coeff ≥ 1");
        }
        if !(0.0..=1.0).contains(&self.group_rank) {
            return bad("group_rank must be within [0, 1]");
        }
        Ok(())
    }

    pub(crate) fn direction(&self) -> DirectionConfig {
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
