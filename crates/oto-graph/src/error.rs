//! Errors of the graph side. Messages name the node/value and tell the user what to do.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error(transparent)]
    Onnx(#[from] oto_onnx::OnnxError),
    #[error("the graph has a cycle through node '{node}' ({op}); ONNX graphs must be acyclic — re-export the model")]
    Cycle { node: String, op: String },
    #[error("node '{node}' ({op}) reads '{value}', which no node produces and which is neither a graph input nor an initializer (a missing initializer or a dangling edge); re-export the model with its weights")]
    Dangling { node: String, op: String, value: String },
    #[error("value '{value}' is produced twice (by '{first}' and '{second}'); ONNX requires single assignment")]
    DoubleAssign { value: String, first: String, second: String },
    #[error("node '{node}' ({op}): {reason}")]
    Shape { node: String, op: String, reason: String },
    #[error("node '{node}' ({op}, opset {opset}): attribute '{attr}' {reason}; fix or re-export the model")]
    Attr { node: String, op: String, attr: String, opset: i64, reason: String },
    #[error("graph input '{input}': {reason}")]
    Input { input: String, reason: String },
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = GraphError> = std::result::Result<T, E>;
