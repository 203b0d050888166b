//! Clear errors: bad dataset path, corrupt checkpoint, resume without checkpoint, a checkpoint
//! of another run, NaN/inf loss, bad settings.
use oto_train::train::{self, DatasetKind, TrainConfig};
use oto_train::TrainError;

fn quick(out: std::path::PathBuf) -> TrainConfig {
    TrainConfig {
        model: "zoo:fmnist_vgg".into(),
        epochs: 1,
        batch_size: 32,
        max_train_batches: 3,
        threads: 1,
        progress: "quiet".into(),
        out,
        ..Default::default()
    }
}

#[test]
fn bad_dataset_path() {
    let dir = tempfile::tempdir().unwrap();
    let c = TrainConfig {
        dataset: DatasetKind::Cifar10,
        data: Some(dir.path().join("no-such-dir")),
        ..quick(dir.path().join("o"))
    };
    let e = train::run(&c).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, TrainError::Data(_)), "{msg}");
    assert!(msg.contains("no-such-dir"), "{msg}");
}

#[test]
fn corrupt_and_missing_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    let e = train::run(&TrainConfig { resume: true, ..quick(out.clone()) }).unwrap_err();
    assert!(matches!(e, TrainError::Checkpoint { .. }), "{e}");
    assert!(e.to_string().contains("no checkpoint"), "{e}");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("checkpoint.ot"), b"PK\x03\x04 this is not a checkpoint").unwrap();
    let e = train::run(&TrainConfig { resume: true, ..quick(out.clone()) }).unwrap_err();
    assert!(matches!(e, TrainError::Checkpoint { .. }), "{e}");
    assert!(e.to_string().contains("corrupt"), "{e}");
    // a valid checkpoint of another run
    std::fs::remove_file(out.join("checkpoint.ot")).unwrap();
    train::run(&TrainConfig { stop_after_epoch: Some(0), epochs: 2, ..quick(out.clone()) }).unwrap();
    train::run(&TrainConfig { epochs: 1, ..quick(out.clone()) }).unwrap();
    let e = train::run(&TrainConfig { resume: true, seed: 7, ..quick(out.clone()) }).unwrap_err();
    assert!(e.to_string().contains("different run"), "{e}");
    // truncated: half of a real checkpoint
    let bytes = std::fs::read(out.join("checkpoint.ot")).unwrap();
    std::fs::write(out.join("checkpoint.ot"), &bytes[..bytes.len() / 2]).unwrap();
    let e = train::run(&TrainConfig { resume: true, ..quick(out.clone()) }).unwrap_err();
    assert!(matches!(e, TrainError::Checkpoint { .. }), "{e}");
}

#[test]
fn nan_loss_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let c = TrainConfig { lr: Some(1e9), max_train_batches: 30, ..quick(dir.path().join("o")) };
    let e = train::run(&c).unwrap_err();
    // the weights blow up: a gradient overflows first, or the loss does
    assert!(matches!(e, TrainError::NonFiniteLoss { .. } | TrainError::NonFiniteGradient { .. }), "{e}");
    assert!(e.to_string().contains("lower the learning rate"), "{e}");
}

#[test]
fn bad_settings() {
    let dir = tempfile::tempdir().unwrap();
    let q = quick(dir.path().join("o"));
    for (c, needle) in [
        (TrainConfig { epochs: 0, ..q.clone() }, "epochs"),
        (TrainConfig { lr: Some(-1.0), ..q.clone() }, "lr"),
        (TrainConfig { device: "tpu".into(), ..q.clone() }, "device"),
        (TrainConfig { model: "zoo:nope".into(), ..q.clone() }, "nope"),
        (TrainConfig { model: "/no/such/model.onnx".into(), ..q.clone() }, "no such file"),
    ] {
        let e = train::run(&c).unwrap_err().to_string();
        assert!(e.contains(needle), "{needle}: {e}");
    }
    let mut c = q.clone();
    c.dhspg.target_sparsity = Some(1.5);
    assert!(train::run(&c).unwrap_err().to_string().contains("target sparsity"));
    assert!(TrainConfig::from_toml("epochs = 2\nbogus = 1\n").unwrap_err().to_string().contains("bogus"));
    let t = TrainConfig::from_toml("epochs = 2\nlr = 0.05\n[dhspg]\ntarget_sparsity = 0.4\n").unwrap();
    assert_eq!((t.epochs, t.lr, t.dhspg.target_sparsity), (2, Some(0.05), Some(0.4)));
    assert_eq!(TrainConfig::from_toml(&TrainConfig::default().to_toml()).unwrap(), TrainConfig::default());
}

/// `y = conv(x) + sqrt(0 · conv(x))`: finite outputs and loss, a NaN gradient (∞ · 0) in the
/// conv weight at every step.
fn nan_gradient_model(path: &std::path::Path) {
    let mut b = oto_zoo::Builder::new(0, false);
    let x = b.input("input", &[oto_zoo::BATCH, 1, 28, 28]);
    let c = b.conv(&x, "conv", 4, 3, 1, 1, 1, true).unwrap();
    let z = b.mul_scalar(&c, 0.0);
    let z = b.op("Sqrt", "", &[&z.name], vec![], z.shape.clone());
    let y = b.add(&c, &z).unwrap();
    let p = b.global_avg_pool(&y).unwrap();
    let f = b.flatten(&p);
    let out = b.gemm(&f, "fc", 10).unwrap();
    oto_onnx::save_model(&b.finish(&out, "logits", "nan_gradient", ""), path).unwrap();
}

#[test]
fn nonfinite_gradient_is_named_and_can_be_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("nan_grad.onnx");
    nan_gradient_model(&model);
    let c = TrainConfig { model: model.display().to_string(), reinit: false, ..quick(dir.path().join("o")) };
    let e = train::run(&c).unwrap_err();
    match &e {
        TrainError::NonFiniteGradient { param, epoch: 1, step: 1, loss } => {
            assert_eq!(param, "conv.weight", "{e}");
            assert!(loss.is_finite(), "{e}");
        }
        _ => panic!("expected a non-finite gradient at step 1: {e}"),
    }
    assert!(e.to_string().contains("--skip-nonfinite"), "{e}");
    // skipped: no update, the run goes on (3 steps, all skipped) ...
    let s = train::run(&TrainConfig { skip_nonfinite: true, ..c.clone() }).unwrap();
    assert_eq!(s.history[0].skipped_steps, 3);
    // ... but ten in a row stop it
    let e = train::run(&TrainConfig { skip_nonfinite: true, max_train_batches: 12, ..c }).unwrap_err();
    assert!(matches!(e, TrainError::NonFiniteGradient { step: 11, .. }), "{e}");
}
