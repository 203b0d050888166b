//! The libtorch-free demo (`oto` with no arguments when the `oto-train` binary is not installed
//! next to it, e.g. a `--no-default-features` build): analyse the built-in `fmnist_resnet`, prune
//! it one-shot to 50% by magnitude and build the compressed model. With `oto-train` present, `oto`
//! with no arguments runs the DHSPG pipeline demo instead (`train_demo.rs`).
use anyhow::{Context, Result};
use oto_graph::compress::{self, CompressOptions, Criterion, Removal};
use oto_graph::zig::{self, report::Report};
use oto_graph::Graph;
use super::analyze::out;

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
