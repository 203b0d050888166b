//! Real PyTorch exports (torchvision resnet18, densenet121, mobilenet_v2, convnext_tiny) through
//! both exporters must analyse with no unknown op and prune exactly: `oto prune` verifies with
//! tract, and onnxruntime + the ONNX checker verify independently. The exports are committed
//! weight-less (`tests/fixtures/skeletons/`, made by `tests/py/make_skeletons.py`) and refilled
//! with seeded random weights, so no Python torch is needed.
mod common;
use common::{py_dir, python, run, skeleton, torch_importable};
use std::path::Path;
use std::process::Command;

/// Soundness by construction on real exports: every row `oto prune` zeroed (all prunable by the
/// analysis) is removed by construction — none is silently kept — and something was removed.
fn assert_every_zeroed_row_removed(out: &str, what: &str) {
    let num_after = |key: &str| -> usize {
        let rest = out.split(key).nth(1).unwrap_or_else(|| panic!("{what}: no '{key}' in\n{out}"));
        rest.trim_start().split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap()
    };
    let (zeroed, removed) = (num_after("zeroed "), num_after("rows removed "));
    assert!(zeroed > 0 && removed == zeroed, "{what}: {zeroed} rows zeroed but {removed} removed\n{out}");
}

#[test]
fn torchvision_models_from_both_exporters_prune_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let py = python();
    let here = py_dir();
    let oto = env!("CARGO_BIN_EXE_oto");
    let mut pairs = vec![];
    for model in ["resnet18", "densenet121", "mobilenet_v2", "convnext_tiny"] {
        for exporter in ["ts", "dynamo"] {
            let src = skeleton::export(&format!("torchvision/{model}_{exporter}"), dir.path());
            let report = run(Command::new(oto).arg("analyze").arg(&src));
            assert!(!report.contains("unknown_op"), "{model} ({exporter}): unknown op in\n{report}");
            let full = dir.path().join(format!("{model}_{exporter}_masked.onnx"));
            let small = dir.path().join(format!("{model}_{exporter}_small.onnx"));
            let out = run(Command::new(oto)
                .args(["prune", "--sparsity", "0.5", "--criterion", "magnitude"])
                .arg(&src)
                .arg("-o")
                .arg(&small)
                .arg("--masked")
                .arg(&full));
            assert!(small.exists() && full.exists(), "{model} ({exporter}): no output\n{out}");
            assert_every_zeroed_row_removed(&out, &format!("{model} ({exporter})"));
            pairs.push(full);
            pairs.push(small);
        }
    }
    let text = run(Command::new(&py).arg(here.join("check_pruned.py")).args(&pairs));
    println!("{text}");
}

/// Swin-T (shifted windows: torch.roll as Slice+Concat, window partition Reshape/Transpose,
/// F.pad with computed pads, an attention mask built with ScatterND, LayerNorm, patch merging)
/// and ShuffleNetV2 (`x.chunk(2, dim=1)` exported as Slices with bounds computed from the
/// shape, channel shuffle as Reshape-Transpose-Reshape), exported as a user would
/// (TorchScript exporter, opset 17, batch 1): Swin's analysis used to panic in the Slice rule,
/// ShuffleNet's construction failed. Also a CIFAR ResNet with option-A shortcuts (channel-axis
/// Pad) and a decoder whose Resize sizes are computed from a feature map's shape. All must
/// analyse, and prune + compress exactly (tract inside `oto prune`, onnxruntime and the ONNX
/// checker here).
#[test]
fn user_batch1_exports_prune_exactly() {
    for model in ["swin_t", "shufflenet", "resnet_a", "seg_decoder"] {
        user_model_prunes_exactly(model);
    }
}

