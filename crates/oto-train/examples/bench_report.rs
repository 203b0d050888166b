//! Collects the benchmark campaign (`scripts/bench_oto.sh`) into a Markdown table and one
//! dense-vs-oto picture per experiment.
//!
//!     cargo run --release -p oto-train --example bench_report -- RUNS_DIR OUT_DIR
//!
//! RUNS_DIR holds one folder per experiment with `dense/` and `oto/` runs of `oto train` (each with
//! `summary.json` and `metrics.jsonl`), and optionally `scratch/`: the compressed architecture
//! re-initialised and trained dense with the same budget (`oto train … --reinit`), the control
//! that separates the cost of the smaller network from the cost of pruning it during training;
//! and optionally `hesso/`: the same target reached with HESSO instead of DHSPG (a second table).
//! Writes `OUT_DIR/results.md` and `OUT_DIR/<experiment>.png`.
use oto_train::train::metrics::{plot_comparison, read_jsonl};
use serde_json::Value;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn summary(dir: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).ok()?).ok()
}

fn f(v: &Value) -> Option<f64> {
    v.as_f64()
}

/// Top-1 (%) or PSNR (dB) of `full` / `compressed`.
fn headline(v: &Value) -> Option<f64> {
    f(&v["top1"]).or_else(|| f(&v["psnr"]))
}

fn opt(v: Option<f64>, prec: usize) -> String {
    v.map(|x| format!("{x:.prec$}")).unwrap_or_else(|| "—".into())
}

/// Test sets of the extra evaluations in a run folder (`eval_<SET>_compressed.json`).
fn extra_sets(dir: &Path) -> Vec<String> {
    let mut sets: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().to_string();
            n.strip_prefix("eval_").and_then(|r| r.strip_suffix("_compressed.json")).map(str::to_string)
        })
        .collect();
    sets.sort();
    sets
}

/// Top-1 / PSNR of a run's `which` model (`full`, `compressed`) on an extra test set, if evaluated.
fn extra_eval(e: &Path, sub: &str, set: &str, which: &str) -> Option<f64> {
    let v: Value = serde_json::from_str(&std::fs::read_to_string(e.join(sub).join(format!("eval_{set}_{which}.json"))).ok()?).ok()?;
    headline(&v)
}

