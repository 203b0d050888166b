//! Helpers of the tests that run Python (PyTorch exports, onnxruntime checks) beside `oto`.
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::process::Command;

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

/// Exports `name` with `tests/py/export_user_models.py` to `out` (TorchScript, opset 17,
/// batch 1 unless `extra` says otherwise: `--exporter`, `--batch`, `--mode`).
pub fn export_user_model(out: &Path, name: &str, extra: &[&str]) {
    run(Command::new(python()).arg(py_dir().join("export_user_models.py")).arg(out).arg(name).args(extra));
}
