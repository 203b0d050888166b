//! HESSO (spec §3.13): the importance score and the ramp on hand-computed cases, exact counts per
//! period on a toy group-sparse problem, group caps (ρ, divisibility, one row kept), the FLOPs
//! target on a zoo model, and a state round trip in the middle of a period.
use oto_optim::hesso::*;
use oto_optim::*;
use tch::{Kind, Tensor};

mod optim_common;
use optim_common::*;

#[test]
fn importance_mixes_five_normalised_criteria() {
    // row 0: x = (3,4), d = (3,4): ‖x‖ 5, cos 1, ⟨x,d⟩ 25; row 1: x = (1,0), d = (0,1): ‖x‖ 1,
    // cos 0, ⟨x,d⟩ 0; row 2: x = 0 → magnitude 0, cos + 1 = 1
    let (xx, xd, dd) = ([25.0, 1.0, 0.0], [25.0, 0.0, 0.0], [25.0, 1.0, 4.0]);
    let width = [2, 4, 2];
    let unit = |v: [f64; 3]| {
        let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        v.map(|x| x / n)
    };
    let crit = [
        unit([5.0, 1.0, 0.0]),
        unit([2.5, 0.25, 0.0]),
        unit([1.0 + 25.0 / (25.0 + 1e-8), 1.0, 1.0]),
        unit([25.0, 0.0, 0.0]),
        unit([312.5, 0.0, 0.0]),
    ];
    let got = importance(&xx, &xd, &dd, &width, &Importance::default(), 1e-8);
    for g in 0..3 {
        close(got[g], crit.iter().map(|c| 0.2 * c[g]).sum(), 1e-12);
    }
    // one criterion alone is that criterion, normalised
    let w = Importance { magnitude: 1.0, avg_magnitude: 0.0, cosine: 0.0, taylor_first: 0.0, taylor_second: 0.0 };
    let got = importance(&xx, &xd, &dd, &width, &w, 1e-8);
    (0..3).for_each(|g| close(got[g], crit[0][g], 1e-12));
}

#[test]
fn ramp_factors_telescope_to_a_linear_ramp_and_counts_split_evenly() {
    let d = 5;
    let mut scale = 1.0;
    for j in 1..=d {
        scale *= ramp_factor(j, d);
        close(scale, (d - j) as f64 / d as f64, 1e-12);
    }
    assert_eq!(scale, 0.0);
    assert_eq!(ramp_factor(1, 1), 0.0); // one step per period: one-shot
    // K = 10 over 3 periods: 3, 6, then the remainder
    assert_eq!([1, 2, 3].map(|k| period_target(10, k, 3)), [3, 6, 10]);
    let c = HessoConfig { prune: PruneConfig { start_step: 4, deadline: Some(14), ..Default::default() }, pruning_periods: 3, ..Default::default() };
    assert_eq!((c.period_len(), c.pruning_end()), (3, 13));
}

/// HESSO on W [r, 4], b [r] with zero gradients: only the ramp moves the rows.
/// Returns the optimizer, the live tensors, W's initial value and the per-step statistics.
fn frozen_run(sizes: &[usize], cfg: HessoConfig, steps: usize) -> (Hesso, Vec<Tensor>, Tensor, Vec<OptimStats>) {
    let r: usize = sizes.iter().sum();
    tch::manual_seed(5);
    let w0 = Tensor::randn([r as i64, 4], (Kind::Float, tch::Device::Cpu)) + 2.0;
    let b0 = Tensor::randn([r as i64], (Kind::Float, tch::Device::Cpu));
    let mut o = Hesso::new(toy_params(&w0, &b0), &toy_analysis_grouped(sizes, &[]), cfg).unwrap();
    let ts: Vec<Tensor> = o.params().iter().map(|p| p.tensor.shallow_clone()).collect();
    let mut hist = vec![];
    for _ in 0..steps {
        set_grads(&ts, &[ts[0].zeros_like(), ts[1].zeros_like()]);
        o.step().unwrap();
        hist.push(o.stats());
    }
    (o, ts, w0, hist)
}

