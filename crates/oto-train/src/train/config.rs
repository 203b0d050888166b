//! Run configuration: every knob of `oto train`, readable from TOML (`--config run.toml`, keys =
//! the field names below) and overridden by command-line flags. `TrainConfig::default()` is a
//! run that works with no arguments (the small VGG on the bundled Fashion-MNIST subset).
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use crate::optim::Target;
use crate::TrainError;

/// A list of row ids (`--prune-rows`, a row-list file): integers separated by commas and/or
/// white space, `[`/`]` ignored (a JSON array works), `#` starting a comment to the end of the
/// line; `a-b` is the range of ids a to b inclusive.
pub fn parse_row_list(text: &str) -> Result<Vec<usize>, TrainError> {
    let mut rows = vec![];
    let bad = |w: &str| TrainError::Config(format!("row list: '{w}' is not a row id (a non-negative integer) or a range a-b"));
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        for w in line.split(|c: char| c == ',' || c == '[' || c == ']' || c.is_whitespace()).filter(|w| !w.is_empty()) {
            match w.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (a.parse::<usize>().map_err(|_| bad(w))?, b.parse::<usize>().map_err(|_| bad(w))?);
                    if a > b {
                        return Err(bad(w));
                    }
                    rows.extend(a..=b);
                }
                None => rows.push(w.parse().map_err(|_| bad(w))?),
            }
        }
    }
    rows.sort_unstable();
    rows.dedup();
    Ok(rows)
}

/// Which data the run reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    FashionMnist,
    Mnist,
    Cifar10,
    Cifar100,
    Svhn,
    Imagefolder,
    Sr,
    /// Text classification: class folders of `.txt` documents as byte tokens (`oto_data::text`).
    Text,
}

impl DatasetKind {
    /// The names `parse` accepts, for messages and help.
    pub const VALID: &'static str = "fashion-mnist, mnist, cifar10, cifar100, svhn, imagefolder, sr, text";
    pub fn parse(s: &str) -> Result<Self, TrainError> {
        Ok(match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "fashion-mnist" | "fmnist" | "fashionmnist" => Self::FashionMnist,
            "mnist" => Self::Mnist,
            "cifar10" | "cifar-10" => Self::Cifar10,
            "cifar100" | "cifar-100" => Self::Cifar100,
            "svhn" => Self::Svhn,
            "imagefolder" | "image-folder" | "folder" => Self::Imagefolder,
            "sr" | "super-resolution" => Self::Sr,
            "text" => Self::Text,
            _ => return Err(TrainError::Config(format!("unknown dataset '{s}'; valid: {}", Self::VALID))),
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::FashionMnist => "fashion-mnist",
            Self::Mnist => "mnist",
            Self::Cifar10 => "cifar10",
            Self::Cifar100 => "cifar100",
            Self::Svhn => "svhn",
            Self::Imagefolder => "imagefolder",
            Self::Sr => "sr",
            Self::Text => "text",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Sgd,
    Adam,
    Adamw,
}

impl OptimizerKind {
    pub fn parse(s: &str) -> Result<Self, TrainError> {
        match s.to_ascii_lowercase().as_str() {
            "sgd" => Ok(Self::Sgd),
            "adam" => Ok(Self::Adam),
            "adamw" => Ok(Self::Adamw),
            _ => Err(TrainError::Config(format!("unknown optimizer '{s}'; valid: sgd, adam, adamw"))),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::Sgd => "sgd",
            Self::Adam => "adam",
            Self::Adamw => "adamw",
        }
    }
    /// The usual learning rate of the variant (OTOv2's suggested values).
    pub fn default_lr(self) -> f64 {
        match self {
            Self::Sgd => 0.1,
            Self::Adam | Self::Adamw => 1e-3,
        }
    }
}

/// The optimizer that prunes when a target is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PrunerKind {
    /// DHSPG (OTOv2): saliency partition once, adaptive push and half-space projection.
    #[default]
    Dhspg,
    /// HESSO (OTOv3): periodic re-scoring, picked rows ramped linearly to zero.
    Hesso,
}

impl PrunerKind {
    pub fn parse(s: &str) -> Result<Self, TrainError> {
        match s.to_ascii_lowercase().as_str() {
            "dhspg" => Ok(Self::Dhspg),
            "hesso" => Ok(Self::Hesso),
            _ => Err(TrainError::Config(format!("unknown pruner '{s}'; valid: dhspg, hesso"))),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::Dhspg => "DHSPG",
            Self::Hesso => "HESSO",
        }
    }
}

/// HESSO's own settings. The target and the schedule are shared with DHSPG and read from
/// `[dhspg]`: `target_sparsity` / `target_flops` / `prune_rows`, `start_pruning_epoch` (default 3/8 of
/// the run), `pruning_deadline_epoch` = the end of the last period (default half of the run: the
/// window both pruners share), `upper_group_sparsity`, `group_divisible`, the moments, `adam_init`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HessoOptions {
    /// Periods from the start to the end of pruning, each re-scoring the rows (default 10).
    pub pruning_periods: Option<u64>,
    /// Weights of the five importance criteria (`[hesso.importance]`: magnitude, avg_magnitude,
    /// cosine, taylor_first, taylor_second; 0.2 each by default).
    pub importance: Option<crate::optim::hesso::Importance>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    /// Constant learning rate (after warm-up).
    Constant,
    /// `lr · gamma^⌊epoch / step_size⌋` (or at each of `milestones`).
    Step,
    /// Cosine annealing from `lr` to `min_lr` over the epochs after warm-up.
    Cosine,
}

