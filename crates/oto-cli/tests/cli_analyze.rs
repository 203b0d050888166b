//! End-to-end tests of `oto analyze` and `oto zoo`: outputs, JSON schema keys, and clear errors
//! (non-zero exit, message naming the file, never a panic) on malformed inputs.
use std::path::Path;
use std::process::{Command, Output};

fn oto(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oto")).args(args).output().expect("run oto")
}

fn text(o: &Output) -> (String, String) {
    (String::from_utf8_lossy(&o.stdout).into_owned(), String::from_utf8_lossy(&o.stderr).into_owned())
}

fn export(dir: &Path, name: &str) -> String {
    let p = dir.join(format!("{name}.onnx"));
    let o = oto(&["zoo", "export", name, "-o", p.to_str().unwrap(), "--random-stats", "--seed", "3"]);
    assert!(o.status.success(), "{:?}", text(&o));
    p.to_str().unwrap().to_string()
}

fn assert_clean_error(o: &Output, needles: &[&str]) {
    let (out, err) = text(o);
    assert!(!o.status.success(), "should fail: {out}{err}");
    assert!(!err.contains("panicked"), "panic: {err}");
    assert!(err.starts_with("error: "), "{err}");
    for n in needles {
        assert!(err.contains(n), "stderr should contain '{n}': {err}");
    }
}

#[test]
fn zoo_list() {
    let o = oto(&["zoo", "list"]);
    let (out, _) = text(&o);
    assert!(o.status.success());
    assert!(out.starts_with("name"));
    for name in ["fmnist_resnet", "densenet121", "tiny_transformer"] {
        assert!(out.lines().any(|l| l.starts_with(name)), "{name} missing:\n{out}");
    }
}

#[test]
fn zoo_export_options_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.onnx");
    let o = oto(&["zoo", "export", "resnet20", "--input-shape", "3,16,16", "--classes", "7", "-o", p.to_str().unwrap()]);
    assert!(o.status.success(), "{:?}", text(&o));
    let o = oto(&["analyze", p.to_str().unwrap()]);
    let (out, _) = text(&o);
    assert!(out.contains("[N, 3, 16, 16]") && out.contains("[N, 7]"), "{out}");
    assert_clean_error(&oto(&["zoo", "export", "nope", "-o", p.to_str().unwrap()]), &["unknown model 'nope'", "fmnist_resnet"]);
    assert_clean_error(&oto(&["zoo", "export", "resnet20", "--input-shape", "3,16", "-o", p.to_str().unwrap()]), &["C,H,W"]);
    let bad = dir.path().join("no/such/dir/m.onnx");
    assert_clean_error(&oto(&["zoo", "export", "resnet20", "-o", bad.to_str().unwrap()]), &["no/such/dir"]);
}

#[test]
fn analyze_writes_json_dot_svg() {
    let dir = tempfile::tempdir().unwrap();
    let m = export(dir.path(), "demonet");
    let (j, d, s) = (dir.path().join("r.json"), dir.path().join("g.dot"), dir.path().join("g.svg"));
    let o = oto(&["analyze", &m, "--json", j.to_str().unwrap(), "--dot", d.to_str().unwrap(), "--svg", s.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    for k in ["nodes", "groups", "channels", "params", "MACs", "reaches_output"] {
        assert!(out.contains(k), "summary lacks {k}:\n{out}");
    }
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&j).unwrap()).unwrap();
    assert_eq!(r["schema_version"], 2);
    assert_eq!(r["model"]["name"], "demonet.onnx");
    for k in ["groups", "prunable_groups", "prunable_channels", "params", "macs"] {
        assert!(r["summary"][k].as_u64().is_some(), "summary.{k}");
    }
    let groups = r["groups"].as_array().unwrap();
    assert_eq!(groups.len() as u64, r["summary"]["groups"].as_u64().unwrap());
    let mut prunable_channels = 0;
    for g in groups {
        for k in ["id", "prunable", "reason", "channels", "members", "ops"] {
            assert!(g.get(k).is_some(), "group lacks {k}: {g}");
        }
        assert_eq!(g["prunable"].as_bool().unwrap() && g["reason"].is_null(), g["reason"].is_null() && g["prunable_channels"].as_u64() > Some(0));
        prunable_channels += g["prunable_channels"].as_u64().unwrap();
        for m in g["members"].as_array().unwrap() {
            for k in ["tensor", "axis", "kind", "view", "index"] {
                assert!(m.get(k).is_some(), "member lacks {k}: {m}");
            }
            if m["index"].is_array() {
                assert_eq!(m["index"].as_array().unwrap().len() as u64, g["channels"].as_u64().unwrap());
            } else if m["index"].is_object() {
                assert_eq!(m["view"], "offset");
                let k = m["index"]["offset"].as_u64().unwrap();
                let axis_len = m["shape"][m["axis"].as_u64().unwrap() as usize].as_u64().unwrap();
                assert!(k + g["channels"].as_u64().unwrap() <= axis_len, "offset map past the axis: {m}");
            } else {
                assert_eq!(m["index"], "identity");
            }
        }
    }
    assert_eq!(prunable_channels, r["summary"]["prunable_channels"].as_u64().unwrap());
    // the paper's Figure-2 network: the concat BN is split across two producer groups
    assert!(groups.iter().any(|g| g["members"].as_array().unwrap().iter().any(|m| m["view"] == "offset")));
    let dot = std::fs::read_to_string(&d).unwrap();
    assert!(dot.starts_with("digraph") && dot.contains("fillcolor") && dot.contains("tooltip") && dot.trim_end().ends_with('}'));
    let svg = std::fs::read_to_string(&s).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("<title>") && svg.trim_end().ends_with("</svg>"));
    // no temporary files left behind
    let names: Vec<String> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().all(|n| !n.contains(".tmp")), "{names:?}");
}

