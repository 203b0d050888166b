//! Helpers of the tests that run Python (PyTorch exports, onnxruntime checks) beside `oto`.
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::process::Command;

pub mod skeleton;

/// The project venv's Python (or `$OTO_PYTHON`).
pub fn python() -> PathBuf {
    let p = std::env::var_os("OTO_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python"));
    assert!(p.exists(), "{} not found: run scripts/setup.sh first (it installs torch, torchvision, onnx, onnxruntime)", p.display());
    p
}

/// The test scripts' folder, `tests/py`.
pub fn py_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py")
}

/// Runs `cmd`, asserts it succeeded, and returns stdout and stderr together.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("spawn");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// Whether the project venv's Python imports torch (the default set-up on a machine without an
/// NVIDIA GPU installs libtorch only); `false` prints that the caller is skipped and how to
/// install torch.
pub fn torch_importable(what: &str) -> bool {
    let ok = Command::new(python()).args(["-c", "import torch"]).output().is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipping {what}: Python torch is not importable in .venv (slim set-up); `bash scripts/need_torch.sh` installs it");
    }
    ok
}

/// The real CIFAR-10 folder (`oto_data::datasets_root()`: `../shared/datasets` or
/// `$OTO_DATASETS`), or `None` with a message saying the test is skipped.
#[cfg(feature = "train")]
pub fn cifar10() -> Option<PathBuf> {
    let p = oto_train::datasets::datasets_root().join("cifar-10");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("skipping: {} not found (set OTO_DATASETS)", p.display());
        None
    }
}

/// The exports of `model` in `dir` (`{model}__*.onnx`), sorted.
pub fn forms(dir: &Path, model: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "onnx") && p.file_name().unwrap().to_string_lossy().starts_with(&format!("{model}__")))
        .collect();
    v.sort();
    v
}

/// "removed R of P prunable rows" of an `oto train` log, as (R, P).
pub fn removed(log: &str) -> (usize, usize) {
    let s = log.split("compressed: removed ").nth(1).unwrap_or_else(|| panic!("no compression in\n{log}"));
    let w: Vec<&str> = s.split_whitespace().collect();
    (w[0].parse().unwrap(), w[2].parse().unwrap())
}
