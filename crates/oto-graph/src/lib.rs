//! oto's graph side, pure Rust (no libtorch): the IR every stage works on, shape inference,
//! and (in later modules) ZIG analysis, compressed-model construction and FLOPs counting.
//!
//! The IR ([`ir::Graph`]) is a thin indexed view over an ONNX graph: nodes in topological
//! order, values with shapes, producers and consumers, and initializers kept as their original
//! `TensorProto` so that saving is faithful.

pub mod error;
pub mod ir;
pub mod ops;
mod load;
pub mod validate;
mod save;
pub mod shape;
pub mod zig;
pub mod flops;
pub mod fold;
pub mod batch;
pub mod check;
pub mod compress;
pub mod viz;

pub use error::{GraphError, Result};
pub use ir::{Dim, Graph, Node, NodeId, Value, ValueId};
pub use ops::Op;
pub use save::value_info;
