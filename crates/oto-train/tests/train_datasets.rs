//! Whole training runs (`train::run`) on every dataset kind, each on a tiny dataset written by the
//! test in its real on-disk layout (the loaders alone are tested in oto-data's `tests/formats.rs`,
//! whose format writers this test shares): MNIST IDX (gzipped), CIFAR-10 and CIFAR-100 binary
//! batches, SVHN `.mat` v5, a Tiny-ImageNet-style image folder, and super-resolution `<set>/HR`
//! folders — the last one through the whole DHSPG pipeline (DHSPG → compressed ONNX →
//! verification → same PSNR).
#[path = "../../oto-data/tests/common_formats/mod.rs"]
mod common_formats;

use std::path::{Path, PathBuf};

use common_formats::*;
use oto_train::train::{self, DatasetKind, OptimizerKind, RunSummary, TrainConfig};

/// One short epoch: 2 batches of 8, evaluation in batches of 8 (the last one partial).
fn quick(dataset: DatasetKind, data: &Path, model: &str, out: PathBuf) -> TrainConfig {
    TrainConfig {
        model: model.into(),
        dataset,
        data: Some(data.to_path_buf()),
        epochs: 1,
        batch_size: 8,
        eval_batch_size: 8,
        max_train_batches: 2,
        lr: Some(0.02),
        threads: 1,
        data_threads: 1,
        seed: 3,
        progress: "quiet".into(),
        out,
        ..Default::default()
    }
}

fn summary_json(out: &Path) -> serde_json::Value {
    let p = out.join("summary.json");
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap()
}

/// The outputs a user relies on after any run, and that the recorded metrics agree.
fn check_common(c: &TrainConfig, s: &RunSummary) {
    for f in ["full.onnx", "metrics.jsonl", "summary.json", "config.toml", "report.md", "curves.png", "checkpoint.ot"] {
        assert!(c.out.join(f).is_file(), "{}: {f} missing", c.dataset.name());
    }
    assert!(s.full.loss.is_finite() && s.full.loss >= 0.0, "{:?}", s.full);
    let hist = train::metrics::read_jsonl(&c.out.join("metrics.jsonl")).unwrap();
    assert_eq!(hist.len(), c.epochs);
    let last = hist.last().unwrap();
    assert!(last.train_loss.is_finite(), "{last:?}");
    assert_eq!(last.test_top1, s.full.top1);
    assert_eq!(last.test_psnr, s.full.psnr);
    let j = summary_json(&c.out);
    assert_eq!(j["dataset"], c.dataset.name());
    assert_eq!(j["model"], c.model);
    assert_eq!(j["full"]["samples"].as_u64(), Some(s.full.samples as u64));
    assert_eq!(j["full"]["loss"].as_f64(), Some(s.full.loss));
}

/// Classification: top-1/top-5 in range, no PSNR, every test sample seen, and the trained
/// model's logits have the dataset's class count.
fn check_classification(c: &TrainConfig, s: &RunSummary, classes: i64, test_samples: usize) {
    check_common(c, s);
    let (top1, top5) = (s.full.top1.expect("top-1"), s.full.top5.expect("top-5"));
    assert!((0.0..=100.0).contains(&top1) && top5 >= top1 && top5 <= 100.0, "{:?}", s.full);
    assert_eq!(s.full.psnr, None);
    assert_eq!(s.full.samples, test_samples);
    assert!(s.compressed.is_none());
    let g = oto_graph::Graph::load(&c.out.join("full.onnx")).unwrap();
    let out_shape = g.shape(g.outputs[0]).expect("output shape");
    assert_eq!(out_shape.last().and_then(|d| d.known()), Some(classes), "{}", c.dataset.name());
    let j = summary_json(&c.out);
    assert_eq!(j["full"]["top1"].as_f64(), Some(top1));
    assert!(j["compressed"].is_null());
}

#[test]
fn mnist_idx_gz() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("mnist");
    write_mnist_dir(&d, 32, 12, 28, 28, true);
    let c = quick(DatasetKind::Mnist, &d, "zoo:fmnist_resnet", t.path().join("run"));
    let s = train::run(&c).unwrap();
    check_classification(&c, &s, 10, 12);
}

#[test]
fn cifar10_binary_batches() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("cifar-10-batches-bin");
    write_cifar10_dir(&d, &[16, 8], 12);
    let c = quick(DatasetKind::Cifar10, &d, "zoo:demonet", t.path().join("run"));
    let s = train::run(&c).unwrap();
    check_classification(&c, &s, 10, 12);
}

