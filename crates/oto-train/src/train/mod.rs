//! Training runs: the loop (classification with cross-entropy and top-1/top-5, super-resolution
//! with L1 and Y-channel PSNR), LR schedules with warm-up, evaluation every epoch, progress,
//! metrics (JSONL + PNG), atomic checkpoints with exact resume, the trained model as ONNX, and
//! the OTOv2 pipeline (DHSPG → compressed ONNX → verification → report).
//!
//! Entry points: [`run`] (what `oto train` and `oto` with no arguments call), the pieces in
//! [`trainer`] for a custom loop, and [`api`] (OTO's three calls: analyse → optimizer → construct).
pub mod api;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod memory;
pub mod metrics;
pub mod optimizers;
pub mod progress;
pub mod rehead;
pub mod reinit;
pub mod report;
pub mod schedule;
pub mod trainer;

pub use config::{DatasetKind, DhspgOptions, HessoOptions, OptimizerKind, PrunerKind, ScheduleKind, TrainConfig};
pub use data::{RunData, TaskKind};
pub use metrics::EpochRecord;
pub use trainer::{evaluate, EvalResult};

use std::path::{Path, PathBuf};
use tch::Device;

use crate::exec::Executor;
use crate::optim::{OptimStats, Optimizer};
use crate::TrainError;
use oto_graph::{Dim, Graph};

/// What a finished run reports.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct RunSummary {
    pub out: PathBuf,
    pub epochs: usize,
    pub history: Vec<EpochRecord>,
    /// Test metrics of the trained (full) model.
    pub full: EvalResult,
    /// Pipeline runs: test metrics of the compressed model, and the model sizes.
    pub compressed: Option<EvalResult>,
    pub params_before: u64,
    pub params_after: Option<u64>,
    pub macs_before: u64,
    pub macs_after: Option<u64>,
    /// Group sparsity after the last trained epoch (pruning runs; also when stopped early).
    pub group_sparsity: Option<f64>,
    pub verify_max_rel: Option<f32>,
    /// tract latency (batch 1, median of 20) of the full and of the compressed model, in ms.
    pub latency_ms_before: Option<f64>,
    pub latency_ms_after: Option<f64>,
    pub train_seconds: f64,
    /// Files written.
    pub files: Vec<PathBuf>,
}

impl RunSummary {
    /// Why the run counts as diverged: its last epoch's training loss is still ten times the
    /// first epoch's (or above 10⁶). `oto train` then exits non-zero unless `--allow-divergence`.
    pub fn diverged(&self) -> Option<String> {
        let (last, before) = self.history.split_last()?;
        divergence(before, last).map(|w| w.trim_start_matches("warning: ").to_string())
    }
    /// The summary of `epochs` trained epochs of `graph` (the full model), before any compression.
    fn new(out: &Path, epochs: usize, history: Vec<EpochRecord>, full: EvalResult, graph: &Graph, files: Vec<PathBuf>) -> Self {
        RunSummary {
            out: out.to_path_buf(),
            epochs,
            group_sparsity: history.last().and_then(|r| r.optim.group_sparsity),
            train_seconds: history.iter().map(|r| r.train_seconds).sum(),
            history,
            full,
            compressed: None,
            params_before: graph.param_count(),
            params_after: None,
            macs_before: oto_graph::flops::macs(graph),
            macs_after: None,
            verify_max_rel: None,
            latency_ms_before: None,
            latency_ms_after: None,
            files,
        }
    }
}