#[test]
fn picked_rows_ramp_linearly_to_exact_zero_and_stay_there() {
    // 20 rows, target 0.5 → K = 10 over 2 periods of 4 steps, starting after step 2
    let cfg = HessoConfig { prune: PruneConfig { start_step: 2, deadline: Some(10), ..sparsity(0.5) }, pruning_periods: 2, ..Default::default() };
    let (o, ts, w0, hist) = frozen_run(&[20], cfg.clone(), 5);
    assert_eq!(hist[1].stage.as_deref(), Some("dense"));
    assert!(hist[2].event.as_deref().is_some_and(|e| e.contains("period 1/2") && e.contains("5 least important")), "{:?}", hist[2]);
    let active: Vec<usize> = (0..20).filter(|&g| o.active()[g]).collect();
    assert_eq!(active.len(), 5);
    // 3 of the period's 4 steps taken: the active rows are at 1/4 of their value, the others untouched
    let (w, w0) = (vecf(&ts[0]), vecf(&w0));
    for g in 0..20 {
        let k = if active.contains(&g) { 0.25 } else { 1.0 };
        (0..4).for_each(|i| close(w[4 * g + i], k * w0[4 * g + i], 1e-6));
    }
    let (o, ts, w_init, hist) = frozen_run(&[20], cfg, 14);
    assert_eq!(hist[5].zero_rows, Some(5)); // end of period 1
    assert_eq!(hist[6].zero_rows, Some(5));
    assert_eq!(hist[9].zero_rows, Some(10)); // end of period 2
    assert_eq!(hist[9].stage.as_deref(), Some("after_target"));
    assert!(hist[9..].iter().all(|s| s.zero_rows == Some(10) && s.target_zero_rows == Some(10)));
    assert_eq!(zero_rows(&ts[0], &ts[1]).iter().filter(|&&b| b).count(), 10);
    assert_eq!(o.pruned().iter().filter(|&&b| b).count(), 10);
    assert_eq!(o.events().len(), 2);
    // with zero gradients only the magnitude criteria differ between rows (W ≈ 2 dominates b):
    // the survivors are the rows with the largest initial W norms
    let (wi, w) = (vecf(&w_init), vecf(&ts[0]));
    let sq = |v: &[f64], g: usize| v[4 * g..4 * g + 4].iter().map(|x| x * x).sum::<f64>();
    let (mut kept, mut gone): (Vec<f64>, Vec<f64>) = (vec![], vec![]);
    for g in 0..20 {
        if o.pruned()[g] { gone.push(sq(&wi, g)) } else { kept.push(sq(&wi, g)) }
        assert_eq!(o.pruned()[g], sq(&w, g) == 0.0);
    }
    assert!(kept.iter().fold(f64::MAX, |a, &b| a.min(b)) > gone.iter().fold(0.0, |a, &b| a.max(b)), "{kept:?} {gone:?}");
}

#[test]
fn groups_keep_a_row_their_rho_share_and_a_multiple_of_q() {
    // target 0.999 of groups [1, 3, 8]: the single-row group is never touched, the others keep one
    let cfg = HessoConfig { prune: PruneConfig { start_step: 0, deadline: Some(2), ..sparsity(0.95) }, pruning_periods: 2, ..Default::default() };
    let (o, _, _, _) = frozen_run(&[1, 3, 8], cfg.clone(), 4);
    let z: Vec<bool> = o.pruned().to_vec();
    assert!(!z[0]);
    assert_eq!(z[1..4].iter().filter(|&&b| b).count(), 2);
    assert_eq!(z[4..].iter().filter(|&&b| b).count(), 7);
    // ρ = 0.5 caps each group at half its rows
    let (o, _, _, _) = frozen_run(&[4, 8], HessoConfig { prune: PruneConfig { upper_group_sparsity: 0.5, ..cfg.prune.clone() }, ..cfg.clone() }, 4);
    let z = o.pruned();
    assert_eq!((z[..4].iter().filter(|&&b| b).count(), z[4..].iter().filter(|&&b| b).count()), (2, 4));
    // q = 4 with groups [10, 8], target 0.5 (K = 9) in one period: survivors multiples of 4
    let c4 = HessoConfig { prune: PruneConfig { group_divisible: 4, deadline: Some(1), ..sparsity(0.5) }, pruning_periods: 1, ..cfg };
    let (o, ts, _, _) = frozen_run(&[10, 8], c4, 2);
    let z = zero_rows(&ts[0], &ts[1]);
    let (a, b) = (z[..10].iter().filter(|&&b| b).count(), z[10..].iter().filter(|&&b| b).count());
    assert!((10 - a) % 4 == 0 && (8 - b) % 4 == 0 && 10 - a >= 4 && 8 - b >= 4, "{a} {b}");
    assert!(a + b > 0 && o.stats().zero_rows == Some(a + b));
}

