//! HESSO (OTOv3's optimizer), spec §3.13: DHSPG's alternative without λ or the half-space test.
//!
//! From `start_pruning_steps` on, `pruning_periods` periods of `D = ⌊pruning_steps / P⌋` steps
//! each re-score the rows (a weighted mix of five importance criteria, [`importance`]) and pick
//! the least important ones; over the period the picked rows keep taking baseline steps while
//! they are scaled down linearly to exactly zero ([`ramp_factor`]), then they stay zero. After
//! period `k` of `P`, `k/P` of the target is removed, so the final count — or, with a FLOPs
//! target, the final MACs through [`pick_to_macs`] — is met by construction.
//!
//! [oto] beyond the original: ρ (`upper_group_sparsity`) caps every group, a FLOPs target, a row
//! list (`Target::Channels`: the periods pick from those rows only), the count kept exact with
//! `group_divisible = 1` (every group keeps at least `q` rows), and aux (concat) slices scaled
//! only with their own rows (spec §6 item 14). The target and the schedule's start and end are
//! the [`PruneConfig`] shared with DHSPG (`cfg.prune`), which a step never changes.

use super::baseline::{AdamInit, Direction, DirectionConfig, Variant};
use super::dhspg_math::{group_rank_blend, round_half_even};
use super::flat::FlatRows;
use super::flops_target::{pick_to_macs, ramp_macs_goal, LayoutMacs};
use super::prune_config::{PruneConfig, Target};
use super::row_step::{self, flags_tensor, norm_after, zero_after, RowStep, SavedRows};
use super::rows::RowLayout;
use super::{OptimStats, Optimizer, Param};
use crate::OptimError;
use oto_graph::flops::RowMacs;
use oto_graph::zig::Analysis;
use serde::{Deserialize, Serialize};
use tch::Tensor;

/// Weights of the five importance criteria (each vector is normalised to unit L2 norm over all
/// rows before the weighted sum). The original's default: 0.2 each.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Importance {
    /// `‖x_g‖`.
    pub magnitude: f64,
    /// `‖x_g‖ / w` (`w` = the row's width).
    pub avg_magnitude: f64,
    /// `cos(x_g, d_g) + 1`: a step that would shrink the row marks it important (the opposite
    /// of DHSPG's saliency, as in the original).
    pub cosine: f64,
    /// First-order Taylor `|⟨x_g, d_g⟩|`.
    pub taylor_first: f64,
    /// Second-order Taylor `½⟨x_g, d_g⟩²`.
    pub taylor_second: f64,
}

impl Default for Importance {
    fn default() -> Self {
        Importance { magnitude: 0.2, avg_magnitude: 0.2, cosine: 0.2, taylor_first: 0.2, taylor_second: 0.2 }
    }
}

impl Importance {
    fn weights(&self) -> [f64; 5] {
        [self.magnitude, self.avg_magnitude, self.cosine, self.taylor_first, self.taylor_second]
    }
}

/// HESSO's settings (names as in the original where it has them); the target and the schedule
/// shared with DHSPG are in [`Self::prune`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HessoConfig {
    pub variant: Variant,
    /// The initial η (`Optimizer::set_lr` changes the optimizer's, not this).
    pub lr: f64,
    /// SGD momentum μ or Adam β1.
    pub first_momentum: f64,
    /// Adam β2.
    pub second_momentum: f64,
    pub dampening: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    pub adam_eps: f64,
    pub adam_init: AdamInit,
    /// The target (`target_group_sparsity` of the original; [oto] a FLOPs share — period `k`
    /// removes rows until `k/P` of the MACs to cut are gone, needs [`Hesso::with_macs`] and
    /// `group_divisible = 1` — or a row list), `start_pruning_step` (`prune.start_step`), the
    /// end of the periods (`prune.deadline`: `pruning_steps` = deadline − start, 1 when unset),
    /// `group_divisible`, and [oto] ρ: at most `⌊ρ·n_G⌋` rows of a group are removed.
    pub prune: PruneConfig,
    pub pruning_periods: u64,
    pub importance: Importance,
    /// [oto] The periods' order: `w` × a row's importance rank within its layer group + (1 − `w`)
    /// × its global rank ([`group_rank_blend`]); 1 = every group gives up the same share of its
    /// rows, 0 = the original's global order (the default; `oto train` sets 1 at a FLOPs target).
    pub group_rank: f64,
    /// Safe-guard of the cosine's denominator.
    pub safe_guard: f64,
    /// Multi-tensor form of the row work (as [`super::DhspgConfig::multi_tensor`]).
    pub multi_tensor: Option<bool>,
}