impl ScheduleKind {
    pub fn parse(s: &str) -> Result<Self, TrainError> {
        match s.to_ascii_lowercase().as_str() {
            "constant" | "none" => Ok(Self::Constant),
            "step" => Ok(Self::Step),
            "cosine" | "cos" => Ok(Self::Cosine),
            _ => Err(TrainError::Config(format!("unknown schedule '{s}'; valid: step, cosine, constant"))),
        }
    }
}

/// The pruning target and schedule (shared by both pruners, [`TrainConfig::target`] and
/// `train::optimizers::prune_config`), and DHSPG's hyper-parameters (spec §3.10). `None` = the
/// optimizer's per-variant default (`DhspgConfig`). Setting a target (`target_sparsity`,
/// `target_flops` or `prune_rows`) switches the run to pruning + compression.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DhspgOptions {
    /// Target group sparsity `s` in (0, 1).
    pub target_sparsity: Option<f64>,
    /// [oto] Instead of `target_sparsity`: the fraction of the full model's MACs to keep, in
    /// (0, 1]; DHSPG zeroes rows until the compressed model is within it.
    pub target_flops: Option<f64>,
    /// [oto] Instead of a sparsity or FLOPs target: exactly these rows (analysis row ids,
    /// `oto_graph::zig::Row::id`) are pruned, on the pruner's schedule (`optim::Target::Channels`).
    pub prune_rows: Option<Vec<usize>>,
    /// First epoch of pruning (`start_pruning_steps = epoch × steps per epoch`); default 3/8 of the run
/// (`optim::prune_config::DEFAULT_WINDOW`).
    pub start_pruning_epoch: Option<f64>,
    /// The original's separate stage starts, in epochs: the partition (`partition_step`) and the
    /// first half-space projection (`half_space_project_steps`). As in the original they take
    /// effect only together; otherwise both are `start_pruning_epoch`.
    pub partition_epoch: Option<f64>,
    pub half_space_project_epoch: Option<f64>,
    /// Half-space threshold ε (tutorials: 0.9–0.95).
    pub epsilon: Option<f64>,
    pub lmbda: Option<f64>,
    pub lmbda_amplify: Option<f64>,
    pub hat_lmbda_coeff: Option<f64>,
    /// τ: the partition uses `s + τ`.
    pub tolerance_group_sparsity: Option<f64>,
    /// ρ in [0, 1]: at most this share of any group's rows end at zero (default 1: no cap). The
    /// exact mode caps `G_p` with it, so no group is thinned below `1 − ρ` of its channels.
    pub upper_group_sparsity: Option<f64>,
    pub first_momentum: Option<f64>,
    pub second_momentum: Option<f64>,
    pub dampening: Option<f64>,
    /// Constant-λ push before this many epochs after the start.
    pub warm_up_epochs: Option<f64>,
    pub group_divisible: Option<usize>,
    pub fixed_zero_groups: Option<bool>,
    /// `l2_norm` or `l1_norm`.
    pub weight_decay_type: Option<String>,
    /// Exact (oto) or legacy (the original's quirks) arithmetic.
    pub legacy: Option<bool>,
    /// Epoch by which the target must be reached (zero the smallest rows then); default half of the
