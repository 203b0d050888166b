//! DHSPG: formulas on hand-computed cases, toy group-sparse problems, exact vs legacy mode,
//! state round trip, and a realistic analysis (fmnist_vgg) with synthetic gradients.
use oto_optim::dhspg::*;
use oto_optim::*;
use tch::{Kind, Tensor};

mod optim_common;
use optim_common::*;

// ---------------------------------------------------------------- formulas

#[test]
fn saliency_cosine_and_magnitude() {
    // row 0: x = (3,4), d = (3,4)  -> cos 1, a = 5/2; row 1: x = (1,0), d = (0,1) -> cos 0, a = 1/2;
    // row 2: x = 0 -> cos 0 (oto), a = 0
    let xx = [25.0, 1.0, 0.0];
    let xd = [25.0, 0.0, 0.0];
    let dd = [25.0, 1.0, 4.0];
    let cos = [25.0 / (25.0 + 1e-8), 0.0, 0.0];
    let check = |s: Vec<f64>, a: [f64; 3]| {
        let inv: Vec<f64> = a.iter().map(|a| 1.0 / (a + 1e-6)).collect();
        let ni = inv.iter().map(|v| v * v).sum::<f64>().sqrt();
        for g in 0..3 {
            close(s[g], 0.5 * cos[g] / cos[0] + 0.5 * inv[g] / ni, 1e-12);
        }
    };
    // the original's a = ‖x‖/w, and oto's a = ‖x‖/√w
    check(saliency(&xx, &xd, &dd, &[2, 2, 2], SaliencyMagnitude::PerWidth, 1e-8, 1e-6), [2.5, 0.5, 0.0]);
    let r2 = 2f64.sqrt();
    check(saliency(&xx, &xd, &dd, &[2, 2, 2], SaliencyMagnitude::Rms, 1e-8, 1e-6), [5.0 / r2, 1.0 / r2, 0.0]);
}

#[test]
fn rms_magnitude_is_width_neutral() {
    // Two rows with every entry 0.1 and the same cosine, widths 9 and 144 (a 4-conv residual
    // group, say): RMS scores them alike; the original's per-width mean calls the wide one 4×
    // smaller, hence more redundant.
    let (w1, w2) = (9usize, 144usize);
    let xx = [0.01 * w1 as f64, 0.01 * w2 as f64];
    let xd = [0.5 * xx[0], 0.5 * xx[1]];
    let dd = xx; // cosine 0.5 for both
    let s = saliency(&xx, &xd, &dd, &[w1, w2], SaliencyMagnitude::Rms, 1e-8, 1e-6);
    close(s[0], s[1], 1e-6); // the cosine's 1e-8 safe-guard aside
    let s = saliency(&xx, &xd, &dd, &[w1, w2], SaliencyMagnitude::PerWidth, 1e-8, 1e-6);
    assert!(s[1] > s[0] + 0.1, "{s:?}");
}

#[test]
fn partition_k_and_divisibility() {
    // 10 rows in one group, score = row index: K = ⌊10·min(0.5+0.05, .999)⌋ = 5 → top-5 = 5..9
    let score: Vec<f64> = (0..10).map(|i| i as f64).collect();
    let groups = vec![(0usize, (0..10).collect::<Vec<_>>())];
    let gp = partition(&score, &groups, 0.5, 0.05, 1, 1.0);
    assert_eq!(gp, (0..10).map(|i| i >= 5).collect::<Vec<_>>());
    // q = 4: m = 5 not selected → m' = 4·max(1, round(1.25)) = 4 kept (lowest scores 0..3)
    let gp = partition(&score, &groups, 0.5, 0.05, 4, 1.0);
    assert_eq!(gp, (0..10).map(|i| i >= 4).collect::<Vec<_>>());
    // q = 4, s+τ = 0.3 → K = 3, m = 7 → round(1.75) = 2 → keep 8
    let gp = partition(&score, &groups, 0.25, 0.05, 4, 1.0);
    assert_eq!(gp.iter().filter(|&&b| b).count(), 2);
    // n ≤ q → nothing penalised; m = 0 → still keeps q rows
    let gp = partition(&score, &groups, 0.99, 0.5, 10, 1.0);
    assert!(gp.iter().all(|&b| !b));
    let gp = partition(&score, &groups, 0.99, 0.5, 3, 1.0);
    assert_eq!(gp.iter().filter(|&&b| !b).count(), 3);
    // Python's round: half to even (m/q = 2.5 → 2)
    assert_eq!(round_half_even(2.5), 2.0);
    assert_eq!(round_half_even(3.5), 4.0);
    assert_eq!(round_half_even(1.25), 1.0);
    // global ranking across groups
    let groups = vec![(0usize, vec![0, 1, 2, 3]), (1, vec![4, 5, 6, 7])];
    let score = [9.0, 8.0, 7.0, 6.0, 1.0, 2.0, 3.0, 4.0];
    let gp = partition(&score, &groups, 0.45, 0.0, 1, 1.0); // K = 3 → rows 0,1,2
    assert_eq!(gp, vec![true, true, true, false, false, false, false, false]);
}