#[test]
fn toy_problem_prunes_the_irrelevant_rows_exactly() {
    // y depends on the even rows only; after 100 training steps HESSO removes 8 of the 10 odd rows
    let (r, f) = (20i64, 4i64);
    let (toy, keep) = toy_problem(r, f);
    let (w0, b0) = toy_start(r, f);
    let cfg = HessoConfig {
        lr: 0.05,
        prune: PruneConfig { start_step: 100, deadline: Some(200), ..sparsity(0.4) },
        pruning_periods: 4,
        ..HessoConfig::for_variant(Variant::Sgd)
    };
    let mut o = Hesso::new(toy_params(&w0, &b0), &toy_analysis(r as usize, &[]), cfg).unwrap();
    let ts: Vec<Tensor> = o.params().iter().map(|p| p.tensor.shallow_clone()).collect();
    let mut losses = vec![];
    for _ in 0..300 {
        losses.push(toy_step(&mut o, &toy, &ts));
    }
    let z = zero_rows(&ts[0], &ts[1]);
    assert_eq!(z.iter().filter(|&&b| b).count(), 8, "{:?}", o.events());
    let keep = vecf(&keep);
    (0..20).filter(|&i| z[i]).for_each(|i| assert_eq!(keep[i], 0.0, "relevant row {i} pruned"));
    assert!(losses[299] < 1e-3, "loss {}", losses[299]);
    assert_eq!(o.stats().stage.as_deref(), Some("after_target"));
}

#[test]
fn flops_target_removes_a_share_of_the_macs_per_period() {
    let model = oto_zoo::build("fmnist_vgg", &Default::default()).unwrap();
    let g = oto_graph::Graph::from_model(model).unwrap();
    let (a, params) = zoo_params("fmnist_vgg");
    let ts: Vec<Tensor> = params.iter().map(|p| p.tensor.shallow_clone()).collect();
    let cfg = HessoConfig {
        variant: Variant::Adam,
        prune: PruneConfig { start_step: 1, deadline: Some(7), ..PruneConfig::new(Target::Flops(0.3)) },
        pruning_periods: 3,
        ..HessoConfig::for_variant(Variant::Adam)
    };
    let mut o = Hesso::new(params, &a, cfg.clone()).unwrap();
    // without the MACs model the FLOPs target is a configuration error, not a panic
    set_grads(&ts, &ts.iter().map(|t| t.detach() * 0.1).collect::<Vec<_>>());
    assert!(o.step().unwrap_err().to_string().contains("with_macs"));
    let mut o = Hesso::new(zoo_params("fmnist_vgg").1, &a, cfg).unwrap().with_macs(oto_graph::flops::RowMacs::new(&g, &a));
    let ts: Vec<Tensor> = o.params().iter().map(|p| p.tensor.shallow_clone()).collect();
    tch::manual_seed(0);
    let macs = oto_graph::flops::RowMacs::new(&g, &a);
    let full = macs.full() as f64;
    let layout_rows = o.layout().row_ids.clone();
    let kept = |o: &Hesso| {
        let zero: Vec<usize> = (0..layout_rows.len()).filter(|&i| o.pruned()[i]).map(|i| layout_rows[i]).collect();
        macs.macs(&|r| zero.contains(&r)) as f64 / full
    };
    let mut shares = vec![];
    for t in 1..=9 {
        let gs: Vec<Tensor> = ts.iter().map(|t| t.detach() * 0.1 + t.randn_like() * 0.01).collect();
        set_grads(&ts, &gs);
        o.step().unwrap();
        if t % 2 == 1 && t > 1 {
            shares.push(kept(&o)); // end of each 2-step period
        }
    }
    println!("MACs kept after each period: {shares:?}; events {:?}", o.events());
    // after period k the MACs are at most 1 − k/3 of the cut, and close to it
    for (k, s) in shares.iter().take(3).enumerate() {
        let goal = 1.0 - 0.7 * (k + 1) as f64 / 3.0;
        assert!(*s <= goal + 1e-9 && *s > goal - 0.03, "period {}: {s} vs {goal}", k + 1);
    }
    assert_eq!(o.stats().stage.as_deref(), Some("after_target"));
    // the tensors agree: the rows counted as pruned are exactly zero, and only those
    let norms = o.layout().norms(o.params());
    assert!((0..norms.len()).all(|g| (norms[g] == 0.0) == o.pruned()[g]));
    assert_eq!(o.stats().zero_rows, Some(norms.iter().filter(|&&v| v == 0.0).count()));
    // the stats report the MACs the zero rows leave, against the target
    assert_eq!(o.stats().target_macs, Some(0.3));
    assert!((o.stats().macs_kept.unwrap() - kept(&o)).abs() < 1e-12, "{:?} vs {}", o.stats().macs_kept, kept(&o));
}

