//! The end of a run: for pruning runs the compressed model, manifest, verification, accuracy of
//! both models on the test set, sizes and latency, the group picture and `report.md`; for dense
//! runs a short `report.md`.
use std::fmt::Write as _;
use std::path::Path;
use tch::Device;

use super::config::TrainConfig;
use super::data::RunData;
use super::progress::Progress;
use super::trainer::{evaluate, EvalResult};
use super::RunSummary;
use crate::exec::Executor;
use crate::TrainError;
use oto_graph::zig::Analysis;
use oto_graph::Graph;

fn io_err(path: &Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::Io { path: path.display().to_string(), source: std::io::Error::other(e.to_string()) }
}

fn human(n: u64) -> String {
    match n {
        n if n >= 1_000_000_000 => format!("{:.2} G", n as f64 / 1e9),
        n if n >= 1_000_000 => format!("{:.2} M", n as f64 / 1e6),
        n if n >= 1_000 => format!("{:.1} k", n as f64 / 1e3),
        n => n.to_string(),
    }
}

fn metric_name(e: &EvalResult) -> &'static str {
    if e.top1.is_some() {
        "test top-1 (%)"
    } else {
        "test PSNR (dB, Y)"
    }
}

fn history_table(s: &RunSummary) -> String {
    // a FLOPs target is followed in MACs (the row count then has no target of its own)
    let macs = s.history.iter().any(|r| r.optim.macs_kept.is_some());
    let (head, rule) = if macs { (" MACs kept / target |", "---|") } else { ("", "") };
    let mut t = format!("| epoch | lr | train loss | test | group sparsity | zero rows / target |{head} stage |\n|---|---|---|---|---|---|{rule}---|\n");
    for r in &s.history {
        let o = &r.optim;
        let rows = match (o.zero_rows, o.target_zero_rows) {
            (Some(z), Some(t)) => format!("{z} / {t}"),
            (Some(z), None) => z.to_string(),
            _ => String::new(),
        };
        let macs_cell = match (macs, o.macs_kept, o.target_macs) {
            (false, _, _) => String::new(),
            (true, Some(k), Some(g)) => format!(" {:.1}% / {:.1}% |", 100.0 * k, 100.0 * g),
            (true, _, _) => " |".into(),
        };
        let _ = writeln!(
            t,
            "| {} | {:.3e} | {:.4} | {} | {} | {rows} |{macs_cell} {} |",
            r.epoch,
            r.lr,
            r.train_loss,
            r.headline().map(|v| format!("{v:.2}")).unwrap_or_default(),
            o.group_sparsity.map(|v| format!("{v:.3}")).unwrap_or_default(),
            o.stage.clone().unwrap_or_default()
        );
    }
    t
}

/// Median latency of `g` in tract (batch 1, 20 runs), in ms; `None` if tract cannot run it.
pub fn latency_ms(g: &Graph) -> Option<f64> {
    oto_verify::median_latency(&g.to_model(), 1, 20).ok().map(|d| d.as_secs_f64() * 1e3)
}

