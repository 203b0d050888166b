//! `oto-train`: the libtorch half of the `oto` CLI. Users call it through `oto train`,
//! `oto eval` and `oto` with no arguments (see `cmd/forward.rs`); it can also be run directly.
mod cmd {
    pub mod eval;
    pub mod launch;
    pub mod train;
    pub mod train_demo;
}
mod error_chain;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "oto", bin_name = "oto", version, about = "Only-Train-Once v2 in Rust: training (libtorch) subcommands")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Train a network: dense baseline, or DHSPG + compression with --target-sparsity (docs/training.md)
    Train(Box<cmd::train::Args>),
    /// Test-set metrics of an ONNX model (a run's full.onnx / compressed.onnx): top-1/top-5/loss or PSNR
    Eval(cmd::eval::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Train(a)) => cmd::train::run(*a),
        Some(Command::Eval(a)) => cmd::eval::run(a),
        None => cmd::train_demo::run(),
    };
    error_chain::exit_code(result)
}
