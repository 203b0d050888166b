//! `oto compress` / `oto prune` end to end: outputs, manifest, report, proof, and clean failures.
use std::path::Path;
use std::process::Command;

fn oto() -> Command {
    Command::new(env!("CARGO_BIN_EXE_oto"))
}

fn zoo(name: &str, path: &Path) {
    let cfg = oto_zoo::ZooConfig { randomize_stats: true, seed: 1, ..Default::default() };
    oto_onnx::save_model(&oto_zoo::build(name, &cfg).unwrap(), path).unwrap();
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn prune_then_compress_roundtrip() {
    let d = tempfile::tempdir().unwrap();
    let (m, small, masked, man, rep) =
        (d.path().join("m.onnx"), d.path().join("s.onnx"), d.path().join("f.onnx"), d.path().join("man.json"), d.path().join("r.json"));
    zoo("resnet20", &m);
    let (ok, text) = run(oto()
        .args(["prune"])
        .arg(&m)
        .args(["--sparsity", "0.5", "--criterion", "random", "--seed", "3", "-o"])
        .arg(&small)
        .arg("--masked")
        .arg(&masked)
        .arg("--manifest")
        .arg(&man)
        .arg("--report")
        .arg(&rep)
        .args(["--latency-runs", "2"]));
    assert!(ok, "{text}");
    assert!(text.contains("verify (tract, batch 2)"), "{text}");
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&rep).unwrap()).unwrap();
    assert!(r["verify"]["passed"].as_bool().unwrap());
    assert!(r["macs"]["after"].as_u64().unwrap() < r["macs"]["before"].as_u64().unwrap());
    assert!(r["latency_ms"]["tract_compressed"].as_f64().unwrap() > 0.0);
    assert_eq!(r["selection"]["zeroed"], r["rows"]["removed"]);
    let mf: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&man).unwrap()).unwrap();
    assert_eq!(mf["schema_version"], 1);
    assert!(!mf["tensors"].as_array().unwrap().is_empty());
    // compressing the masked model gives the same small model
    let small2 = d.path().join("s2.onnx");
    let (ok, text) = run(oto().arg("compress").arg(&masked).arg("-o").arg(&small2).args(["--latency-runs", "0"]));
    assert!(ok, "{text}");
    assert_eq!(std::fs::read(&small).unwrap(), std::fs::read(&small2).unwrap());
    // never in place: the input stays as it was (also through another spelling of its path)
    let before = std::fs::read(&masked).unwrap();
    let dotted = d.path().join(".").join(masked.file_name().unwrap());
    for target in [&masked, &dotted] {
        let (ok, text) = run(oto().arg("compress").arg(&masked).arg("-o").arg(target).args(["--latency-runs", "0"]));
        assert!(!ok && text.contains("is the input model"), "{text}");
    }
    let (ok, text) = run(oto().arg("prune").arg(&masked).args(["--sparsity", "0.3", "--latency-runs", "0", "-o"]).arg(&small2).arg("--masked").arg(&small2));
    assert!(!ok && text.contains("both name"), "{text}");
    assert_eq!(std::fs::read(&masked).unwrap(), before);
}

#[test]
fn nonzero_model_compresses_to_itself() {
    let d = tempfile::tempdir().unwrap();
    let (m, s) = (d.path().join("m.onnx"), d.path().join("s.onnx"));
    zoo("demonet", &m);
    let (ok, text) = run(oto().arg("compress").arg(&m).arg("-o").arg(&s).args(["--latency-runs", "0", "-q"]));
    assert!(ok, "{text}");
    let resaved = oto_onnx::encode_model(&oto_graph::Graph::load(&m).unwrap().to_model());
    assert_eq!(std::fs::read(&s).unwrap(), resaved);
}

#[test]
fn bad_inputs_fail_cleanly_without_output() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("s.onnx");
    // corrupt file
    let bad = d.path().join("bad.onnx");
    std::fs::write(&bad, b"this is not a protobuf \xff\xff\xff").unwrap();
    let (ok, text) = run(oto().arg("compress").arg(&bad).arg("-o").arg(&out));
    assert!(!ok);
    assert!(text.contains("bad.onnx"), "{text}");
    assert!(!text.contains("panicked"), "{text}");
    assert!(!out.exists());
    // missing file
    let (ok, text) = run(oto().arg("compress").arg(d.path().join("nope.onnx")).arg("-o").arg(&out));
    assert!(!ok && text.contains("does not exist"), "{text}");
    assert!(!out.exists());
    // bad sparsity
    let m = d.path().join("m.onnx");
    zoo("fmnist_vgg", &m);
    let (ok, text) = run(oto().arg("prune").arg(&m).args(["--sparsity", "1.5", "-o"]).arg(&out));
    assert!(!ok && text.contains("--sparsity"), "{text}");
    assert!(!out.exists());
    // unwritable output directory
    let (ok, text) = run(oto().arg("compress").arg(&m).arg("-o").arg(d.path().join("no/such/dir/s.onnx")));
    assert!(!ok && text.contains("cannot write"), "{text}");
    // a failed proof removes the output (a negative tolerance can never pass)
    let (ok, text) = run(oto().arg("prune").arg(&m).args(["--sparsity", "0.3", "--latency-runs", "0", "--tolerance", "-1", "-o"]).arg(&out));
    assert!(!ok && text.contains("differs from the full model"), "{text}");
    assert!(!out.exists());
    // no temp files left behind
    let left: Vec<_> = std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.iter().all(|n| !n.to_string_lossy().contains(".tmp")), "{left:?}");
}

/// A 50,000-node graph (a chain between two convolutions) prunes and is proven in tract: the
/// proof runs it in pieces (tract types a whole graph in time quadratic in its nodes: over 30 s
/// here before; about 3 s now, release build).
#[test]
fn a_50000_node_graph_prunes_and_is_proven() {
    let d = tempfile::tempdir().unwrap();
    let (m, small) = (d.path().join("chain.onnx"), d.path().join("s.onnx"));
    let mut b = oto_zoo::Builder::new(0, false);
    let x = b.input("input", &[oto_zoo::BATCH, 3, 8, 8]);
    let mut h = b.conv(&x, "conv1", 8, 3, 1, 1, 1, true).unwrap();
    for i in 0..50_000 {
        h = if i % 2 == 0 { b.relu(&h) } else { b.op("Neg", "", &[&h.name], vec![], h.shape.clone()) };
    }
    let y = b.conv(&h, "conv2", 4, 3, 1, 1, 1, true).unwrap();
    oto_onnx::save_model(&b.finish(&y, "output", "chain", ""), &m).unwrap();
    let t0 = std::time::Instant::now();
    let (ok, text) = run(oto().arg("prune").arg(&m).args(["--sparsity", "0.5", "-o"]).arg(&small));
    assert!(ok, "{text}");
    assert!(text.contains("verify (tract, batch 2): max |Δ| = 0.000e0"), "{text}");
    assert!(text.contains("rows removed 4 of 8"), "{text}");
    eprintln!("50,000 nodes: pruned and proven in {:?}", t0.elapsed());
}
