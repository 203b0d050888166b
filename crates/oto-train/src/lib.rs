//! oto-train: the training side of oto, on libtorch through `tch` 0.24.0 (↔ PyTorch 2.11.0).
//! See README.md for set-up (how libtorch is found) and the datasets API.
//!
//! This crate runs training ([`train`]: the pipeline, its configuration, reports, metrics and
//! checkpoints); the parts it runs live in their own crates and are re-exported here under their
//! old paths: [`datasets`] (oto-data), [`exec`] (oto-exec: the ONNX executor) and [`optim`]
//! (oto-optim: SGD/Adam/AdamW, DHSPG, HESSO).
pub mod dist;
pub mod error;
pub mod train;

pub use error::TrainError;
pub use oto_data as datasets;
pub use oto_exec as exec;
pub use oto_optim as optim;

pub use tch;
