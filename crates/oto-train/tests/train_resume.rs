//! Resume is exact: 2 epochs in one go == 1 epoch, stop, `resume` for the 2nd (same weights
//! and metrics, bit for bit, on the CPU with a fixed thread count). Covers the dense optimizer
//! state, BN running statistics, the LR schedule (warm-up across the boundary), augmentation
//! and the seeded loader.
use oto_train::train::{self, TrainConfig};

fn cfg(out: std::path::PathBuf) -> TrainConfig {
    TrainConfig {
        model: "zoo:fmnist_resnet".into(),
        epochs: 2,
        batch_size: 32,
        max_train_batches: 6,
        eval_batch_size: 500,
        threads: 1,
        progress: "quiet".into(),
        warmup_epochs: 1.5,
        out,
        ..Default::default()
    }
}

pub fn weights(p: &std::path::Path) -> Vec<(String, Vec<f32>)> {
    let g = oto_graph::Graph::load(p).unwrap();
    let mut v: Vec<(String, Vec<f32>)> = g
        .values
        .iter()
        .filter(|v| v.is_initializer)
        .filter_map(|v| v.init.as_ref().and_then(|t| oto_onnx::tensor::to_f32(t).ok()).map(|d| (v.name.clone(), d)))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn check(c: TrainConfig) {
    let a = c.out.join("a");
    let b = c.out.join("b");
    let full = train::run(&TrainConfig { out: a.clone(), ..c.clone() }).unwrap();
    let part = train::run(&TrainConfig { out: b.clone(), stop_after_epoch: Some(1), ..c.clone() }).unwrap();
    assert_eq!(part.history.len(), 1);
    assert!(!b.join("full.onnx").exists());
    let resumed = train::run(&TrainConfig { out: b.clone(), resume: true, ..c.clone() }).unwrap();
    let (wa, wb) = (weights(&a.join("full.onnx")), weights(&b.join("full.onnx")));
    assert_eq!(wa.len(), wb.len());
    for ((na, da), (nb, db)) in wa.iter().zip(&wb) {
        assert_eq!(na, nb);
        assert!(da == db, "tensor {na} differs after resume");
    }
    let strip = |h: &[train::EpochRecord]| -> Vec<train::EpochRecord> {
        h.iter()
            .map(|r| train::EpochRecord { train_seconds: 0.0, samples_per_second: 0.0, ..r.clone() })
            .collect()
    };
    // The history of the first epoch went through the checkpoint's JSON header; read back
    // bit-exactly (serde_json's float_roundtrip), it equals the uninterrupted run's
    assert_eq!(strip(&full.history), strip(&resumed.history));
    assert_eq!(full.full, resumed.full);
}

#[test]
fn dense_two_epochs_equal_one_plus_resume() {
    let dir = tempfile::tempdir().unwrap();
    check(cfg(dir.path().to_path_buf()));
}

#[test]
fn dhspg_two_epochs_equal_one_plus_resume() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg(dir.path().to_path_buf());
    c.warmup_epochs = 0.0;
    c.dhspg.target_sparsity = Some(0.3);
    c.dhspg.start_pruning_epoch = Some(0.5);
    check(c);
}
