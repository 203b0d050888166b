//! Training-only structure in the compressed model (OTOv2 spec §4.2 step 6), and strided channel
//! slices (refused by the analysis with a reason, never a crash or a wrong group).
//!
//! A training-mode BatchNormalization (opset 17 `training_mode = 1` with its `running_mean` /
//! `running_var` outputs; opset 13 with the four optional statistics outputs) and a Dropout with a
//! `training_mode = true` input must come out in inference form, and the compressed model must
//! equal the zeroed full model *in inference form* (the same network exported in eval mode) in
//! tract and in onnxruntime.
mod common;

use common::{a_int, a_ints, Net, N};
use oto_graph::compress::{self, tensor::zero_slices, CompressOptions, Removal};
use oto_graph::{zig, Graph};
use oto_onnx::pb::TensorProto;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const TOL: f32 = 1e-4;

/// conv(3→8) → BN → Relu → Dropout → conv(8→4) → GAP → Flatten → Gemm, channels `zero` of the
/// first conv/BN zeroed. `training`: BN in training mode with its extra outputs, Dropout with a
/// `training_mode = true` input; otherwise the same network in inference form.
fn net(opset: i64, training: bool, zero: &[usize]) -> Net {
    let mut n = Net::new();
    n.opset = opset;
    n.input("x", &[N, 3, 8, 8]);
    let c1 = n.conv("c1", "x", 3, 8, 3, 1);
    let s = n.w("bn.scale", &[8]);
    let b = n.w("bn.bias", &[8]);
    let m = n.w("bn.mean", &[8]);
    let v = n.w("bn.var", &[8]);
    let outs: Vec<&str> = match (training, opset >= 14) {
        (false, _) => vec!["bn"],
        (true, true) => vec!["bn", "bn_running_mean", "bn_running_var"],
        (true, false) => vec!["bn", "bn_mean", "bn_var", "bn_saved_mean", "bn_saved_var"],
    };
    let attrs = if training && opset >= 14 { vec![a_int("training_mode", 1)] } else { vec![] };
    n.node("BatchNormalization", "bn", &[&c1, &s, &b, &m, &v], &outs, attrs);
    let r = n.un("Relu", "relu", "bn");
    n.f("ratio", &[], &[0.5]);
    if training && opset >= 12 {
        n.inits.push(TensorProto { name: Some("train".into()), dims: vec![], data_type: Some(oto_onnx::tensor::BOOL), raw_data: Some(vec![1].into()), ..Default::default() });
        n.node("Dropout", "drop", &[&r, "ratio", "train"], &["drop"], vec![]);
    } else {
        n.node("Dropout", "drop", &[&r, "ratio"], &["drop"], vec![]);
    }
    let c2 = n.conv("c2", "drop", 8, 4, 3, 1);
    n.head("fc", &c2, 4, 5);
    n.outputs.push(common::value_info("fc", &[N, 5])); // typed, for the ONNX checker
    for t in n.inits.iter_mut() {
        if ["c1.w", "c1.b", "bn.scale", "bn.bias"].contains(&t.name.as_deref().unwrap_or("")) {
            zero_slices(t, 0, zero).unwrap();
        }
    }
    n
}

fn python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let py = std::env::var_os("OTO_PYTHON").map(PathBuf::from).unwrap_or_else(|| root.join(".venv/bin/python"));
    assert!(py.exists(), "Python with onnx/onnxruntime not found at {} (set OTO_PYTHON or run scripts/setup.sh)", py.display());
    py
}

fn ort_check(dir: &Path, pairs: &[(PathBuf, PathBuf)]) {
    let manifest = dir.join("pairs.txt");
    std::fs::write(&manifest, pairs.iter().map(|(a, b)| format!("{} {}\n", a.display(), b.display())).collect::<String>()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compress_check.py");
    let out = std::process::Command::new(python()).arg(&script).arg(&manifest).arg(TOL.to_string()).output().expect("cannot run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(out.status.success(), "onnx checker / onnxruntime check failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
}

fn node<'a>(g: &'a Graph, name: &str) -> &'a oto_graph::Node {
    g.nodes.iter().find(|n| n.name == name).unwrap_or_else(|| panic!("no node {name}"))
}