/// `cpu`, `cuda`, `cuda:N`.
pub fn parse_device(s: &str) -> Result<Device, TrainError> {
    let s = s.trim().to_ascii_lowercase();
    let dev = match s.as_str() {
        "cpu" => Device::Cpu,
        "cuda" | "gpu" => Device::Cuda(0),
        _ => match s.strip_prefix("cuda:").and_then(|n| n.parse::<usize>().ok()) {
            Some(n) => Device::Cuda(n),
            None => return Err(TrainError::Config(format!("unknown device '{s}'; valid: cpu, cuda, cuda:N"))),
        },
    };
    if let Device::Cuda(n) = dev {
        let count = tch::Cuda::device_count() as usize;
        if count == 0 {
            return Err(TrainError::Config(format!(
                "device '{s}': CUDA is not available (no GPU, or libtorch without CUDA; build oto-train with --features cuda)"
            )));
        }
        if n >= count {
            return Err(TrainError::Config(format!("device '{s}': only {count} CUDA device(s)")));
        }
    }
    Ok(dev)
}

/// Loads the network of `cfg`: `zoo:NAME` (built for the data's input shape and class count,
/// seeded with `cfg.seed`) or an ONNX file. Super-resolution models get symbolic spatial input
/// dimensions so that full test images of any size can be evaluated.
pub fn load_model(cfg: &TrainConfig, data: &RunData) -> Result<Graph, TrainError> {
    Ok(load_model_reinit(cfg, data)?.0)
}

/// [`load_model`], also returning what `cfg.reinit` re-drew (ONNX files only; zoo models are
/// freshly drawn anyway).
pub fn load_model_reinit(
    cfg: &TrainConfig,
    data: &RunData,
) -> Result<(Graph, Option<reinit::ReinitReport>), TrainError> {
    let mut reinit = None;
    let model = if let Some(name) = cfg.model.strip_prefix("zoo:") {
        let input_shape = match data {
            RunData::Classification { shape, .. } => Some(*shape),
            RunData::SuperResolution { .. } => Some([3, cfg.sr_patch, cfg.sr_patch]),
        };
        let zc = oto_zoo::ZooConfig {
            input_shape,
            num_classes: data.num_classes(),
            seed: cfg.seed,
            ..Default::default()
        };
        oto_zoo::build(name, &zc).map_err(|e| TrainError::Config(format!("--model {}: {e}", cfg.model)))?
    } else {
        let p = Path::new(&cfg.model);
        if !p.is_file() {
            return Err(TrainError::Config(format!(
                "--model {}: no such file (give an ONNX file or zoo:NAME; `oto zoo list` shows the names)",
                cfg.model
            )));
        }
        oto_onnx::load_model(p).map_err(|e| TrainError::Config(format!("--model {}: {e}", cfg.model)))?
    };
    let mut g = Graph::from_model_unchecked(model)?;
    if !cfg.model.starts_with("zoo:") {
        if cfg.reinit {
            reinit = Some(reinit::reinitialize(&mut g, cfg.seed));
        }
        warn_if_normalisation_folded(&g, &cfg.model);
    }
    if g.inputs.len() != 1 {
        return Err(TrainError::Config(format!("the model must have exactly one input, it has {}", g.inputs.len())));
    }
    let input = g.value(g.inputs[0]).name.clone();
    if let RunData::SuperResolution { .. } = data {
        let mut g2 = g.clone();
        let sym = vec![Dim::Sym("N".into()), Dim::Known(3), Dim::Sym("H".into()), Dim::Sym("W".into())];
        if g2.set_input_shape(&input, sym).is_ok() && g2.infer_shapes().is_ok() {
            return Ok((g2, reinit));
        }
    }
    g.infer_shapes()?;
    if !matches!(data, RunData::SuperResolution { .. }) {
        g = batch_free(g, &cfg.model)?;
    }
    Ok((g, reinit))
}

