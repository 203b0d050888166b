//! Writes every zoo model to a temporary directory and validates it independently with the
//! Python ONNX checker (full shape inference) and onnxruntime (tests/check_onnx.py).
use oto_zoo::{build, list, ZooConfig};
use std::path::PathBuf;
use std::process::Command;

fn python() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let py = std::env::var_os("OTO_PYTHON").map(PathBuf::from).unwrap_or_else(|| root.join(".venv/bin/python"));
    assert!(
        py.exists(),
        "Python with onnx/onnxruntime not found at {} (set OTO_PYTHON or run scripts/setup.sh to create .venv)",
        py.display()
    );
    py
}

/// Small inputs for the big ImageNet-style nets keep the check fast; 96 px still takes the
/// ImageNet stems (> 64 px).
fn check_shape(name: &str, default: [usize; 3]) -> [usize; 3] {
    match name {
        "vgg16_bn_imagenet" => [3, 64, 64],
        _ if default[1] >= 224 => [3, 96, 96],
        _ => default,
    }
}

#[test]
fn onnx_checker_and_onnxruntime_accept_every_model() {
    let py = python();
    let dir = tempfile::tempdir().unwrap();
    let mut manifest = String::new();
    for e in list() {
        let cfg = ZooConfig { input_shape: Some(check_shape(e.name, e.input_shape)), seed: 1, randomize_stats: true, ..Default::default() };
        let model = build(e.name, &cfg).unwrap_or_else(|err| panic!("{}: {err}", e.name));
        let path = dir.path().join(format!("{}.onnx", e.name));
        oto_onnx::save_model(&model, &path).unwrap();
        let want: Vec<String> = e.output_shape(&cfg, 2).iter().map(|d| d.to_string()).collect();
        manifest += &format!("{} {}\n", path.display(), want.join(" "));
    }
    let mpath = dir.path().join("manifest.txt");
    std::fs::write(&mpath, manifest).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/check_onnx.py");
    let out = Command::new(&py).arg(&script).arg(&mpath).output().expect("cannot run python");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    println!("{text}");
    assert!(out.status.success(), "ONNX check failed:\n{text}");
}