/// The compressed model is in inference form and equals the zeroed full model in inference form.
#[test]
fn training_mode_bn_and_dropout_become_inference() {
    let dir = tempfile::tempdir().unwrap();
    let mut pairs = vec![];
    for opset in [17, 13] {
        for zero in [vec![1usize, 4, 6], vec![]] {
            let g = net(opset, true, &zero).graph();
            let a = zig::analyze(&g);
            let c = compress::compress(&g, &a, &CompressOptions::default()).unwrap_or_else(|e| panic!("opset {opset}: {e}"));
            assert_eq!(c.removed_rows.len(), zero.len(), "opset {opset}: removed {:?}", c.removed_rows);
            let small = &c.graph;
            let bn = node(small, "bn");
            assert_eq!(bn.outputs.len(), 1, "opset {opset}: BN keeps extra outputs");
            assert_eq!(oto_onnx::attr::int(&bn.proto, "training_mode").unwrap_or(0), 0, "opset {opset}: BN still in training mode");
            assert!(small.nodes.iter().all(|n| n.op_type != "Dropout"), "opset {opset}: Dropout kept");
            assert!(c.manifest.rewrites.iter().any(|r| r.node == "drop" && r.what.starts_with("removed")), "{:?}", c.manifest.rewrites);
            assert!(c.manifest.rewrites.iter().any(|r| r.node == "bn" && r.what == "outputs"), "{:?}", c.manifest.rewrites);
            if !zero.is_empty() {
                assert_eq!(small.static_shape(small.id("bn.scale").unwrap()), Some(vec![8 - zero.len() as i64]));
            }
            // the reference: the same zeroed network exported in inference form
            let full = net(opset, false, &zero).model();
            let small_m = small.to_model();
            let cmp = oto_verify::compare_with(&full, &small_m, 2, 3, false).unwrap_or_else(|e| panic!("opset {opset}: {e:#}"));
            assert!(cmp.passes(TOL), "opset {opset}: max rel {:e}", cmp.max_rel());
            let tag = format!("bn{opset}_{}", zero.len());
            let (fp, sp) = (dir.path().join(format!("{tag}_full.onnx")), dir.path().join(format!("{tag}_small.onnx")));
            oto_onnx::save_model(&full, &fp).unwrap();
            oto_onnx::save_model(&small_m, &sp).unwrap();
            pairs.push((fp, sp));
            // the saved compressed model reloads with the same structure
            let re = Graph::from_model(small_m).unwrap();
            assert_eq!(node(&re, "bn").outputs.len(), 1);
        }
    }
    ort_check(dir.path(), &pairs);
}

/// A graph already in inference form loses only its Dropout (the identity) when nothing is
/// removed, and one without Dropout is returned untouched.
#[test]
fn inference_graph_untouched() {
    let g = net(17, false, &[]).graph();
    let a = zig::analyze(&g);
    let none = CompressOptions { removal: Removal::Rows(BTreeSet::new()) };
    let c = compress::compress(&g, &a, &none).unwrap();
    let what: Vec<(&str, &str)> = c.manifest.rewrites.iter().map(|r| (r.node.as_str(), r.what.as_str())).collect();
    assert_eq!(what, [("drop", "removed (Dropout is the identity in inference)")]);
    assert_eq!(c.graph.nodes.len(), g.nodes.len() - 1);
    let cmp = oto_verify::compare_with(&g.to_model(), &c.graph.to_model(), 2, 3, false).unwrap();
    assert!(cmp.passes(TOL), "max rel {:e}", cmp.max_rel());
    // once more: nothing left to change
    let again = compress::compress(&c.graph, &zig::analyze(&c.graph), &none).unwrap();
    assert!(again.manifest.rewrites.is_empty());
    assert_eq!(oto_onnx::encode_model(&again.graph.to_model()), oto_onnx::encode_model(&c.graph.to_model()));
}