/// The run's data and model, fitted to each other, with the log lines about them.
fn load_run(cfg: &TrainConfig, progress: &mut progress::Progress) -> Result<(RunData, Graph), TrainError> {
    let mut data = data::load(cfg)?;
    let (mut graph, reinit) = load_model_reinit(cfg, &data)?;
    if let Some(note) = fit_data(&mut data, &graph)? {
        progress.line(&format!("note: {note}"));
    }
    if let Some(k) = data.num_classes() {
        if cfg.rehead && rehead::output_classes(&graph).is_some_and(|m| m != k as i64) {
            let r = rehead::rehead(&mut graph, k, cfg.seed)?;
            progress.line(&format!("--rehead: the last layer '{}' now has {} outputs (was {}), freshly drawn", r.layer, r.to, r.from));
        } else {
            rehead::check_classes(&graph, k, &cfg.model)?;
        }
    }
    if let Some(r) = &reinit {
        progress.line(&format!("--init random: {} initializers re-drawn with seed {} (PyTorch defaults per layer type)", r.reset.len(), cfg.seed));
        if !r.kept.is_empty() {
            progress.line(&format!("--init random: warning: no rule for {} (values kept)", r.kept.join(", ")));
        }
    }
    Ok((data, graph))
}

/// A warning when the training loss has blown up: ten times the first epoch's (or above 10⁶),
/// the usual sign of too high a learning rate (the run goes on; a NaN stops it).
fn divergence(history: &[EpochRecord], rec: &EpochRecord) -> Option<String> {
    let first = history.first().map_or(rec.train_loss, |h| h.train_loss);
    (rec.train_loss > 1e6 || (!history.is_empty() && rec.train_loss > 10.0 * first.max(1e-3))).then(|| {
        format!(
            "warning: the training loss grew from {first:.4e} (epoch 1) to {:.4e}: the run is diverging; lower the learning rate (--lr)",
            rec.train_loss
        )
    })
}

/// Fits the data to the model's declared input ([`RunData::fit_to`]).
pub fn fit_data(data: &mut RunData, g: &Graph) -> Result<Option<String>, TrainError> {
    let Some(&input) = g.inputs.first() else { return Ok(None) };
    let int_input = matches!(g.value(input).dtype, 6 | 7); // INT32 | INT64: token ids
    match g.shape(input) {
        Some(s) => data.fit_to(s, int_input),
        None => Ok(None),
    }
}

/// `torch.onnx.export(model.eval(), …)` folds every BatchNormalization into the convolution
/// before it: a convolutional network without any normalisation layer is said to be one, with
/// the export line that keeps them (training it from scratch is much harder without).
fn warn_if_normalisation_folded(g: &Graph, model: &str) {
    use oto_graph::Op;
    let convs = g.nodes.iter().filter(|n| matches!(n.op, Op::Conv(_))).count();
    let norms = g.nodes.iter().filter(|n| matches!(n.op, Op::Norm(_))).count();
    if convs >= 2 && norms == 0 {
        eprintln!(
            "warning: {model} has {convs} convolutions and no normalisation layer: if the PyTorch model has BatchNorm, \
             the export folded it into the convolutions; to train it, re-export with \
             training=torch.onnx.TrainingMode.PRESERVE (dynamo=False) or optimize=False (dynamo=True) (docs/pytorch.md)"
        );
    }
}

/// A fixed-batch export (`torch.onnx.export(model, torch.randn(1, …))`) with its batch made
/// symbolic ([`oto_graph::batch::symbolic_batch`]), proven per sample in tract on the
/// inference forms; the model itself when its batch is already symbolic.
fn batch_free(g: Graph, model: &str) -> Result<Graph, TrainError> {
    let bad = |e: String| TrainError::Config(format!("--model {model}: {e}"));
    let Some((h, rw)) = oto_graph::batch::symbolic_batch(&g).map_err(|e| bad(e.to_string()))? else { return Ok(g) };
    let reference = oto_verify::prove::inference_form(&g, &oto_graph::zig::analyze(&g)).map_err(|e| bad(format!("{e:#}")))?;
    let free = oto_verify::prove::inference_form(&h, &oto_graph::zig::analyze(&h)).map_err(|e| bad(format!("{e:#}")))?;
    let rel = oto_verify::batch_equivalence(&reference.to_model(), &free.to_model(), rw.exported.max(1) as usize)
        .map_err(|e| bad(format!("the model was exported with a fixed batch of {} and cannot take another ({e:#}); {}", rw.exported, oto_graph::batch::reexport_hint())))?;
    if rel > 1e-4 {
        return Err(bad(format!(
            "the model was exported with a fixed batch of {}; with a symbolic batch its samples are not independent (relative difference {rel:.1e}); {}",
            rw.exported,
            oto_graph::batch::reexport_hint()
        )));
    }
    eprintln!(
        "note: {model} was exported with a fixed batch of {}: its batch is now symbolic ({} rewrite(s){}), proven per sample (relative difference {rel:.1e})",
        rw.exported,
        rw.rewrites.len(),
        match rw.rewrites.len() {
            0 => String::new(),
            1..=3 => format!(": {}", rw.rewrites.join("; ")),
            n => format!(": {}; … {} more", rw.rewrites[..2].join("; "), n - 2),
        }
    );
    Ok(h)
}