fn user_model_prunes_exactly(model: &str) {
    let dir = tempfile::tempdir().unwrap();
    let py = python();
    let src = skeleton::export(&format!("user/{model}"), dir.path());
    let oto = env!("CARGO_BIN_EXE_oto");
    let report = run(Command::new(oto).arg("analyze").arg(&src));
    assert!(report.contains("prunable"), "{report}");
    let (small, full) = (dir.path().join("small.onnx"), dir.path().join("masked.onnx"));
    let out = run(Command::new(oto)
        .args(["prune", "--sparsity", "0.5", "--criterion", "random", "--latency-runs", "0"])
        .arg(&src)
        .arg("-o")
        .arg(&small)
        .arg("--masked")
        .arg(&full));
    assert!(out.contains("verify (tract, batch 2)"), "{out}");
    assert_every_zeroed_row_removed(&out, model);
    let here = py_dir();
    println!("{}", run(Command::new(&py).arg(here.join("check_pruned.py")).arg(&full).arg(&small)));
}

/// A small Transformer classifier on int64 token ids (nn.Embedding → nn.TransformerEncoder →
/// mean → Linear), TorchScript exporter, batch 1: the proof feeds token ids drawn inside the
/// embedding table, and the feed-forward layers prune exactly (tract in `oto prune`).
#[test]
fn token_transformer_with_int64_inputs_prunes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let src = skeleton::export("user/token_transformer", dir.path());
    let oto = env!("CARGO_BIN_EXE_oto");
    let small = dir.path().join("small.onnx");
    let out = run(Command::new(oto)
        .args(["prune", "--sparsity", "0.5", "--criterion", "random", "--latency-runs", "1"])
        .arg(&src)
        .arg("-o")
        .arg(&small));
    assert!(out.contains("verify (tract, batch 2)"), "{out}");
    assert_every_zeroed_row_removed(&out, "token transformer");
}

/// Soundness is not bought by refusing: on the reference nets oto keeps at least the prunable
/// groups and channels that only-train-once 3.0.1 and Torch-Pruning 1.6.1 find (issue 22).
/// ViT-Tiny: the peers report 25 groups / 16,320 channels = 12 MLP hidden layers (768 each),
/// 12 qkv projections (576 output channels each) and the embedding width (192, which is not
/// exact under LayerNorm: its mean and variance run over the removed channels). oto prunes the
/// MLP layers and, in each block, the 64 head dims consistently across Q, K, V (9 qkv output
/// channels per row, 576 per block) and the output projection: 24 groups, 9,216 + 768 rows.
#[test]
fn reference_nets_keep_the_peers_prunable_groups_and_channels() {
    let dir = tempfile::tempdir().unwrap();
    let oto = env!("CARGO_BIN_EXE_oto");
    for (name, groups, channels) in [
        ("resnet18", 12, 2880),
        ("resnet50", 37, 11456),
        ("densenet121", 120, 10240),
        ("mobilenet_v2", 25, 9128),
        ("efficientnet_b0", 40, 11404),
        ("googlenet", 57, 7280),
        ("vit_tiny", 24, 9984),
    ] {
        let json = dir.path().join(format!("{name}.json"));
        run(Command::new(oto).arg("analyze").arg(skeleton::export(&format!("reference/{name}"), dir.path())).arg("--json").arg(&json).arg("-q"));
        let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let (g, c) = (r["summary"]["prunable_groups"].as_u64().unwrap(), r["summary"]["prunable_channels"].as_u64().unwrap());
        assert!(g >= groups && c >= channels, "{name}: {g} prunable groups / {c} channels, the peers find {groups} / {channels}");
    }
}

/// Back to PyTorch: `scripts/pytorch/load_compressed.py` builds the user's CNN class at the
/// compressed widths, copies the compressed file's tensors into it by parameter name, and the
/// module agrees with onnxruntime (docs/pytorch.md). Needs Python torch (skipped, saying so,
/// after the slim set-up).
#[test]
fn a_compressed_model_loads_back_into_the_pytorch_class() {
    if !torch_importable("the PyTorch round trip") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = skeleton::export("user/fmnist_cnn", dir.path());
    let small = dir.path().join("small.onnx");
    run(Command::new(env!("CARGO_BIN_EXE_oto")).args(["prune", "--sparsity", "0.5", "--latency-runs", "0"]).arg(&src).arg("-o").arg(&small));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/pytorch/load_compressed.py");
    let text = run(Command::new(python()).arg(script).arg(&small));
    assert!(text.contains("PyTorch module vs onnxruntime"), "{text}");
}