/// `summary.json`: the run's headline numbers, machine-readable (the benchmark campaign,
/// `scripts/bench_oto.sh`, collects these). Keys are documented in docs/training.md.
pub fn write_summary_json(cfg: &TrainConfig, s: &mut RunSummary) -> Result<(), TrainError> {
    let steps = s.history.last().map(|r| r.step).unwrap_or(0);
    let v = serde_json::json!({
        "model": cfg.model,
        "dataset": cfg.dataset.name(),
        "epochs": s.epochs,
        "steps": steps,
        "batch_size": cfg.batch_size,
        "target_sparsity": cfg.dhspg.target_sparsity,
        "target_flops": cfg.dhspg.target_flops,
        "prune_rows": cfg.dhspg.prune_rows,
        "pruner": cfg.pruning().then(|| cfg.pruner.name()),
        "init": if cfg.reinit || cfg.model.starts_with("zoo:") { "random" } else { "keep" },
        "normalize": super::data::normalization(cfg).map(|n| serde_json::json!({"mean": n.mean, "std": n.std})),
        "rehead": cfg.rehead,
        "test_samples": s.full.samples,
        "train_seconds": s.train_seconds,
        "step_ms": if steps > 0 { s.train_seconds * 1e3 / steps as f64 } else { f64::NAN },
        "full": s.full,
        "compressed": s.compressed,
        "params_before": s.params_before,
        "params_after": s.params_after,
        "macs_before": s.macs_before,
        "macs_after": s.macs_after,
        "latency_ms_before": s.latency_ms_before,
        "latency_ms_after": s.latency_ms_after,
        "group_sparsity": s.group_sparsity,
        "verify_max_rel_diff": s.verify_max_rel,
    });
    let p = s.out.join("summary.json");
    let text = serde_json::to_string_pretty(&v).map_err(|e| io_err(&p, e))?;
    oto_onnx::write_atomic(&p, text.as_bytes()).map_err(|e| io_err(&p, e))?;
    s.files.push(p);
    Ok(())
}

/// How the run started and what it was measured on: the weights (`--init`), the input
/// normalisation and the test images (a line for `report.md`).
pub fn setup_line(cfg: &TrainConfig, s: &RunSummary) -> String {
    let init = if cfg.model.starts_with("zoo:") {
        "fresh weights (zoo model)"
    } else if cfg.reinit {
        "fresh weights (--init random: PyTorch's defaults per layer type)"
    } else {
        "the file's weights (--init keep)"
    };
    let norm = super::data::normalization(cfg)
        .map(|n| format!("; inputs normalised as (x − mean) / std with mean {:?}, std {:?}", n.mean, n.std))
        .unwrap_or_default();
    let rehead = if cfg.rehead { "; --rehead: the last layer re-drawn for the dataset's classes when they differed" } else { "" };
    let test = if cfg.test_samples > 0 { " (an evenly spaced part of the test set, --test-samples)" } else { "" };
    let (unit, tokens) = match cfg.dataset {
        super::config::DatasetKind::Text => ("documents", format!("; documents as byte tokens, {} read per document", cfg.seq_len)),
        _ => ("images", String::new()),
    };
    format!("- started from {init}{norm}{tokens}{rehead}; test metrics on {} {unit}{test}", s.full.samples)
}

/// `report.md` of a dense run.
pub fn dense_report(cfg: &TrainConfig, s: &mut RunSummary) -> Result<(), TrainError> {
    let mut md = format!("# oto train: {} on {}\n\n", cfg.model, cfg.dataset.name());
    let _ = writeln!(md, "{}", setup_line(cfg, s));
    let _ = writeln!(md, "- {}: **{:.2}**", metric_name(&s.full), s.full.headline());
    let _ = writeln!(md, "- params {}, MACs {} per sample", human(s.params_before), human(s.macs_before));
    if let Some(l) = s.latency_ms_before {
        let _ = writeln!(md, "- latency (tract, batch 1, median of 20) {l:.3} ms");
    }
    let _ = writeln!(md, "- training time {:.1} s\n\n![curves](curves.png)\n\n{}", s.train_seconds, history_table(s));
    let p = s.out.join("report.md");
    oto_onnx::write_atomic(&p, md.as_bytes()).map_err(|e| io_err(&p, e))?;
    s.files.push(p);
    Ok(())
}

