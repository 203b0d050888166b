//! Compressed ≡ zeroed full, on every zoo model (OTOv2 spec §5.2):
//! * one-shot pruning at sparsities 0.1 / 0.5 / 0.9 (random rows, two seeds; magnitude once),
//! * every prunable group alone, all of them (a random non-empty proper subset of its rows),
//! * the empty removal set gives a bit-identical model.
//!
//! Each pair is run in tract (oto-verify, seeded inputs; batch 2 for the sweep, batch 1 for the
//! groups alone) and must agree within 1e-4 relative (max|Δ| / max|y_full|); MACs must strictly
//! drop whenever a Conv/Gemm/MatMul weight is sliced. All pairs then go through one Python
//! process (two workers): the ONNX checker (full) on the compressed model and onnxruntime on both
//! models (batch 2). Each pair also checks `flops::RowMacs` (MACs predicted from the removed
//! rows) against the compressed graph's MACs.
use oto_graph::compress::{self, CompressOptions, Criterion, Removal};
use oto_graph::Op;
use oto_graph::{zig, Graph};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

const TOL: f32 = 1e-4;

/// Time spent in tract comparisons (to report how the test time splits).
static TRACT_NS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Small configurations so the whole file stays fast in debug builds.
fn cfg(name: &str, seed: u64) -> oto_zoo::ZooConfig {
    let (shape, width) = match name {
        "vgg16_bn_imagenet" => (Some([3, 64, 64]), Some(0.25)),
        "resnet18" | "mobilenet_v2" => (Some([3, 32, 32]), Some(0.5)),
        "resnet50" | "densenet121" | "convnext_tiny" => (Some([3, 32, 32]), Some(0.25)),
        "convnext_nano" => (Some([3, 32, 32]), Some(0.5)),
        "carn_x2" | "carn_x4" => (Some([3, 16, 16]), Some(0.5)),
        "vgg16_bn" | "resnet56" | "resnet56_a" => (None, Some(0.5)),
        _ => (None, None),
    };
    oto_zoo::ZooConfig { input_shape: shape, width_mult: width, randomize_stats: true, seed, ..Default::default() }
}

fn load(name: &str, seed: u64) -> Graph {
    let m = oto_zoo::build(name, &cfg(name, seed)).unwrap_or_else(|e| panic!("{name}: {e}"));
    Graph::from_model(m).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let py = std::env::var_os("OTO_PYTHON").map(PathBuf::from).unwrap_or_else(|| root.join(".venv/bin/python"));
    assert!(
        py.exists(),
        "Python with onnx/onnxruntime not found at {} (set OTO_PYTHON or run scripts/setup.sh to create .venv)",
        py.display()
    );
    py
}