/// The optimizer of the run: the pruner (`cfg.pruner`) when a target is set, else the baseline.
pub fn build_optimizer(
    cfg: &TrainConfig,
    exec: &Executor,
    graph: &Graph,
    analysis: &oto_graph::zig::Analysis,
    steps_per_epoch: usize,
) -> Result<Box<dyn Optimizer>, TrainError> {
    if cfg.pruning() {
        api::pruner_for(cfg, exec, graph, analysis, steps_per_epoch)
    } else {
        optimizers::dense(cfg, exec.params())
    }
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::Io { path: path.display().to_string(), source: std::io::Error::other(e.to_string()) }
}

/// Sets libtorch's threads and seed. On the CPU, a run is bit-for-bit reproducible for a given
/// seed and thread count (see docs/training.md, "Determinism").
pub fn setup_runtime(cfg: &TrainConfig) {
    if cfg.threads > 0 {
        tch::set_num_threads(cfg.threads as i32);
    }
    tch::manual_seed(cfg.seed as i64);
}

/// The state `--resume` continues from: the checkpoint's weights and optimizer state are loaded
/// into `exec` and `opt`; returns the epochs done, the step, the history and the epoch in
/// progress. A checkpoint of other settings is refused, naming both.
fn resume(
    cfg: &TrainConfig,
    ck_path: &Path,
    device: Device,
    exec: &mut Executor,
    opt: &mut dyn Optimizer,
    progress: &mut progress::Progress,
    group: Option<&crate::dist::ProcessGroup>,
) -> Result<(usize, usize, Vec<EpochRecord>, Option<checkpoint::Partial>), TrainError> {
    let bytes = match group.filter(|g| g.world() > 1) {
        Some(g) => checkpoint_from_rank0(g, ck_path, device)?,
        None => checkpoint::read(ck_path)?,
    };
    let ck = checkpoint::parse(&bytes, ck_path, device)?;
    if ck.meta.fingerprint != cfg.fingerprint() {
        return Err(TrainError::Checkpoint {
            path: ck_path.display().to_string(),
            reason: format!(
                "it was written by a different run; resume needs the same settings.\n  checkpoint: {}\n  now:        {}",
                ck.meta.fingerprint,
                cfg.fingerprint()
            ),
        });
    }
    exec.load_named_tensors(&ck.model)?;
    opt.load_state(&ck.optim)?;
    let (start, step) = (ck.meta.epoch, ck.meta.step);
    match &ck.meta.partial {
        Some(p) => progress.line(&format!(
            "resuming {} within epoch {}, after its batch {} (step {step})",
            ck_path.display(),
            start + 1,
            p.batches
        )),
        None => progress.line(&format!("resuming {} after epoch {start} (step {step})", ck_path.display())),
    }
    Ok((start, step, ck.meta.history, ck.meta.partial))
}

