//! The pipeline end to end on the bundled subset: DHSPG reaches the target group sparsity, the
//! compressed model is written, verified, smaller, and has the same test accuracy as the full one.
use oto_train::train::{self, TrainConfig};

/// A short fmnist_vgg run on the bundled subset, writing to `dir/run`.
fn fmnist_vgg(dir: &std::path::Path, epochs: usize, max_train_batches: usize) -> TrainConfig {
    TrainConfig {
        model: "zoo:fmnist_vgg".into(),
        epochs,
        batch_size: 64,
        max_train_batches,
        threads: 2,
        progress: "plain".into(),
        out: dir.join("run"),
        ..Default::default()
    }
}

#[test]
fn dhspg_pipeline_reaches_target_and_keeps_accuracy() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = fmnist_vgg(dir.path(), 3, 30);
    c.dhspg.target_sparsity = Some(0.5);
    c.dhspg.start_pruning_epoch = Some(1.0);
    let s = train::run(&c).unwrap();
    let gs = s.group_sparsity.unwrap();
    assert!(gs >= 0.5 - 1e-9, "group sparsity {gs}");
    let (full, comp) = (s.full.top1.unwrap(), s.compressed.as_ref().unwrap().top1.unwrap());
    println!("full {full:.2}%, compressed {comp:.2}%, sparsity {gs:.3}");
    assert!((full - comp).abs() < 0.2, "full {full} vs compressed {comp}");
    assert!((s.full.loss - s.compressed.as_ref().unwrap().loss).abs() < 1e-3);
    assert!(s.params_after.unwrap() < s.params_before);
    assert!(s.macs_after.unwrap() < s.macs_before);
    assert!(s.verify_max_rel.unwrap() <= c.verify_tolerance);
    for f in ["full.onnx", "compressed.onnx", "manifest.json", "report.md", "curves.png", "groups.svg", "metrics.jsonl"] {
        assert!(c.out.join(f).is_file(), "{f} missing");
    }
    let hist = train::metrics::read_jsonl(&c.out.join("metrics.jsonl")).unwrap();
    assert!(hist.last().unwrap().optim.group_sparsity.unwrap() >= 0.5 - 1e-9);
    assert!(hist.last().unwrap().optim.zero_rows.unwrap() >= hist.last().unwrap().optim.target_zero_rows.unwrap());
    let report = std::fs::read_to_string(c.out.join("report.md")).unwrap();
    assert!(report.contains("compressed") && report.contains("MACs"));
}

/// HESSO as the pruner: the exact row count, the compressed model as accurate as the full one,
/// the pruner named in the report and the summary.
#[test]
fn hesso_pipeline_reaches_the_exact_count_and_keeps_accuracy() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = fmnist_vgg(dir.path(), 3, 30);
    c.pruner = train::PrunerKind::Hesso;
    c.dhspg.target_sparsity = Some(0.5);
    c.dhspg.start_pruning_epoch = Some(1.0);
    c.dhspg.pruning_deadline_epoch = Some(2.0);
    c.hesso.pruning_periods = Some(5);
    let s = train::run(&c).unwrap();
    let hist = train::metrics::read_jsonl(&c.out.join("metrics.jsonl")).unwrap();
    let last = hist.last().unwrap();
    assert_eq!(last.optim.zero_rows, last.optim.target_zero_rows, "{last:?}");
    let n = (last.optim.zero_rows.unwrap() as f64 / last.optim.group_sparsity.unwrap()).round() as usize;
    assert_eq!(last.optim.zero_rows.unwrap(), n / 2, "⌊0.5·N⌋ rows of N = {n}");
    assert!((s.group_sparsity.unwrap() - (n / 2) as f64 / n as f64).abs() < 1e-9, "{:?}", s.group_sparsity);
    let (full, comp) = (s.full.top1.unwrap(), s.compressed.as_ref().unwrap().top1.unwrap());
    println!("HESSO: full {full:.2}%, compressed {comp:.2}%");
    assert!((full - comp).abs() < 0.2 && full > 50.0, "full {full} vs compressed {comp}");
    assert!(s.verify_max_rel.unwrap() <= c.verify_tolerance);
    assert!(std::fs::read_to_string(c.out.join("report.md")).unwrap().contains("(HESSO, target group sparsity 0.5)"));
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(c.out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["pruner"].as_str(), Some("HESSO"));
}

