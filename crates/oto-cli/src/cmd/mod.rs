//! One module per subcommand.
pub mod analyze;
pub mod compress;
pub mod demo;
#[cfg(feature = "train")]
pub mod eval;
pub mod prune;
#[cfg(feature = "train")]
pub mod train;
pub mod zoo;
