//! Data-parallel DHSPG (issue 26) on CPU with Gloo over loopback: two ranks (processes, as
//! torchrun starts them) with the global batch split between them train to the
//! same weights (float tolerance: the sums run in another order) and the very same group masks
//! as one process with that batch; every rank holds the same history; rank 0 alone writes.
#[path = "../../oto-data/tests/common_formats/mod.rs"]
mod common_formats;
mod common_dist;

use oto_train::dist::{Backend, ProcessGroup};
use oto_train::train::{self, DatasetKind, OptimizerKind, TrainConfig};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// conv-relu-conv-relu-pool-fc without dropout (whose masks legitimately differ between one
/// batch and its halves); with `bn`, a BatchNorm after each conv (whose batch statistics
/// differ between one batch and its halves unless synchronised).
fn model_with(path: &Path, bn: bool) {
    let mut b = oto_zoo::Builder::new(3, false);
    let x = b.input("input", &[oto_zoo::BATCH, 1, 28, 28]);
    let mut h = b.conv(&x, "conv1", 8, 3, 1, 1, 1, true).unwrap();
    if bn {
        h = b.bn(&h, "bn1").unwrap();
    }
    let mut h = b.relu(&h);
    h = b.conv(&h, "conv2", 16, 3, 2, 1, 1, true).unwrap();
    if bn {
        h = b.bn(&h, "bn2").unwrap();
    }
    let h = b.relu(&h);
    let h = b.global_avg_pool(&h).unwrap();
    let h = b.flatten(&h);
    let y = b.gemm(&h, "fc", 10).unwrap();
    oto_onnx::save_model(&b.finish(&y, "logits", "plain_cnn", ""), path).unwrap();
}

fn model(path: &Path) {
    model_with(path, false)
}

/// Config `r` of `cs` trained as rank r of one group; every rank's result. Each rank is a
/// process of its own, as under torchrun: this test binary run again as [`rank_worker`], which
/// joins the group from `RANK`, `WORLD_SIZE`, `MASTER_ADDR` and `MASTER_PORT`
/// (`ProcessGroup::from_env`) over a fresh loopback port. (Ranks as threads of this process
/// would share it with the other tests' groups, which no real run does.)
fn run_ranks(cs: Vec<TrainConfig>) -> Vec<Result<train::RunSummary, String>> {
    let port = common_dist::free_port();
    let io = tempfile::tempdir().unwrap();
    let world = cs.len();
    let children: Vec<_> = cs
        .iter()
        .enumerate()
        .map(|(r, c)| {
            let job = io.path().join(format!("rank{r}.json"));
            std::fs::write(&job, serde_json::to_string(c).unwrap()).unwrap();
            std::process::Command::new(std::env::current_exe().unwrap())
                .args(["rank_worker", "--exact", "--ignored", "--test-threads=1", "--quiet"])
                .env("OTO_TEST_RANK_JOB", &job)
                .envs([("RANK", r.to_string()), ("WORLD_SIZE", world.to_string()), ("MASTER_ADDR", "127.0.0.1".into()), ("MASTER_PORT", port.to_string())])
                .stdout(std::process::Stdio::null())
                .stderr(std::fs::File::create(job.with_extension("log")).unwrap()) // a file: a full pipe would stall the rank
                .spawn()
                .unwrap()
        })
        .collect(); // every rank starts before any is waited for
    let status: Vec<_> = children.into_iter().map(|mut c| c.wait().unwrap()).collect();
    (0..world)
        .map(|r| match std::fs::read_to_string(io.path().join(format!("rank{r}.json.result"))) {
            Ok(text) => serde_json::from_str(&text).unwrap(),
            Err(_) => {
                let log = std::fs::read_to_string(io.path().join(format!("rank{r}.log"))).unwrap_or_default();
                panic!("rank {r} ended with {} and no result:\n{log}", status[r])
            }
        })
        .collect()
}

