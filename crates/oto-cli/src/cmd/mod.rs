//! One module per subcommand.
pub mod analyze;
pub mod compress;
pub mod demo;
pub mod prune;
pub mod zoo;
