//! `oto train` from the command line: a quick run with a TOML file and flag overrides, and clear
//! failures (bad dataset path, resume without checkpoint, NaN loss) with a non-zero exit.
#![cfg(feature = "train")]
use std::process::Command;

fn oto() -> Command {
    Command::new(env!("CARGO_BIN_EXE_oto"))
}

#[test]
fn quick_run_with_config_file_and_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("run.toml");
    std::fs::write(
        &toml,
        "model = \"zoo:fmnist_vgg\"\nepochs = 3\nbatch_size = 32\nmax_train_batches = 4\nthreads = 1\nprogress = \"plain\"\n[dhspg]\nepsilon = 0.9\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = oto()
        .args(["train", "--config"])
        .arg(&toml)
        .args(["--epochs", "1", "--optimizer", "adam", "--lr", "0.002", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{text}");
    assert!(text.contains("epoch 1/1"), "{text}");
    assert!(text.contains("adam lr 2.000e-3"), "{text}");
    for f in ["full.onnx", "metrics.jsonl", "curves.png", "checkpoint.ot", "config.toml", "report.md"] {
        assert!(out.join(f).is_file(), "{f} missing\n{text}");
    }
    let written = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(written.contains("epochs = 1") && written.contains("epsilon = 0.9"), "{written}");
}

fn fails_with(args: &[&str], needle: &str) {
    let o = oto().args(args).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{args:?} should fail");
    assert!(err.contains(needle), "{args:?}: expected '{needle}' in:\n{err}");
}

#[test]
fn clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    let out = out.to_str().unwrap();
    fails_with(&["train", "--dataset", "cifar10", "--data", "/no/such/cifar", "--out", out], "/no/such/cifar");
    fails_with(&["train", "--resume", "--out", out, "--progress", "quiet"], "no checkpoint");
    fails_with(&["train", "--dataset", "imagenet"], "unknown dataset");
    fails_with(&["train", "--target-sparsity", "2"], "target sparsity");
    fails_with(
        &["train", "--lr", "1e9", "--epochs", "1", "--max-train-batches", "30", "--threads", "1", "--out", out, "--progress", "quiet"],
        "lower the learning rate",
    );
}