/// `target_flops`: the compressed model keeps at most the requested share of MACs, and not much
/// less (rows are zeroed only while the MACs are above it); full and compressed agree.
#[test]
fn flops_target_pipeline_meets_the_macs_budget() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = fmnist_vgg(dir.path(), 2, 12);
    c.dhspg.target_flops = Some(0.4);
    c.dhspg.start_pruning_epoch = Some(0.0);
    let s = train::run(&c).unwrap();
    let frac = s.macs_after.unwrap() as f64 / s.macs_before as f64;
    println!("MACs kept {frac:.4}, group sparsity {:.3}", s.group_sparsity.unwrap());
    assert!(frac <= 0.4 && frac > 0.37, "MACs kept {frac}");
    let comp = s.compressed.as_ref().unwrap();
    assert_eq!(s.full.top1, comp.top1);
    assert!((s.full.loss - comp.loss).abs() < 1e-3);
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(c.out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["target_flops"].as_f64(), Some(0.4));
    assert!(std::fs::read_to_string(c.out.join("report.md")).unwrap().contains("target FLOPs 40.0%"));
    // the log follows the MACs, the target the run stops at (no row-count target of its own)
    let last = train::metrics::read_jsonl(&c.out.join("metrics.jsonl")).unwrap().pop().unwrap();
    assert_eq!((last.optim.target_macs, last.optim.target_zero_rows), (Some(0.4), None), "{last:?}");
    assert!((last.optim.macs_kept.unwrap() - frac).abs() < 1e-9, "{:?} vs {frac}", last.optim.macs_kept);
    assert!(last.summary(2).contains(&format!("MACs kept {:.1}% (target 40.0%)", 100.0 * frac)), "{}", last.summary(2));
    let report = std::fs::read_to_string(c.out.join("report.md")).unwrap();
    assert!(report.contains("| MACs kept / target |") && report.contains(&format!("{:.1}% / 40.0% |", 100.0 * frac)), "{report}");
    // the default floor at a FLOPs target: no group is cut below an eighth of its rows
    let full = oto_graph::Graph::load(&c.out.join("full.onnx")).unwrap();
    let a = oto_graph::zig::analyze(&full);
    let zero = oto_graph::compress::zero_rows_of(&full, &a).unwrap();
    for g in a.groups.iter().filter(|g| g.prunable(&a)) {
        let z = g.rows.iter().filter(|r| zero.contains(r)).count();
        assert!(z <= (0.875 * g.rows.len() as f64).floor() as usize, "a group of {} rows lost {z}", g.rows.len());
    }

    // weighting the saliency by each row's MACs meets the same budget with fewer, costlier rows
    // (in the global order: within a group every row saves the same MACs, so the default
    // within-group ranking at a FLOPs target is unchanged by it)
    c.dhspg.group_rank = Some(0.0);
    c.out = dir.path().join("run_global_order");
    let s = train::run(&c).unwrap();
    c.dhspg.saliency_flops = Some(true);
    c.out = dir.path().join("run_flops_weighted");
    let w = train::run(&c).unwrap();
    let wfrac = w.macs_after.unwrap() as f64 / w.macs_before as f64;
    println!("saliency_flops: MACs kept {wfrac:.4}, group sparsity {:.3}", w.group_sparsity.unwrap());
    assert!(wfrac <= 0.4 && wfrac > 0.37, "MACs kept {wfrac}");
    assert!(w.group_sparsity.unwrap() < s.group_sparsity.unwrap(), "{:?} vs {:?}", w.group_sparsity, s.group_sparsity);
    assert!(w.params_after.unwrap() > s.params_after.unwrap());
}

/// `prune_rows` with HESSO: its periods pick from the listed rows only, so exactly those end at
/// zero and are removed; the report names the target.
#[test]
fn row_list_pipeline_removes_exactly_the_listed_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = fmnist_vgg(dir.path(), 2, 8);
    c.pruner = train::PrunerKind::Hesso;
    c.dhspg.start_pruning_epoch = Some(0.0);
    c.dhspg.pruning_deadline_epoch = Some(1.0);
    c.hesso.pruning_periods = Some(4);
    // the run's own analysis (the model as `train::run` loads it)
    let g = train::load_model(&c, &train::data::load(&c).unwrap()).unwrap();
    let a = oto_graph::zig::analyze(&g);
    let listed: Vec<usize> = a.rows.iter().filter(|r| r.prunable() && r.has_params).map(|r| r.id).skip(1).step_by(5).collect();
    c.dhspg.prune_rows = Some(listed.clone());
    let s = train::run(&c).unwrap();
    let full = oto_graph::Graph::load(&c.out.join("full.onnx")).unwrap();
    let zero = oto_graph::compress::zero_rows_of(&full, &oto_graph::zig::analyze(&full)).unwrap();
    assert_eq!(zero.into_iter().collect::<Vec<_>>(), listed);
    let last = train::metrics::read_jsonl(&c.out.join("metrics.jsonl")).unwrap().pop().unwrap();
    assert_eq!((last.optim.zero_rows, last.optim.target_zero_rows), (Some(listed.len()), Some(listed.len())));
    let comp = s.compressed.as_ref().unwrap();
    assert!((s.full.loss - comp.loss).abs() < 1e-3 && s.verify_max_rel.unwrap() <= c.verify_tolerance);
    let report = std::fs::read_to_string(c.out.join("report.md")).unwrap();
    assert!(report.contains(&format!("(HESSO, target rows: the {} listed)", listed.len())), "{report}");
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(c.out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["prune_rows"].as_array().map(|v| v.len()), Some(listed.len()));
}