/// Rank 0's checkpoint, sent to every rank over the group (the others need no copy of the
/// output folder: no shared file system). Rank 0 first sends its length, or −1 when it cannot
/// read it, so that the others stop with it rather than wait.
fn checkpoint_from_rank0(g: &crate::dist::ProcessGroup, ck_path: &Path, device: Device) -> Result<Vec<u8>, TrainError> {
    let mine = if g.rank() == 0 { Some(checkpoint::read(ck_path)) } else { None };
    let len = match &mine {
        Some(Ok(b)) => b.len() as i64,
        Some(Err(_)) => -1,
        None => 0,
    };
    let mut n = [tch::Tensor::from_slice(&[len]).to_device(device)];
    g.broadcast(&mut n, 0)?;
    let len = n[0].int64_value(&[0]);
    if let Some(r) = mine {
        let bytes = r?;
        g.broadcast(&mut [tch::Tensor::from_slice(&bytes).to_device(device)], 0)?;
        return Ok(bytes);
    }
    if len < 0 {
        return Err(TrainError::Distributed(format!(
            "rank 0 could not read the checkpoint {} to resume from (its error says why)",
            ck_path.display()
        )));
    }
    let mut t = [tch::Tensor::zeros([len], (tch::Kind::Uint8, device))];
    g.broadcast(&mut t, 0)?;
    Vec::<u8>::try_from(&t[0].to_device(Device::Cpu)).map_err(TrainError::Torch)
}

/// Runs a whole job (see the module docs): train (resuming if asked), write the trained model,
/// metrics and plots, and for pruning runs the compressed model, manifest and report.
/// The run's one-line description: model, data, schedule, optimizer, target and device.
fn run_line(cfg: &TrainConfig, data: &data::RunData, spe: usize, device: Device) -> String {
    format!(
        "training {} on {} ({} train / {} test samples), {} epochs x {spe} steps, {} lr {:.3e}{}, device {:?}",
        cfg.model,
        cfg.dataset.name(),
        data.train_len(),
        data.test_len(),
        cfg.epochs,
        cfg.optimizer.name(),
        cfg.lr(),
        match cfg.target() {
            Some(crate::optim::Target::GroupSparsity(s)) => format!(", {} target sparsity {s}", cfg.pruner.name()),
            Some(_) => format!(", {} {}", cfg.pruner.name(), cfg.target_description()),
            None => String::new(),
        },
        device
    )
}

/// How long a rank waits for the others (rendezvous, each collective) before it gives up.
pub const DIST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30 * 60);

pub fn run(cfg: &TrainConfig) -> Result<RunSummary, TrainError> {
    // NCCL for CUDA tensors, Gloo for CPU ones
    let cuda = !matches!(parse_device(&cfg.device)?, Device::Cpu);
    let backend = if cuda { crate::dist::Backend::Nccl } else { crate::dist::Backend::Gloo };
    let group = crate::dist::ProcessGroup::from_env(DIST_TIMEOUT, backend)?;
    run_in(cfg, group.as_ref())
}

/// The device of this rank: `--device cuda` (no index) on a rank of a group is its node's GPU
/// number LOCAL_RANK; a group's backend must suit the device (Gloo: CPU, NCCL: CUDA).
fn rank_device(cfg: &TrainConfig, group: Option<&crate::dist::ProcessGroup>) -> Result<Device, TrainError> {
    use crate::dist::Backend;
    let Some(g) = group.filter(|g| g.world() > 1) else { return parse_device(&cfg.device) };
    let device = match cfg.device.as_str() {
        "cuda" | "gpu" => parse_device(&format!("cuda:{}", g.local_rank()))?,
        d => parse_device(d)?,
    };
    match (device, g.backend()) {
        (Device::Cpu, Backend::Gloo) | (Device::Cuda(_), Backend::Nccl) => Ok(device),
        (d, b) => Err(TrainError::Distributed(format!("device {d:?} with a {b:?} process group: Gloo trains on the CPU, NCCL on CUDA"))),
    }
}

/// Copies rank 0's weights and buffers (BatchNorm's running statistics) to every rank.
fn sync_state(g: &crate::dist::ProcessGroup, exec: &Executor) -> Result<(), TrainError> {
    let mut ts: Vec<tch::Tensor> = exec.named_tensors().into_iter().map(|(_, t)| t.detach()).collect();
    g.broadcast(&mut ts, 0)
}

