//! Errors of the training side. Messages name the problem and what to do.
//!
//! Errors of the executor ([`ExecError`]) and the optimizers ([`OptimError`]) convert variant by
//! variant into the variant of the same name here (same message), so callers match one enum.
use oto_exec::ExecError;
use oto_optim::OptimError;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Data(#[from] crate::datasets::DataError),
    #[error(transparent)]
    Graph(#[from] oto_graph::GraphError),
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    #[error("node '{node}': operator {op} is not supported by the training engine; supported ops are listed in docs/training-engine.md")]
    UnsupportedOp { op: String, node: String },
    #[error("node '{node}' ({op}): {reason}")]
    Op { node: String, op: String, reason: String },
    #[error("the loss became {value} at epoch {epoch}, step {step}; lower the learning rate (--lr) or check the data (the checkpoint in --out is from before it; --skip-nonfinite skips such steps)")]
    NonFiniteLoss { value: f64, epoch: usize, step: usize },
    #[error("the gradient of '{param}' became non-finite at epoch {epoch}, step {step} (the loss was {loss:.4e}); lower the learning rate (--lr) or clip the gradients (--grad-clip) (the checkpoint in --out is from before it; --skip-nonfinite skips such steps)")]
    NonFiniteGradient { param: String, loss: f64, epoch: usize, step: usize },
    #[error("checkpoint {path}: {reason}")]
    Checkpoint { path: String, reason: String },
    #[error("distributed training: {0}")]
    Distributed(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
}

impl From<ExecError> for TrainError {
    fn from(e: ExecError) -> Self {
        match e {
            ExecError::Torch(e) => TrainError::Torch(e),
            ExecError::UnsupportedOp { op, node } => TrainError::UnsupportedOp { op, node },
            ExecError::Op { node, op, reason } => TrainError::Op { node, op, reason },
            ExecError::Checkpoint { path, reason } => TrainError::Checkpoint { path, reason },
            ExecError::Config(m) => TrainError::Config(m),
        }
    }
}

impl From<OptimError> for TrainError {
    fn from(e: OptimError) -> Self {
        match e {
            OptimError::Torch(e) => TrainError::Torch(e),
            OptimError::Checkpoint { path, reason } => TrainError::Checkpoint { path, reason },
            OptimError::Config(m) => TrainError::Config(m),
        }
    }
}