impl Default for HessoConfig {
    fn default() -> Self {
        HessoConfig::for_variant(Variant::Sgd)
    }
}

impl HessoConfig {
    /// Per-variant baseline defaults (those of DHSPG, spec §3.10) and the original factory's
    /// one-shot schedule (`pruning_steps = pruning_periods = 1`).
    pub fn for_variant(v: Variant) -> Self {
        let b = v.defaults();
        HessoConfig {
            variant: v,
            lr: b.lr,
            first_momentum: b.first_momentum,
            second_momentum: b.second_momentum,
            dampening: 0.0,
            nesterov: false,
            weight_decay: b.weight_decay,
            adam_eps: 1e-8,
            adam_init: AdamInit::Original,
            prune: PruneConfig::new(Target::GroupSparsity(0.5)),
            pruning_periods: 1,
            importance: Importance::default(),
            group_rank: 0.0,
            safe_guard: 1e-8,
            multi_tensor: None,
        }
    }

    /// Steps over which the periods run: `prune.deadline − prune.start_step` (1 without a deadline).
    pub fn pruning_steps(&self) -> u64 {
        self.prune.deadline.map_or(1, |d| d.saturating_sub(self.prune.start_step))
    }

    /// Steps per period, `D = max(1, ⌊pruning_steps / P⌋)`.
    pub fn period_len(&self) -> u64 {
        (self.pruning_steps() / self.pruning_periods.max(1)).max(1)
    }

    /// The step after which the last period ends: `start + P·D`.
    pub fn pruning_end(&self) -> u64 {
        self.prune.start_step + self.pruning_periods * self.period_len()
    }