/// [`run`] as one rank of a data-parallel `group` (`None`: one process). Every rank trains on
/// its share of each batch with the gradients averaged over the group, so all hold the same
/// weights and the pruner's same state; rank 0 alone writes files (checkpoints, metrics, the
/// models, the report) and on `--resume` sends its checkpoint to the others.
pub fn run_in(cfg: &TrainConfig, group: Option<&crate::dist::ProcessGroup>) -> Result<RunSummary, TrainError> {
    cfg.validate()?;
    let (rank, world) = group.map_or((0, 1), |g| (g.rank(), g.world()));
    let lead = rank == 0;
    let out = cfg.out.clone();
    if out.exists() && !out.is_dir() {
        return Err(TrainError::Config(format!("--out {}: not a folder", out.display())));
    }
    if lead {
        // what a killed run was writing (`.checkpoint.ot.tmp<pid>`, `.full.onnx.tmp<pid>`)
        oto_onnx::remove_stale_temporaries(&out);
    }
    setup_runtime(cfg);
    let device = rank_device(cfg, group)?;
    let mode = if lead { progress::Mode::from_setting(&cfg.progress) } else { progress::Mode::from_setting("quiet") };
    let mut progress = progress::Progress::new(mode);
    let (mut data, mut graph) = load_run(cfg, &mut progress)?;
    data.shard(rank, world, cfg.batch_size)?;
    let analysis = oto_graph::zig::analyze_with(&graph, &oto_graph::zig::AnalyzeOptions { keep: cfg.keep.clone() });
    check_resources(cfg, &graph, &analysis, device, world, lead.then_some(out.as_path()), &mut progress)?;
    let mut exec = Executor::new(&graph, &analysis.trainable, device)?;
    let spe = data.steps_per_epoch(cfg.max_train_batches);
    let mut opt = build_optimizer(cfg, &exec, &graph, &analysis, spe)?;
    let sched = schedule::LrSchedule::from_config(cfg, spe);
    let ck_path = out.join("checkpoint.ot");
    let cfg_path = out.join("config.toml");

    let (start, mut step, mut history, mut partial) = match cfg.resume {
        true => resume(cfg, &ck_path, device, &mut exec, opt.as_mut(), &mut progress, group)?,
        false => (0, 0, vec![], None),
    };
    let first_step = step;
    if let Some(g) = group {
        sync_state(g, &exec)?; // the same start on every rank, whatever each drew or read
        progress.line(&dp_line(g, cfg));
    }
    if lead {
        // the first file of the run, once the data, model and checkpoint are known to be good
        std::fs::create_dir_all(&out).map_err(|e| TrainError::Io { path: out.display().to_string(), source: e })?;
        oto_onnx::write_atomic(&cfg_path, cfg.to_toml().as_bytes()).map_err(|e| io_err(&cfg_path, e))?;
    }
    // c10d's DDP reducer, built once: it learns the bucket order from the first step's backward
    let params: Vec<tch::Tensor> = exec.params().iter().map(|p| p.tensor.shallow_clone()).collect();
    let reducer = group.filter(|_| cfg.overlap).map(|g| g.reducer(&params)).transpose()?;
    let mut last_save = std::time::Instant::now();
    let meta = |epoch: usize, step: usize, history: &[EpochRecord], partial: Option<checkpoint::Partial>| checkpoint::Meta {
        format: checkpoint::FORMAT.into(),
        epoch,
        step,
        seed: cfg.seed,
        fingerprint: cfg.fingerprint(),
        history: history.to_vec(),
        partial,
    };
    progress.line(&run_line(cfg, &data, spe, device));
    for w in cfg.warnings() {
        progress.line(&format!("warning: {w}"));
    }
    let metrics_path = out.join("metrics.jsonl");
    let curves_path = out.join("curves.png");
    for epoch in start..cfg.epochs {
        if cfg.stop_after_epoch.is_some_and(|k| epoch >= k) {
            progress.line(&format!("stopping after epoch {epoch} as asked; continue with --resume"));
            let full = last_eval(&history, data.test_len());
            return Ok(RunSummary::new(&out, epoch, history, full, &graph, vec![ck_path, metrics_path, curves_path, cfg_path]));
        }
        // a checkpoint within the epoch every `checkpoint_every` steps or `checkpoint_minutes`
        let mut within = |opt: &dyn Optimizer, part: &checkpoint::Partial, step: usize| -> Result<(), TrainError> {
            let by_steps = cfg.checkpoint_every > 0 && step % cfg.checkpoint_every == 0;
            let by_time = cfg.checkpoint_minutes > 0.0 && last_save.elapsed().as_secs_f64() >= 60.0 * cfg.checkpoint_minutes;
            if lead && cfg.checkpoint && (by_steps || by_time) {
                checkpoint::save(&ck_path, &meta(epoch, step, &history, Some(part.clone())), &exec.named_tensors(), &opt.state())?;
                last_save = std::time::Instant::now();
            }
            Ok(())
        };
        let o = trainer::EpochOptions { resume: partial.take(), after_step: &mut within, group, reducer: reducer.as_ref() };
        let mut rec = trainer::train_epoch(&exec, opt.as_mut(), &data, cfg, &sched, epoch, &mut step, &mut progress, o)?;
        if let Some(g) = group {
            sync_state(g, &exec)?; // rank 0's BatchNorm statistics: every rank evaluates one model
        }
        let ev = evaluate(&exec, &data)?;
        rec.test_loss = Some(ev.loss);
        rec.test_top1 = ev.top1;
        rec.test_top5 = ev.top5;
        rec.test_psnr = ev.psnr;
        if cfg.pruning() {
            // The per-step fields (projected rows, event) are not part of an epoch's record.
            rec.optim = OptimStats { projected_rows: None, event: None, ..opt.stats() };
        }
        progress.line(&rec.summary(cfg.epochs));
        if let Some(w) = divergence(&history, &rec) {
            progress.line(&w);
        }
        history.push(rec);
        if !lead {
            continue;
        }
        metrics::write_jsonl(&metrics_path, &history)?;
        if let Err(e) = metrics::plot_curves(&curves_path, &history) {
            progress.line(&format!("warning: could not draw {}: {e}", curves_path.display()));
        }
        if cfg.checkpoint {
            checkpoint::save(&ck_path, &meta(epoch + 1, step, &history, None), &exec.named_tensors(), &opt.state())?;
            last_save = std::time::Instant::now();
        }
    }
    if history.is_empty() {
        return Err(TrainError::Config("no epoch was run".into()));
    }
    if let Some(g) = group {
        let train: f64 = history[start.min(history.len())..].iter().map(|r| r.train_seconds).sum();
        progress.line(&comm_line(g, step - first_step, train));
    }
    if !lead {
        let full = evaluate(&exec, &data)?;
        return Ok(RunSummary::new(&out, cfg.epochs, history, full, &graph, vec![]));
    }
    metrics::write_jsonl(&metrics_path, &history)?;
    let _ = metrics::plot_curves(&curves_path, &history);
    let mut files = vec![metrics_path, curves_path, cfg_path];
    if cfg.checkpoint {
        files.push(ck_path);
    }
    write_outputs(cfg, &exec, &mut graph, &analysis, &data, history, files, &progress)
}