/// One rank of [`run_ranks`]: trains the config in `OTO_TEST_RANK_JOB` as the rank the
/// environment names and writes its result beside it. Run only by `run_ranks` (ignored, and
/// without that variable it has nothing to do).
#[test]
#[ignore = "a rank process of the multi-rank tests, started by them"]
fn rank_worker() {
    let Some(job) = std::env::var_os("OTO_TEST_RANK_JOB").map(PathBuf::from) else { return };
    let c: TrainConfig = serde_json::from_str(&std::fs::read_to_string(&job).unwrap()).unwrap();
    let g = ProcessGroup::from_env(Duration::from_secs(60), Backend::Gloo).unwrap().expect("WORLD_SIZE > 1");
    let result = train::run_in(&c, Some(&g)).map_err(|e| e.to_string());
    std::fs::write(job.with_extension("json.result"), serde_json::to_string(&result).unwrap()).unwrap();
}

/// `c` trained on two ranks; both results.
fn on_two_ranks(c: &TrainConfig) -> Vec<train::RunSummary> {
    run_ranks(vec![c.clone(), c.clone()]).into_iter().map(|r| r.unwrap()).collect()
}

/// The largest |Δ| of any tensor of two models relative to its scale, and whether every zero
/// pattern (group mask) agrees.
fn max_rel_diff(a: &Path, b: &Path) -> (f32, bool) {
    let (wa, wb) = (weights(a), weights(b));
    let mut same_zeros = true;
    let mut worst = 0f32;
    for ((na, da), (nb, db)) in wa.iter().zip(&wb) {
        assert_eq!(na, nb);
        let scale = da.iter().fold(1e-6f32, |m, x| m.max(x.abs()));
        worst = worst.max(da.iter().zip(db).fold(0f32, |m, (x, y)| m.max((x - y).abs())) / scale);
        same_zeros &= da.iter().map(|&x| x == 0.0).eq(db.iter().map(|&x| x == 0.0));
    }
    (worst, same_zeros)
}

fn cfg(model: &Path, out: PathBuf) -> TrainConfig {
    let mut c = TrainConfig {
        model: model.display().to_string(),
        epochs: 2,
        batch_size: 32,
        max_train_batches: 6,
        threads: 1,
        progress: "quiet".into(),
        reinit: false,
        out,
        ..Default::default()
    };
    c.dhspg.target_sparsity = Some(0.5);
    c
}

fn weights(p: &Path) -> Vec<(String, Vec<f32>)> {
    let g = oto_graph::Graph::load(p).unwrap();
    let mut v: Vec<(String, Vec<f32>)> =
        g.values.iter().filter_map(|v| v.init.as_ref().and_then(|t| oto_onnx::tensor::to_f32(t).ok()).map(|d| (v.name.clone(), d))).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn two_ranks_train_what_one_process_trains() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m.onnx");
    model(&m);
    let one = train::run_in(&cfg(&m, dir.path().join("one")), None).unwrap();
    let two = on_two_ranks(&cfg(&m, dir.path().join("two")));

    // the same history on both ranks (global sums), close to one process's
    assert_eq!(two[0].history.len(), 2);
    for (a, b) in two[0].history.iter().zip(&two[1].history) {
        assert_eq!((a.train_loss, a.train_acc, a.test_top1), (b.train_loss, b.train_acc, b.test_top1));
    }
    for (a, b) in one.history.iter().zip(&two[0].history) {
        assert!((a.train_loss - b.train_loss).abs() < 1e-4 * a.train_loss.abs(), "{} vs {}", a.train_loss, b.train_loss);
        assert_eq!(a.optim.group_sparsity, b.optim.group_sparsity);
    }
    // the same weights (to float tolerance) and the very same compressed structure
    let (wa, wb) = (weights(&dir.path().join("one/full.onnx")), weights(&dir.path().join("two/full.onnx")));
    for ((na, da), (nb, db)) in wa.iter().zip(&wb) {
        assert_eq!(na, nb);
        let scale = da.iter().fold(1e-6f32, |m, x| m.max(x.abs()));
        let diff = da.iter().zip(db).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(diff <= 1e-4 * scale, "{na}: max |Δ| {diff} (scale {scale})");
        let zeros = |d: &[f32]| d.iter().map(|&x| x == 0.0).collect::<Vec<_>>();
        assert_eq!(zeros(da), zeros(db), "{na}: the zero pattern (group masks) differs");
    }
    let manifest = |d: &str| std::fs::read_to_string(dir.path().join(d).join("manifest.json")).unwrap();
    assert_eq!(manifest("one"), manifest("two"));
    assert!(two[1].files.is_empty(), "rank 1 wrote {:?}", two[1].files);
    // the same with the gradients averaged after the backward pass (`--no-overlap`)
    on_two_ranks(&TrainConfig { overlap: false, ..cfg(&m, dir.path().join("after")) });
    let (diff, same_zeros) = max_rel_diff(&dir.path().join("one/full.onnx"), &dir.path().join("after/full.onnx"));
    assert!(diff <= 1e-4 && same_zeros, "--no-overlap: max relative |Δ| {diff}, same masks {same_zeros}");
    assert_eq!(manifest("one"), manifest("after"));
}

