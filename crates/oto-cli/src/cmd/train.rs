//! `oto train`: train a network (dense baseline, or DHSPG / HESSO + compression with a target:
//! --target-sparsity, --target-flops or --prune-rows)
//! from flags and/or a TOML run file (`--config run.toml`; flags override the file).
use anyhow::{bail, Context, Result};
use oto_train::train::{self, DatasetKind, OptimizerKind, PrunerKind, ScheduleKind, TrainConfig};
use std::path::PathBuf;

/// `--init`: where an ONNX model's training starts.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// Fresh weights (PyTorch's defaults per layer type)
    Random,
    /// The exported weights
    Keep,
}

#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// The network: zoo:NAME (see `oto zoo list`) or an ONNX file [default: zoo:fmnist_vgg]
    #[arg(value_name = "MODEL")]
    pub model_pos: Option<String>,
    /// Same as the positional MODEL
    #[arg(long, value_name = "zoo:NAME|FILE.onnx")]
    pub model: Option<String>,
    /// TOML run file (keys as in docs/training.md); flags given here override it
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// fashion-mnist | mnist | cifar10 | cifar100 | svhn | imagefolder | sr | text [default: fashion-mnist]
    #[arg(long)]
    pub dataset: Option<String>,
    /// Dataset folder (fashion-mnist without --data: the bundled 6k/1k subset)
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Learning rate [default: 0.1 for sgd, 1e-3 for adam/adamw]
    #[arg(long)]
    pub lr: Option<f64>,
    /// sgd | adam | adamw
    #[arg(long)]
    pub optimizer: Option<String>,
    #[arg(long)]
    pub momentum: Option<f64>,
    #[arg(long)]
    pub nesterov: bool,
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// step | cosine | constant
    #[arg(long)]
    pub schedule: Option<String>,
    /// Step schedule: decay every N epochs
    #[arg(long)]
    pub step_size: Option<usize>,
    /// Step schedule: decay factor
    #[arg(long)]
    pub gamma: Option<f64>,
    #[arg(long)]
    pub warmup_epochs: Option<f64>,
    /// cpu | cuda | cuda:N
    #[arg(long)]
    pub device: Option<String>,
    /// libtorch threads (fix it for bit-exact reproducibility)
    #[arg(long)]
    pub threads: Option<usize>,
    #[arg(long)]
    pub seed: Option<u64>,
    /// Output folder [default: runs/train]
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Continue the run in --out from its last checkpoint
    #[arg(long)]
    pub resume: bool,
    /// Also checkpoint every N steps within an epoch [default: 0, by time only]
    #[arg(long, value_name = "N")]
    pub checkpoint_every: Option<usize>,
    /// Also checkpoint every M minutes within an epoch (0: only at epoch ends) [default: 10]
    #[arg(long, value_name = "M")]
    pub checkpoint_minutes: Option<f64>,
    /// Skip a step whose loss or gradient is NaN/Inf (no update) instead of stopping; 10 in a row stop the run
    #[arg(long)]
    pub skip_nonfinite: bool,
    /// Clip the global L2 norm of the gradients to this (0: off) [default: 0]
    #[arg(long, value_name = "NORM")]
    pub grad_clip: Option<f64>,
    /// Turn training augmentation off
    #[arg(long)]
    pub no_augment: bool,
    /// Re-initialise the ONNX model's weights (seeded by --seed) and train it from scratch
    /// (the same as --init random)
    #[arg(long, conflicts_with = "init")]
    pub reinit: bool,
    /// Where an ONNX model's training starts: `random` (PyTorch's default initialisation per
    /// layer type, seeded by --seed: from scratch, as OTOv2) or `keep` (the exported weights)
    #[arg(long, value_enum, value_name = "random|keep")]
    pub init: Option<Init>,
    /// At most N training batches per epoch (quick runs)
    #[arg(long, value_name = "N")]
    pub max_train_batches: Option<usize>,
    /// auto | bar | plain | quiet
    #[arg(long)]
    pub progress: Option<String>,
    /// Keep these nodes / initializers / op types unpruned (repeatable)
    #[arg(long, value_name = "NAME")]
    pub keep: Vec<String>,
    // --- pruning: a target switches the run to DHSPG (or HESSO) + compression ---
    /// Target group sparsity in (0,1): train with DHSPG (or --pruner), then compress and verify
    #[arg(long)]
    pub target_sparsity: Option<f64>,
    /// Instead of --target-sparsity: fraction of the full model's MACs to keep, in (0,1]
    #[arg(long, value_name = "FRACTION", conflicts_with = "target_sparsity")]
    pub target_flops: Option<f64>,
    /// Instead of a target: prune exactly these rows (analysis row ids: "3,7,10-12", or a file of them)
    #[arg(long, value_name = "LIST|FILE", conflicts_with_all = ["target_sparsity", "target_flops"])]
    pub prune_rows: Option<String>,
    /// The pruning optimizer: dhspg (OTOv2, default) or hesso (OTOv3: periodic re-scoring, linear ramp to zero)
    #[arg(long, value_name = "dhspg|hesso")]
    pub pruner: Option<String>,
    /// HESSO: periods from the start to the end of pruning, each re-scoring the rows [default: 10]
    #[arg(long, value_name = "N")]
    pub pruning_periods: Option<u64>,
    /// Epoch at which pruning starts [default: 3/8 of the run, both pruners]
    #[arg(long)]
    pub start_pruning_epoch: Option<f64>,
    /// Half-space threshold ε
    #[arg(long)]
    pub epsilon: Option<f64>,
    /// Base push coefficient λ
    #[arg(long)]
    pub lmbda: Option<f64>,
    #[arg(long)]
    pub lmbda_amplify: Option<f64>,
    #[arg(long)]
    pub hat_lmbda_coeff: Option<f64>,
    /// τ: the partition uses target + τ
    #[arg(long)]
    pub tolerance_group_sparsity: Option<f64>,
    /// The original's separate stage starts (epochs): partition, first half-space projection (only together)
    #[arg(long)]
    pub partition_epoch: Option<f64>,
    #[arg(long)]
    pub half_space_project_epoch: Option<f64>,
    /// ρ: at most this share of any group's rows are removed (default 1, no cap; e.g. 0.9 keeps
    /// every layer at ≥ 10 % of its channels)
    #[arg(long, value_name = "RHO")]
    pub upper_group_sparsity: Option<f64>,
    #[arg(long)]
    pub first_momentum: Option<f64>,
    #[arg(long)]
    pub second_momentum: Option<f64>,
    #[arg(long)]
    pub dampening: Option<f64>,
    #[arg(long)]
    pub group_divisible: Option<usize>,
    /// l2_norm | l1_norm
    #[arg(long)]
    pub weight_decay_type: Option<String>,
    /// The original's arithmetic (quirks included) instead of oto's exact mode
    #[arg(long)]
    pub legacy: bool,
    /// Epoch by which the target must be reached (HESSO: the end of its last period)
    /// [default: half of the run; DHSPG with --start-pruning-epoch alone: start + epochs/8]
    #[arg(long)]
    pub pruning_deadline_epoch: Option<f64>,
    /// Exact mode: reach the target gradually up to the deadline (true, default) or all at the deadline (false)
    #[arg(long, value_name = "BOOL")]
    pub pruning_ramp: Option<bool>,
    /// Saliency magnitude term: per_width (the original's, default) or rms (width-neutral)
    #[arg(long, value_name = "rms|per_width")]
    pub saliency_magnitude: Option<String>,
    /// Weight the saliency by the MACs each row costs (prune expensive rows first; oto's addition)
    #[arg(long)]
    pub saliency_flops: bool,
    /// Exit 0 even when the training loss ends far above where it started (a diverged run)
    #[arg(long)]
    pub allow_divergence: bool,
    /// Data-parallel training on N local processes (c10d, Gloo on CPU); --batch-size is the
    /// global batch. Under torchrun (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT set) oto joins
    /// that group instead (docs/distributed.md)
    #[arg(long, value_name = "N")]
    pub nproc: Option<usize>,
    /// Data-parallel training: BatchNorm statistics over the global batch of all ranks
    /// (synchronised BatchNorm) instead of per rank
    #[arg(long)]
    pub sync_bn: bool,
    /// Data-parallel training: average the gradients after the backward pass instead of during
    /// it (no overlap; for ranks that share CPU cores, where overlapping costs more than it saves)
    #[arg(long)]
    pub no_overlap: bool,
    /// Partition order: W × each row's rank within its layer group + (1 − W) × its global rank; 1 = every layer keeps the same share of its channels [default: 1 at a FLOPs target, else 0]
    #[arg(long, value_name = "W")]
    pub group_rank: Option<f64>,
    /// Adam moments on the first step: original (m = g, v = g², default) or standard (PyTorch's, as the dense baseline)
    #[arg(long, value_name = "original|standard")]
    pub adam_init: Option<String>,
    /// Super-resolution: scale, LR patch, batches per epoch
    #[arg(long)]
    pub sr_scale: Option<usize>,
    #[arg(long)]
    pub sr_patch: Option<usize>,
    #[arg(long)]
    pub sr_batches_per_epoch: Option<usize>,
    /// Super-resolution: training set folder under --data [default: T91]
    #[arg(long, value_name = "NAME")]
    pub sr_train_set: Option<String>,
    /// Super-resolution: test set folder under --data [default: Set5]
    #[arg(long, value_name = "NAME")]
    pub sr_test_set: Option<String>,
    /// imagefolder: side of the square training/test images after resize/crop [default: 64]
    #[arg(long, value_name = "PX")]
    pub image_size: Option<u32>,
    /// text: bytes read per document (cut, or padded with 0) before fitting to the model's
    /// sequence length [default: 256]
    #[arg(long, value_name = "TOKENS")]
    pub seq_len: Option<usize>,
    /// Input normalisation mean per channel on the [0,1] scale, e.g. 0.485,0.456,0.406 (one value
    /// for all channels) [default: the dataset's usual values]
    #[arg(long, value_name = "M[,M,M]", value_delimiter = ',')]
    pub mean: Option<Vec<f32>>,
    /// Input normalisation std per channel, e.g. 0.229,0.224,0.225 [default: the dataset's]
    #[arg(long, value_name = "S[,S,S]", value_delimiter = ',')]
    pub std: Option<Vec<f32>>,
    /// A model whose class count is not the dataset's gets its last layer replaced by a fresh one
    /// (as `model.fc = nn.Linear(in, classes)`); without it the mismatch is an error
    #[arg(long)]
    pub rehead: bool,
    /// Evaluate on N test images evenly spaced over the test set (quick runs) [default: all]
    #[arg(long, value_name = "N")]
    pub test_samples: Option<usize>,
}

