//! Errors of the optimizers. `oto-train` converts each variant into the `TrainError` variant of
//! the same name.
#[derive(Debug, thiserror::Error)]
pub enum OptimError {
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    /// Saved optimizer state that does not fit the parameters (`Optimizer::load_state`).
    #[error("checkpoint {path}: {reason}")]
    Checkpoint { path: String, reason: String },
    #[error("configuration: {0}")]
    Config(String),
}
