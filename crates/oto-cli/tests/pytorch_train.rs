//! The user's own PyTorch export, end to end (issue 23): one CNN with BatchNorm and Dropout,
//! exported by both exporters, with a batch-1 example or a dynamic batch, in eval (BatchNorm
//! kept) or training mode (BatchNorm with running-statistics outputs, Dropout with a
//! training_mode input). Each trains a short pruning run to a target; its compressed model
//! loads in onnxruntime, is smaller, and equals the written full model.
#![cfg(feature = "train")]
mod common;
use common::{cifar10, py_dir, python, removed, run, skeleton};
use std::process::Command;

#[test]
fn exports_of_every_kind_train_prune_and_compress_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let py = py_dir();
    let mut pairs = vec![];
    for (exporter, batch, mode) in [("ts", "1", "eval"), ("ts", "dyn", "train"), ("dynamo", "1", "eval"), ("dynamo", "dyn", "train")] {
        let tag = format!("fmnist_cnn_drop__{exporter}__b{batch}__{mode}");
        let model = skeleton::export(&format!("user/{tag}"), dir.path());
        let out = dir.path().join(&tag);
        let text = run(Command::new(env!("CARGO_BIN_EXE_oto"))
            .arg("train")
            .arg(&model)
            .args(["--pruner", "hesso", "--target-sparsity", "0.5", "--epochs", "2", "--batch-size", "32", "--max-train-batches", "4"])
            .args(["--threads", "1", "--progress", "plain", "--out"])
            .arg(&out));
        assert!(text.contains("removed 12 of 24 prunable rows") && text.contains("verified"), "{tag}:\n{text}");
        assert!(!text.contains("no normalisation layer"), "{tag}: BatchNorm was kept by the export\n{text}");
        assert_eq!(batch == "1", text.contains("exported with a fixed batch of 1"), "{tag}:\n{text}");
        // inference graphs: one output per BatchNormalization, no training_mode
        for f in ["full.onnx", "compressed.onnx"] {
            let g = oto_graph::Graph::load(&out.join(f)).unwrap();
            for n in g.nodes.iter().filter(|n| n.op_type == "BatchNormalization") {
                assert!(n.outputs.len() == 1 && oto_onnx::attr::int(&n.proto, "training_mode").unwrap_or(0) == 0, "{tag} {f}: {}", n.name);
            }
            assert!(matches!(g.shape(g.inputs[0]).unwrap()[0], oto_graph::Dim::Sym(_)), "{tag} {f}: fixed batch");
        }
        pairs.push(out.join("full.onnx"));
        pairs.push(out.join("compressed.onnx"));
    }
    println!("{}", run(Command::new(python()).arg(py.join("check_pruned.py")).args(&pairs)));
}

/// torchvision's ResNet-18 and MobileNetV2 (`num_classes=10`, 3×64×64: CIFAR images resized;
/// committed weight-less, `tests/fixtures/skeletons/forms/`) in every form — both exporters × batch 1 / dynamic × eval / training mode —
/// each train a short DHSPG run on CIFAR-10 (`../shared/datasets/cifar-10` or `$OTO_DATASETS`;
/// skipped with a message when absent) to a target and compress exactly (onnxruntime); all
/// forms of a model find the same prunable rows.
#[test]
fn torchvision_exports_of_every_form_train_prune_and_compress_exactly() {
    let Some(data) = cifar10() else { return };
    let dir = tempfile::tempdir().unwrap();
    let py = py_dir();
    let mut pairs = vec![];
    for model in ["resnet18", "mobilenet_v2"] {
        let mut rows = vec![];
        for form in ["ts__b1__eval", "ts__b1__train", "ts__bdyn__eval", "ts__bdyn__train", "dynamo__b1__eval", "dynamo__b1__train", "dynamo__bdyn__eval", "dynamo__bdyn__train"] {
            let f = skeleton::export(&format!("forms/{model}__{form}"), dir.path());
            let tag = f.file_stem().unwrap().to_string_lossy().to_string();
            let out = dir.path().join(&tag);
            let text = run(Command::new(env!("CARGO_BIN_EXE_oto"))
                .arg("train")
                .arg(&f)
                .args(["--dataset", "cifar10", "--data"])
                .arg(&data)
                .args(["--target-sparsity", "0.5", "--epochs", "1", "--batch-size", "16", "--max-train-batches", "2", "--test-samples", "32"])
                .args(["--threads", "2", "--progress", "plain", "--out"])
                .arg(&out));
            assert!(text.contains("verified"), "{tag}:\n{text}");
            rows.push((tag, removed(&text)));
            pairs.push(out.join("full.onnx"));
            pairs.push(out.join("compressed.onnx"));
        }
        println!("{model}: {rows:?}");
        assert!(rows.iter().all(|(_, r)| *r == rows[0].1), "{model}: forms disagree: {rows:?}");
    }
    println!("{}", run(Command::new(python()).arg(py.join("check_pruned.py")).args(&pairs)));
}