#[test]
fn lambda_window_and_clipping() {
    let (lmbda, amp, hat) = (1e-3, 2.0, 10.0);
    // ⟨x,d⟩ ≥ 0 → base λ
    assert_eq!(adaptive_lambda(0.5, 1.0, 1.0, lmbda, amp, hat), lmbda);
    // x = (1,0), d = (-0.001, 1): ip = -0.001, L = 0.001, U = 1.000001/0.001 → amp·L = 0.002 in [λ, 10λ]
    let l = adaptive_lambda(-0.001, 1.0, 1.000001, lmbda, amp, hat);
    close(l, 0.002, 1e-12);
    // clipped below: amp·L = 1e-4 < λ → λ
    close(adaptive_lambda(-0.00005, 1.0, 1.0, lmbda, amp, hat), lmbda, 1e-12);
    // clipped above: amp·L = 0.2 > 10λ = 0.01 (U = 1/0.1 = 10 large)
    close(adaptive_lambda(-0.1, 1.0, 1.0, lmbda, amp, hat), 0.01, 1e-12);
    // λ ≥ U → (L+U)/2 : x = (1,0), d = (-1, 0.1): ip = -1, L = 1, U = 1.01 → amp·L clipped to 0.01 < U... use big λ
    let (ip, nx, nd2) = (-1.0, 1.0, 1.01);
    let lam = adaptive_lambda(ip, nx, nd2, 0.5, 2.0, 10.0); // clip(2, 0.5, 5) = 2 ≥ U = 1.01
    close(lam, 0.5 * (1.0 + 1.01), 1e-12);
}

#[test]
fn exact_target_with_divisibility() {
    assert_eq!(reachable_target(5, &[(10, 6), (8, 4)], 1), 5);
    assert_eq!(reachable_target(12, &[(10, 6), (8, 4)], 1), 10);
    // q = 4: group (10 rows, 6 in Gp): z ∈ {0, 2, 6}; group (8, 4): z ∈ {0, 4}
    assert_eq!(reachable_target(5, &[(10, 6), (8, 4)], 4), 4);
    assert_eq!(reachable_target(9, &[(10, 6), (8, 4)], 4), 6); // sums {0,2,4,6,10}
    assert_eq!(reachable_target(10, &[(10, 6), (8, 4)], 4), 10);
}

