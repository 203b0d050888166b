//! oto-zoo: a model zoo that emits valid ONNX `ModelProto`s with seeded random weights, so the
//! pruning pipeline can be exercised (and tested) on many architectures without Python or
//! downloads. Graphs mirror what `torch.onnx.export` produces: opset 17, PyTorch parameter
//! names, input `input` `[N,C,H,W]`, output `logits` (classification) or `output` (super-resolution).

pub mod builder;
pub mod init;
mod models;
mod ops;

pub use builder::{Builder, ShapeError, Val, BATCH};
use oto_onnx::ModelProto;

/// What a model computes, which fixes its output name and shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Output `logits`, shape `[N, num_classes]`.
    Classification,
    /// Output `output`, shape `[N, C, scale*H, scale*W]`.
    SuperResolution { scale: usize },
}

/// Options for [`build`]; `None` fields take the model's defaults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ZooConfig {
    /// `[C, H, W]` of one input sample.
    pub input_shape: Option<[usize; 3]>,
    /// Number of classes (ignored by super-resolution models).
    pub num_classes: Option<usize>,
    /// Seed of the random initialisation.
    pub seed: u64,
    /// Non-trivial BN/LN statistics, affine parameters and biases (to expose pruning bugs).
    pub randomize_stats: bool,
    /// Channel width multiplier (default 1.0); widths are rounded to multiples of 8.
    pub width_mult: Option<f32>,
    /// Depth for models with a depth parameter (`densenet_bc`: 40 by default).
    pub depth: Option<usize>,
}

/// One registered model.
#[derive(Debug)]
pub struct ZooEntry {
    pub name: &'static str,
    pub description: &'static str,
    /// Default `[C, H, W]`.
    pub input_shape: [usize; 3],
    /// Default number of classes (0 for super-resolution).
    pub num_classes: usize,
    pub task: Task,
    build: models::ModelFn,
}

impl ZooEntry {
    /// Output shape for batch `n` under `cfg` (defaults filled in).
    pub fn output_shape(&self, cfg: &ZooConfig, n: i64) -> Vec<i64> {
        let [c, h, w] = cfg.input_shape.unwrap_or(self.input_shape).map(|d| d as i64);
        match self.task {
            Task::Classification => vec![n, cfg.num_classes.unwrap_or(self.num_classes) as i64],
            Task::SuperResolution { scale } => vec![n, c, h * scale as i64, w * scale as i64],
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ZooError {
    #[error("unknown model '{name}'; valid names: {valid}")]
    UnknownModel { name: String, valid: String },
    #[error("model '{model}': {reason}")]
    BadConfig { model: String, reason: String },
    #[error("model '{model}' cannot take input shape {shape:?}: {reason}")]
    BadInput { model: String, shape: [usize; 3], reason: String },
}

/// Resolved configuration handed to the model functions.
pub(crate) struct Ctx {
    pub h: i64,
    pub w: i64,
    pub classes: i64,
    pub width: f32,
    pub depth: Option<usize>,
}

impl Ctx {
    /// Scales a channel count by the width multiplier (multiples of 8 when scaled).
    pub fn ch(&self, c: i64) -> i64 {
        if self.width == 1.0 {
            return c;
        }
        let v = (c as f32 * self.width / 8.0).round() as i64 * 8;
        v.max(8)
    }
}

/// All registered models.
pub fn list() -> &'static [ZooEntry] {
    models::ENTRIES
}

/// Builds model `name` with `cfg`.
pub fn build(name: &str, cfg: &ZooConfig) -> Result<ModelProto, ZooError> {
    let Some(entry) = list().iter().find(|e| e.name == name) else {
        let valid = list().iter().map(|e| e.name).collect::<Vec<_>>().join(", ");
        return Err(ZooError::UnknownModel { name: name.into(), valid });
    };
    let bad = |reason: String| ZooError::BadConfig { model: name.into(), reason };
    let shape = cfg.input_shape.unwrap_or(entry.input_shape);
    if shape.iter().any(|&d| d == 0 || d > 8192) {
        return Err(bad(format!("input shape {shape:?} needs every dimension in 1..=8192")));
    }
    let classes = cfg.num_classes.unwrap_or(entry.num_classes);
    if entry.task == Task::Classification && !(1..=1_000_000).contains(&classes) {
        return Err(bad(format!("num_classes must be in 1..=1000000, got {classes}")));
    }
    let width = cfg.width_mult.unwrap_or(1.0);
    if !(width > 0.0 && width <= 16.0) {
        return Err(bad(format!("width_mult must be in (0, 16], got {width}")));
    }
    let ctx = Ctx { h: shape[1] as i64, w: shape[2] as i64, classes: classes as i64, width, depth: cfg.depth };
    let mut b = Builder::new(cfg.seed, cfg.randomize_stats);
    let x = b.input("input", &[BATCH, shape[0] as i64, ctx.h, ctx.w]);
    let out = (entry.build)(&mut b, &x, &ctx)
        .map_err(|e| ZooError::BadInput { model: name.into(), shape, reason: e.0 })?;
    let want = entry.output_shape(cfg, BATCH);
    if out.shape != want {
        return Err(ZooError::BadInput {
            model: name.into(),
            shape,
            reason: format!("network produces {:?} instead of {want:?}", out.shape),
        });
    }
    let out_name = match entry.task {
        Task::Classification => "logits",
        Task::SuperResolution { .. } => "output",
    };
    Ok(b.finish(&out, out_name, name, entry.description))
}
