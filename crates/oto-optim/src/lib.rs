//! Optimizers over the executor's trainable tensors: the baseline directions (SGD, Adam, AdamW),
//! and the two pruners that add group-sparsity machinery on the ZIG rows from the analysis:
//! DHSPG (OTOv2, [`dhspg`]) and HESSO (OTOv3, [`hesso`]), sharing the step frame of [`row_step`]
//! and one pruning configuration ([`PruneConfig`]: the [`Target`] and the schedule).
//!
//! Contract shared by the training loop and the optimizers: the loop runs forward/backward, then
//! calls [`Optimizer::step`], which reads each parameter's `.grad()` and updates it in place
//! (under `no_grad`), then the loop zeroes the gradients.

use tch::Tensor;

pub mod baseline;
pub mod dhspg;
pub mod dhspg_config;
pub mod dhspg_math;
pub mod error;
pub mod flat;
pub mod flops_target;
pub mod hesso;
pub mod prune_config;
pub mod row_step;
pub mod rows;

pub use baseline::{Adam, AdamConfig, AdamInit, AdamW, Direction, DirectionConfig, Sgd, SgdConfig, Variant, VariantDefaults};
pub use dhspg::{Dhspg, DhspgConfig, SaliencyMagnitude, SparsityMode, WeightDecayType};
pub use error::OptimError;
pub use hesso::{Hesso, HessoConfig};
/// The trainable tensor the optimizers update: defined by the executor, which hands them out
/// ([`oto_exec::Executor::params`]).
pub use oto_exec::Param;
pub use prune_config::{PruneConfig, Target};
pub use rows::RowLayout;

/// What an optimizer reports after a step (for logs and progress bars).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OptimStats {
    /// Fraction of prunable rows that are exactly zero (None for dense optimizers).
    pub group_sparsity: Option<f64>,
    /// Number of zero rows and the target number.
    pub zero_rows: Option<usize>,
    pub target_zero_rows: Option<usize>,
    /// With a FLOPs target (`target_flops`): the share of the full model's MACs that the
    /// non-zero rows keep, and the requested share. The row count then has no target of its own
    /// (`target_zero_rows` is None): rows are zeroed until the MACs are within the target.
    pub macs_kept: Option<f64>,
    pub target_macs: Option<f64>,
    /// Σ‖x_g‖ over penalised rows (G_p) and over the others (G_np).
    pub omega_p: Option<f64>,
    pub omega_np: Option<f64>,
    /// Mean / max λ of the last step's adaptive push.
    pub lambda_mean: Option<f64>,
    pub lambda_max: Option<f64>,
    /// Stage name (e.g. "dense", "pruning", "after_target").
    pub stage: Option<String>,
    /// Rows zeroed by the half-space projection in the last step (per step, not logged per epoch).
    #[serde(skip)]
    pub projected_rows: Option<usize>,
    /// Event of the last step (partition, exact-mode pruning deadline), for the log.
    #[serde(skip)]
    pub event: Option<String>,
}

pub trait Optimizer {
    /// One update from the current gradients.
    fn step(&mut self) -> Result<(), crate::OptimError>;
    fn lr(&self) -> f64;
    fn set_lr(&mut self, lr: f64);
    fn stats(&self) -> OptimStats;
    /// Named state tensors (momentum buffers, moments, step counters, masks) for checkpoints.
    fn state(&self) -> Vec<(String, Tensor)>;
    fn load_state(&mut self, state: &[(String, Tensor)]) -> Result<(), crate::OptimError>;
}
