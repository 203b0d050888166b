//! oto-train: the training side of oto, on libtorch through `tch` 0.24.0 (↔ PyTorch 2.11.0).
//! See README.md for set-up (how libtorch is found) and the datasets API.
pub mod datasets;
pub mod error;
pub mod exec;
pub mod optim;
pub mod train;

pub use error::TrainError;

pub use tch;