/// run (with `start_pruning_epoch` set alone: an eighth of the run after it).
    pub pruning_deadline_epoch: Option<f64>,
    /// Exact mode: reach the target gradually from the start to the deadline (default true) or
    /// force everything still missing at the deadline (false).
    pub pruning_ramp: Option<bool>,
    /// Saliency magnitude term: `per_width` (the original's ‖x‖/w; default) or `rms` (oto's
    /// width-neutral ‖x‖/√w, which keeps wide layers wider).
    pub saliency_magnitude: Option<String>,
    /// [oto] Weight the partition's saliency by each row's MACs (`score · c_g / mean c`), so that
    /// rows that cost more compute are pruned first (default false: the original's score).
    pub saliency_flops: Option<bool>,
    /// [oto] Weight `w` of each row's rank within its group in the partition's order
    /// (`w · rank in group + (1 − w) · global rank`): 1 = every layer gives up the same share of
    /// its channels (widths keep their proportions); 0 = the saliency's global order.
    pub group_rank: Option<f64>,
    /// Adam / AdamW moments on a tensor's first step: `original` (the original's `m = g, v = g²`;
    /// default) or `standard` (PyTorch's zeros, as the dense Adam baseline). The original's init
    /// keeps the bias-corrected `v` large for ~1/(1 − β2) steps, so DHSPG-Adam then learns slower
    /// than a dense Adam run before any pruning; `standard` makes the two identical until the partition.
    pub adam_init: Option<String>,
}