    pub fn validate(&self) -> Result<(), OptimError> {
        self.prune.validate("HESSO")?;
        let bad = |m: String| Err(OptimError::Config(format!("HESSO: {m}")));
        if self.pruning_periods == 0 {
            return bad("pruning_periods must be ≥ 1".into());
        }
        if !(self.lr > 0.0) {
            return bad("lr must be > 0".into());
        }
        if !(0.0..=1.0).contains(&self.group_rank) {
            return bad(format!("group_rank must be within [0, 1], got {}", self.group_rank));
        }
        let w = self.importance.weights();
        if w.iter().any(|&x| !(x >= 0.0 && x.is_finite())) || w.iter().sum::<f64>() <= 0.0 {
            return bad(format!("importance weights must be ≥ 0 with a positive sum, got {w:?}"));
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

/// Importance per row (low = redundant): `Σ_i w_i · c_i / ‖c_i‖` over the criteria of
/// [`Importance`], each normalised to unit L2 norm over all rows (a zero vector contributes 0).
pub fn importance(xx: &[f64], xd: &[f64], dd: &[f64], width: &[usize], w: &Importance, safe: f64) -> Vec<f64> {
    let n = xx.len();
    let crit: [Vec<f64>; 5] = [
        xx.iter().map(|v| v.sqrt()).collect(),
        (0..n).map(|g| xx[g].sqrt() / width[g].max(1) as f64).collect(),
        (0..n)
            .map(|g| {
                let (nx, nd) = (xx[g].sqrt(), dd[g].sqrt());
                1.0 + if nx > 0.0 && nd > 0.0 { xd[g] / (nx * nd + safe) } else { 0.0 }
            })
            .collect(),
        xd.iter().map(|v| v.abs()).collect(),
        xd.iter().map(|v| 0.5 * v * v).collect(),
    ];
    let mut out = vec![0.0; n];
    for (c, wi) in crit.iter().zip(w.weights()) {
        let norm = c.iter().map(|v| v * v).sum::<f64>().sqrt();
        if wi == 0.0 || norm == 0.0 {
            continue;
        }
        for (o, v) in out.iter_mut().zip(c) {
            *o += wi * v / norm;
        }
    }
    out
}

/// The scale of a picked row at step `j` (1-based) of a period of `D` steps: `(D − j)/(D − j + 1)`.
/// The product over `j = 1..J` telescopes to `(D − J)/D`: a linear ramp, exactly zero at `j = D`.
pub fn ramp_factor(j: u64, d: u64) -> f64 {
    let j = j.min(d);
    (d - j) as f64 / (d - j + 1) as f64
}

/// The cumulative row count after period `k` (1-based) of `p`: `k·⌊K/P⌋`, the last period taking
/// the remainder.
pub fn period_target(k_total: usize, k: u64, p: u64) -> usize {
    if k >= p {
        k_total
    } else {
        (k as usize) * (k_total / p.max(1) as usize)
    }
}

/// HESSO over the prunable rows of an analysis.
pub struct Hesso {
    cfg: HessoConfig,
    /// The current η (starts at `cfg.lr`; `set_lr` and a loaded state change it).
    lr: f64,
    params: Vec<Param>,
    dir: Direction,
    layout: RowLayout,
    flat: Option<FlatRows>,
    t: u64,
    /// Periods started.
    period: u64,
    /// Rows at zero for good (earlier periods).
    pruned: Vec<bool>,
    /// Rows ramping to zero in the current period.
    active: Vec<bool>,
    /// The count target: `⌊s·N⌋`, or the row list's size (0 for a FLOPs target).
    k_total: usize,
    /// A row-list target over the global rows (`Target::Channels`, resolved once).
    listed: Option<Vec<bool>>,
    stats: OptimStats,
    events: Vec<String>,
    macs: Option<LayoutMacs>,
}

impl std::fmt::Debug for Hesso {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hesso").field("cfg", &self.cfg).field("rows", &self.layout.n_rows).field("t", &self.t).finish()
    }
}

impl Hesso {
    pub fn new(params: Vec<Param>, analysis: &Analysis, cfg: HessoConfig) -> Result<Self, OptimError> {
        cfg.validate()?;
        let (layout, dir, flat) = row_step::frame(&params, analysis, cfg.direction(), cfg.multi_tensor);
        let n = layout.n_rows;
        let listed = cfg.prune.listed_rows(&layout, "HESSO")?;
        let k_total = match (&cfg.prune.target, &listed) {
            (Target::GroupSparsity(s), _) => (n as f64 * s.min(0.999)).floor() as usize,
            (_, Some(l)) => l.iter().filter(|&&b| b).count(),
            _ => 0,
        };
        let flops = cfg.prune.target.flops();
        let stats = OptimStats {
            group_sparsity: Some(0.0),
            zero_rows: Some(0),
            target_zero_rows: flops.is_none().then_some(k_total),
            target_macs: flops,
            stage: Some("dense".into()),
            ..Default::default()
        };
        let (pruned, active) = (vec![false; n], vec![false; n]);
        Ok(Hesso { lr: cfg.lr, cfg, params, dir, layout, flat, t: 0, period: 0, pruned, active, k_total, listed, stats, events: vec![], macs: None })
    }

    /// The configuration, as given to [`Hesso::new`] (a step never changes it).
    pub fn config(&self) -> &HessoConfig {
        &self.cfg
    }
    /// The target and schedule shared with DHSPG.
    pub fn prune_config(&self) -> &PruneConfig {
        &self.cfg.prune
    }

    /// Attaches the graph's MACs model (`RowMacs::new(graph, analysis)`); required by a FLOPs target.
    pub fn with_macs(mut self, model: RowMacs) -> Self {
        self.macs = Some(LayoutMacs::new(model, &self.layout));
        self
    }
    pub fn layout(&self) -> &RowLayout {
        &self.layout
    }
    pub fn params(&self) -> &[Param] {
        &self.params
    }
    pub fn steps(&self) -> u64 {
        self.t
    }
    /// Rows removed for good, and rows ramping to zero in the current period.
    pub fn pruned(&self) -> &[bool] {
        &self.pruned
    }
    pub fn active(&self) -> &[bool] {
        &self.active
    }
    /// `⌊s·N⌋`, or the row list's size (count target; with a FLOPs target 0: the count follows
    /// from the MACs).
    pub fn target_zero_rows(&self) -> usize {
        self.k_total
    }
    pub fn events(&self) -> &[String] {
        &self.events
    }

    /// Per group, how many more rows may go: `min(⌊ρ·n_G⌋, n_G − q)` minus those already pruned.
    fn room(&self) -> Vec<usize> {
        let (q, rho) = (self.cfg.prune.group_divisible, self.cfg.prune.upper_group_sparsity);
        let mut room = vec![0usize; self.layout.n_rows];
        for (_, rows) in &self.layout.groups {
            let n = rows.len();
            let cap = ((rho * n as f64).floor() as usize).min(n.saturating_sub(q));
            let z = rows.iter().filter(|&&g| self.pruned[g]).count();
            rows.iter().for_each(|&g| room[g] = cap.saturating_sub(z));
        }
        room
    }

    /// Index into `layout.groups` of every row.
    fn group_index(&self) -> Vec<usize> {
        let mut gi = vec![0; self.layout.n_rows];
        for (i, (_, rows)) in self.layout.groups.iter().enumerate() {
            rows.iter().for_each(|&g| gi[g] = i);
        }
        gi
    }

    /// Unpruned rows (of a row-list target: unpruned listed rows) in ascending importance, each
    /// group's rows cut at its room: a prefix of the list never takes a group past its cap.
    fn candidates(&self, imp: &[f64]) -> Vec<usize> {
        let (room, gi) = (self.room(), self.group_index());
        let listed = |g: usize| self.listed.as_ref().is_none_or(|l| l[g]);
        let mut order: Vec<usize> = (0..self.layout.n_rows).filter(|&g| !self.pruned[g] && listed(g)).collect();
        order.sort_by(|&a, &b| imp[a].partial_cmp(&imp[b]).unwrap_or(std::cmp::Ordering::Equal).then(a.cmp(&b)));
        let mut used = vec![0usize; self.layout.groups.len()];
        order.retain(|&g| {
            let ok = used[gi[g]] < room[g];
            used[gi[g]] += ok as usize;
            ok
        });
        order
    }

    /// `group_divisible = q > 1`: per group, the picked count is rounded so that the survivors are
    /// a multiple of `q` (`q·max(1, round(m/q))` kept, half to even, as the original's partition),
    /// within the group's room; `cand` as from [`Self::candidates`].
    fn divisible(&self, picked: &[usize], cand: &[usize]) -> Vec<usize> {
        let (q, gi) = (self.cfg.prune.group_divisible, self.group_index());
        let groups = &self.layout.groups;
        let mut count = vec![0usize; groups.len()];
        picked.iter().for_each(|&g| count[gi[g]] += 1);
        let mut mine: Vec<Vec<usize>> = vec![vec![]; groups.len()];
        cand.iter().for_each(|&g| mine[gi[g]].push(g));
        let mut out = vec![];
        for (i, (_, rows)) in groups.iter().enumerate() {
            let alive = rows.iter().filter(|&&g| !self.pruned[g]).count();
            let keep = q * (round_half_even((alive - count[i]) as f64 / q as f64) as usize).max(1);
            let c = alive.saturating_sub(keep).min(mine[i].len());
            let c = alive - ((alive - c).div_ceil(q) * q).min(alive); // the room may have cut it: round the survivors up to a multiple
            out.extend_from_slice(&mine[i][..c]);
        }
        out
    }

    /// Period start: re-score, pick the rows of this period (see the module docs).
    fn begin_period(&mut self, xx: &[f64], xd: &[f64], dd: &[f64]) {
        let c = &self.cfg;
        let (k, p, d) = (self.period + 1, c.pruning_periods, c.period_len());
        let mut imp = importance(xx, xd, dd, &self.layout.row_width, &c.importance, c.safe_guard);
        if c.group_rank > 0.0 {
            // low = least important either way: the blend keeps the ascending order's meaning
            imp = group_rank_blend(&imp, &self.layout.groups, c.group_rank);
        }
        let cand = self.candidates(&imp);
        let done = self.pruned.iter().filter(|&&b| b).count();
        let (picked, goal_note) = match (c.prune.target.flops(), &self.macs) {
            (Some(keep), Some(m)) => {
                let goal = ramp_macs_goal(m.full(), m.budget(keep), k, p);
                let mut zero = self.pruned.clone();
                let picked = pick_to_macs(&mut zero, &cand, goal, &|z| m.without(z));
                let now = m.without(&zero);
                let note = format!(
                    "MACs after it {:.1}% of full (goal {:.1}%, target {:.1}%){}",
                    100.0 * m.share(now),
                    100.0 * m.share(goal),
                    100.0 * keep,
                    if now > goal { " — every group at its cap (1 row, or 1 − ρ of its rows, kept)" } else { "" }
                );
                (picked, note)
            }
            _ => {
                let need = period_target(self.k_total, k, p).saturating_sub(done);
                let picked: Vec<usize> = cand.iter().copied().take(need).collect();
                let picked = if c.prune.group_divisible > 1 { self.divisible(&picked, &cand) } else { picked };
                let after = done + picked.len();
                let note = format!(
                    "{after} of {} rows after it{}",
                    self.k_total,
                    if k == p && after < self.k_total { " — groups at their cap (q rows, or 1 − ρ of them, kept; or group_divisible)" } else { "" }
                );
                (picked, note)
            }
        };
        for &g in &picked {
            self.active[g] = true;
        }
        self.period = k;
        self.events.push(format!(
            "step {}: period {k}/{p}: {} least important rows ramp to zero over {d} step{}; {goal_note}",
            self.t,
            picked.len(),
            if d == 1 { "" } else { "s" }
        ));
    }
}

impl Optimizer for Hesso {
    fn step(&mut self) -> Result<(), OptimError> {
        let flops = self.cfg.prune.target.flops();
        if flops.is_some() && self.macs.is_none() {
            return Err(OptimError::Config(
                "HESSO: target_flops needs the graph's MACs model: attach it with Hesso::with_macs(RowMacs::new(&graph, &analysis))".into(),
            ));
        }
        let _guard = tch::no_grad_guard();
        self.t += 1;
        let (t, lr, n) = (self.t, self.lr, self.layout.n_rows);
        let mut rs = RowStep::begin("HESSO", &self.params, &mut self.dir, &self.layout, &mut self.flat)?;
        let (xx, xd, dd) = (std::mem::take(&mut rs.xx), std::mem::take(&mut rs.xd), std::mem::take(&mut rs.dd));
        let (s, d, p) = (self.cfg.prune.start_step, self.cfg.period_len(), self.cfg.pruning_periods);
        let mut event = None;
        if n > 0 && t > s && (t - s - 1) % d == 0 && self.period < p {
            self.begin_period(&xx, &xd, &dd);
            event = self.events.last().cloned();
        }
        // x ← f·(α·x − η·d) on the active rows (f = ramp factor), 0 on pruned rows
        let decoupled = self.cfg.variant == Variant::AdamW && self.cfg.weight_decay != 0.0;
        let base_alpha = if decoupled { 1.0 - lr * self.cfg.weight_decay } else { 1.0 };
        let alpha = vec![base_alpha; n + 1];
        let mut mask = vec![1.0; n + 1];
        let j = if t > s { (t - s - 1) % d + 1 } else { 0 };
        let f = ramp_factor(j, d);
        for g in 0..n {
            if self.pruned[g] {
                mask[g] = 0.0;
            } else if self.active[g] {
                mask[g] = f;
            }
        }
        rs.apply(&self.layout, &mut self.flat, &mut self.params, &alpha, &mask, lr, base_alpha);
        let mut projected = 0;
        if j == d && self.active.iter().any(|&b| b) {
            for g in 0..n {
                if self.active[g] {
                    self.pruned[g] = true;
                    self.active[g] = false;
                    projected += 1;
                }
            }
        }
        // statistics of the new point (analytic: ‖A·x − η·M·d‖ per row)
        let (mut om_p, mut om_np) = (0.0, 0.0);
        let mut zero = vec![false; n];
        for g in 0..n {
            let nn = norm_after(xx[g], xd[g], dd[g], alpha[g] * mask[g], mask[g], lr);
            zero[g] = zero_after(xx[g], dd[g], mask[g]);
            if self.pruned[g] || self.active[g] {
                om_p += nn;
            } else {
                om_np += nn;
            }
        }
        let z = zero.iter().filter(|&&b| b).count();
        let stage = if self.period == 0 {
            "dense"
        } else if self.period >= p && !self.active.iter().any(|&b| b) {
            "after_target"
        } else {
            "pruning"
        };
        let macs_kept = match (flops, &self.macs) {
            (Some(_), Some(m)) => Some(m.share(m.without(&zero))),
            _ => None,
        };
        // a FLOPs target has no row count until the periods pick rows: the rows picked so far
        let target = match flops {
            Some(_) if self.period == 0 => None,
            Some(_) => Some(self.pruned.iter().zip(&self.active).filter(|(a, b)| **a || **b).count()),
            None => Some(self.k_total),
        };
        self.stats = OptimStats {
            group_sparsity: Some(if n > 0 { z as f64 / n as f64 } else { 0.0 }),
            zero_rows: Some(z),
            target_zero_rows: target,
            macs_kept,
            target_macs: flops,
            omega_p: Some(om_p),
            omega_np: Some(om_np),
            stage: Some(stage.into()),
            projected_rows: Some(projected),
            event,
            ..Default::default()
        };
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
        s.push(("hesso.t".into(), Tensor::from(self.t as i64)));
        s.push(("hesso.period".into(), Tensor::from(self.period as i64)));
        s.push(("hesso.pruned".into(), flags_tensor(&self.pruned)));
        s.push(("hesso.active".into(), flags_tensor(&self.active)));
        s
    }

    fn load_state(&mut self, state: &[(String, Tensor)]) -> Result<(), OptimError> {
        if let Some(lr) = self.dir.load_state(&self.params, state)? {
            self.lr = lr;
        }
        let saved = SavedRows { state, who: "HESSO", n_rows: self.layout.n_rows };
        self.t = saved.int("hesso.t")? as u64;
        self.period = saved.int("hesso.period")? as u64;
        self.pruned = saved.flags("hesso.pruned")?;
        self.active = saved.flags("hesso.active")?;
        Ok(())
    }
}
