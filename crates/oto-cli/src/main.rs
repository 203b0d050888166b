//! `oto`: train once, get a smaller network with the same outputs (OTOv2 in Rust).
//! A thin CLI over the workspace crates; each subcommand lives in `cmd/<name>.rs`.
//!
//! This binary is pure Rust (no libtorch), so `oto analyze | zoo | prune | compress` start
//! instantly and run anywhere. `oto train`, `oto eval` and `oto` with no arguments (the DHSPG
//! demo) run the libtorch half, the `oto-train` binary installed next to it (`cmd/forward.rs`).
mod cmd;
mod error_chain;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "oto", version, about = "Only-Train-Once v2 in Rust: ZIG analysis, DHSPG training and exact compression of ONNX networks")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Analyse an ONNX graph into zero-invariant groups (ZIGs)
    Analyze(cmd::analyze::Args),
    /// Built-in model zoo: list models or export one as ONNX
    #[command(subcommand)]
    Zoo(cmd::zoo::ZooCommand),
    /// Remove the exactly-zero prunable rows of a trained model (after DHSPG) and verify the result
    Compress(cmd::compress::Args),
    /// Zero a fraction of rows by a criterion (one-shot pruning), then compress and verify
    Prune(cmd::prune::Args),
    /// Train a network: dense baseline, or DHSPG + compression with --target-sparsity (docs/training.md)
    Train(cmd::forward::Args),
    /// Test-set metrics of an ONNX model (a run's full.onnx / compressed.onnx): top-1/top-5/loss or PSNR
    Eval(cmd::forward::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Analyze(a)) => cmd::analyze::run(a),
        Some(Command::Zoo(z)) => cmd::zoo::run(z),
        Some(Command::Compress(a)) => cmd::compress::run(a),
        Some(Command::Prune(a)) => cmd::prune::run(a),
        Some(Command::Train(a)) => cmd::forward::run(Some("train"), a),
        Some(Command::Eval(a)) => cmd::forward::run(Some("eval"), a),
        None => match cmd::forward::trainer_exe() {
            Some(exe) => cmd::forward::exec(&exe, None, &[]),
            None => cmd::demo::one_shot(),
        },
    };
    error_chain::exit_code(result)
}