/// Runs the ONNX checker + onnxruntime comparison over all written pairs in one process.
fn python_check(dir: &Path, pairs: &[(PathBuf, PathBuf)]) {
    let py = python();
    let manifest = dir.join("pairs.txt");
    let text: String = pairs.iter().map(|(a, b)| format!("{} {}\n", a.display(), b.display())).collect();
    std::fs::write(&manifest, text).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compress_check.py");
    let out = std::process::Command::new(&py).arg(&script).arg(&manifest).arg(TOL.to_string()).output().expect("cannot run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    assert!(out.status.success(), "onnx checker / onnxruntime check failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Whether a sliced tensor feeds a MAC-counted op.
fn slices_macs_weight(g: &Graph, c: &compress::Compressed) -> bool {
    c.manifest.tensors.iter().any(|t| {
        let id = g.id(&t.name).unwrap();
        g.value(id).consumers.iter().any(|&(n, slot)| {
            matches!(g.nodes[n].op, Op::Conv(_) | Op::Gemm(_) | Op::MatMul(_)) && slot == 1
        })
    })
}

/// Compresses `masked` (rows already zeroed), checks it against `masked` in tract at `batch`,
/// and writes both when `out` is given (for the onnxruntime pass).
fn check_pair(tag: &str, masked: &Graph, a: &zig::Analysis, expect_rows: &[usize], batch: usize, out: Option<&Path>) -> Option<(PathBuf, PathBuf)> {
    let c = compress::compress(masked, a, &CompressOptions::default()).unwrap_or_else(|e| panic!("{tag}: {e}"));
    // rows are only kept back (with a warning) when removing them would empty a value
    assert!(c.warnings.iter().all(|w| w.contains("would lose all")), "{tag}: {:?}", c.warnings);
    if c.warnings.is_empty() {
        assert_eq!(c.removed_rows, expect_rows, "{tag}: removed rows differ from the zeroed ones");
    } else {
        assert!(c.removed_rows.iter().all(|r| expect_rows.contains(r)), "{tag}");
    }
    // the cost model of a FLOPs target predicts the compressed graph's MACs exactly
    let model = oto_graph::flops::RowMacs::new(masked, a);
    assert_eq!(model.full(), c.manifest.macs_before, "{tag}: RowMacs full");
    let gone: BTreeSet<usize> = c.removed_rows.iter().copied().collect();
    assert_eq!(model.macs(&|r| gone.contains(&r)), c.manifest.macs_after, "{tag}: RowMacs after removal");
    let some: Vec<usize> = gone.iter().copied().take(64).collect();
    let alone: Vec<u64> = some.iter().map(|&r| model.full() - model.macs(&|x| x == r)).collect();
    assert_eq!(model.saved_alone(&some), alone, "{tag}: RowMacs::saved_alone");
    let (full, small) = (masked.to_model(), c.graph.to_model());
    let t = Instant::now();
    let cmp = oto_verify::compare_with(&full, &small, batch, 7, false).unwrap_or_else(|e| panic!("{tag}: {e:#}"));
    assert!(cmp.passes(TOL), "{tag}: compressed != zeroed full: max abs {:e}, rel {:e}, {:?}", cmp.max_abs(), cmp.max_rel(), cmp.outputs);
    TRACT_NS.fetch_add(t.elapsed().as_nanos() as u64, std::sync::atomic::Ordering::Relaxed);
    if !c.removed_rows.is_empty() {
        assert!(c.manifest.params_after < c.manifest.params_before, "{tag}: params did not drop");
    }
    if slices_macs_weight(masked, &c) {
        assert!(c.manifest.macs_after < c.manifest.macs_before, "{tag}: MACs did not drop ({})", c.manifest.macs_before);
    }
    let out = out?;
    let fp = out.join(format!("{tag}_full.onnx"));
    let sp = out.join(format!("{tag}_small.onnx"));
    oto_onnx::save_model(&full, &fp).unwrap();
    oto_onnx::save_model(&small, &sp).unwrap();
    Some((fp, sp))
}

#[test]
fn zoo_sparsity_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let mut pairs = vec![];
    for e in oto_zoo::list() {
        let t0 = Instant::now();
        let g = load(e.name, 3);
        let a = zig::analyze(&g);
        let mut runs: Vec<(f64, Criterion)> = vec![];
        for s in [0.1, 0.5, 0.9] {
            for seed in [1, 2] {
                runs.push((s, Criterion::Random { seed }));
            }
        }
        runs.push((0.5, Criterion::Magnitude));
        for (s, crit) in runs {
            let (masked, sel) = compress::prune(&g, &a, s, crit).unwrap();
            assert!(sel.rows.len() <= sel.requested);
            if sel.skipped.is_empty() {
                assert_eq!(sel.rows.len(), sel.requested, "{}: {sel:?}", e.name);
            }
            let tag = format!("{}_{s}_{}", e.name, match crit { Criterion::Random { seed } => format!("r{seed}"), _ => "mag".into() });
            pairs.extend(check_pair(&tag, &masked, &a, &sel.rows, 2, Some(dir.path())));
        }
        println!("{:20} rows {:5} prunable {:5} ({:.1}s)", e.name, a.rows.len(), a.prunable_rows(), t0.elapsed().as_secs_f32());
    }
    python_check(dir.path(), &pairs);
}

/// Every prunable group of every zoo model, removed alone (no cap): one compression and one tract
/// comparison (batch 1: the batch axis is never a channel axis, and the sweep above runs batch 2)
/// per group; every pair also through the ONNX checker and onnxruntime (batch 2).
#[test]
fn zoo_each_group_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut pairs = vec![];
    let mut total = 0;
    let only = std::env::var("OTO_ZOO_ONLY").unwrap_or_default(); // e.g. "densenet121,resnet50"
    for e in oto_zoo::list() {
        if !only.is_empty() && !only.split(',').any(|o| o == e.name) {
            continue;
        }
        let t0 = Instant::now();
        let g = load(e.name, 5);
        let a = zig::analyze(&g);
        let eligible: Vec<usize> = a
            .groups
            .iter()
            .filter(|gr| gr.rows.len() >= 2 && gr.prunable_rows(&a).any(|r| a.rows[r].has_params))
            .map(|gr| gr.id)
            .collect();
        for &gid in &eligible {
            let gr = &a.groups[gid];
            let rows: Vec<usize> = gr.prunable_rows(&a).filter(|&r| a.rows[r].has_params).collect();
            // a random non-empty proper subset of the group's rows
            let h = splitmix(gr.id as u64 ^ 0xabcdef);
            let k = 1 + (h as usize) % rows.len().min(gr.rows.len() - 1);
            let mut pick: Vec<usize> = rows.clone();
            pick.sort_by_key(|&r| splitmix(h ^ r as u64));
            let mut pick: Vec<usize> = pick[..k].to_vec();
            pick.sort_unstable();
            let masked = compress::zero_rows(&g, &a, &pick).unwrap();
            let tag = format!("{}_g{}", e.name, gr.id);
            // every pair in tract at batch 1, and all of them again through the ONNX checker and
            // onnxruntime (one Python process at the end)
            pairs.extend(check_pair(&tag, &masked, &a, &pick, 1, Some(dir.path())));
        }
        total += eligible.len();
        let tract = TRACT_NS.swap(0, std::sync::atomic::Ordering::Relaxed) as f32 * 1e-9;
        println!("{:20} groups checked {:4} (all prunable) ({:.1}s, tract {tract:.1}s)", e.name, eligible.len(), t0.elapsed().as_secs_f32());
    }
    println!("{total} groups removed alone");
    python_check(dir.path(), &pairs);
}

#[test]
fn empty_removal_is_bit_identical() {
    for e in oto_zoo::list() {
        let g = load(e.name, 9);
        let a = zig::analyze(&g);
        let c = compress::compress(&g, &a, &CompressOptions::default()).unwrap();
        assert!(c.removed_rows.is_empty(), "{}: random weights have zero rows?", e.name);
        assert_eq!(oto_onnx::encode_model(&c.graph.to_model()), oto_onnx::encode_model(&g.to_model()), "{}", e.name);
        let c2 = compress::compress(&g, &a, &CompressOptions { removal: Removal::Rows(BTreeSet::new()) }).unwrap();
        assert_eq!(oto_onnx::encode_model(&c2.graph.to_model()), oto_onnx::encode_model(&g.to_model()), "{}", e.name);
    }
}
