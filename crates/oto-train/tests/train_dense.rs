//! A short dense run on the bundled Fashion-MNIST subset reaches > 80% test accuracy, and writes
//! its outputs (trained ONNX that evaluates to the same accuracy, metrics, plot, checkpoint).
use oto_train::train::{self, OptimizerKind, ScheduleKind, TrainConfig};

#[test]
fn fashion_mnist_subset_above_80_percent() {
    let dir = tempfile::tempdir().unwrap();
    let c = TrainConfig {
        model: "zoo:fmnist_vgg".into(),
        epochs: 6,
        batch_size: 64,
        lr: Some(0.1),
        optimizer: OptimizerKind::Sgd,
        schedule: ScheduleKind::Cosine,
        threads: 2,
        progress: "plain".into(),
        out: dir.path().join("run"),
        ..Default::default()
    };
    let s = train::run(&c).unwrap();
    let acc = s.full.top1.unwrap();
    println!("test top-1 {acc:.2}% after {} epochs ({:.1} s)", c.epochs, s.train_seconds);
    assert!(acc > 80.0, "test accuracy {acc:.2}% <= 80%");
    for f in ["full.onnx", "metrics.jsonl", "curves.png", "checkpoint.ot", "config.toml", "report.md"] {
        assert!(c.out.join(f).is_file(), "{f} missing");
    }
    let hist = train::metrics::read_jsonl(&c.out.join("metrics.jsonl")).unwrap();
    assert_eq!(hist.len(), 6);
    assert!(hist[5].train_loss < hist[0].train_loss);
    // The saved model (eval-mode BN with the learned statistics) gives the same accuracy.
    let g = oto_graph::Graph::load(&c.out.join("full.onnx")).unwrap();
    let exec = oto_train::exec::Executor::new(&g, &[], tch::Device::Cpu).unwrap();
    let data = train::data::load(&c).unwrap();
    let ev = train::evaluate(&exec, &data).unwrap();
    assert!((ev.top1.unwrap() - acc).abs() < 1e-9, "{} vs {acc}", ev.top1.unwrap());
}
