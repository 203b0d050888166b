//! `oto train` from the command line: a quick run with a TOML file and flag overrides, and clear
//! failures (bad dataset path, resume without checkpoint, NaN loss) with a non-zero exit.
#![cfg(feature = "train")]
mod common;
use common::skeleton;
use std::process::Command;

fn oto() -> Command {
    Command::new(env!("CARGO_BIN_EXE_oto"))
}


/// A one-epoch run of at most `batches` batches of 16 on the bundled data; the log, after
/// checking the run succeeded.
fn quick_train(model: &std::path::Path, out: &std::path::Path, batches: usize, extra: &[&str]) -> String {
    let o = oto()
        .arg("train")
        .arg(model)
        .args(["--epochs", "1", "--batch-size", "16", "--max-train-batches", &batches.to_string(), "--threads", "1", "--progress", "plain"])
        .args(extra)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{text}");
    text
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
    // a killed run's temporary files (its process gone) are cleared
    std::fs::create_dir_all(&out).unwrap();
    let stale = out.join(".full.onnx.tmp4000000");
    std::fs::write(&stale, "torn").unwrap();
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
    assert!(!stale.exists(), "stale temporary file left");
}

/// HESSO from a run file: its periods in the log, DHSPG-only settings warned about, the model
/// compressed to the exact count.
#[test]
fn hesso_run_from_a_run_file() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("run.toml");
    std::fs::write(
        &toml,
        "epochs = 2\nbatch_size = 32\nmax_train_batches = 4\nthreads = 1\nprogress = \"plain\"\npruner = \"hesso\"\n\
         [dhspg]\ntarget_sparsity = 0.5\nepsilon = 0.9\n[hesso]\npruning_periods = 2\n[hesso.importance]\nmagnitude = 1.0\ncosine = 0.0\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = oto().args(["train", "--config"]).arg(&toml).arg("--out").arg(&out).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{text}");
    assert!(text.contains("epsilon is a DHSPG setting; HESSO ignores it"), "{text}");
    assert!(text.contains("HESSO step 4: period 1/2") && text.contains("HESSO step 5: period 2/2"), "{text}"); // from 3/8 of the 8 steps
    assert!(text.contains("removed 96 of 192 prunable rows"), "{text}");
    let written = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(written.contains("pruner = \"hesso\"") && written.contains("magnitude = 1.0"), "{written}");
}

