//! Library API mirroring OTO's three calls, for use from your own training loop:
//!
//! 1. [`Oto::new`] / [`Oto::from_onnx`]: load and **analyse** the network (ZIG partition), and
//!    compile it for training ([`Oto::executor`]);
//! 2. [`Oto::dhspg`] / [`Oto::hesso`]: the pruning **optimizer** over the executor's
//!    parameters, from its configuration with the [`PruneConfig`](crate::optim::PruneConfig)
//!    (target, schedule) in it — or
//!    [`Oto::pruner`], configured like `oto train` from a [`TrainConfig`] — then call `forward` /
//!    `backward` / [`Optimizer::step`] in your loop as with any optimizer;
//! 3. [`Oto::construct`]: write the trained full model, **construct** the compressed one
//!    (exactly-zero rows removed), verify that both compute the same outputs, save both.
//!
//! See `crates/oto-train/examples/own_loop.rs`.
use std::path::{Path, PathBuf};
use tch::Device;

use super::config::{PrunerKind, TrainConfig};
use crate::exec::Executor;
use crate::optim::{Dhspg, DhspgConfig, Hesso, HessoConfig, Optimizer};
use crate::TrainError;
use oto_graph::zig::{self, Analysis, AnalyzeOptions};
use oto_graph::Graph;

/// A network under OTO: its graph and ZIG analysis.
pub struct Oto {
    pub graph: Graph,
    pub analysis: Analysis,
}

/// What [`Oto::construct`] produced.
#[derive(Clone, Debug)]
pub struct Construction {
    pub full_path: PathBuf,
    pub compressed_path: PathBuf,
    pub manifest_path: PathBuf,
    /// The trained full graph and the compressed graph.
    pub full: Graph,
    pub compressed: Graph,
    pub removed_rows: usize,
    pub prunable_rows: usize,
    pub params_before: u64,
    pub params_after: u64,
    pub macs_before: u64,
    pub macs_after: u64,
    /// Largest relative output difference between the two models on random inputs (tract).
    pub max_rel_diff: f32,
    pub warnings: Vec<String>,
}

impl Construction {
    pub fn group_sparsity(&self) -> f64 {
        self.removed_rows as f64 / self.prunable_rows.max(1) as f64
    }
}

impl Oto {
    /// Analyses `graph` (shapes must be inferred, as [`Graph::from_model`] does).
    pub fn new(graph: Graph) -> Self {
        Self::with_keep(graph, &[])
    }
    /// Analysis that keeps the channels of the named nodes / initializers / op types.
    pub fn with_keep(graph: Graph, keep: &[String]) -> Self {
        let analysis = zig::analyze_with(&graph, &AnalyzeOptions { keep: keep.to_vec() });
        Oto { graph, analysis }
    }
    pub fn from_onnx(path: &Path) -> Result<Self, TrainError> {
        Ok(Self::new(Graph::load(path)?))
    }
    /// The network compiled for training on `device`, with the analysis' trainable tensors.
    pub fn executor(&self, device: Device) -> Result<Executor, TrainError> {
        Ok(Executor::new(&self.graph, &self.analysis.trainable, device)?)
    }
    /// The pruning optimizer of `cfg.pruner` (DHSPG by default, or HESSO) over `exec`'s
    /// parameters, configured like `oto train` (`cfg.dhspg`, `cfg.hesso`, `cfg.optimizer`,
    /// `cfg.lr`, ...; the target and schedule through `optimizers::prune_config`);
    /// `steps_per_epoch` converts epochs to steps.
    pub fn pruner(&self, cfg: &TrainConfig, exec: &Executor, steps_per_epoch: usize) -> Result<Box<dyn Optimizer>, TrainError> {
        pruner_for(cfg, exec, &self.graph, &self.analysis, steps_per_epoch)
    }
    /// DHSPG over `exec`'s parameters with `cfg` (its target and schedule in `cfg.prune`), the
    /// graph's MACs model attached when a FLOPs target or `saliency_flops` needs it.
    pub fn dhspg(&self, exec: &Executor, cfg: DhspgConfig) -> Result<Dhspg, TrainError> {
        dhspg_for(exec, &self.graph, &self.analysis, cfg)
    }
    /// HESSO over `exec`'s parameters with `cfg` (its target and schedule in `cfg.prune`), the
    /// graph's MACs model attached when a FLOPs target needs it.
    pub fn hesso(&self, exec: &Executor, cfg: HessoConfig) -> Result<Hesso, TrainError> {
        hesso_for(exec, &self.graph, &self.analysis, cfg)
    }
    /// Writes `<dir>/full.onnx` (the trained weights of `exec`), builds and writes
    /// `<dir>/compressed.onnx` and `<dir>/manifest.json`, and checks with tract that both
    /// models give the same outputs (relative max difference ≤ `tolerance`, else an error).
    pub fn construct(&self, exec: &Executor, dir: &Path, tolerance: f32) -> Result<Construction, TrainError> {
        let mut full = self.graph.clone();
        exec.write_back(&mut full)?;
        construct_from(&full, &self.analysis, dir, tolerance)
    }
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::Io { path: path.display().to_string(), source: std::io::Error::other(e.to_string()) }
}