#[test]
fn state_round_trip_in_the_middle_of_a_period_gives_identical_steps() {
    for variant in [Variant::Sgd, Variant::Adam, Variant::AdamW] {
        let (r, f) = (20i64, 4i64);
        let (toy, _) = toy_problem(r, f);
        let cfg = HessoConfig {
            prune: PruneConfig { start_step: 3, deadline: Some(11), ..sparsity(0.3) },
            pruning_periods: 2,
            first_momentum: 0.9,
            ..HessoConfig::for_variant(variant)
        };
        let (w0, b0) = toy_start(r, f);
        let a = toy_analysis(r as usize, &[]);
        let mut o = Hesso::new(toy_params(&w0, &b0), &a, cfg.clone()).unwrap();
        let ts: Vec<Tensor> = o.params().iter().map(|p| p.tensor.shallow_clone()).collect();
        let step = |o: &mut Hesso, ts: &[Tensor]| toy_step(o, &toy, ts);
        for _ in 0..5 {
            step(&mut o, &ts);
        }
        assert!(o.active().iter().any(|&b| b), "mid-period");
        let st = o.state();
        let mut o2 = Hesso::new(toy_params(&ts[0], &ts[1]), &a, cfg.clone()).unwrap();
        o2.load_state(&st).unwrap();
        let ts2: Vec<Tensor> = o2.params().iter().map(|p| p.tensor.shallow_clone()).collect();
        for _ in 0..10 {
            step(&mut o, &ts);
            step(&mut o2, &ts2);
        }
        assert!(ts[0].equal(&ts2[0]) && ts[1].equal(&ts2[1]), "{variant:?}");
        assert_eq!(o.stats().zero_rows, Some(6));
        assert_eq!(o2.stats().zero_rows, Some(6));
        // a DHSPG state is refused with a message naming what is missing
        let d = Dhspg::new(toy_params(&w0, &b0), &a, DhspgConfig::for_variant(variant)).unwrap();
        let e = o2.load_state(&d.state()).unwrap_err().to_string();
        assert!(e.contains("hesso.t"), "{e}");
    }
}

#[test]
fn bad_settings_are_refused() {
    let bad = |c: HessoConfig| c.validate().unwrap_err().to_string();
    assert!(bad(HessoConfig { pruning_periods: 0, ..Default::default() }).contains("pruning_periods"));
    let flops = PruneConfig { group_divisible: 2, ..PruneConfig::new(Target::Flops(0.5)) };
    assert!(bad(HessoConfig { prune: flops, ..Default::default() }).contains("group_divisible"));
    let w = Importance { magnitude: -1.0, ..Default::default() };
    assert!(bad(HessoConfig { importance: w, ..Default::default() }).contains("importance"));
    assert!(bad(HessoConfig { prune: PruneConfig { upper_group_sparsity: 1.5, ..Default::default() }, ..Default::default() }).contains("upper_group_sparsity"));
}