/// The run configuration: defaults ← `--config` file ← flags.
pub fn config(a: &Args) -> Result<TrainConfig> {
    let mut c = match &a.config {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading the run file {}", p.display()))?;
            TrainConfig::from_toml(&text).with_context(|| format!("{}", p.display()))?
        }
        None => TrainConfig::default(),
    };
    macro_rules! set {
        ($($f:ident),*) => { $( if let Some(v) = a.$f.clone() { c.$f = v; } )* };
    }
    if let Some(m) = a.model.clone().or(a.model_pos.clone()) {
        c.model = m;
    }
    if let Some(d) = &a.dataset {
        c.dataset = DatasetKind::parse(d)?;
    }
    if let Some(o) = &a.optimizer {
        c.optimizer = OptimizerKind::parse(o)?;
    }
    if let Some(s) = &a.schedule {
        c.schedule = ScheduleKind::parse(s)?;
    }
    if a.data.is_some() {
        c.data = a.data.clone();
    }
    if a.lr.is_some() {
        c.lr = a.lr;
    }
    set!(epochs, batch_size, momentum, weight_decay, step_size, gamma, warmup_epochs, device, threads, seed, out,
         max_train_batches, progress, sr_scale, sr_patch, sr_batches_per_epoch, sr_train_set, sr_test_set, image_size, seq_len);
    if a.mean.is_some() {
        c.mean = a.mean.clone();
    }
    if a.std.is_some() {
        c.std = a.std.clone();
    }
    if a.rehead {
        c.rehead = true;
    }
    set!(test_samples, checkpoint_every, checkpoint_minutes, grad_clip);
    if a.nesterov {
        c.nesterov = true;
    }
    if a.resume {
        c.resume = true;
    }
    if a.skip_nonfinite {
        c.skip_nonfinite = true;
    }
    if a.sync_bn {
        c.sync_bn = true;
    }
    if a.no_overlap {
        c.overlap = false;
    }
    if a.no_augment {
        c.augment = false;
    }
    if a.reinit || matches!(a.init, Some(Init::Random)) {
        c.reinit = true;
    }
    if matches!(a.init, Some(Init::Keep)) {
        c.reinit = false;
    }
    c.keep.extend(a.keep.iter().cloned());
    if let Some(p) = &a.pruner {
        c.pruner = PrunerKind::parse(p)?;
    }
    if a.pruning_periods.is_some() {
        c.hesso.pruning_periods = a.pruning_periods;
    }
    let d = &mut c.dhspg;
    macro_rules! dh {
        ($($f:ident),*) => { $( if a.$f.is_some() { d.$f = a.$f.clone(); } )* };
    }
    dh!(target_sparsity, target_flops, start_pruning_epoch, epsilon, lmbda, lmbda_amplify, hat_lmbda_coeff, tolerance_group_sparsity,
        upper_group_sparsity, first_momentum, second_momentum, dampening, group_divisible, weight_decay_type, pruning_deadline_epoch,
        pruning_ramp, saliency_magnitude, adam_init, partition_epoch, half_space_project_epoch, group_rank);
    if let Some(r) = &a.prune_rows {
        d.prune_rows = Some(row_list(r)?);
    }
    if a.legacy {
        d.legacy = Some(true);
    }
    if a.saliency_flops {
        d.saliency_flops = Some(true);
    }
    c.validate()?;
    Ok(c)
}