/// Step 3 on an already trained full graph.
pub fn construct_from(full: &Graph, analysis: &Analysis, dir: &Path, tolerance: f32) -> Result<Construction, TrainError> {
    std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    let popts = oto_verify::ProveOptions { tolerance, ..Default::default() };
    let proof = oto_verify::prove(full, analysis, &oto_graph::compress::CompressOptions::default(), &popts)
        .map_err(|e| TrainError::Config(format!("construction of the compressed model in {} failed: {e:#}", dir.display())))?;
    let max_rel_diff = proof.comparison.as_ref().map_or(f32::NAN, |c| c.max_rel());
    // both models are written in inference form (training-mode BatchNormalization and Dropout
    // converted), the form they were compared in
    let full_path = dir.join("full.onnx");
    oto_onnx::save_model(&proof.reference.to_model(), &full_path).map_err(|e| io_err(&full_path, e))?;
    let compressed_path = dir.join("compressed.onnx");
    oto_onnx::save_model(&proof.model, &compressed_path).map_err(|e| io_err(&compressed_path, e))?;
    let manifest_path = dir.join("manifest.json");
    let c = proof.compressed;
    oto_onnx::write_atomic(&manifest_path, c.manifest.to_json().as_bytes()).map_err(|e| io_err(&manifest_path, e))?;
    Ok(Construction {
        full_path,
        compressed_path,
        manifest_path,
        full: full.clone(),
        removed_rows: c.removed_rows.len(),
        prunable_rows: analysis.prunable_rows(),
        params_before: full.param_count(),
        params_after: c.graph.param_count(),
        macs_before: oto_graph::flops::macs(full),
        macs_after: oto_graph::flops::macs(&c.graph),
        compressed: c.graph,
        max_rel_diff,
        warnings: c.warnings,
    })
}

/// The pruning optimizer of `cfg.pruner` configured from a run configuration.
pub fn pruner_for(
    cfg: &TrainConfig,
    exec: &Executor,
    graph: &Graph,
    analysis: &Analysis,
    steps_per_epoch: usize,
) -> Result<Box<dyn Optimizer>, TrainError> {
    Ok(match cfg.pruner {
        PrunerKind::Dhspg => Box::new(dhspg_for(exec, graph, analysis, super::optimizers::dhspg_config(cfg, steps_per_epoch)?)?),
        PrunerKind::Hesso => Box::new(hesso_for(exec, graph, analysis, super::optimizers::hesso_config(cfg, steps_per_epoch)?)?),
    })
}

/// DHSPG over `exec`'s parameters, with the MACs model of `graph` when `cfg` needs it.
pub fn dhspg_for(exec: &Executor, graph: &Graph, analysis: &Analysis, cfg: DhspgConfig) -> Result<Dhspg, TrainError> {
    let macs = cfg.prune.target.flops().is_some() || cfg.saliency_flops;
    let opt = Dhspg::new(exec.params(), analysis, cfg)?;
    Ok(if macs { opt.with_macs(oto_graph::flops::RowMacs::new(graph, analysis)) } else { opt })
}

/// HESSO over `exec`'s parameters, with the MACs model of `graph` when `cfg` needs it.
pub fn hesso_for(exec: &Executor, graph: &Graph, analysis: &Analysis, cfg: HessoConfig) -> Result<Hesso, TrainError> {
    let macs = cfg.prune.target.flops().is_some();
    let opt = Hesso::new(exec.params(), analysis, cfg)?;
    Ok(if macs { opt.with_macs(oto_graph::flops::RowMacs::new(graph, analysis)) } else { opt })
}