/// With BatchNorm: `sync_bn` makes two ranks train what one process trains with the whole batch
/// (weights, running statistics, masks); per-rank BatchNorm (the default) does not (measured:
/// 0.2 relative on a BatchNorm bias).
#[test]
fn synchronised_batchnorm_trains_what_one_process_trains() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("bn.onnx");
    model_with(&m, true);
    let sync = |out: &str| TrainConfig { sync_bn: true, ..cfg(&m, dir.path().join(out)) };
    train::run_in(&sync("one"), None).unwrap(); // on one process sync_bn is plain BatchNorm
    on_two_ranks(&sync("two"));
    let (diff, same_zeros) = max_rel_diff(&dir.path().join("one/full.onnx"), &dir.path().join("two/full.onnx"));
    // (the two-rank statistics are Σx and Σx² summed over ranks, one process's libtorch's fused
    // kernel: measured 3.4e-4 at most, on the BatchNorm biases, whose scale is small)
    assert!(diff <= 1e-3 && same_zeros, "synchronised: max relative |Δ| {diff}, same masks {same_zeros}");
    let manifest = |d: &str| std::fs::read_to_string(dir.path().join(d).join("manifest.json")).unwrap();
    assert_eq!(manifest("one"), manifest("two"));
    on_two_ranks(&cfg(&m, dir.path().join("per-rank")));
    let (diff, _) = max_rel_diff(&dir.path().join("one/full.onnx"), &dir.path().join("per-rank/full.onnx"));
    assert!(diff > 1e-2, "per-rank BatchNorm should differ from one process's: max relative |Δ| {diff}");
}

#[test]
fn a_run_of_two_ranks_resumes_on_one() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m.onnx");
    model(&m);
    train::run_in(&cfg(&m, dir.path().join("one")), None).unwrap();
    // epoch 1 on two ranks, then epoch 2 in one process from rank 0's checkpoint
    for r in on_two_ranks(&TrainConfig { stop_after_epoch: Some(1), ..cfg(&m, dir.path().join("mixed")) }) {
        assert_eq!(r.history.len(), 1);
    }
    let resumed = train::run_in(&TrainConfig { resume: true, ..cfg(&m, dir.path().join("mixed")) }, None).unwrap();
    assert_eq!(resumed.history.len(), 2);
    let (wa, wb) = (weights(&dir.path().join("one/full.onnx")), weights(&dir.path().join("mixed/full.onnx")));
    for ((na, da), (_, db)) in wa.iter().zip(&wb) {
        let scale = da.iter().fold(1e-6f32, |m, x| m.max(x.abs()));
        let diff = da.iter().zip(db).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(diff <= 1e-4 * scale, "{na}: max |Δ| {diff} (scale {scale})");
    }
    let manifest = |d: &str| std::fs::read_to_string(dir.path().join(d).join("manifest.json")).unwrap();
    assert_eq!(manifest("one"), manifest("mixed"));
}