/// Every setting of a training run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// `zoo:NAME` (built-in model, shaped for the dataset) or a path to an ONNX file.
    pub model: String,
    /// Re-draw every weight of an ONNX `model` (seeded with `seed`) and train the architecture from
    /// scratch, e.g. a compressed model for the "small network from scratch" control.
    pub reinit: bool,
    pub dataset: DatasetKind,
    /// Dataset folder; `None` with fashion-mnist = the bundled subset.
    pub data: Option<PathBuf>,
    pub epochs: usize,
    pub batch_size: usize,
    /// `None` = the optimizer's usual value (sgd 0.1, adam/adamw 1e-3).
    pub lr: Option<f64>,
    pub optimizer: OptimizerKind,
    pub momentum: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    pub schedule: ScheduleKind,
    /// Step schedule: decay every `step_size` epochs (ignored when `milestones` is set).
    pub step_size: usize,
    pub milestones: Vec<usize>,
    pub gamma: f64,
    pub min_lr: f64,
    /// Linear warm-up from ~0 to `lr` over these epochs (per step).
    pub warmup_epochs: f64,
    /// `cpu`, `cuda` or `cuda:N`.
    pub device: String,
    /// libtorch intra-op threads (0 = libtorch's default).
    pub threads: usize,
    /// Data-decoding threads (0 = all cores).
    pub data_threads: usize,
    pub seed: u64,
    /// Output folder.
    pub out: PathBuf,
    /// Continue from `<out>/checkpoint.ot`.
    pub resume: bool,
    /// Stop (as if interrupted) after this many epochs, leaving the checkpoint for `resume`;
    /// the final outputs are not written. For time-sliced jobs and tests.
    pub stop_after_epoch: Option<usize>,
    /// Training augmentation (pad + random crop, flips where they make sense).
    pub augment: bool,
    /// At most this many training batches per epoch (0 = all): quick runs and benchmarks.
    pub max_train_batches: usize,
    /// Evaluation batch size.
    pub eval_batch_size: usize,
    /// Write a checkpoint after every epoch (and within epochs, below).
    pub checkpoint: bool,
    /// Also every N optimizer steps within an epoch (0: not by steps).
    pub checkpoint_every: usize,
    /// Also every M minutes within an epoch (0: not by time), so a killed run loses minutes.
    pub checkpoint_minutes: f64,
    /// Skip a step whose loss or gradient is not finite (no update) instead of stopping; ten
    /// in a row still stop the run.
    pub skip_nonfinite: bool,
    /// Data-parallel training: BatchNorm's batch statistics over the global batch of all ranks
    /// (synchronised BatchNorm) instead of each rank's own (the default, as PyTorch's DDP). On
    /// one process it is plain BatchNorm.
    pub sync_bn: bool,
    /// Data-parallel training: average the gradients during the backward pass (c10d's reducer,
    /// overlapped with it, as PyTorch's DDP) rather than after it (`false`, `--no-overlap`: one
    /// allreduce per 25 MB bucket once the pass is done; for ranks that share CPU cores).
    pub overlap: bool,
    /// Progress: `auto` (bar on a terminal, log lines otherwise), `bar`, `plain`, `quiet`.
    pub progress: String,
    /// Super-resolution: scale, LR patch size, batches per epoch, training and test sets
    /// (folders under `data` in the `<set>/HR` layout).
    pub sr_scale: usize,
    pub sr_patch: usize,
    pub sr_batches_per_epoch: usize,
    pub sr_train_set: String,
    pub sr_test_set: String,
    /// Image-folder datasets: square side the images are resized / cropped to.
    pub image_size: u32,
    /// Text datasets: documents are read as this many byte tokens (cut, or padded with 0), then
    /// fitted to the model's declared sequence length when it has one.
    pub seq_len: usize,
    /// Input normalisation `(x/255 − mean) / std` per channel; `None` = the dataset's usual
    /// values (CIFAR-10's, ImageNet's, …). One value applies to every channel.
    pub mean: Option<Vec<f32>>,
    pub std: Option<Vec<f32>>,
    /// An ONNX model whose class count is not the dataset's gets its last layer replaced by a
    /// fresh one (`train::rehead`); without it the mismatch is an error.
    pub rehead: bool,
    /// Evaluate on this many test images, evenly spaced over the test set (0 = all of it): quick
    /// runs and tests. The report gives the count.
    pub test_samples: usize,
    /// Loss label smoothing (classification).
    pub label_smoothing: f64,
    /// Clip the global gradient norm (0 = off).
    pub grad_clip: f64,
    /// The pruning optimizer when a target is set: `dhspg` (default) or `hesso`.
    pub pruner: PrunerKind,
    /// Pruning settings (the target, and DHSPG's hyper-parameters); active when
    /// `dhspg.target_sparsity`, `dhspg.target_flops` or `dhspg.prune_rows` is set.
    pub dhspg: DhspgOptions,
    /// HESSO's own settings (with `pruner = "hesso"`).
    pub hesso: HessoOptions,
    /// Node names, initializer names or op types kept unpruned.
    pub keep: Vec<String>,
    /// Verification tolerance of the compressed model (relative max difference).
    pub verify_tolerance: f32,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            model: "zoo:fmnist_vgg".into(),
            reinit: false,
            dataset: DatasetKind::FashionMnist,
            data: None,
            epochs: 5,
            batch_size: 64,
            lr: None,
            optimizer: OptimizerKind::Sgd,
            momentum: 0.9,
            nesterov: false,
            weight_decay: 5e-4,
            schedule: ScheduleKind::Cosine,
            step_size: 30,
            milestones: vec![],
            gamma: 0.1,
            min_lr: 0.0,
            warmup_epochs: 0.0,
            device: "cpu".into(),
            threads: 0,
            data_threads: 0,
            seed: 0,
            out: PathBuf::from("runs/train"),
            resume: false,
            stop_after_epoch: None,
            augment: true,
            max_train_batches: 0,
            eval_batch_size: 256,
            checkpoint: true,
            checkpoint_every: 0,
            checkpoint_minutes: 10.0,
            skip_nonfinite: false,
            sync_bn: false,
            overlap: true,
            progress: "auto".into(),
            sr_scale: 2,
            sr_patch: 48,
            sr_batches_per_epoch: 100,
            sr_train_set: "T91".into(),
            sr_test_set: "Set5".into(),
            image_size: 64,
            seq_len: 256,
            mean: None,
            std: None,
            rehead: false,
            test_samples: 0,
            label_smoothing: 0.0,
            grad_clip: 0.0,
            pruner: PrunerKind::Dhspg,
            dhspg: DhspgOptions::default(),
            hesso: HessoOptions::default(),
            keep: vec![],
            verify_tolerance: 1e-4,
        }
    }
}

