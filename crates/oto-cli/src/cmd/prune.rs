//! `oto prune MODEL.onnx --sparsity S --criterion magnitude|random -o SMALL.onnx`: one-shot
//! pruning. Zeroes `round(S · N)` of the `N` prunable rows (lowest L2 norm first, or a seeded
//! random order; never emptying a value), optionally writes that masked full model, then
//! compresses and verifies exactly like `oto compress`.
use super::compress::{load, prove_and_write, Common};
use anyhow::{bail, Context, Result};
use oto_graph::compress::{self, Criterion};
use oto_graph::zig;
use serde_json::json;
use std::path::PathBuf;

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Crit {
    /// Remove the rows with the smallest L2 norm (over all in-row slices)
    Magnitude,
    /// Remove a seeded random choice of rows
    Random,
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The ONNX model to prune
    pub model: PathBuf,
    /// Fraction of the prunable rows to remove, in [0, 1]
    #[arg(long, short)]
    pub sparsity: f64,
    /// How rows are chosen
    #[arg(long, value_enum, default_value = "magnitude")]
    pub criterion: Crit,
    /// Seed of the random criterion
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where to write the compressed model
    #[arg(short, long, value_name = "SMALL.onnx")]
    pub output: PathBuf,
    /// Also write the masked full model (chosen rows zeroed, nothing removed)
    #[arg(long, value_name = "FULL.onnx")]
    pub masked: Option<PathBuf>,
    #[command(flatten)]
    pub common: Common,
}

pub fn run(a: Args) -> Result<()> {
    if !(0.0..=1.0).contains(&a.sparsity) || a.sparsity.is_nan() {
        bail!("--sparsity must be in [0, 1], got {}", a.sparsity);
    }
    let g = load(&a.model)?;
    let an = zig::analyze(&g);
    let crit = match a.criterion {
        Crit::Magnitude => Criterion::Magnitude,
        Crit::Random => Criterion::Random { seed: a.seed },
    };
    let (masked, sel) = compress::prune(&g, &an, a.sparsity, crit).with_context(|| format!("pruning {}", a.model.display()))?;
    if let Some(note) = sel.adjustment() {
        eprintln!("note: {note}");
    }
    println!(
        "zeroed {} of {} prunable rows (sparsity {} of {} requested rows, criterion {:?})",
        sel.rows.len(),
        sel.candidates,
        a.sparsity,
        sel.requested,
        a.criterion
    );
    prove_and_write(&masked, &an, &a.model, &a.output, &a.common, a.masked.as_deref(), |report| {
        report.json["selection"] = json!({
            "criterion": format!("{:?}", a.criterion).to_lowercase(),
            "seed": a.seed,
            "sparsity": a.sparsity,
            "candidates": sel.candidates,
            "requested": sel.requested,
            "zeroed": sel.rows.len(),
            "skipped_to_avoid_empty": sel.skipped,
            "adjustment": sel.adjustment(),
        });
    })
}
