//! oto-train: the training side of oto, on libtorch through `tch` 0.24.0 (↔ PyTorch 2.11.0).
pub mod datasets;

pub use tch;
