//! The main job on built-in defaults (`oto` with no arguments).
//!
//! With feature `train` (the default): the whole OTOv2 pipeline on built-in defaults — DHSPG
//! training of the zoo's `fmnist_vgg` on the bundled Fashion-MNIST subset (6k/1k) to group
//! sparsity 0.5, then the compressed model, its verification and the report, in `runs/demo`
//! (see docs/training.md). Without it (`--no-default-features`, no libtorch): analyse the
//! built-in `fmnist_resnet`, prune it one-shot to 50% by magnitude and build the compressed model.

/// The demo's run configuration (also used by the tests and docs).
#[cfg(feature = "train")]
pub fn demo_config() -> oto_train::train::TrainConfig {
    let mut c = oto_train::train::TrainConfig {
        model: "zoo:fmnist_vgg".into(),
        epochs: 6,
        batch_size: 64,
        out: "runs/demo".into(),
        ..Default::default()
    };
    c.dhspg.target_sparsity = Some(0.5);
    c.dhspg.start_pruning_epoch = Some(1.0);
    c
}

#[cfg(feature = "train")]
pub fn run() -> Result<()> {
    let c = demo_config();
    println!(
        "oto: no arguments, so running the built-in demo: DHSPG training of {} on the bundled Fashion-MNIST subset \
         to group sparsity {}, then compression and verification (output in {}; `oto --help` lists all commands)\n",
        c.model,
        c.dhspg.target_sparsity.unwrap_or(0.0),
        c.out.display()
    );
    let s = oto_train::train::run(&c)?;
    super::train::print_summary(&s);
    println!("report: {}", c.out.join("report.md").display());
    Ok(())
}

#[cfg(not(feature = "train"))]
pub fn run() -> Result<()> {
    one_shot()
}

use anyhow::{Context, Result};
use oto_graph::compress::{self, CompressOptions, Criterion, Removal};
use oto_graph::zig::{self, report::Report};
use oto_graph::Graph;
use super::analyze::out;

#[allow(dead_code)]
pub fn one_shot() -> Result<()> {
    let name = "fmnist_resnet";
    out(&format!("oto demo: analyse, prune 50% by magnitude and compress the built-in '{name}' (see `oto --help` for all commands)\n\n"));
    let cfg = oto_zoo::ZooConfig { seed: 0, randomize_stats: true, ..Default::default() };
    let model = oto_zoo::build(name, &cfg).with_context(|| format!("building the zoo model '{name}'"))?;
    let g = Graph::from_model(model).with_context(|| format!("loading the zoo model '{name}'"))?;
    let a = zig::analyze(&g);
    let report = Report::new(&g, &a, name);
    out(&report.to_text());

    let (masked, sel) = compress::prune(&g, &a, 0.5, Criterion::Magnitude).context("selecting rows by magnitude")?;
    if let Some(note) = sel.adjustment() {
        out(&format!("note: {note}\n"));
    }
    let opts = CompressOptions { removal: Removal::Rows(sel.rows.iter().copied().collect()) };
    let c = compress::compress(&masked, &a, &opts).context("building the compressed model")?;
    for w in &c.warnings {
        out(&format!("warning: {w}\n"));
    }
    let (p0, p1) = (g.param_count(), c.graph.param_count());
    let (m0, m1) = (oto_graph::flops::macs(&g), oto_graph::flops::macs(&c.graph));
    out(&format!("\none-shot magnitude pruning, 50% of {} prunable channels:\n", sel.candidates));
    out(&format!("  removed channels  {} of {}\n", c.removed_rows.len(), sel.candidates));
    out(&format!("  params            {p0} -> {p1} ({:.1}%)\n", 100.0 * p1 as f64 / p0.max(1) as f64));
    out(&format!("  MACs              {m0} -> {m1} ({:.1}%)\n", 100.0 * m1 as f64 / m0.max(1) as f64));
    Ok(())
}
