//! Committed PyTorch exports (tests/fixtures/pytorch, made by tests/py/make_fixtures.py with
//! torch 2.11; no Python torch needed here): a CIFAR ResNet with option-A and one with option-B
//! shortcuts, a VGG with BatchNorm and a Dropout classifier, a DenseNet-BC, a Transformer
//! encoder classifier, a ViT with a class token and a Transformer on byte tokens (int64 ids, an
//! `nn.Embedding`), each from both exporters (TorchScript opset 17; dynamo opset 18 with an
//! external-data file), with a batch-1 example or a dynamic batch, in eval mode (BatchNorm kept)
//! or training mode. Every one trains a short DHSPG run to a target; its compressed model loads
//! in onnxruntime, is smaller and equals the written full model (an inference graph with a
//! symbolic batch).
#![cfg(feature = "train")]
mod common;
use common::{cifar10, forms, py_dir, python, removed, run};
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pytorch")
}

/// The fixtures of `model`: every exporter × batch × mode (8 files).
fn fixture_forms(model: &str) -> Vec<PathBuf> {
    let v: Vec<PathBuf> = forms(&fixtures(), model).into_iter().filter(|p| !p.to_string_lossy().ends_with("__default.onnx")).collect();
    assert_eq!(v.len(), 8, "{model}: fixtures missing (run tests/py/make_fixtures.py)");
    v
}

/// `oto train` on `model` (a short DHSPG run to group sparsity 0.5); the log.
fn train(model: &Path, data: &[&str], out: &Path, extra: &[&str]) -> String {
    run(Command::new(env!("CARGO_BIN_EXE_oto"))
        .arg("train")
        .arg(model)
        .args(data)
        .args(["--target-sparsity", "0.5", "--epochs", "1", "--batch-size", "16", "--max-train-batches", "3", "--test-samples", "64"])
        .args(["--threads", "1", "--progress", "plain", "--out"])
        .arg(out)
        .args(extra))
}

/// Trains every form of each model; per model (and exporter, for `by_exporter`), every form
/// finds the same prunable rows; all pairs are then checked in onnxruntime.
fn every_form_trains(models: &[(&str, bool)], data: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let mut pairs = vec![];
    for &(model, by_exporter) in models {
        let mut rows: Vec<(String, (usize, usize))> = vec![];
        for f in fixture_forms(model) {
            let tag = f.file_stem().unwrap().to_string_lossy().to_string();
            let out = dir.path().join(&tag);
            let log = train(&f, data, &out, &[]);
            assert!(log.contains("verified"), "{tag}:\n{log}");
            assert_eq!(tag.contains("__b1__"), log.contains("exported with a fixed batch of 1"), "{tag}:\n{log}");
            let (r, p) = removed(&log);
            assert!(r > 0 && r < p, "{tag}: removed {r} of {p}");
            for file in ["full.onnx", "compressed.onnx"] {
                let g = oto_graph::Graph::load(&out.join(file)).unwrap();
                for n in g.nodes.iter() {
                    assert!(n.op_type != "Dropout", "{tag} {file}: Dropout kept");
                    if n.op_type == "BatchNormalization" {
                        assert!(n.outputs.len() == 1 && oto_onnx::attr::int(&n.proto, "training_mode").unwrap_or(0) == 0, "{tag} {file}: {}", n.name);
                    }
                }
                assert!(matches!(g.shape(g.inputs[0]).unwrap()[0], oto_graph::Dim::Sym(_)), "{tag} {file}: fixed batch");
            }
            let key = if by_exporter { tag.split("__").take(2).collect::<Vec<_>>().join("__") } else { model.to_string() };
            rows.push((key, (r, p)));
            pairs.push(out.join("full.onnx"));
            pairs.push(out.join("compressed.onnx"));
        }
        for (k, rp) in &rows {
            let first = rows.iter().find(|(k2, _)| k2 == k).unwrap().1;
            assert_eq!(*rp, first, "{k}: the forms of one export disagree: {rows:?}");
        }
        println!("{model}: {rows:?}");
    }
    println!("{}", run(Command::new(python()).arg(py_dir().join("check_pruned.py")).args(&pairs)));
}