/// `--prune-rows`: a file of row ids if `arg` names one, else the list itself.
fn row_list(arg: &str) -> Result<Vec<usize>> {
    let p = std::path::Path::new(arg);
    if p.is_file() {
        let text = std::fs::read_to_string(p).with_context(|| format!("reading the row list {}", p.display()))?;
        return Ok(train::config::parse_row_list(&text).with_context(|| format!("--prune-rows {}", p.display()))?);
    }
    Ok(train::config::parse_row_list(arg).context("--prune-rows")?)
}

pub fn run(a: Args) -> Result<()> {
    let c = config(&a)?;
    if let Some(n) = a.nproc.filter(|&n| n > 1 && std::env::var_os("RANK").is_none()) {
        return super::launch::run(n, c.threads);
    }
    let s = train::run(&c)?;
    if std::env::var("RANK").is_ok_and(|r| r != "0") {
        return Ok(()); // rank 0 reports
    }
    print_summary(&s);
    if let (Some(why), false) = (s.diverged(), a.allow_divergence) {
        bail!("{why} (at the end of the run too). Its models are written but learned nothing useful; --allow-divergence exits 0 on such a run");
    }
    Ok(())
}

pub fn print_summary(s: &train::RunSummary) {
    // a pipeline run has already printed both models' test results while writing its report
    if s.compressed.is_none() {
        println!("full model       {}", s.full.describe());
    }
    if let (Some(_), Some(pa), Some(ma)) = (&s.compressed, s.params_after, s.macs_after) {
        println!(
            "params {} -> {} ({:.1}%), MACs {} -> {} ({:.1}%), group sparsity {:.3}",
            s.params_before,
            pa,
            100.0 * pa as f64 / s.params_before.max(1) as f64,
            s.macs_before,
            ma,
            100.0 * ma as f64 / s.macs_before.max(1) as f64,
            s.group_sparsity.unwrap_or(0.0)
        );
    }
    println!("outputs in {} ({:.1} s of training)", s.out.display(), s.train_seconds);
}
