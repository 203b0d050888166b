//! `oto`: train once, get a smaller network with the same outputs (OTOv2 in Rust).
//! A thin CLI over the workspace crates; each subcommand lives in `cmd/<name>.rs`.
mod cmd;

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
    #[cfg(feature = "train")]
    Train(Box<cmd::train::Args>),
    /// Test-set metrics of an ONNX model (a run's full.onnx / compressed.onnx): top-1/top-5/loss or PSNR
    #[cfg(feature = "train")]
    Eval(cmd::eval::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Analyze(a)) => cmd::analyze::run(a),
        Some(Command::Zoo(z)) => cmd::zoo::run(z),
        Some(Command::Compress(a)) => cmd::compress::run(a),
        Some(Command::Prune(a)) => cmd::prune::run(a),
        #[cfg(feature = "train")]
        Some(Command::Train(a)) => cmd::train::run(*a),
        #[cfg(feature = "train")]
        Some(Command::Eval(a)) => cmd::eval::run(a),
        None => cmd::demo::run(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// `context: cause: cause`, skipping a cause whose text the previous message already contains
/// (errors that print their source themselves would otherwise repeat it).
fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    let mut prev = String::new();
    for c in e.chain() {
        let m = c.to_string();
        if !prev.is_empty() && prev.contains(&m) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&m);
        prev = m;
    }
    out
}