/// The test metrics of the last finished epoch (a run stopped by `stop_after_epoch`).
fn last_eval(history: &[EpochRecord], samples: usize) -> EvalResult {
    let last = history.last().cloned().unwrap_or_default();
    EvalResult { loss: last.test_loss.unwrap_or(f64::NAN), top1: last.test_top1, top5: last.test_top5, psnr: last.test_psnr, samples }
}

/// How a data-parallel run trains, as a log line.
fn dp_line(g: &crate::dist::ProcessGroup, cfg: &TrainConfig) -> String {
    let (backend, bn) = (g.backend().name(), if cfg.sync_bn { "synchronised" } else { "per rank" });
    let when = if cfg.overlap { "during the backward pass" } else { "after the backward pass" };
    format!(
        "data-parallel: {} ranks (c10d, {backend}), {} samples of each batch of {} per rank, BatchNorm {bn}, gradients averaged {when}",
        g.world(),
        cfg.batch_size / g.world(),
        cfg.batch_size
    )
}

/// The time a data-parallel run spent in blocking collectives over `steps` steps of `train`
/// seconds of training, as a log line.
fn comm_line(g: &crate::dist::ProcessGroup, steps: usize, train: f64) -> String {
    let (secs, _) = g.comm_time();
    format!(
        "data-parallel: {:.2} ms per step in blocking collectives ({:.0}% of the training time; batch sums, synchronised BatchNorm, and the gradient allreduce with --no-overlap; overlapped with the backward pass otherwise: not counted)",
        1e3 * secs / steps.max(1) as f64,
        100.0 * secs / train.max(1e-9)
    )
}