/// No shared file system: rank 1's output folder is its own (empty) one; on `--resume` rank 0
/// sends its checkpoint to rank 1, and the two ranks end where one uninterrupted process does.
/// When rank 0 has no checkpoint, both ranks stop with an error instead of waiting.
#[test]
fn a_resumed_rank_needs_no_copy_of_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m.onnx");
    model(&m);
    train::run_in(&cfg(&m, dir.path().join("one")), None).unwrap();
    // each rank with its own output folder
    let ranks = |stop: Option<usize>, resume: bool| {
        run_ranks(["node0", "node1"].iter().map(|n| TrainConfig { stop_after_epoch: stop, resume, ..cfg(&m, dir.path().join(n)) }).collect())
    };
    // rank 0 has nothing to resume from yet: both ranks fail, rank 1 saying it was rank 0
    let none = ranks(None, true);
    assert!(none[0].as_ref().is_err_and(|e| e.contains("no checkpoint")), "{:?}", none[0].as_ref().err());
    assert!(none[1].as_ref().is_err_and(|e| e.contains("rank 0 could not read")), "{:?}", none[1].as_ref().err());
    for r in ranks(Some(1), false) {
        assert_eq!(r.unwrap().history.len(), 1);
    }
    assert!(!dir.path().join("node1").join("checkpoint.ot").exists(), "rank 1 wrote a checkpoint");
    let resumed = ranks(None, true);
    assert_eq!(resumed[1].as_ref().unwrap().history.len(), 2);
    let (diff, same_zeros) = max_rel_diff(&dir.path().join("one/full.onnx"), &dir.path().join("node0/full.onnx"));
    assert!(diff <= 1e-4 && same_zeros, "max relative |Δ| {diff}, same masks {same_zeros}");
    assert!(!dir.path().join("node1").join("full.onnx").exists(), "rank 1 wrote the model");
}

/// Super-resolution: each rank draws its share of every batch of random patches (the same
/// patches as in the one-process batch), so two ranks train CARN to what one process trains.
#[test]
fn two_ranks_train_super_resolution_as_one_process() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("super-resolution");
    common_formats::write_sr_set(&d, "train", &[("a", 40, 32), ("b", 36, 36), ("c", 30, 28)]);
    common_formats::write_sr_set(&d, "test", &[("x", 48, 40)]);
    let sr = |out: &str| {
        let mut c = cfg(Path::new("zoo:carn_mini"), dir.path().join(out));
        (c.dataset, c.data, c.batch_size, c.max_train_batches) = (DatasetKind::Sr, Some(d.clone()), 8, 0);
        (c.optimizer, c.lr, c.sr_scale, c.sr_patch, c.sr_batches_per_epoch) = (OptimizerKind::Adam, Some(1e-3), 2, 12, 3);
        (c.sr_train_set, c.sr_test_set) = ("train".into(), "test".into());
        c.dhspg.start_pruning_epoch = Some(0.0);
        c
    };
    let one = train::run_in(&sr("one"), None).unwrap();
    let two = on_two_ranks(&sr("two"));
    assert_eq!(two[0].history.len(), 2);
    for (a, b) in one.history.iter().zip(&two[0].history) {
        assert!((a.train_loss - b.train_loss).abs() < 1e-4 * a.train_loss.abs(), "L1 {} vs {}", a.train_loss, b.train_loss);
    }
    let (diff, same_zeros) = max_rel_diff(&dir.path().join("one/full.onnx"), &dir.path().join("two/full.onnx"));
    assert!(diff <= 1e-4 && same_zeros, "max relative |Δ| {diff}, same masks {same_zeros}");
    let manifest = |d: &str| std::fs::read_to_string(dir.path().join(d).join("manifest.json")).unwrap();
    assert_eq!(manifest("one"), manifest("two"));
    let psnr = |s: &train::RunSummary| s.compressed.as_ref().and_then(|c| c.psnr).expect("compressed PSNR");
    assert!((psnr(&one) - psnr(&two[0])).abs() < 1e-3, "PSNR {} vs {}", psnr(&one), psnr(&two[0]));
}