/// `--prune-rows FILE`: exactly the listed rows (analysis row ids) end at zero and are removed.
#[test]
fn prune_rows_from_a_file_removes_exactly_those_rows() {
    let dir = tempfile::tempdir().unwrap();
    // the analysis of the run's model: zoo:fmnist_vgg built for Fashion-MNIST, as `oto train` builds it
    let zc = oto_zoo::ZooConfig { input_shape: Some([1, 28, 28]), num_classes: Some(10), seed: 0, ..Default::default() };
    let g = oto_graph::Graph::from_model(oto_zoo::build("fmnist_vgg", &zc).unwrap()).unwrap();
    let a = oto_graph::zig::analyze(&g);
    let listed: Vec<usize> = a.rows.iter().filter(|r| r.prunable() && r.has_params).map(|r| r.id).step_by(8).collect();
    let file = dir.path().join("rows.txt");
    let text: Vec<String> = listed.iter().map(|r| r.to_string()).collect();
    std::fs::write(&file, format!("# every 8th prunable row\n{}\n", text.join(", "))).unwrap();
    let out = dir.path().join("out");
    let o = oto()
        .args(["train", "--prune-rows"])
        .arg(&file)
        .args(["--epochs", "1", "--batch-size", "32", "--max-train-batches", "3", "--start-pruning-epoch", "0"])
        .args(["--threads", "1", "--progress", "plain", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{text}");
    assert!(text.contains(&format!("DHSPG target rows: the {} listed", listed.len())), "{text}");
    assert!(text.contains(&format!("removed {} of 192 prunable rows", listed.len())), "{text}");
    let full = oto_graph::Graph::load(&out.join("full.onnx")).unwrap();
    let zero = oto_graph::compress::zero_rows_of(&full, &oto_graph::zig::analyze(&full)).unwrap();
    assert_eq!(zero.into_iter().collect::<Vec<_>>(), listed);
    let written = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(written.contains("prune_rows = ["), "{written}");
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
    let file = dir.path().join("not_a_folder");
    std::fs::write(&file, "x").unwrap();
    fails_with(&["train", "--dataset", "cifar10", "--data", file.to_str().unwrap(), "--out", out], "is a file");
    fails_with(&["train", "--resume", "--out", out, "--progress", "quiet"], "no checkpoint");
    fails_with(&["train", "--dataset", "imagenet"], "unknown dataset");
    fails_with(&["train", "--target-sparsity", "2"], "target sparsity");
    fails_with(&["train", "--target-flops", "0"], "target FLOPs");
    fails_with(&["train", "--target-flops", "0.5", "--target-sparsity", "0.5"], "--target-sparsity");
    fails_with(&["train", "--target-flops", "0.5", "--legacy"], "exact sparsity mode");
    fails_with(&["train", "--prune-rows", "1,x"], "'x' is not a row id");
    fails_with(&["train", "--prune-rows", "1", "--target-sparsity", "0.5"], "--target-sparsity");
    fails_with(&["train", "--prune-rows", "1", "--legacy"], "exact sparsity mode");
    fails_with(
        &["train", "--prune-rows", "100000", "--epochs", "1", "--max-train-batches", "1", "--threads", "1", "--out", out, "--progress", "quiet"],
        "row 100000 of the target's row list is not a prunable row",
    );
    fails_with(&["train", "--target-sparsity", "0.5", "--upper-group-sparsity", "1.5"], "upper_group_sparsity");
    fails_with(&["train", "--target-sparsity", "0.5", "--pruner", "obd"], "unknown pruner 'obd'; valid: dhspg, hesso");
    fails_with(&["train", "--target-sparsity", "0.5", "--pruner", "hesso", "--pruning-periods", "0"], "pruning_periods");
    fails_with(
        &["train", "--target-sparsity", "0.5", "--pruner", "hesso", "--start-pruning-epoch", "2", "--pruning-deadline-epoch", "1", "--epochs", "3", "--max-train-batches", "2", "--out", out],
        "must come after start_pruning_epoch",
    );
    fails_with(
        &["train", "--lr", "1e9", "--epochs", "1", "--max-train-batches", "30", "--threads", "1", "--out", out, "--progress", "quiet"],
        "lower the learning rate",
    );
}

/// The float values of initializer `name` in the ONNX file `p`.
fn weights(p: &std::path::Path, name: &str) -> Vec<f32> {
    let m = oto_onnx::load_model(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let t = m.graph.unwrap().initializer.into_iter().find(|t| t.name.as_deref() == Some(name)).unwrap();
    oto_onnx::tensor::to_f32(&t).unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn reinit_trains_an_onnx_architecture_from_fresh_weights() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.onnx");
    let o = oto().args(["zoo", "export", "fmnist_vgg", "--width", "0.5", "--random-stats", "-o"]).arg(&model).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // A learning rate of 1e-7 leaves the weights where training started.
    let train = |extra: &[&str], out: &str| {
        let out = dir.path().join(out);
        let o = oto()
            .arg("train")
            .arg(&model)
            .args(["--epochs", "1", "--batch-size", "16", "--max-train-batches", "1", "--lr", "1e-7", "--weight-decay", "0"])
            .args(["--threads", "1", "--progress", "plain", "--out"])
            .arg(&out)
            .args(extra)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{text}");
        (out.join("full.onnx"), text)
    };
    let (kept, text) = train(&[], "kept");
    assert!(!text.contains("re-drawn"), "{text}");
    let (fresh, text) = train(&["--reinit", "--seed", "5"], "fresh");
    assert!(text.contains("initializers re-drawn with seed 5"), "{text}");
    assert!(!text.contains("warning"), "{text}");

    let (w0, bn0) = ("features.0.0.weight", "features.0.1.weight");
    let start = weights(&model, w0);
    assert!(max_diff(&weights(&kept, w0), &start) < 1e-4, "without --reinit training starts from the file's weights");
    let w = weights(&fresh, w0);
    assert!(max_diff(&w, &start) > 0.1, "--reinit must draw new weights");
    // PyTorch's default for the 1-channel 3x3 conv (kaiming_uniform, a = √5): uniform ±1/√9;
    // BN scale back at 1 (the file's is random).
    let bound = 1.0f32 / 3.0;
    let std = (w.iter().map(|v| v * v).sum::<f32>() / w.len() as f32).sqrt();
    let want = bound / 3f32.sqrt();
    assert!(w.iter().all(|v| v.abs() <= bound) && (std / want - 1.0).abs() < 0.25, "std {std} vs {want}");
    assert!(weights(&fresh, bn0).iter().all(|v| (v - 1.0).abs() < 1e-4));
    assert!(weights(&model, bn0).iter().any(|v| (v - 1.0).abs() > 0.1));
}

/// A model exported from PyTorch as most users do, with a batch-1 example and no dynamic axes
/// (`x.view(x.size(0), -1)` folded into the target `[1, -1]`), trains with batches of 16: its
/// batch is made symbolic, proven per sample, and the written model takes any batch.
#[test]
fn a_batch1_pytorch_export_trains_with_any_batch() {
    let dir = tempfile::tempdir().unwrap();
    let model = skeleton::export("user/fmnist_cnn", dir.path());
    let out = dir.path().join("out");
    let text = quick_train(&model, &out, 2, &[]);
    assert!(text.contains("exported with a fixed batch of 1") && text.contains("proven per sample"), "{text}");
    let full = oto_graph::Graph::load(&out.join("full.onnx")).unwrap();
    let s = full.shape(full.inputs[0]).unwrap();
    assert!(matches!(s[0], oto_graph::Dim::Sym(_)), "the written model takes any batch: {s:?}");
    let e = oto().args(["eval"]).arg(out.join("full.onnx")).args(["--dataset", "fashion-mnist", "--batch-size", "64"]).output().unwrap();
    assert!(e.status.success(), "{}{}", String::from_utf8_lossy(&e.stdout), String::from_utf8_lossy(&e.stderr));
    assert!(!text.contains("no normalisation layer"), "{text}");

    // the default eval-mode export folds BatchNorm away: said, with the export line; --init random
    let folded = skeleton::export("user/fmnist_cnn_folded", dir.path());
    let text = quick_train(&folded, &dir.path().join("out2"), 1, &["--init", "random"]);
    assert!(text.contains("no normalisation layer") && text.contains("TrainingMode.PRESERVE"), "{text}");
    assert!(text.contains("re-drawn with seed"), "{text}");
}

/// A model whose declared input side differs from the dataset's images (a 32×32 model on
/// 28×28 Fashion-MNIST): batches are resized to it for training and evaluation, and the run
/// says so; a channel mismatch stays a clear error.
#[test]
fn images_are_resized_to_the_model_input_side() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m32.onnx");
    let o = oto().args(["zoo", "export", "fmnist_vgg", "--width", "0.5", "--input-shape", "1,32,32", "-o"]).arg(&model).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = dir.path().join("out");
    let text = quick_train(&model, &out, 2, &[]);
    assert!(text.contains("resized from 28×28 to the model's 32×32"), "{text}");
    let e = oto().args(["eval"]).arg(out.join("full.onnx")).args(["--dataset", "fashion-mnist"]).output().unwrap();
    let et = String::from_utf8_lossy(&e.stdout).to_string() + &String::from_utf8_lossy(&e.stderr);
    assert!(e.status.success() && et.contains("resized"), "{et}");
    let rgb = dir.path().join("rgb.onnx");
    let o = oto().args(["zoo", "export", "fmnist_vgg", "--width", "0.5", "--input-shape", "3,28,28", "-o"]).arg(&rgb).output().unwrap();
    assert!(o.status.success());
    fails_with(&["train", rgb.to_str().unwrap(), "--epochs", "1", "--out", dir.path().join("o3").to_str().unwrap()], "[N, 1, 28, 28]");
}

/// A run whose loss blows up (a learning rate of 50) is warned about, with what to change, and
/// exits non-zero unless `--allow-divergence`.
#[test]
fn a_diverging_run_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let o = oto()
            .args(["train", "--epochs", "3", "--max-train-batches", "4", "--lr", "50", "--threads", "1", "--progress", "plain", "--out"])
            .arg(dir.path().join(format!("o{}", extra.len())))
            .args(extra)
            .output()
            .unwrap();
        (o.status.success(), String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr))
    };
    let (ok, text) = run(&[]);
    assert!(text.contains("the run is diverging; lower the learning rate"), "{text}");
    assert!(!ok && text.contains("--allow-divergence"), "a diverged run exits non-zero: {text}");
    let (ok, text) = run(&["--allow-divergence"]);
    assert!(ok, "{text}");
}

/// A run that cannot fit in the memory the machine has is refused before training, with the
/// estimate and what to change.
#[test]
fn a_run_that_cannot_fit_in_memory_is_refused_with_the_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let o = oto()
        .args(["train", "--epochs", "1", "--batch-size", "1000000000", "--threads", "1", "--progress", "plain", "--out"])
        .arg(dir.path().join("o"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{text}");
    assert!(text.contains("of memory") && text.contains("activations at batch 1000000000") && text.contains("lower --batch-size"), "{text}");
    assert!(!dir.path().join("o/checkpoint.ot").exists() && !dir.path().join("o/config.toml").exists());
}
