//! `oto train` on corrupt or mismatched inputs (issue 25): datasets in every format cut short,
//! mislabelled or unreadable, empty classes, wrong paths, and corrupt or foreign checkpoints.
//! Each run must fail with a non-zero exit and one `error:` line naming the problem, quickly,
//! without a panic, and leave no output behind: no output folder for a new run, and an
//! existing run's files untouched by a failed `--resume`.
#![cfg(feature = "train")]
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v.extend_from_slice(data);
    v
}

/// A valid Fashion-MNIST folder of `n` training and `n` test images.
fn fmnist(dir: &Path, n: u32) {
    std::fs::create_dir_all(dir).unwrap();
    for p in ["train", "t10k"] {
        std::fs::write(dir.join(format!("{p}-images-idx3-ubyte")), idx(&[n, 28, 28], &vec![7; n as usize * 784])).unwrap();
        std::fs::write(dir.join(format!("{p}-labels-idx1-ubyte")), idx(&[n], &(0..n).map(|i| (i % 10) as u8).collect::<Vec<_>>())).unwrap();
    }
}

/// A valid CIFAR-10 binary folder: one training batch and the test batch, `n` records each.
fn cifar(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let batch: Vec<u8> = (0..n).flat_map(|i| std::iter::once((i % 10) as u8).chain(std::iter::repeat_n(i as u8, 3072))).collect();
    std::fs::write(dir.join("data_batch_1.bin"), &batch).unwrap();
    std::fs::write(dir.join("test_batch.bin"), &batch).unwrap();
}

fn png(p: &Path, side: u32) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    image::RgbImage::from_fn(side, side, |x, y| image::Rgb([x as u8, y as u8, 9])).save(p).unwrap();
}

/// An image-folder set: `train/<class>/` and `val/<class>/` with two 16×16 PNGs per class.
fn folder(dir: &Path) {
    for split in ["train", "val"] {
        for c in ["a", "b"] {
            for i in 0..2 {
                png(&dir.join(split).join(c).join(format!("{i}.png")), 16);
            }
        }
    }
}