/// The second table: DHSPG and HESSO at the same target, for experiments with a `hesso/` run.
fn hesso_table(exps: &[PathBuf], md: &mut String) {
    let with: Vec<&PathBuf> = exps.iter().filter(|e| e.join("hesso/summary.json").exists()).collect();
    if with.is_empty() {
        return;
    }
    md.push_str(
        "\n| experiment | dense | DHSPG compressed | HESSO compressed | HESSO Δ vs dense | HESSO − DHSPG | FLOPs kept DHSPG / HESSO | params kept DHSPG / HESSO | step ms HESSO (vs dense) | max rel. diff |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for e in with {
        let name = e.file_name().unwrap().to_string_lossy().to_string();
        let (d, o, h) = (summary(&e.join("dense")), summary(&e.join("oto")), summary(&e.join("hesso")));
        let get = |v: &Option<Value>, k: &str| v.as_ref().and_then(|v| headline(&v[k]));
        let ratio = |v: &Option<Value>, a: &str, b: &str| v.as_ref().and_then(|v| Some(100.0 * f(&v[a])? / f(&v[b])?));
        let step = |v: &Option<Value>| v.as_ref().and_then(|v| f(&v["step_ms"]));
        let row = |label: String, dense: Option<f64>, dh: Option<f64>, he: Option<f64>, rest: String, md: &mut String| {
            let diff = |a: Option<f64>, b: Option<f64>| match (a, b) {
                (Some(a), Some(b)) => format!("{:+.2}", b - a),
                _ => "—".into(),
            };
            let _ = writeln!(md, "| {label} | {} | {} | {} | {} | {} | {rest}", opt(dense, 2), opt(dh, 2), opt(he, 2), diff(dense, he), diff(dh, he));
        };
        let rest = format!(
            "{}% / {}% | {}% / {}% | {} | {} |",
            opt(ratio(&o, "macs_after", "macs_before"), 1),
            opt(ratio(&h, "macs_after", "macs_before"), 1),
            opt(ratio(&o, "params_after", "params_before"), 1),
            opt(ratio(&h, "params_after", "params_before"), 1),
            match (step(&d), step(&h)) {
                (Some(a), Some(b)) => format!("{b:.0} ({:+.1}%)", 100.0 * (b / a - 1.0)),
                _ => "—".into(),
            },
            h.as_ref().and_then(|h| f(&h["verify_max_rel_diff"])).map(|x| format!("{x:.1e}")).unwrap_or_else(|| "—".into()),
        );
        row(name.clone(), get(&d, "full"), get(&o, "compressed"), get(&h, "compressed"), rest, md);
        for set in extra_sets(&e.join("hesso")) {
            let ev = |sub: &str, which: &str| extra_eval(e, sub, &set, which);
            row(format!("{name} on {set}"), ev("dense", "full"), ev("oto", "compressed"), ev("hesso", "compressed"), " | | | |".into(), md);
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [runs, out] = args.as_slice() else {
        return Err("usage: bench_report RUNS_DIR OUT_DIR".into());
    };
    let (runs, out) = (PathBuf::from(runs), PathBuf::from(out));
    std::fs::create_dir_all(&out)?;
    let mut exps: Vec<PathBuf> = std::fs::read_dir(&runs)?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.join("dense/summary.json").exists() || p.join("oto/summary.json").exists())
        .collect();
    exps.sort();
    let mut md = String::from(
        "| experiment | target | achieved s | dense | oto full | oto compressed | Δ vs dense | scratch | FLOPs kept | params kept | latency dense → oto (ms) | step ms dense / oto (overhead) | max rel. diff |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for e in &exps {
        let name = e.file_name().unwrap().to_string_lossy().to_string();
        let (d, o) = (summary(&e.join("dense")), summary(&e.join("oto")));
        let dense = d.as_ref().and_then(|d| headline(&d["full"]));
        let scratch = summary(&e.join("scratch")).as_ref().and_then(|s| headline(&s["full"]));
        let full = o.as_ref().and_then(|o| headline(&o["full"]));
        let comp = o.as_ref().and_then(|o| headline(&o["compressed"]));
        let ratio = |a: &str, b: &str| {
            let o = o.as_ref()?;
            Some(100.0 * f(&o[a])? / f(&o[b])?)
        };
        let step_d = d.as_ref().and_then(|d| f(&d["step_ms"]));
        let step_o = o.as_ref().and_then(|o| f(&o["step_ms"]));
        let overhead = match (step_d, step_o) {
            (Some(a), Some(b)) => format!("{a:.0} / {b:.0} ({:+.1}%)", 100.0 * (b / a - 1.0)),
            _ => "—".into(),
        };
        let lat = format!(
            "{} → {}",
            opt(d.as_ref().and_then(|d| f(&d["latency_ms_before"])), 2),
            opt(o.as_ref().and_then(|o| f(&o["latency_ms_after"])), 2)
        );
        let _ = writeln!(
            md,
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {}% | {}% | {lat} | {overhead} | {} |",
            match o.as_ref().map(|o| (f(&o["target_sparsity"]), f(&o["target_flops"]))) {
                Some((_, Some(fl))) => format!("FLOPs {:.1}%", 100.0 * fl),
                Some((Some(s), _)) => format!("s {s:.2}"),
                _ => "—".into(),
            },
            opt(o.as_ref().and_then(|o| f(&o["group_sparsity"])), 3),
            opt(dense, 2),
            opt(full, 2),
            opt(comp, 2),
            match (dense, comp) {
                (Some(a), Some(b)) => format!("{:+.2}", b - a),
                _ => "—".into(),
            },
            opt(scratch, 2),
            opt(ratio("macs_after", "macs_before"), 1),
            opt(ratio("params_after", "params_before"), 1),
            o.as_ref().and_then(|o| f(&o["verify_max_rel_diff"])).map(|x| format!("{x:.1e}")).unwrap_or_else(|| "—".into()),
        );
        // extra test sets evaluated with `oto eval` (eval_<SET>_{full,compressed}.json)
        for set in extra_sets(&e.join("oto")) {
            let ev = |sub: &str, which: &str| extra_eval(e, sub, &set, which);
            let (a, b, c) = (ev("dense", "full"), ev("oto", "full"), ev("oto", "compressed"));
            let sc = ev("scratch", "full");
            let delta = match (a, c) {
                (Some(a), Some(c)) => format!("{:+.2}", c - a),
                _ => "—".into(),
            };
            let _ = writeln!(md, "| {name} on {set} | | | {} | {} | {} | {delta} | {} | | | | | |", opt(a, 2), opt(b, 2), opt(c, 2), opt(sc, 2));
        }
        let hist = |sub: &str| read_jsonl(&e.join(sub).join("metrics.jsonl")).unwrap_or_default();
        let title = o.as_ref().or(d.as_ref()).map(|v| format!("{name}: {} on {}", v["model"].as_str().unwrap_or(""), v["dataset"].as_str().unwrap_or(""))).unwrap_or(name.clone());
        plot_comparison(&out.join(format!("{name}.png")), &title, &hist("dense"), &hist("oto"))?;
    }
    hesso_table(&exps, &mut md);
    let p = out.join("results.md");
    std::fs::write(&p, &md)?;
    print!("{md}");
    eprintln!("wrote {} and {} pictures", p.display(), exps.len());
    Ok(())
}
