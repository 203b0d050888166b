//! One module per subcommand of `oto` (the libtorch-free binary). The training subcommands'
//! modules (`train.rs`, `eval.rs`, `train_demo.rs`) belong to `oto-train` (`src/train_main.rs`).
pub mod analyze;
pub mod compress;
pub mod demo;
pub mod forward;
pub mod prune;
pub mod zoo;