/// `Target::Channels`: the periods pick from the listed rows only (`k·⌊K/P⌋` of them after period
/// `k`, by importance), and exactly those end at zero; the configuration is left as it was.
#[test]
fn row_list_target_prunes_exactly_the_listed_rows() {
    let listed = vec![0usize, 3, 9, 10, 17];
    let prune = PruneConfig { start_step: 2, deadline: Some(8), ..PruneConfig::new(Target::Channels(listed.clone())) };
    let cfg = HessoConfig { prune, pruning_periods: 3, ..Default::default() };
    let (o, ts, _, hist) = frozen_run(&[8, 12], cfg.clone(), 12);
    assert_eq!(o.target_zero_rows(), 5);
    // periods of 2 steps from step 3: 1, 2, then all 5 rows at zero after steps 4, 6, 8
    assert_eq!([3, 5, 7].map(|i| hist[i].zero_rows), [Some(1), Some(2), Some(5)]);
    assert!(hist[7..].iter().all(|s| s.zero_rows == Some(5) && s.target_zero_rows == Some(5) && s.stage.as_deref() == Some("after_target")));
    let z = zero_rows(&ts[0], &ts[1]);
    assert_eq!((0..20).filter(|&i| z[i]).collect::<Vec<_>>(), listed, "{:?}", o.events());
    assert_eq!((0..20).filter(|&g| o.pruned()[g]).collect::<Vec<_>>(), listed);
    assert_eq!(o.config(), &cfg);
    // a group the list would empty is refused
    let empty = PruneConfig { target: Target::Channels((0..8).collect()), ..cfg.prune.clone() };
    let a = toy_analysis_grouped(&[8, 12], &[]);
    let (w, b) = toy_start(20, 4);
    let e = Hesso::new(toy_params(&w, &b), &a, HessoConfig { prune: empty, ..cfg }).unwrap_err().to_string();
    assert!(e.contains("HESSO") && e.contains("all 8 prunable rows of group 0"), "{e}");
}

#[test]
fn group_rank_takes_the_same_share_of_every_group() {
    // groups [8, 8], group 0's rows ten times the norm of group 1's, zero gradients: the global
    // order (w = 0) takes 7 of group 1's rows (a group keeps one) and 1 of group 0's; w = 1 takes
    // the least important half of each group
    let run = |w: f64| {
        tch::manual_seed(3);
        let scale = Tensor::from_slice(&[[10.0f32; 8], [1.0; 8]].concat()).unsqueeze(1);
        let w0 = (Tensor::randn([16, 4], (Kind::Float, tch::Device::Cpu)).abs() + 1.0) * &scale;
        let b0 = Tensor::zeros([16], (Kind::Float, tch::Device::Cpu));
        let cfg = HessoConfig { prune: PruneConfig { start_step: 0, deadline: Some(2), ..sparsity(0.5) }, pruning_periods: 2, group_rank: w, ..Default::default() };
        let mut o = Hesso::new(toy_params(&w0, &b0), &toy_analysis_grouped(&[8, 8], &[]), cfg).unwrap();
        let ts: Vec<Tensor> = o.params().iter().map(|p| p.tensor.shallow_clone()).collect();
        for _ in 0..4 {
            set_grads(&ts, &[ts[0].zeros_like(), ts[1].zeros_like()]);
            o.step().unwrap();
        }
        let z = zero_rows(&ts[0], &ts[1]);
        let (a, b) = (z[..8].iter().filter(|&&x| x).count(), z[8..].iter().filter(|&&x| x).count());
        // within a group the smallest rows go either way
        let n = vecf(&w0).chunks(4).map(|r| r.iter().map(|x| x * x).sum::<f64>()).collect::<Vec<_>>();
        for grp in [0..8, 8..16] {
            let (kept, gone): (Vec<usize>, Vec<usize>) = grp.partition(|&g| !z[g]);
            assert!(kept.iter().all(|&k| gone.iter().all(|&g| n[k] > n[g])), "w {w}: {kept:?} {gone:?}");
        }
        (a, b)
    };
    assert_eq!(run(0.0), (1, 7));
    assert_eq!(run(1.0), (4, 4));
    let bad = HessoConfig { group_rank: 1.5, ..Default::default() };
    assert!(bad.validate().unwrap_err().to_string().contains("group_rank"));
}