/// Compress, verify, measure and report (pruning runs).
pub fn pipeline_outputs(
    cfg: &TrainConfig,
    full: &Graph,
    analysis: &Analysis,
    data: &RunData,
    device: Device,
    s: &mut RunSummary,
    progress: &Progress,
) -> Result<(), TrainError> {
    let out = s.out.clone();
    let c = super::api::construct_from(full, analysis, &out, cfg.verify_tolerance)?;
    progress.line(&format!(
        "compressed: removed {} of {} prunable rows; params {} -> {}, MACs {} -> {}; verified (max rel. diff {:.2e})",
        c.removed_rows,
        c.prunable_rows,
        human(c.params_before),
        human(c.params_after),
        human(c.macs_before),
        human(c.macs_after),
        c.max_rel_diff
    ));
    for w in &c.warnings {
        progress.line(&format!("note: {w}"));
    }
    let cexec = Executor::new(&c.compressed, &[], device)?;
    let cev = evaluate(&cexec, data)?;
    progress.line(&format!("full model:       {}", s.full.describe()));
    progress.line(&format!("compressed model: {}", cev.describe()));
    let (lat_full, lat_comp) = (latency_ms(full), latency_ms(&c.compressed));
    let svg_path = out.join("groups.svg");
    oto_onnx::write_atomic(&svg_path, oto_graph::viz::svg(full, analysis).as_bytes()).map_err(|e| io_err(&svg_path, e))?;

    let target = cfg.target_description();
    let mut md = format!("# oto: {} on {} ({}, {target})\n\n", cfg.model, cfg.dataset.name(), cfg.pruner.name());
    let _ = writeln!(md, "{}\n", setup_line(cfg, s));
    let _ = writeln!(md, "| | full (trained) | compressed |\n|---|---|---|");
    let _ = writeln!(md, "| {} | {:.2} | {:.2} |", metric_name(&s.full), s.full.headline(), cev.headline());
    if let (Some(a), Some(b)) = (s.full.top5, cev.top5) {
        let _ = writeln!(md, "| test top-5 (%) | {a:.2} | {b:.2} |");
    }
    let _ = writeln!(md, "| test loss | {:.4} | {:.4} |", s.full.loss, cev.loss);
    let _ = writeln!(
        md,
        "| params | {} | {} ({:.1}%) |",
        human(c.params_before),
        human(c.params_after),
        100.0 * c.params_after as f64 / c.params_before.max(1) as f64
    );
    let _ = writeln!(
        md,
        "| MACs / sample | {} | {} ({:.1}%) |",
        human(c.macs_before),
        human(c.macs_after),
        100.0 * c.macs_after as f64 / c.macs_before.max(1) as f64
    );
    let f = |v: Option<f64>| v.map(|v| format!("{v:.3} ms")).unwrap_or_else(|| "n/a".into());
    let _ = writeln!(md, "| latency (tract, batch 1, median of 20) | {} | {} |", f(lat_full), f(lat_comp));
    let _ = writeln!(
        md,
        "\nGroup sparsity: **{:.3}** ({} of {} prunable rows removed). Verification (tract, random inputs): max relative \
         output difference {:.2e} (tolerance {:.0e}).\n",
        c.group_sparsity(),
        c.removed_rows,
        c.prunable_rows,
        c.max_rel_diff,
        cfg.verify_tolerance
    );
    for w in &c.warnings {
        let _ = writeln!(md, "- note: {w}");
    }
    let _ = writeln!(
        md,
        "\nFiles: `full.onnx`, `compressed.onnx`, `manifest.json`, `metrics.jsonl`, `curves.png`, `groups.svg`, \
         `checkpoint.ot`, `config.toml`.\n\n## Curves\n\n![curves](curves.png)\n\n## Groups\n\n![groups](groups.svg)\n\n## Epochs\n\n{}\n\
         Training time {:.1} s.\n",
        history_table(s),
        s.train_seconds
    );
    let rp = out.join("report.md");
    oto_onnx::write_atomic(&rp, md.as_bytes()).map_err(|e| io_err(&rp, e))?;
    s.compressed = Some(cev);
    s.params_after = Some(c.params_after);
    s.macs_after = Some(c.macs_after);
    s.group_sparsity = Some(c.group_sparsity());
    s.verify_max_rel = Some(c.max_rel_diff);
    s.latency_ms_before = lat_full;
    s.latency_ms_after = lat_comp;
    s.files.extend([c.compressed_path, c.manifest_path, svg_path, rp]);
    Ok(())
}