/// A running statistic read by another node (or declared as a graph output) cannot be dropped.
#[test]
fn used_running_stats_are_an_error() {
    for as_output in [false, true] {
        let mut n = net(17, true, &[2]);
        if as_output {
            n.output("bn_running_mean");
        } else {
            n.un("Identity", "use_rm", "bn_running_mean");
            n.output("use_rm");
        }
        let g = n.graph();
        let a = zig::analyze(&g);
        let e = compress::compress(&g, &a, &CompressOptions::default()).expect_err("must refuse").to_string();
        assert!(e.contains("training mode") && e.contains("bn_running_mean"), "{e}");
    }
}

/// conv(3→8) → Slice(channels, step) → conv(→4) → head.
fn strided(step: i64) -> Net {
    let mut n = Net::new();
    n.input("x", &[N, 3, 8, 8]);
    let c1 = n.conv("c1", "x", 3, 8, 3, 1);
    let r = n.un("Relu", "r1", &c1);
    let st = n.i("st", &[0]);
    let en = n.i("en", &[8]);
    let ax = n.i("ax", &[1]);
    let sp = n.i("sp", &[step]);
    n.node("Slice", "sl", &[&r, &st, &en, &ax, &sp], &["sl"], vec![]);
    let cin = if step == 1 { 8 } else { 8 / step };
    let c2 = n.conv("c2", "sl", cin, 4, 3, 1);
    n.head("fc", &c2, 4, 3);
    n.output("fc");
    n
}

/// A strided channel slice makes the sliced channels unprunable with a reason; the rest of the
/// graph still compresses, and forcing the refused rows is an error (not a wrong model).
#[test]
fn strided_channel_slice_is_refused_with_a_reason() {
    let _ = a_ints;
    let c = strided(2).analyze();
    let g1 = c.group("c1.w");
    assert!(!c.prunable(g1), "{}", c.dump());
    assert!(c.reasons(g1).iter().any(|r| r.starts_with("split_on_channel_axis")), "{:?}\n{}", c.reasons(g1), c.dump());
    let g2 = c.group("c2.w");
    assert!(c.prunable(g2), "{}", c.dump());
    // the prunable group downstream compresses and stays equivalent
    let rows: Vec<usize> = c.a.groups[g2].rows[..2].to_vec();
    let masked = compress::zero_rows(&c.g, &c.a, &rows).unwrap();
    let out = compress::compress(&masked, &c.a, &CompressOptions::default()).unwrap();
    assert_eq!(out.removed_rows, rows);
    let cmp = oto_verify::compare_with(&masked.to_model(), &out.graph.to_model(), 2, 1, false).unwrap();
    assert!(cmp.passes(TOL), "max rel {:e}", cmp.max_rel());
    // forcing a refused row is an error
    let r1 = c.a.groups[g1].rows[0];
    let e = compress::compress(&c.g, &c.a, &CompressOptions { removal: Removal::Rows([r1].into()) }).expect_err("refused row");
    assert!(e.to_string().contains("not prunable"), "{e}");

    // step 1 on the same axis is an ordinary (prunable) slice, compressed with rewritten bounds
    let c = strided(1).analyze();
    let g1 = c.group("c1.w");
    assert!(c.prunable(g1), "{}", c.dump());
    let rows: Vec<usize> = c.a.groups[g1].rows[..3].to_vec();
    let masked = compress::zero_rows(&c.g, &c.a, &rows).unwrap();
    let out = compress::compress(&masked, &c.a, &CompressOptions::default()).unwrap();
    assert_eq!(out.removed_rows, rows);
    let cmp = oto_verify::compare_with(&masked.to_model(), &out.graph.to_model(), 2, 1, false).unwrap();
    assert!(cmp.passes(TOL), "max rel {:e}", cmp.max_rel());
}