fn train_args(model: &str, dataset: &str, data: &Path, out: &Path) -> Vec<String> {
    let mut v: Vec<String> = ["train", "--model", model, "--dataset", dataset, "--epochs", "1", "--batch-size", "4"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    v.extend(["--max-train-batches", "2", "--threads", "1", "--progress", "plain", "--image-size", "16"].map(String::from));
    v.extend(["--data".into(), data.display().to_string(), "--out".into(), out.display().to_string()]);
    v
}

/// Runs `oto` with `args`; checks the failure and returns its error line.
fn fails(args: &[String], what: &str) -> String {
    let t0 = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_oto")).args(args).output().unwrap();
    let secs = t0.elapsed();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    let text = format!("{what}: {}{err}", String::from_utf8_lossy(&o.stdout));
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(!err.contains("panicked") && !err.contains("RUST_BACKTRACE"), "{text}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{text}");
    assert!(secs < Duration::from_secs(10), "{what}: {secs:?}"); // about 0.4 s each here
    errors[0].to_string()
}

type Case = (&'static str, &'static str, &'static str, fn(&Path), &'static str);

#[test]
fn corrupt_datasets_fail_cleanly_without_outputs() {
    let cases: &[Case] = &[
        ("fashion-mnist: wrong magic", "zoo:fmnist_vgg", "fashion-mnist", |d| {
            fmnist(d, 8);
            std::fs::write(d.join("train-images-idx3-ubyte"), [1u8, 2, 3, 4, 0, 0, 0, 8]).unwrap();
        }, "magic"),
        ("fashion-mnist: images cut short", "zoo:fmnist_vgg", "fashion-mnist", |d| {
            fmnist(d, 8);
            let p = d.join("train-images-idx3-ubyte");
            let b = std::fs::read(&p).unwrap();
            std::fs::write(&p, &b[..b.len() - 100]).unwrap();
        }, "train-images-idx3-ubyte"),
        ("fashion-mnist: label count differs", "zoo:fmnist_vgg", "fashion-mnist", |d| {
            fmnist(d, 8);
            std::fs::write(d.join("train-labels-idx1-ubyte"), idx(&[5], &[0, 1, 2, 3, 4])).unwrap();
        }, "labels"),
        ("fashion-mnist: file missing", "zoo:fmnist_vgg", "fashion-mnist", |d| {
            fmnist(d, 8);
            std::fs::remove_file(d.join("t10k-labels-idx1-ubyte")).unwrap();
        }, "t10k-labels-idx1-ubyte"),
        ("cifar10: batch cut short", "zoo:resnet20", "cifar10", |d| {
            cifar(d, 8);
            let p = d.join("data_batch_1.bin");
            let b = std::fs::read(&p).unwrap();
            std::fs::write(&p, &b[..b.len() - 1000]).unwrap();
        }, "data_batch_1.bin"),
        ("cifar10: label 200", "zoo:resnet20", "cifar10", |d| {
            cifar(d, 8);
            let p = d.join("test_batch.bin");
            let mut b = std::fs::read(&p).unwrap();
            b[0] = 200;
            std::fs::write(&p, &b).unwrap();
        }, "label 200"),
        ("cifar10: no batches", "zoo:resnet20", "cifar10", |d| {
            std::fs::create_dir_all(d).unwrap();
        }, "data_batch_"),
        ("imagefolder: an unreadable image", "zoo:resnet20", "imagefolder", |d| {
            folder(d);
            std::fs::write(d.join("train/b/1.png"), b"\x89PNG\r\n\x1a\n but nothing else").unwrap();
        }, "1.png"),
        ("imagefolder: an empty class", "zoo:resnet20", "imagefolder", |d| {
            folder(d);
            std::fs::create_dir_all(d.join("train/c")).unwrap();
        }, "class folder 'c' is empty"),
        ("imagefolder: no classes", "zoo:resnet20", "imagefolder", |d| {
            std::fs::create_dir_all(d.join("train")).unwrap();
            std::fs::create_dir_all(d.join("val")).unwrap();
        }, "class"),
        ("svhn: not a MAT file", "zoo:resnet20", "svhn", |d| {
            std::fs::create_dir_all(d).unwrap();
            std::fs::write(d.join("train_32x32.mat"), b"MATLAB 5.0 MAT-file, but cut").unwrap();
            std::fs::write(d.join("test_32x32.mat"), b"MATLAB 5.0 MAT-file, but cut").unwrap();
        }, "train_32x32.mat"),
        ("sr: a corrupt HR image", "zoo:carn_mini", "sr", |d| {
            for (set, n) in [("T91", 3), ("Set5", 2)] {
                for i in 0..n {
                    png(&d.join(set).join("HR").join(format!("{i}.png")), 64);
                }
            }
            std::fs::write(d.join("T91/HR/1.png"), b"\x89PNG\r\n\x1a\n").unwrap();
        }, "1.png"),
        ("data is a file", "zoo:resnet20", "cifar10", |d| {
            std::fs::write(d, b"").unwrap();
        }, "is a file"),
        ("data does not exist", "zoo:resnet20", "cifar10", |_| {}, "does not exist"),
    ];
    let tmp = tempfile::tempdir().unwrap();
    for (k, (what, model, dataset, make, needle)) in cases.iter().enumerate() {
        let data = tmp.path().join(format!("data{k}"));
        let out = tmp.path().join(format!("out{k}"));
        make(&data);
        let e = fails(&train_args(model, dataset, &data, &out), what);
        assert!(e.contains(needle), "{what}: '{needle}' not in {e}");
        assert!(!out.exists(), "{what}: {} was created", out.display());
    }
}

fn listing(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut v: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(dir).unwrap().flatten().map(|e| (e.path(), std::fs::read(e.path()).unwrap())).collect();
    v.sort();
    v
}

#[test]
fn corrupt_and_foreign_checkpoints_fail_cleanly_and_touch_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let base: Vec<String> = ["train", "--model", "zoo:fmnist_vgg", "--batch-size", "16", "--max-train-batches", "2", "--threads", "1"]
        .iter()
        .map(|s| s.to_string())
        .chain(["--progress".into(), "plain".into(), "--out".into(), out.display().to_string()])
        .collect();
    // without a checkpoint
    let e = fails(&[base.clone(), vec!["--resume".into(), "--epochs".into(), "2".into()]].concat(), "resume without a checkpoint");
    assert!(e.contains("no checkpoint"), "{e}");
    assert!(!out.exists());
    // a run to resume: one epoch of two, then its checkpoint spoiled in three ways
    let o = Command::new(env!("CARGO_BIN_EXE_oto")).args(&base).args(["--epochs", "1"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ck = out.join("checkpoint.ot");
    let good = std::fs::read(&ck).unwrap();
    let resume = [base.clone(), vec!["--resume".into(), "--epochs".into(), "2".into()]].concat();
    for (what, bytes, extra, needle) in [
        ("not a checkpoint", b"PK\x03\x04 not a checkpoint".to_vec(), vec![], "corrupt"),
        ("cut short", good[..good.len() / 2].to_vec(), vec![], "corrupt"),
        ("another run's", good.clone(), vec!["--seed".to_string(), "7".into()], "different run"),
    ] {
        std::fs::write(&ck, &bytes).unwrap();
        let before = listing(&out);
        let e = fails(&[resume.clone(), extra].concat(), what);
        assert!(e.contains("checkpoint") && e.contains(needle), "{what}: {e}");
        assert_eq!(before, listing(&out), "{what}: the run's files changed");
    }
}