#[test]
fn analyze_json_to_stdout_keep_and_input_shape() {
    let dir = tempfile::tempdir().unwrap();
    let m = export(dir.path(), "fmnist_resnet");
    let o = oto(&["analyze", &m, "--json", "-", "-q", "--input-shape", "input=1,1,32,32", "--keep", "/conv1/Conv"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(r["model"]["inputs"][0]["shape"], "[1, 1, 32, 32]");
    assert!(r["summary"]["reasons"]["user"].as_u64().unwrap() > 0);
    assert_clean_error(&oto(&["analyze", &m, "--keep", "no_such_node"]), &["no_such_node"]);
    assert_clean_error(&oto(&["analyze", &m, "--input-shape", "wrong=1,1,28,28"]), &["wrong", "input"]);
    assert_clean_error(&oto(&["analyze", &m, "--input-shape", "input=1,x-y"]), &["input=1,x-y"]);
    assert_clean_error(&oto(&["analyze", &m, "--input-shape", "input=1,3,28,28"]), &["shape inference", "channels"]);
}

#[test]
fn analyze_malformed_files() {
    let dir = tempfile::tempdir().unwrap();
    let m = export(dir.path(), "fmnist_resnet");
    let bytes = std::fs::read(&m).unwrap();
    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        ("empty.onnx", vec![], &["empty.onnx", "is empty"]),
        ("trunc.onnx", bytes[..bytes.len() / 2].to_vec(), &["trunc.onnx", "not a valid ONNX model"]),
        ("notes.txt", b"these are my notes, not a model\n".to_vec(), &["notes.txt", "ONNX"]),
        ("random.bin", (0..3000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect(), &["random.bin", "ONNX"]),
    ];
    for (name, data, needles) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, data).unwrap();
        assert_clean_error(&oto(&["analyze", p.to_str().unwrap()]), needles);
    }
    let missing = dir.path().join("missing.onnx");
    assert_clean_error(&oto(&["analyze", missing.to_str().unwrap()]), &["missing.onnx", "No such file"]);
    let (_, err) = text(&oto(&["analyze", missing.to_str().unwrap()]));
    assert_eq!(err.matches("No such file").count(), 1, "cause printed once: {err}");
}

/// Runs a just-copied executable. Its exec fails with ETXTBSY ("Text file busy") while a child
/// that another test forked in the meantime still holds the copy's write descriptor (until that
/// child execs): a race of the test harness, not of oto; wait and try again.
fn run_fresh_copy(cmd: &mut Command) -> std::process::Output {
    for _ in 0..100 {
        match cmd.output() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => std::thread::sleep(std::time::Duration::from_millis(50)),
            r => return r.unwrap(),
        }
    }
    panic!("the copied executable stayed busy for 5 s")
}

/// `oto` itself is libtorch-free: the graph commands run where libtorch is absent, and without
/// its `oto-train` companion `oto train` says what to build while `oto` alone still runs a demo.
#[test]
fn oto_runs_without_libtorch_and_without_oto_train() {
    #[cfg(target_os = "linux")]
    {
        let ldd = Command::new("ldd").arg(env!("CARGO_BIN_EXE_oto")).output();
        if let Ok(l) = ldd {
            let libs = String::from_utf8_lossy(&l.stdout);
            assert!(!libs.contains("libtorch") && !libs.contains("libc10"), "oto links libtorch:\n{libs}");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let lone = dir.path().join("oto");
    std::fs::copy(env!("CARGO_BIN_EXE_oto"), &lone).unwrap();
    let o = run_fresh_copy(Command::new(&lone).args(["train", "--epochs", "1"]));
    assert_clean_error(&o, &["oto-train", "cargo build --release -p oto-cli"]);
    let o = run_fresh_copy(Command::new(&lone).current_dir(dir.path()));
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(out.contains("one-shot magnitude pruning"), "{out}");
}
