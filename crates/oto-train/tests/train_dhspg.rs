//! The pipeline end to end on the bundled subset: DHSPG reaches the target group sparsity, the
//! compressed model is written, verified, smaller, and has the same test accuracy as the full one.
use oto_train::train::{self, TrainConfig};

#[test]
fn dhspg_pipeline_reaches_target_and_keeps_accuracy() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = TrainConfig {
        model: "zoo:fmnist_vgg".into(),
        epochs: 3,
        batch_size: 64,
        max_train_batches: 30,
        threads: 2,
        progress: "plain".into(),
        out: dir.path().join("run"),
        ..Default::default()
    };
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
    assert!(hist.last().unwrap().group_sparsity.unwrap() >= 0.5 - 1e-9);
    assert!(hist.last().unwrap().zero_rows.unwrap() >= hist.last().unwrap().target_zero_rows.unwrap());
    let report = std::fs::read_to_string(c.out.join("report.md")).unwrap();
    assert!(report.contains("compressed") && report.contains("MACs"));
}