#[test]
fn cifar100_fine_labels() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("cifar-100-binary");
    write_cifar100_dir(&d, 24, 10);
    let c = quick(DatasetKind::Cifar100, &d, "zoo:resnet20", t.path().join("run"));
    let s = train::run(&c).unwrap();
    check_classification(&c, &s, 100, 10);
}

#[test]
fn svhn_mat_v5() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("svhn");
    write_svhn_dir(&d, 24, 12);
    let c = quick(DatasetKind::Svhn, &d, "zoo:demonet", t.path().join("run"));
    let s = train::run(&c).unwrap();
    check_classification(&c, &s, 10, 12);
}

#[test]
fn imagefolder_tiny_imagenet_layout() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("tiny");
    write_tiny_imagenet(&d, &["n01", "n02", "n03"], 6, 3, 20, 18);
    let mut c = quick(DatasetKind::Imagefolder, &d, "zoo:demonet", t.path().join("run"));
    c.image_size = 16;
    let s = train::run(&c).unwrap();
    check_classification(&c, &s, 3, 9);
    // three classes: every label is among the top 5
    assert_eq!(s.full.top5, Some(100.0));
    let g = oto_graph::Graph::load(&c.out.join("full.onnx")).unwrap();
    let in_shape: Vec<_> = g.shape(g.inputs[0]).unwrap().iter().skip(1).map(|d| d.known()).collect();
    assert_eq!(in_shape, [Some(3), Some(16), Some(16)]);
}

/// Super-resolution through the OTOv2 pipeline: carn_mini x2 trained with DHSPG on a `train`
/// set, tested on a `test` set (full images of different sizes): PSNR is the metric, the
/// target group sparsity is reached, and the compressed model has the full model's PSNR.
#[test]
fn sr_dhspg_pipeline_carn_mini() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("super-resolution");
    write_sr_set(&d, "train", &[("a", 40, 32), ("b", 36, 36), ("c", 30, 28)]);
    write_sr_set(&d, "test", &[("x", 48, 40), ("y", 34, 30)]);
    let mut c = quick(DatasetKind::Sr, &d, "zoo:carn_mini", t.path().join("run"));
    c.epochs = 2;
    c.max_train_batches = 0;
    c.batch_size = 4;
    c.optimizer = OptimizerKind::Adam;
    c.lr = Some(1e-3);
    c.sr_scale = 2;
    c.sr_patch = 12;
    c.sr_batches_per_epoch = 4;
    c.sr_train_set = "train".into();
    c.sr_test_set = "test".into();
    c.dhspg.target_sparsity = Some(0.5);
    c.dhspg.start_pruning_epoch = Some(0.0);
    let s = train::run(&c).unwrap();
    check_common(&c, &s);
    for f in ["compressed.onnx", "manifest.json", "groups.svg"] {
        assert!(c.out.join(f).is_file(), "{f} missing");
    }
    let (full, comp) = (&s.full, s.compressed.as_ref().expect("compressed metrics"));
    assert_eq!((full.top1, full.top5, comp.top1), (None, None, None));
    assert_eq!((full.samples, comp.samples), (2, 2));
    let (pf, pc) = (full.psnr.expect("PSNR"), comp.psnr.expect("PSNR"));
    println!("PSNR full {pf:.4} dB, compressed {pc:.4} dB, group sparsity {:?}", s.group_sparsity);
    assert!(pf.is_finite() && pf > 5.0, "PSNR {pf}");
    assert!((pf - pc).abs() < 1e-2, "full {pf} dB vs compressed {pc} dB");
    assert!((full.loss - comp.loss).abs() < 1e-4, "L1 {} vs {}", full.loss, comp.loss);
    let gs = s.group_sparsity.expect("group sparsity");
    assert!(gs >= 0.5 - 1e-9, "group sparsity {gs}");
    assert!(s.params_after.unwrap() < s.params_before);
    assert!(s.verify_max_rel.unwrap() <= c.verify_tolerance);
    let j = summary_json(&c.out);
    assert_eq!(j["target_sparsity"].as_f64(), Some(0.5));
    assert_eq!(j["compressed"]["psnr"].as_f64(), Some(pc));
    assert!(j["full"]["top1"].is_null());
}