/// Refuses a run that cannot fit before anything is allocated: the estimated memory against the
/// machine's (or the GPU's), and with `out` (the rank that writes), the disk the outputs take —
/// two checkpoints at a time (the new one written beside the old), the full and the compressed
/// model.
fn check_resources(
    cfg: &TrainConfig,
    graph: &Graph,
    analysis: &oto_graph::zig::Analysis,
    device: Device,
    world: usize,
    out: Option<&Path>,
    progress: &mut progress::Progress,
) -> Result<(), TrainError> {
    let state = if cfg.optimizer == config::OptimizerKind::Sgd { 1 } else { 2 } + u64::from(cfg.pruning());
    let estimate = memory::estimate(graph, &analysis.trainable, cfg.batch_size / world, state);
    match device {
        Device::Cpu => memory::check(&estimate, memory::available_bytes())?,
        Device::Cuda(i) => memory::check(&estimate, memory::cuda_free_bytes(i))?,
        _ => {}
    }
    progress.line(&estimate.describe());
    let params = estimate.params / 2;
    let disk = 2 * (params + estimate.optimizer) + 2 * params;
    match out {
        Some(out) => oto_onnx::check_free_space(&out.join("checkpoint.ot"), disk).map_err(|e| TrainError::Config(format!("--out: {e}"))),
        None => Ok(()),
    }
}

/// The end of a run on the writing rank: the trained model (eval-mode BatchNorm with the learned
/// running statistics) as `full.onnx` and its test metrics; for a pruning run the compressed
/// model, its proof and the report (`report::pipeline_outputs`), else the dense report; then
/// `summary.json`. `files`: the run's other files so far.
#[allow(clippy::too_many_arguments)]
fn write_outputs(
    cfg: &TrainConfig,
    exec: &Executor,
    graph: &mut Graph,
    analysis: &oto_graph::zig::Analysis,
    data: &data::RunData,
    history: Vec<EpochRecord>,
    mut files: Vec<PathBuf>,
    progress: &progress::Progress,
) -> Result<RunSummary, TrainError> {
    exec.write_back(graph)?;
    let full_path = cfg.out.join("full.onnx");
    oto_onnx::save_model(&graph.to_model(), &full_path).map_err(|e| io_err(&full_path, e))?;
    let full = evaluate(exec, data)?;
    files.insert(0, full_path);
    let mut summary = RunSummary::new(&cfg.out, cfg.epochs, history, full, graph, files);
    if cfg.pruning() {
        report::pipeline_outputs(cfg, graph, analysis, data, exec.device(), &mut summary, progress)?;
    } else {
        summary.latency_ms_before = report::latency_ms(graph);
        report::dense_report(cfg, &mut summary)?;
    }
    report::write_summary_json(cfg, &mut summary)?;
    Ok(summary)
}