/// CIFAR-10 models (`../shared/datasets/cifar-10` or `$OTO_DATASETS`; skipped with a message
/// when absent).
#[test]
fn cifar_fixtures_of_every_form_train_prune_and_compress_exactly() {
    let Some(data) = cifar10() else { return };
    let d = data.to_string_lossy().to_string();
    let cifar = ["--dataset", "cifar10", "--data", d.as_str()];
    every_form_trains(&[("resnet_a8", false), ("resnet_b", false), ("vgg_drop", false), ("densenet", false)], &cifar);
    // the ends of the opset range: TorchScript at opset 13, dynamo at opset 21 (the same rows
    // as resnet_a8's other forms); the written models keep their opset
    let dir = tempfile::tempdir().unwrap();
    for (f, opset) in [("opset13_resnet_a8__ts__b1__eval.onnx", 13), ("opset21_resnet_a8__dynamo__bdyn__train.onnx", 21)] {
        let out = dir.path().join(f);
        let log = train(&fixtures().join(f), &cifar, &out, &[]);
        assert_eq!(removed(&log), (51, 104), "{f}:\n{log}");
        assert_eq!(oto_graph::Graph::load(&out.join("compressed.onnx")).unwrap().opset, opset, "{f}");
    }
}

/// A Transformer encoder on Fashion-MNIST rows and a ViT with a class token (the bundled
/// subset): with a batch-1 example both exporters fold `bsz * num_heads` and `tgt_len * bsz`
/// into Reshape constants (the batch is found merged in them) and the class token's expand
/// (it is expanded to the batch again). Dynamo exports find fewer prunable rows than
/// TorchScript's.
#[test]
fn transformer_fixtures_of_every_form_train_prune_and_compress_exactly() {
    every_form_trains(&[("row_transformer", true), ("tiny_vit", true)], &[]);
}

/// A small text-classification set in class folders (`train/<class>/*.txt`, `test/…`): four
/// topics, each document a random run of its topic's words (a fixed LCG, so the set is the same
/// every run), so byte tokens tell the classes apart.
fn topic_texts(root: &Path, per_class: [usize; 2]) {
    const TOPICS: [&[&str]; 4] = [
        &["goal", "match", "striker", "league", "keeper", "penalty", "season", "coach"],
        &["market", "shares", "profit", "bank", "rates", "stock", "investor", "bond"],
        &["planet", "orbit", "telescope", "galaxy", "comet", "rocket", "lunar", "star"],
        &["recipe", "oven", "flour", "garlic", "simmer", "butter", "spice", "bake"],
    ];
    const NAMES: [&str; 4] = ["sport", "finance", "space", "cooking"];
    let mut state = 12345u64;
    let mut next = |n: usize| {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 33) as usize) % n
    };
    for (split, count) in ["train", "test"].into_iter().zip(per_class) {
        for (t, words) in TOPICS.iter().enumerate() {
            let dir = root.join(split).join(NAMES[t]);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..count {
                let doc: Vec<&str> = (0..8 + next(12)).map(|_| if next(4) == 0 { "the" } else { words[next(words.len())] }).collect();
                std::fs::write(dir.join(format!("{i:04}.txt")), doc.join(" ")).unwrap();
            }
        }
    }
}

