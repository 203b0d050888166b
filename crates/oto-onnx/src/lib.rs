//! ONNX I/O for oto: the protobuf types (`pb`, generated from the ONNX project's `onnx.proto`),
//! loading from bytes or files (with external data), atomic saving, and small helpers to read
//! and build tensors and attributes. Nothing here knows about pruning.

pub mod attr;
pub mod error;
pub mod io;
pub mod tensor;

/// The ONNX protobuf messages (package `onnx`).
pub mod pb {
    #![allow(clippy::all, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/onnx.rs"));
}

pub use error::OnnxError;
/// The buffer type of `TensorProto::raw_data` (shared, cheap to clone).
pub use prost::bytes::Bytes;
pub use io::{check_free_space, free_bytes, decode_model, decode_model_shared, encode_model, load_model, remove_stale_temporaries, save_model, temporary_path, write_atomic, write_atomic_unsynced};
pub use pb::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, ValueInfoProto,
};