#[test]
fn variant_defaults() {
    let c = DhspgConfig::for_variant(Variant::Sgd);
    assert_eq!((c.lmbda, c.lmbda_amplify, c.hat_lmbda_coeff, c.lr), (1e-3, 2.0, 10.0, 0.1));
    let c = DhspgConfig::for_variant(Variant::Adam);
    assert_eq!((c.first_momentum, c.second_momentum, c.lmbda, c.lmbda_amplify, c.hat_lmbda_coeff), (0.9, 0.999, 1e-2, 20.0, 1e3));
    assert_eq!(c.adam_init, AdamInit::Original);
    let c = DhspgConfig::for_variant(Variant::AdamW);
    assert_eq!(c.weight_decay, 1e-2);
    assert_eq!((c.epsilon, c.prune.target.clone(), c.tolerance_group_sparsity, c.prune.group_divisible), (0.0, Target::GroupSparsity(0.5), 0.05, 1));
    assert_eq!(c.schedule(), (0, 0));
    assert_eq!(DhspgConfig { total_steps: Some(100), prune: PruneConfig { start_step: 10, ..c.prune.clone() }, ..c.clone() }.deadline(), Some(23));
    // the default window: rows chosen at 3/8 of the run, the target reached by half of it
    assert_eq!(oto_optim::prune_config::default_window(100), (38, 50));
    assert_eq!(oto_optim::prune_config::default_window(1), (0, 1));
    // serde round trip, and missing fields take defaults
    let s = serde_json::to_string(&c).unwrap();
    assert_eq!(serde_json::from_str::<DhspgConfig>(&s).unwrap(), c);
    let p: DhspgConfig = serde_json::from_str(r#"{"variant":"adamw","mode":"legacy","weight_decay_type":"l1_norm"}"#).unwrap();
    assert_eq!((p.variant, p.mode, p.weight_decay_type), (Variant::AdamW, SparsityMode::Legacy, WeightDecayType::L1Norm));
}

#[test]
fn half_space_step_matches_hand_computation() {
    tch::manual_seed(1);
    let r = 6;
    let w0 = Tensor::randn([r as i64, 3], (Kind::Float, tch::Device::Cpu));
    let b0 = Tensor::randn([r as i64], (Kind::Float, tch::Device::Cpu));
    let a = toy_analysis(r, &[5]);
    let cfg = DhspgConfig {
        mode: SparsityMode::Legacy,
        prune: sparsity(0.8),
        tolerance_group_sparsity: 0.1,
        epsilon: 0.5,
        lr: 0.1,
        ..DhspgConfig::for_variant(Variant::Sgd)
    };
    let mut o = Dhspg::new(toy_params(&w0, &b0), &a, cfg.clone()).unwrap();
    assert_eq!(o.layout().n_rows, 5);
    let ts: Vec<Tensor> = o.params().iter().map(|p| p.tensor.shallow_clone()).collect();
    // gradient = c_r · x_r + a perpendicular-ish perturbation, different per row
    let c = Tensor::from_slice(&[8.0f32, 1.0, 6.0, -2.0, 3.0, 9.0]);
    let gw = &w0 * c.unsqueeze(1) + 0.3;
    let gb = &b0 * &c - 0.2;
    set_grads(&ts, &[gw.shallow_clone(), gb.shallow_clone()]);
    o.step().unwrap();
    let gp = o.penalised().to_vec();
    assert_eq!(gp.iter().filter(|&&b| b).count(), 4); // K = ⌊5·0.9⌋ = 4, one group, m = 1
    let (w0v, b0v, gwv, gbv) = (vecf(&w0), vecf(&b0), vecf(&gw), vecf(&gb));
    let (w1, b1) = (vecf(&ts[0]), vecf(&ts[1]));
    let mut zeros = 0;
    for row in 0..r {
        let x: Vec<f64> = vec![w0v[3 * row], w0v[3 * row + 1], w0v[3 * row + 2], b0v[row]];
        let d: Vec<f64> = vec![gwv[3 * row], gwv[3 * row + 1], gwv[3 * row + 2], gbv[row]];
        let got: Vec<f64> = vec![w1[3 * row], w1[3 * row + 1], w1[3 * row + 2], b1[row]];
        let dot = |u: &[f64], v: &[f64]| u.iter().zip(v).map(|(a, b)| a * b).sum::<f64>();
        let (xx, xd, dd) = (dot(&x, &x), dot(&x, &d), dot(&d, &d));
        let nx = xx.sqrt();
        let mut exp: Vec<f64> = x.iter().zip(&d).map(|(x, d)| x - 0.1 * d).collect();
        if row < 5 && gp[row] {
            let lam = adaptive_lambda(xd, nx, dd, cfg.lmbda, cfg.lmbda_amplify, cfg.hat_lmbda_coeff);
            for (e, xi) in exp.iter_mut().zip(&x) {
                *e -= 0.1 * lam * xi / (nx + 1e-8);
            }
            if dot(&exp, &x) < cfg.epsilon * xx {
                exp = vec![0.0; 4];
                zeros += 1;
            }
        }
        for (g, e) in got.iter().zip(&exp) {
            assert!((g - e).abs() < 1e-5, "row {row}: {got:?} vs {exp:?}");
        }
    }
    assert!(zeros > 0);
    assert_eq!(o.stats().zero_rows, Some(zeros));
}

fn run_toy(cfg: DhspgConfig, steps: usize) -> (Dhspg, Vec<Tensor>, Tensor, Vec<OptimStats>) {
    let (r, f) = (20i64, 4i64);
    let (toy, keep) = toy_problem(r, f);
    let (w0, b0) = toy_start(r, f);
    let a = toy_analysis(r as usize, &[]);
    let mut o = Dhspg::new(toy_params(&w0, &b0), &a, cfg).unwrap();
    let ts: Vec<Tensor> = o.params().iter().map(|p| p.tensor.shallow_clone()).collect();
    let mut hist = vec![];
    for _ in 0..steps {
        toy_step(&mut o, &toy, &ts);
        hist.push(o.stats());
    }
    (o, ts, keep, hist)
}

#[test]
fn toy_exact_mode_reaches_exact_target_and_keeps_relevant_rows() {
    let cfg = DhspgConfig {
        lr: 0.05,
        prune: PruneConfig { start_step: 100, ..sparsity(0.4) },
        epsilon: 0.0,
        total_steps: Some(400),
        ..DhspgConfig::for_variant(Variant::Sgd)
    };
    let (o, ts, keep, hist) = run_toy(cfg, 400);
    let z = zero_rows(&ts[0], &ts[1]);
    assert_eq!(o.target_zero_rows(), 8);
    assert_eq!(z.iter().filter(|&&b| b).count(), 8, "events {:?}", o.events());
    let keep = vecf(&keep);
    for (i, &zi) in z.iter().enumerate() {
        if zi {
            assert_eq!(keep[i], 0.0, "relevant row {i} was pruned");
        }
    }
    let last = hist.last().unwrap();
    assert_eq!(last.zero_rows, Some(8));
    assert_eq!(last.target_zero_rows, Some(8));
    assert_eq!(last.stage.as_deref(), Some("after_target"));
    assert!(hist.iter().all(|s| s.zero_rows.unwrap() <= 8));
    assert!(o.events().iter().any(|e| e.contains("partition")));
}

#[test]
fn exact_mode_deadline_forces_the_remaining_rows() {
    // a tiny push and ε = 0 cannot zero anything in 5 steps: the deadline does it
    let cfg = DhspgConfig {
        lr: 0.001,
        lmbda: 1e-6,
        prune: PruneConfig { start_step: 2, deadline: Some(6), ..sparsity(0.5) },
        pruning_ramp: false,
        ..DhspgConfig::for_variant(Variant::Sgd)
    };
    let (o, ts, _, hist) = run_toy(cfg, 8);
    assert_eq!(hist[4].zero_rows, Some(0));
    assert_eq!(hist[5].zero_rows, Some(10));
    assert!(hist[5].event.as_deref().unwrap_or("").contains("deadline"), "{:?}", hist[5]);
    assert_eq!(zero_rows(&ts[0], &ts[1]).iter().filter(|&&b| b).count(), 10);
    assert_eq!(hist[7].zero_rows, Some(10));
    assert!(o.events().len() >= 2);
}

#[test]
fn partition_caps_each_group_at_rho() {
    // one group of 10, score = index, s + τ = 0.95 → K = 9: G_p = rows 1..9 without a cap
    let score: Vec<f64> = (0..10).map(|i| i as f64).collect();
    let groups = vec![(0usize, (0..10).collect::<Vec<_>>())];
    let count = |gp: &[bool]| gp.iter().filter(|&&b| b).count();
    assert_eq!(count(&partition(&score, &groups, 0.9, 0.05, 1, 1.0)), 9);
    // ρ = 0.7: at most ⌊7⌋ rows, the highest scores
    let gp = partition(&score, &groups, 0.9, 0.05, 1, 0.7);
    assert_eq!(gp, (0..10).map(|i| i >= 3).collect::<Vec<_>>());
    // q = 4: 3 rows must stay, rounded up to 4 → G_p = 6 rows (10 − 6 = 4 survivors, divisible)
    assert_eq!(count(&partition(&score, &groups, 0.9, 0.05, 4, 0.7)), 6);
    // a cap above what the target asks changes nothing; ρ = 0 penalises nothing
    assert_eq!(partition(&score, &groups, 0.5, 0.05, 1, 0.8), partition(&score, &groups, 0.5, 0.05, 1, 1.0));
    assert_eq!(count(&partition(&score, &groups, 0.9, 0.05, 1, 0.0)), 0);
}

#[test]
fn exact_mode_rho_caps_the_ramp_and_the_deadline_too() {
    // target 0.9 of one 20-row group with ρ = 0.5: G_p holds 10 rows, so the forced picks stop at
    // 10 zero rows (the target is lowered to what the cap allows) — the group keeps half its rows
    let cfg = DhspgConfig {
        lr: 0.001,
        lmbda: 1e-6,
        prune: PruneConfig { start_step: 2, deadline: Some(10), upper_group_sparsity: 0.5, ..sparsity(0.9) },
        ..DhspgConfig::for_variant(Variant::Sgd)
    };
    let (o, ts, _, hist) = run_toy(cfg.clone(), 12);
    assert_eq!(o.target_zero_rows(), 10);
    assert_eq!(zero_rows(&ts[0], &ts[1]).iter().filter(|&&b| b).count(), 10);
    assert!(hist.iter().all(|s| s.zero_rows.unwrap() <= 10));
    // legacy keeps the original's behaviour: ρ caps projections only, not the partition
    assert_eq!(DhspgConfig { mode: SparsityMode::Legacy, ..cfg.clone() }.partition_cap(), 1.0);
    assert_eq!(cfg.partition_cap(), 0.5);
}

#[test]
fn exact_mode_ramp_spreads_the_forced_rows_up_to_the_deadline() {
    assert_eq!((ramp_floor(10, 0, 8), ramp_floor(10, 4, 8), ramp_floor(10, 7, 8), ramp_floor(10, 9, 8)), (0, 5, 8, 10));
    assert_eq!(ramp_floor(10, 0, 0), 10);
    // no natural projections (tiny push, ε = 0): the zero count follows ⌊K_s·(t − P)/(D − P)⌋,
    // P = 2 (partition at the start of step 3), D = 10, K_s = 10
    let cfg = DhspgConfig {
        lr: 0.001,
        lmbda: 1e-6,
        prune: PruneConfig { start_step: 2, deadline: Some(10), ..sparsity(0.5) },
        ..DhspgConfig::for_variant(Variant::Sgd)
    };
    assert!(cfg.pruning_ramp, "the ramp is the default");
    let (o, ts, _, hist) = run_toy(cfg, 12);
    let z: Vec<usize> = hist.iter().map(|s| s.zero_rows.unwrap()).collect();
    for t in 3..=10u64 {
        assert_eq!(z[t as usize - 1], ramp_floor(10, t - 2, 8), "step {t}: zero rows {z:?}");
    }
    assert!(z.windows(2).all(|w| w[0] <= w[1]), "zero rows never come back: {z:?}");
    assert_eq!((z[10], z[11]), (10, 10));
    assert_eq!(zero_rows(&ts[0], &ts[1]).iter().filter(|&&b| b).count(), 10);
    let ev = hist[9].event.as_deref().unwrap_or("");
    assert!(ev.contains("deadline") && ev.contains("2 rows forced") && ev.contains("8 earlier by the ramp"), "{ev}");
    // the ramp count survives a checkpoint
    let st = o.state();
    assert!(st.iter().any(|(k, t)| k == "dhspg.ramp_forced" && t.int64_value(&[]) == 8));
}

#[test]
fn legacy_mode_projects_all_candidates_and_stops_globally() {
    // aggressive ε: legacy zeroes every candidate at once (may overshoot), exact caps at K_s
    let base = DhspgConfig { lr: 0.05, prune: PruneConfig { start_step: 100, ..sparsity(0.2) }, tolerance_group_sparsity: 0.4, epsilon: 0.999, ..DhspgConfig::for_variant(Variant::Sgd) };
    let (_, ts, _, hist) = run_toy(DhspgConfig { mode: SparsityMode::Legacy, ..base.clone() }, 130);
    let zl = zero_rows(&ts[0], &ts[1]).iter().filter(|&&b| b).count();
    assert!(zl >= 4, "legacy reached {zl}");
    let first = hist.iter().position(|s| s.zero_rows.unwrap() >= 4).unwrap();
    // after the global stop: no more λ, stage after_target, count never changes
    for s in &hist[first + 1..] {
        assert_eq!(s.stage.as_deref(), Some("after_target"));
        assert!(s.lambda_mean.is_none());
        assert_eq!(s.zero_rows, hist[first].zero_rows);
    }
    let (_, ts, _, hist) = run_toy(DhspgConfig { mode: SparsityMode::Exact, ..base }, 130);
    assert_eq!(zero_rows(&ts[0], &ts[1]).iter().filter(|&&b| b).count(), 4);
    assert!(hist.iter().all(|s| s.zero_rows.unwrap() <= 4));
    println!("legacy {zl} zero rows (target 4), exact 4");
}

#[test]
fn unprunable_rows_get_plain_steps_and_zero_rows_stay_zero() {
    let r = 4;
    let w0 = Tensor::from_slice(&[1.0f32, 2.0, 0.0, 0.0, 3.0, -1.0, 0.5, 0.5]).reshape([4, 2]);
    let b0 = Tensor::from_slice(&[0.1f32, 0.0, 0.2, 0.3]);
    let a = toy_analysis(r, &[3]);
    let cfg = DhspgConfig { prune: PruneConfig { start_step: 1000, ..sparsity(0.5) }, lr: 0.1, ..DhspgConfig::for_variant(Variant::Sgd) };
    let mut o = Dhspg::new(toy_params(&w0, &b0), &a, cfg).unwrap();
    let ts: Vec<Tensor> = o.params().iter().map(|p| p.tensor.shallow_clone()).collect();
    let gw = Tensor::ones([4, 2], (Kind::Float, tch::Device::Cpu));
    let gb = Tensor::ones([4], (Kind::Float, tch::Device::Cpu));
    set_grads(&ts, &[gw, gb]);
    o.step().unwrap();
    let (w1, b1) = (vecf(&ts[0]), vecf(&ts[1]));
    assert_eq!(&w1[2..4], &[0.0, 0.0]); // row 1 was zero: frozen
    assert_eq!(b1[1], 0.0);
    assert!((w1[6] - 0.4).abs() < 1e-6 && (b1[3] - 0.2).abs() < 1e-6); // unprunable row 3: plain step
    assert!((w1[0] - 0.9).abs() < 1e-6);
    assert_eq!(o.stats().zero_rows, Some(1));
    assert_eq!(o.stats().stage.as_deref(), Some("dense"));
}

#[test]
fn state_round_trip_gives_identical_steps() {
    for variant in [Variant::Sgd, Variant::Adam, Variant::AdamW] {
        let (r, f) = (20i64, 4i64);
        let (toy, _) = toy_problem(r, f);
        let cfg = DhspgConfig {
            prune: PruneConfig { start_step: 3, ..sparsity(0.3) },
            first_momentum: 0.9,
            epsilon: 0.9,
            weight_decay_type: WeightDecayType::L1Norm,
            ..DhspgConfig::for_variant(variant)
        };
        let (w0, b0) = toy_start(r, f);
        let a = toy_analysis(r as usize, &[]);
        let mut o = Dhspg::new(toy_params(&w0, &b0), &a, cfg.clone()).unwrap();
        let ts: Vec<Tensor> = o.params().iter().map(|p| p.tensor.shallow_clone()).collect();
        let step = |o: &mut Dhspg, ts: &[Tensor]| toy_step(o, &toy, ts);
        for _ in 0..6 {
            step(&mut o, &ts);
        }
        let st = o.state();
        let mut o2 = Dhspg::new(toy_params(&ts[0], &ts[1]), &a, cfg.clone()).unwrap();
        o2.load_state(&st).unwrap();
        let ts2: Vec<Tensor> = o2.params().iter().map(|p| p.tensor.shallow_clone()).collect();
        for _ in 0..5 {
            step(&mut o, &ts);
            step(&mut o2, &ts2);
        }
        assert!(ts[0].equal(&ts2[0]) && ts[1].equal(&ts2[1]), "{variant:?}");
        assert_eq!(o.stats().zero_rows, o2.stats().zero_rows);
    }
}

// ---------------------------------------------------------------- realistic analysis

#[test]
fn fmnist_vgg_exact_sparsity_with_synthetic_gradients() {
    let (a, params) = zoo_params("fmnist_vgg");
    let ts: Vec<Tensor> = params.iter().map(|p| p.tensor.shallow_clone()).collect();
    let cfg = DhspgConfig {
        variant: Variant::Adam,
        prune: PruneConfig { start_step: 2, deadline: Some(10), ..sparsity(0.6) },
        epsilon: 0.9,
        ..DhspgConfig::for_variant(Variant::Adam)
    };
    let mut o = Dhspg::new(params, &a, cfg).unwrap();
    let n = o.layout().n_rows;
    assert!(n > 0);
    assert_eq!(n, a.prunable_rows());
    tch::manual_seed(0);
    for _ in 0..12 {
        // gradient: pull towards a random target (a noisy quadratic)
        let gs: Vec<Tensor> = ts.iter().map(|t| t.detach() * 0.1 + t.randn_like() * 0.01).collect();
        set_grads(&ts, &gs);
        o.step().unwrap();
    }
    let st = o.stats();
    let k_s = o.target_zero_rows();
    assert!(k_s > 0 && k_s <= (0.6 * n as f64) as usize);
    assert_eq!(st.zero_rows, Some(k_s), "{st:?}");
    // the tensors agree with the accounting: count rows whose slices are all zero
    let norms = o.row_norms();
    assert_eq!(norms.iter().filter(|&&v| v == 0.0).count(), k_s);
    println!("fmnist_vgg: {n} prunable rows, {k_s} zero, events {:?}", o.events());
}

#[test]
fn multi_tensor_buffer_matches_the_per_tensor_steps() {
    // resnet20: residual groups (several tensors per row), BN, a final Gemm outside the rows.
    let (a, p1) = zoo_params("resnet20");
    let (_, p2) = zoo_params("resnet20");
    let t1: Vec<Tensor> = p1.iter().map(|p| p.tensor.shallow_clone()).collect();
    let t2: Vec<Tensor> = p2.iter().map(|p| p.tensor.shallow_clone()).collect();
    let cfg = DhspgConfig {
        prune: PruneConfig { start_step: 2, deadline: Some(9), ..sparsity(0.5) },
        first_momentum: 0.9,
        epsilon: 0.5,
        lmbda: 0.05,
        ..DhspgConfig::for_variant(Variant::Sgd)
    };
    let mut multi = Dhspg::new(p1, &a, DhspgConfig { multi_tensor: Some(true), ..cfg.clone() }).unwrap();
    let mut single = Dhspg::new(p2, &a, DhspgConfig { multi_tensor: None, ..cfg }).unwrap();
    assert!(multi.multi_tensor_params() > 10, "most row tensors share the buffer");
    assert_eq!(single.multi_tensor_params(), 0, "per-tensor by default on the CPU");
    for step in 0..12 {
        tch::manual_seed(step);
        let noise: Vec<Tensor> = t1.iter().map(|t| t.randn_like() * 0.01).collect();
        set_grads(&t1, &t1.iter().zip(&noise).map(|(t, n)| t.detach() * 0.1 + n).collect::<Vec<_>>());
        set_grads(&t2, &t2.iter().zip(&noise).map(|(t, n)| t.detach() * 0.1 + n).collect::<Vec<_>>());
        multi.step().unwrap();
        single.step().unwrap();
        if step == 5 {
            // something re-binds a parameter's storage: the buffer must notice and rebuild
            let fresh = t1[1].detach().copy();
            let mut p = t1[1].shallow_clone();
            p.set_data(&fresh);
        }
        assert_eq!(multi.stats().zero_rows, single.stats().zero_rows, "step {step}");
    }
    for (x, y) in t1.iter().zip(&t2) {
        let d = (x - y).abs().max().double_value(&[]);
        assert!(d <= 1e-5, "tensors differ by {d}");
        // the zero rows are exactly zero in both
        assert_eq!(x.eq(0.0).sum(Kind::Int64).int64_value(&[]), y.eq(0.0).sum(Kind::Int64).int64_value(&[]));
    }
    let st = multi.stats();
    assert_eq!(st.zero_rows, Some(multi.target_zero_rows()));
    assert_eq!(multi.row_norms().iter().filter(|&&v| v == 0.0).count(), multi.target_zero_rows());
}

// ---------------------------------------------------------------- one pruning configuration

/// A FLOPs target: the partition derives the row count from the MACs budget into the optimizer's
/// state (`K_s`, saved as `dhspg.k_s`), never into the configuration; an optimizer restored from
/// that state after the partition continues bit-identically.
#[test]
fn flops_target_derives_the_row_count_into_the_state_not_the_config() {
    let model = oto_zoo::build("fmnist_vgg", &Default::default()).unwrap();
    let g = oto_graph::Graph::from_model(model).unwrap();
    let (a, params) = zoo_params("fmnist_vgg");
    let macs = || oto_graph::flops::RowMacs::new(&g, &a);
    let cfg = DhspgConfig {
        prune: PruneConfig { start_step: 2, deadline: Some(8), ..PruneConfig::new(Target::Flops(0.4)) },
        epsilon: 0.9,
        ..DhspgConfig::for_variant(Variant::Adam)
    };
    let before = cfg.clone();
    let mut o = Dhspg::new(params, &a, cfg).unwrap().with_macs(macs());
    assert_eq!(o.target_zero_rows(), 0, "no row count before the partition");
    let ts: Vec<Tensor> = o.params().iter().map(|p| p.tensor.shallow_clone()).collect();
    // a noisy pull towards zero; the noise is drawn once per step for both runs below (the
    // generator is shared with the tests running alongside)
    let noise = |ts: &[Tensor]| -> Vec<Tensor> { ts.iter().map(|t| t.randn_like() * 0.01).collect() };
    let grads = |ts: &[Tensor], noise: &[Tensor]| {
        set_grads(ts, &ts.iter().zip(noise).map(|(t, n)| t.detach() * 0.1 + n).collect::<Vec<_>>());
    };
    for _ in 0..4 {
        grads(&ts, &noise(&ts));
        o.step().unwrap();
    }
    assert!(o.partitioned());
    let k = o.target_zero_rows();
    assert!(k > 0, "the partition derived a row count from the FLOPs target");
    assert!(o.events()[0].contains("FLOPs target 40.0%"), "{:?}", o.events());
    assert_eq!(o.config(), &before, "the derived count is not written into the configuration");
    // the count is state: saved, and restored into a fresh optimizer
    let st = o.state();
    assert!(st.iter().any(|(n, t)| n == "dhspg.k_s" && t.int64_value(&[]) as usize == k));
    let copy: Vec<Param> = o
        .params()
        .iter()
        .map(|p| Param { name: p.name.clone(), value_id: p.value_id, tensor: p.tensor.detach().copy().set_requires_grad(true) })
        .collect();
    let mut o2 = Dhspg::new(copy, &a, before.clone()).unwrap().with_macs(macs());
    o2.load_state(&st).unwrap();
    assert_eq!(o2.target_zero_rows(), k);
    let ts2: Vec<Tensor> = o2.params().iter().map(|p| p.tensor.shallow_clone()).collect();
    for step in 4..12 {
        if step == 6 {
            // a schedule's learning rate is the optimizer's, not the configuration's
            o.set_lr(0.5 * before.lr);
            o2.set_lr(0.5 * before.lr);
        }
        let n = noise(&ts);
        grads(&ts, &n);
        grads(&ts2, &n);
        o.step().unwrap();
        o2.step().unwrap();
    }
    assert!(ts.iter().zip(&ts2).all(|(x, y)| x.equal(y)), "the restored run differs");
    assert_eq!(o.stats(), o2.stats());
    let st = o.stats();
    assert!(st.macs_kept.unwrap() <= 0.4 && st.stage.as_deref() == Some("after_target"), "{st:?}");
    assert_eq!((o.lr(), o.config(), o2.config()), (0.5 * before.lr, &before, &before));
}

/// `Target::Channels`: the listed rows — wanted by the toy or not, the saliency is overruled —
/// are `G_p`, pushed, forced by the ramp and the deadline, and end at zero; no other row does.
/// Row 2 is unprunable, so the analysis ids past it are not the global rows.
#[test]
fn row_list_target_prunes_exactly_the_listed_rows() {
    let (r, f) = (20i64, 4i64);
    let (toy, _) = toy_problem(r, f);
    let (w0, b0) = toy_start(r, f);
    let a = toy_analysis(r as usize, &[2]);
    let listed = vec![0usize, 3, 4, 9, 13, 18];
    let cfg = DhspgConfig {
        lr: 0.05,
        epsilon: 0.5,
        prune: PruneConfig { start_step: 20, deadline: Some(50), ..PruneConfig::new(Target::Channels(listed.clone())) },
        ..DhspgConfig::for_variant(Variant::Sgd)
    };
    let mut o = Dhspg::new(toy_params(&w0, &b0), &a, cfg.clone()).unwrap();
    assert_eq!((o.layout().n_rows, o.target_zero_rows()), (19, 6));
    let ts: Vec<Tensor> = o.params().iter().map(|p| p.tensor.shallow_clone()).collect();
    let mut hist = vec![];
    for _ in 0..70 {
        toy_step(&mut o, &toy, &ts);
        hist.push(o.stats());
    }
    let z = zero_rows(&ts[0], &ts[1]);
    assert_eq!((0..20).filter(|&i| z[i]).collect::<Vec<_>>(), listed, "events {:?}", o.events());
    let gp: Vec<usize> = (0..19).filter(|&g| o.penalised()[g]).map(|g| o.layout().row_ids[g]).collect();
    assert_eq!(gp, listed);
    let zr: Vec<usize> = hist.iter().map(|s| s.zero_rows.unwrap()).collect();
    assert!(zr.windows(2).all(|w| w[0] <= w[1]) && zr[19] == 0 && zr[49..].iter().all(|&z| z == 6), "{zr:?}");
    let last = hist.last().unwrap();
    assert_eq!((last.target_zero_rows, last.stage.as_deref()), (Some(6), Some("after_target")));
    assert!(o.events()[0].contains("G_p = the target's row list"), "{:?}", o.events());
    assert_eq!(o.config(), &cfg);

    // ids that are not prunable rows, a group emptied or thinned past ρ, legacy mode: refused
    let err = |prune: PruneConfig, mode: SparsityMode| {
        let c = DhspgConfig { prune, mode, ..DhspgConfig::default() };
        Dhspg::new(toy_params(&w0, &b0), &a, c).unwrap_err().to_string()
    };
    let rows = |v: Vec<usize>| PruneConfig::new(Target::Channels(v));
    assert!(err(rows(vec![1, 2]), SparsityMode::Exact).contains("row 2 of the target's row list is not a prunable row"));
    assert!(err(rows(vec![25]), SparsityMode::Exact).contains("row 25"));
    assert!(err(rows((0..20).filter(|&i| i != 2).collect()), SparsityMode::Exact).contains("all 19 prunable rows"));
    let e = err(PruneConfig { upper_group_sparsity: 0.25, ..rows(listed.clone()) }, SparsityMode::Exact);
    assert!(e.contains("removes 6 of the 19 rows") && e.contains("upper_group_sparsity"), "{e}");
    assert!(err(rows(listed.clone()), SparsityMode::Legacy).contains("exact sparsity mode"));
    assert!(err(rows(vec![]), SparsityMode::Exact).contains("empty"));
    assert!(err(PruneConfig { group_divisible: 2, ..rows(listed) }, SparsityMode::Exact).contains("group_divisible = 1"));
}