impl TrainConfig {
    /// Parses a TOML run file (unknown keys are errors, naming the key).
    pub fn from_toml(text: &str) -> Result<Self, TrainError> {
        toml::from_str(text).map_err(|e| TrainError::Config(format!("run file: {e}")))
    }
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
    pub fn lr(&self) -> f64 {
        self.lr.unwrap_or(self.optimizer.default_lr())
    }
    /// Whether a pruning target is set (`target_sparsity`, `target_flops` or `prune_rows`).
    pub fn pruning(&self) -> bool {
        let d = &self.dhspg;
        d.target_sparsity.is_some() || d.target_flops.is_some() || d.prune_rows.is_some()
    }
    /// The pruning target of the run (`None`: a dense run); [`TrainConfig::validate`] checks
    /// that at most one is given.
    pub fn target(&self) -> Option<Target> {
        let d = &self.dhspg;
        match (d.target_sparsity, d.target_flops, &d.prune_rows) {
            (Some(s), _, _) => Some(Target::GroupSparsity(s)),
            (None, Some(f), _) => Some(Target::Flops(f)),
            (None, None, Some(r)) => Some(Target::Channels(r.clone())),
            (None, None, None) => None,
        }
    }
    /// The target in words, as the log and the report name it.
    pub fn target_description(&self) -> String {
        match self.target() {
            Some(Target::Flops(f)) => format!("target FLOPs {:.1}%", 100.0 * f),
            Some(Target::Channels(r)) => format!("target rows: the {} listed", r.len()),
            Some(Target::GroupSparsity(s)) => format!("target group sparsity {s}"),
            None => "target group sparsity 0".into(),
        }
    }
    /// Checks ranges; errors say which setting and what is allowed.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |m: String| Err(TrainError::Config(m));
        if self.epochs == 0 {
            return bad("epochs must be at least 1".into());
        }
        if self.batch_size == 0 || self.eval_batch_size == 0 {
            return bad("batch_size and eval_batch_size must be at least 1".into());
        }
        if !(self.grad_clip >= 0.0 && self.grad_clip.is_finite()) {
            return bad(format!("grad_clip must be >= 0 (0: off), got {}", self.grad_clip));
        }
        if !(self.checkpoint_minutes >= 0.0 && self.checkpoint_minutes.is_finite()) {
            return bad(format!("checkpoint_minutes must be >= 0 (0: none within an epoch), got {}", self.checkpoint_minutes));
        }
        let lr = self.lr();
        if !(lr.is_finite() && lr > 0.0) {
            return bad(format!("lr must be a positive number, got {lr}"));
        }
        if !(0.0..1.0).contains(&self.momentum) {
            return bad(format!("momentum must be in [0, 1), got {}", self.momentum));
        }
        if self.nesterov && self.momentum == 0.0 {
            return bad("nesterov needs a momentum > 0".into());
        }
        if self.mean.is_some() || self.std.is_some() {
            let given = crate::datasets::Normalize::new(self.mean.as_deref().unwrap_or(&[0.0]), self.std.as_deref().unwrap_or(&[1.0]));
            given.check()?;
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return bad(format!("weight_decay must be >= 0, got {}", self.weight_decay));
        }
        if self.warmup_epochs < 0.0 || self.warmup_epochs > self.epochs as f64 {
            return bad(format!("warmup_epochs must be in [0, epochs], got {}", self.warmup_epochs));
        }
        if self.schedule == ScheduleKind::Step && self.step_size == 0 && self.milestones.is_empty() {
            return bad("the step schedule needs step_size >= 1 or milestones".into());
        }
        if let Some(s) = self.dhspg.target_sparsity {
            if !(s > 0.0 && s < 1.0) {
                return bad(format!("target sparsity must be in (0, 1), got {s}"));
            }
        }
        if let Some(f) = self.dhspg.target_flops {
            if self.dhspg.target_sparsity.is_some() {
                return bad("give either a target sparsity or a target FLOPs fraction, not both".into());
            }
            if !(f > 0.0 && f <= 1.0) {
                return bad(format!("target FLOPs (fraction of the full model's MACs to keep) must be in (0, 1], got {f}"));
            }
            if self.dhspg.legacy == Some(true) {
                return bad("a target FLOPs fraction needs the exact sparsity mode; drop --legacy".into());
            }
            if self.dhspg.group_divisible.is_some_and(|q| q != 1) {
                return bad("a target FLOPs fraction needs group_divisible = 1".into());
            }
        }
        if let Some(rows) = &self.dhspg.prune_rows {
            if self.dhspg.target_sparsity.is_some() || self.dhspg.target_flops.is_some() {
                return bad("give one target: a row list (prune_rows) or a target sparsity or FLOPs fraction, not both".into());
            }
            if rows.is_empty() {
                return bad("the row list to prune (prune_rows) is empty".into());
            }
            if self.dhspg.legacy == Some(true) {
                return bad("a row list to prune needs the exact sparsity mode; drop --legacy".into());
            }
            if self.dhspg.group_divisible.is_some_and(|q| q != 1) {
                return bad("a row list to prune needs group_divisible = 1".into());
            }
        }
        if let Some(r) = self.dhspg.upper_group_sparsity {
            if !(0.0..=1.0).contains(&r) {
                return bad(format!("upper_group_sparsity ρ (the largest share of a group's rows that may be removed) must be in [0, 1], got {r}"));
            }
        }
        if let Some(e) = self.dhspg.start_pruning_epoch {
            if e < 0.0 || e >= self.epochs as f64 {
                return bad(format!("start_pruning_epoch must be in [0, epochs), got {e}"));
            }
        }
        if self.hesso.pruning_periods == Some(0) {
            return bad("hesso pruning_periods must be at least 1".into());
        }
        if !matches!(self.progress.as_str(), "auto" | "bar" | "plain" | "quiet") {
            return bad(format!("progress must be auto, bar, plain or quiet, got '{}'", self.progress));
        }
        Ok(())
    }
    /// Settings that are accepted but have no effect in this run (printed at its start): the
    /// original silently ignores them, which misleads users copying its recipes (spec §7.3).
    pub fn warnings(&self) -> Vec<String> {
        let mut w = vec![];
        let d = &self.dhspg;
        let l1 = matches!(d.weight_decay_type.as_deref(), Some("l1_norm" | "l1"));
        if l1 && self.optimizer != OptimizerKind::Adamw {
            w.push(format!(
                "weight_decay_type = l1_norm only changes DHSPG's decoupled (adamw) weight decay; with {} it has no effect",
                self.optimizer.name()
            ));
        }
        if self.optimizer != OptimizerKind::Sgd && (self.nesterov || d.dampening.is_some()) {
            w.push(format!("nesterov / dampening are SGD settings; they have no effect with {}", self.optimizer.name()));
        }
        if d.partition_epoch.is_some() != d.half_space_project_epoch.is_some() {
            w.push("partition_epoch and half_space_project_epoch take effect only together (the original's rule); with one of them both stages start at start_pruning_epoch".into());
        }
        if self.optimizer == OptimizerKind::Sgd && d.adam_init.is_some() {
            w.push("adam_init is an Adam / AdamW setting; it has no effect with sgd".into());
        }
        // DHSPG's own hyper-parameters (HESSO ignores them), then those both pruners read
        let dhspg_only = [
            ("epsilon", d.epsilon.is_some()),
            ("lmbda", d.lmbda.is_some()),
            ("lmbda_amplify", d.lmbda_amplify.is_some()),
            ("hat_lmbda_coeff", d.hat_lmbda_coeff.is_some()),
            ("tolerance_group_sparsity", d.tolerance_group_sparsity.is_some()),
            ("warm_up_epochs", d.warm_up_epochs.is_some()),
            ("weight_decay_type", d.weight_decay_type.is_some()),
            ("legacy", d.legacy.is_some()),
            ("pruning_ramp", d.pruning_ramp.is_some()),
            ("saliency_magnitude", d.saliency_magnitude.is_some()),
            ("saliency_flops", d.saliency_flops.is_some()),
            ("partition_epoch", d.partition_epoch.is_some()),
            ("half_space_project_epoch", d.half_space_project_epoch.is_some()),
            ("fixed_zero_groups", d.fixed_zero_groups.is_some()),
        ];
        let shared = d.start_pruning_epoch.is_some()
            || d.upper_group_sparsity.is_some()
            || d.group_divisible.is_some()
            || d.group_rank.is_some()
            || d.pruning_deadline_epoch.is_some()
            || d.adam_init.is_some();
        let hesso_set = self.hesso != HessoOptions::default();
        let set: Vec<&str> = dhspg_only.iter().filter(|(_, s)| *s).map(|(n, _)| *n).collect();
        if !self.pruning() && (shared || hesso_set || !set.is_empty()) {
            w.push("pruning settings are given but no target sparsity or FLOPs: this is a dense run and they are ignored".into());
        } else if self.pruning() && self.pruner == PrunerKind::Hesso && !set.is_empty() {
            w.push(format!("{} {} DHSPG setting{}; HESSO ignores {}", set.join(", "), if set.len() == 1 { "is a" } else { "are" }, if set.len() == 1 { "" } else { "s" }, if set.len() == 1 { "it" } else { "them" }));
        } else if self.pruning() && self.pruner == PrunerKind::Dhspg && hesso_set {
            w.push("[hesso] settings (pruning_periods, importance) are given but the pruner is DHSPG; set pruner = hesso (--pruner hesso) to use them".into());
        }
        w
    }
    /// The settings that must match for `--resume` to continue the same run.
    pub fn fingerprint(&self) -> String {
        format!(
            "model={} dataset={} data={:?} batch={} opt={} lr={} momentum={} nesterov={} wd={} seed={} pruning={:?}{}{} pruner={} max_batches={} augment={} mean={:?} std={:?} rehead={}",
            self.model,
            self.dataset.name(),
            self.data,
            self.batch_size,
            self.optimizer.name(),
            self.lr(),
            self.momentum,
            self.nesterov,
            self.weight_decay,
            self.seed,
            self.dhspg.target_sparsity,
            self.dhspg.target_flops.map(|f| format!(" flops={f}")).unwrap_or_default(),
            self.dhspg.prune_rows.as_ref().map(|r| format!(" rows={r:?}")).unwrap_or_default(),
            self.pruner.name(),
            self.max_train_batches,
            self.augment,
            self.mean,
            self.std,
            self.rehead
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_without_effect_are_warned_about() {
        let mut c = TrainConfig::default();
        assert!(c.warnings().is_empty(), "{:?}", c.warnings());
        c.dhspg.weight_decay_type = Some("l1_norm".into());
        c.dhspg.target_sparsity = Some(0.5);
        let w = c.warnings();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains("l1_norm") && w[0].contains("sgd"), "{w:?}");
        c.optimizer = OptimizerKind::Adamw;
        assert!(c.warnings().is_empty(), "{:?}", c.warnings());
        c.dhspg.target_sparsity = None;
        assert!(c.warnings().iter().any(|w| w.contains("dense run")));
        c.nesterov = true;
        assert!(c.warnings().iter().any(|w| w.contains("nesterov")));
    }

    #[test]
    fn row_lists_parse_and_make_a_row_target() {
        assert_eq!(parse_row_list("3, 1 2\n# a comment\n[7,5-6] # tail").unwrap(), vec![1, 2, 3, 5, 6, 7]);
        assert!(parse_row_list("1, x").unwrap_err().to_string().contains("'x'"));
        assert!(parse_row_list("4-2").is_err());
        let mut c = TrainConfig::default();
        assert_eq!(c.target(), None);
        c.dhspg.prune_rows = Some(vec![4, 9]);
        assert!(c.pruning() && c.validate().is_ok());
        assert_eq!(c.target(), Some(Target::Channels(vec![4, 9])));
        assert!(c.fingerprint().contains("rows=[4, 9]"), "{}", c.fingerprint());
        assert_eq!(c.target_description(), "target rows: the 2 listed");
        c.dhspg.target_sparsity = Some(0.5);
        assert!(c.validate().unwrap_err().to_string().contains("not both"));
        c.dhspg.target_sparsity = None;
        c.dhspg.legacy = Some(true);
        assert!(c.validate().unwrap_err().to_string().contains("exact sparsity mode"));
        // the TOML key, next to the other targets
        let t = TrainConfig::from_toml("[dhspg]\nprune_rows = [1, 2]\n").unwrap();
        assert_eq!(t.target(), Some(Target::Channels(vec![1, 2])));
        let t = TrainConfig::from_toml("[dhspg]\ntarget_flops = 0.4\n").unwrap();
        assert_eq!(t.target(), Some(Target::Flops(0.4)));
    }
}
