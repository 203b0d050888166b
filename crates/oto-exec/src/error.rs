//! Errors of the executor. Messages name the node and op involved and what to do; `oto-train`
//! converts each variant into the `TrainError` variant of the same name.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    #[error("node '{node}': operator {op} is not supported by the training engine; supported ops are listed in docs/training-engine.md")]
    UnsupportedOp { op: String, node: String },
    #[error("node '{node}' ({op}): {reason}")]
    Op { node: String, op: String, reason: String },
    /// Named tensors that do not fit the graph ([`crate::Executor::load_named_tensors`]).
    #[error("checkpoint {path}: {reason}")]
    Checkpoint { path: String, reason: String },
    #[error("configuration: {0}")]
    Config(String),
}