/// A Transformer on byte tokens (`nn.Embedding(256, 32)`, 64 learned positions) trained on text
/// folders (`--dataset text`): every form trains and compresses exactly, and the integer input
/// stays token ids of a symbolic batch; a longer run learns the topics (well above the 25 % of
/// chance), the compressed model keeps the full model's accuracy and `oto eval` reproduces it.
#[test]
fn token_transformer_fixtures_train_on_text_folders() {
    let texts = tempfile::tempdir().unwrap();
    topic_texts(texts.path(), [96, 24]);
    let d = texts.path().to_string_lossy().to_string();
    let text = ["--dataset", "text", "--data", d.as_str()];
    every_form_trains(&[("byte_transformer", true)], &text);
    let dir = tempfile::tempdir().unwrap();
    let f = fixtures().join("byte_transformer__ts__b1__train.onnx");
    let log = run(Command::new(env!("CARGO_BIN_EXE_oto"))
        .arg("train")
        .arg(&f)
        .args(text)
        .args(["--target-sparsity", "0.5", "--epochs", "6", "--batch-size", "16", "--optimizer", "adamw", "--lr", "0.003"])
        .args(["--threads", "1", "--progress", "plain", "--out"])
        .arg(dir.path()));
    assert!(log.contains("documents are read as 256 byte tokens and cut or padded to the model's 64"), "{log}");
    let summary: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.path().join("summary.json")).unwrap()).unwrap();
    let (full, comp) = (summary["full"]["top1"].as_f64().unwrap(), summary["compressed"]["top1"].as_f64().unwrap());
    assert!(full > 60.0 && (full - comp).abs() < 1e-9, "full {full} %, compressed {comp} %:
{log}");
    let g = oto_graph::Graph::load(&dir.path().join("compressed.onnx")).unwrap();
    assert_eq!(g.value(g.inputs[0]).dtype, 7, "token ids stay int64");
    // `oto eval` reads the run's text settings and gives the run's figure
    let ev = run(Command::new(env!("CARGO_BIN_EXE_oto")).arg("eval").arg(dir.path().join("compressed.onnx")));
    assert!(ev.contains(&format!("top-1 {comp:.2}%")), "{ev}");
}

/// A token model on images, and an image model on text: a clear error naming both sides.
#[test]
fn token_and_image_data_mismatches_are_errors() {
    let texts = tempfile::tempdir().unwrap();
    topic_texts(texts.path(), [2, 1]);
    let d = texts.path().to_string_lossy().to_string();
    let dir = tempfile::tempdir().unwrap();
    for (model, data, needle) in [
        ("byte_transformer__ts__bdyn__eval.onnx", vec![], "of integers but the dataset gives images [N, 1, 28, 28]; use --dataset text"),
        ("resnet_a8__ts__bdyn__eval.onnx", vec!["--dataset", "text", "--data", d.as_str()], "but the dataset gives text documents"),
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_oto"))
            .arg("train")
            .arg(fixtures().join(model))
            .args(&data)
            .args(["--epochs", "1", "--progress", "plain", "--out"])
            .arg(dir.path().join(model))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.code() == Some(1) && text.contains(needle), "{model}: {text}");
    }
}

/// A 100-class head on a 10-class dataset: a clear error, or with `--rehead` a fresh last layer
/// with 10 outputs (the compressed model outputs 10 classes).
#[test]
fn a_class_count_mismatch_is_an_error_or_a_fresh_head() {
    let dir = tempfile::tempdir().unwrap();
    let f = fixtures().join("fmnist_cnn_100__ts__b1__eval.onnx");
    let o = Command::new(env!("CARGO_BIN_EXE_oto"))
        .arg("train")
        .arg(&f)
        .args(["--epochs", "1", "--max-train-batches", "1", "--progress", "plain", "--out"])
        .arg(dir.path().join("a"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && text.contains("outputs 100 classes but the dataset has 10") && text.contains("--rehead"), "{text}");
    let out = dir.path().join("b");
    let log = train(&f, &[], &out, &["--rehead"]);
    assert!(log.contains("--rehead: the last layer '/fc/Gemm' now has 10 outputs (was 100)"), "{log}");
    let g = oto_graph::Graph::load(&out.join("compressed.onnx")).unwrap();
    assert_eq!(g.shape(g.outputs[0]).unwrap()[1], oto_graph::Dim::Known(10));
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("--rehead") && report.contains("test metrics on 64 images"), "{report}");
}
