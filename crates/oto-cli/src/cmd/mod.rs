//! One module per subcommand.
pub mod analyze;
pub mod compress;
pub mod demo;
pub mod prune;
#[cfg(feature = "train")]
pub mod train;
pub mod zoo;
