//! Errors of the ONNX layer. Each message names the problem and what the user can do.
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum OnnxError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}: it needs {} MB but its disk has {} MB free; free some space or write to another disk", need.div_ceil(1 << 20), free >> 20)]
    NoSpace { path: PathBuf, need: u64, free: u64 },
    #[error("{what} is empty: expected an ONNX model (a protobuf ModelProto)")]
    Empty { what: String },
    #[error("{what} is not a valid ONNX model: protobuf decoding failed ({reason}); the file may be truncated or not ONNX at all")]
    Decode { what: String, reason: String },
    #[error("{what} decodes as protobuf but holds no graph: is it really an ONNX model?")]
    NoGraph { what: String },
    #[error("tensor '{tensor}' stores its data in external file '{file}', which cannot be read ({reason}); keep the .data file next to the model")]
    ExternalData { tensor: String, file: String, reason: String },
    #[error("tensor '{tensor}': {reason}")]
    Tensor { tensor: String, reason: String },
    #[error("node '{node}' ({op}): attribute '{attr}': {reason}")]
    Attribute { node: String, op: String, attr: String, reason: String },
}
