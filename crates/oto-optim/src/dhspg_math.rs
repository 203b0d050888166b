//! DHSPG's row arithmetic on the host (f64, one value per global row), free of optimizer state:
//! the saliency score and the partition (§3.5), the adaptive λ (§3.6), the exact mode's target
//! adjusted for divisibility, its ramp, and the forced pick of the ramp and the deadline.

use super::dhspg_config::SaliencyMagnitude;

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

/// [oto] The saliency as a blend of ranks (both quantiles in (0, 1), high = redundant): `w` ×
/// each row's rank within its group + (1 − `w`) × its rank among all rows. `w = 1`: every group
/// gives up the same share of its rows (its least salient), so layer widths keep their
/// proportions (Torch-Pruning's uniform per-layer ratio); `w = 0`: the global order of `score`.
/// Rows in no group take their global rank for both terms.
pub fn group_rank_blend(score: &[f64], groups: &[(usize, Vec<usize>)], w: f64) -> Vec<f64> {
    let quantiles = |rows: &[usize], out: &mut [f64]| {
        let mut by_score = rows.to_vec();
        by_score.sort_by(|&a, &b| score[a].partial_cmp(&score[b]).unwrap_or(std::cmp::Ordering::Equal).then(a.cmp(&b)));
        for (i, &g) in by_score.iter().enumerate() {
            out[g] = (i as f64 + 0.5) / rows.len() as f64;
        }
    };
    let n = score.len();
    let mut global = vec![0.0; n];
    quantiles(&(0..n).collect::<Vec<_>>(), &mut global);
    let mut local = global.clone();
    for (_, rows) in groups {
        quantiles(rows, &mut local);
    }
    local.iter().zip(&global).map(|(l, g)| w * l + (1.0 - w) * g).collect()
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

/// The forced pick of the ramp and the deadline (exact mode): up to `budget` more rows of `G_p`
/// (`gp`; nonzero, not yet masked) by smallest `‖x_g‖/‖x_g at partition‖` (`nx`, `part_norm`),
/// respecting divisibility by `q` within each of `groups`.
pub fn deadline_pick(
    groups: &[(usize, Vec<usize>)],
    gp: &[bool],
    part_norm: &[f64],
    nx: &[f64],
    mask: &[f64],
    q: usize,
    budget: usize,
) -> Vec<usize> {
    let rel = |g: usize| if part_norm[g] > 0.0 { nx[g] / part_norm[g] } else { 0.0 };
    let mut picked = vec![];
    if q == 1 {
        let mut cand: Vec<usize> = (0..nx.len()).filter(|&g| gp[g] && mask[g] != 0.0).collect();
        cand.sort_by(|&a, &b| rel(a).partial_cmp(&rel(b)).unwrap_or(std::cmp::Ordering::Equal).then(a.cmp(&b)));
        picked.extend(cand.into_iter().take(budget));
        return picked;
    }
    // Per group: current zeros and sorted candidates.
    let mut state: Vec<(usize, usize, Vec<usize>)> = groups
        .iter()
        .map(|(_, rows)| {
            let z = rows.iter().filter(|&&g| mask[g] == 0.0).count();
            let mut c: Vec<usize> = rows.iter().copied().filter(|&g| gp[g] && mask[g] != 0.0).collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_rank_blend_takes_the_same_share_of_every_group_at_w_1() {
        // group A (rows 0..4) far more redundant than group B (rows 4..8) by raw score
        let score = [9.0, 8.0, 7.0, 6.0, 0.4, 0.1, 0.3, 0.2];
        let groups = vec![(0, vec![0, 1, 2, 3]), (1, vec![4, 5, 6, 7])];
        let top = |s: &[f64], k: usize| {
            let gp = partition(s, &groups, (k as f64 + 0.5) / 8.0, 0.0, 1, 1.0);
            (0..8).filter(|&g| gp[g]).collect::<Vec<_>>()
        };
        // global order: the 3 most redundant rows all come from A (a group keeps one row)
        assert_eq!(top(&group_rank_blend(&score, &groups, 0.0), 3), vec![0, 1, 2]);
        assert_eq!(top(&score, 3), vec![0, 1, 2]);
        // w = 1: two of each group, each group's own most redundant
        assert_eq!(top(&group_rank_blend(&score, &groups, 1.0), 4), vec![0, 1, 4, 6]);
        // a blend trades: A's top rows first, B still gives up its most redundant one
        let half = group_rank_blend(&score, &groups, 0.5);
        assert!(half.iter().all(|q| *q > 0.0 && *q < 1.0));
        assert_eq!(top(&half, 4), vec![0, 1, 2, 4]);
    }
}
