//! `oto compress MODEL.onnx -o SMALL.onnx`: remove the exactly-zero prunable rows (after DHSPG
//! training), write the compressed model atomically, then prove it: run the full model and the
//! compressed one with tract on seeded random inputs and compare (docs/compress.md).
//!
//! The shared pipeline ([`write_and_verify`], [`Report`]) is also used by `oto prune`.
use anyhow::{bail, Context, Result};
use oto_graph::compress::{CompressOptions, Compressed};
use oto_onnx::pb::ModelProto;
use oto_onnx::OnnxError;
use oto_graph::{zig, Graph};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The trained ONNX model (rows driven to exactly zero, e.g. by DHSPG)
    pub model: PathBuf,
    /// Where to write the compressed model
    #[arg(short, long, value_name = "SMALL.onnx")]
    pub output: PathBuf,
    #[command(flatten)]
    pub common: Common,
}

/// Options shared by `oto compress` and `oto prune`.
#[derive(clap::Args, Debug, Clone)]
pub struct Common {
    /// Write the manifest (kept indices per sliced tensor; docs/manifest-schema.md)
    #[arg(long, value_name = "M.json")]
    pub manifest: Option<PathBuf>,
    /// Write the report (params, MACs, latency, removed rows) as JSON
    #[arg(long, value_name = "R.json")]
    pub report: Option<PathBuf>,
    /// Skip the runtime proof (full vs compressed in tract)
    #[arg(long)]
    pub no_verify: bool,
    /// Largest accepted relative difference max|Δ| / max|y_full|
    #[arg(long, default_value_t = 1e-4, value_name = "T", allow_negative_numbers = true)]
    pub tolerance: f32,
    /// Runs per model for the median latency (0 = skip timing)
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub latency_runs: usize,
    /// Print only errors and the final line
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(a: Args) -> Result<()> {
    let g = load(&a.model)?;
    let an = zig::analyze(&g);
    prove_and_write(&g, &an, &a.model, &a.output, &a.common, None, |_| {})
}

/// Loads and shape-infers a model with an error that says what to do.
pub fn load(path: &Path) -> Result<Graph> {
    if !path.exists() {
        bail!("model file '{}' does not exist", path.display());
    }
    let model = oto_onnx::load_model(path).map_err(|e| {
        // the exporter hint only where the bytes are not an ONNX model at all
        let hint = matches!(e, OnnxError::Empty { .. } | OnnxError::Decode { .. } | OnnxError::NoGraph { .. });
        anyhow::Error::new(e).context(format!(
            "cannot load '{}' as an ONNX model{}",
            path.display(),
            if hint { " (is it a .onnx file written by an ONNX exporter?)" } else { "" }
        ))
    })?;
    Graph::from_model(model).with_context(|| format!("'{}': the graph is malformed; fix or re-export the model", path.display()))
}

/// Removes the files it holds unless disarmed (no half-written results on failure).
struct Cleanup(Vec<PathBuf>);
impl Drop for Cleanup {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// The report of one compression, printed as a table and written as JSON.
pub struct Report {
    pub json: Value,
    layers: Vec<(String, String, u64, u64, u64, u64)>,
}

fn node_params(g: &Graph, n: usize) -> u64 {
    g.nodes[n]
        .inputs
        .iter()
        .flatten()
        .filter(|&&v| g.value(v).is_initializer)
        .filter_map(|&v| g.init(v))
        .map(|t| oto_onnx::tensor::numel(&t.dims) as u64)
        .sum()
}

impl Report {
    pub fn new(input: &Path, output: &Path, full: &Graph, an: &zig::Analysis, c: &Compressed) -> Report {
        let small = &c.graph;
        let mut layers = vec![];
        for (i, n) in full.nodes.iter().enumerate() {
            let (pb, pa) = (node_params(full, i), node_params(small, i));
            let (mb, ma) = (oto_graph::flops::node_macs(full, i), oto_graph::flops::node_macs(small, i));
            if pb + mb > 0 {
                layers.push((n.name.clone(), n.op_type.clone(), pb, pa, mb, ma));
            }
        }
        let m = &c.manifest;
        let json = json!({
            "schema_version": 1,
            "input": input.display().to_string(),
            "output": output.display().to_string(),
            "rows": { "total": an.rows.len(), "prunable": an.prunable_rows(), "removed": c.removed_rows.len() },
            "params": { "before": m.params_before, "after": m.params_after },
            "macs": { "before": m.macs_before, "after": m.macs_after },
            "layers": layers.iter().map(|(n, op, pb, pa, mb, ma)| json!({
                "node": n, "op": op, "params_before": pb, "params_after": pa, "macs_before": mb, "macs_after": ma
            })).collect::<Vec<_>>(),
            "groups": m.groups,
            "warnings": c.warnings,
            "verify": Value::Null,
            "latency_ms": Value::Null,
        });
        Report { json, layers }
    }

    pub fn print(&self) {
        println!("{:<40} {:<14} {:>12} {:>12} {:>14} {:>14}", "layer", "op", "params", "params'", "MACs", "MACs'");
        for (n, op, pb, pa, mb, ma) in &self.layers {
            let mark = if pa != pb || ma != mb { "*" } else { " " };
            println!("{:<40} {:<14} {:>12} {:>12} {:>14} {:>14}{mark}", trunc(n, 40), op, pb, pa, mb, ma);
        }
        let j = &self.json;
        let pct = |a: &Value, b: &Value| {
            let (a, b) = (a.as_f64().unwrap_or(0.0), b.as_f64().unwrap_or(0.0));
            if a > 0.0 { 100.0 * (1.0 - b / a) } else { 0.0 }
        };
        println!(
            "{:<40} {:<14} {:>12} {:>12} {:>14} {:>14}",
            "TOTAL", "", j["params"]["before"], j["params"]["after"], j["macs"]["before"], j["macs"]["after"]
        );
        println!(
            "params -{:.1}%, MACs -{:.1}%; rows removed {} of {} prunable ({} total) in {} group(s)",
            pct(&j["params"]["before"], &j["params"]["after"]),
            pct(&j["macs"]["before"], &j["macs"]["after"]),
            j["rows"]["removed"],
            j["rows"]["prunable"],
            j["rows"]["total"],
            j["groups"].as_array().map(|a| a.len()).unwrap_or(0)
        );
        if let Some(groups) = j["groups"].as_array() {
            for gr in groups.iter().take(30) {
                println!(
                    "  group {:>4}: removed {:>4} of {:>4} rows  [{}]",
                    gr["group"],
                    gr["removed_rows"].as_array().map(|a| a.len()).unwrap_or(0),
                    gr["rows"],
                    gr["sources"].as_array().and_then(|s| s.first()).and_then(|s| s.as_str()).unwrap_or("")
                );
            }
            if groups.len() > 30 {
                println!("  ... {} more groups (see --report)", groups.len() - 30);
            }
        }
    }
}

fn trunc(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("…{}", s.chars().rev().take(n - 1).collect::<Vec<_>>().into_iter().rev().collect::<String>())
    }
}

/// The venv Python (for the optional onnxruntime timing), if present.
fn python() -> Option<PathBuf> {
    let p = std::env::var_os("OTO_PYTHON").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(".venv/bin/python"));
    p.exists().then_some(p)
}

/// The onnxruntime timing script (a file in the repo, embedded at build time).
const ORT_TIMING: &str = include_str!("../../py/ort_latency.py");

fn ort_latency(full: &Path, small: &Path, runs: usize) -> Option<Value> {
    let py = python()?;
    let out = std::process::Command::new(py).arg("-c").arg(ORT_TIMING).arg(full).arg(small).arg(runs.to_string()).output().ok()?;
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

fn write_text(path: &Path, text: &str, what: &str) -> Result<()> {
    oto_onnx::write_atomic(path, text.as_bytes()).with_context(|| format!("cannot write the {what} to '{}'", path.display()))
}

/// Median latency (batch 1) of the full and compressed models in tract, and in onnxruntime
/// when the venv Python is there (`full_path`: the full model on disk, if written).
fn latency(full_model: &ModelProto, small: &ModelProto, output: &Path, full_path: Option<&Path>, runs: usize) -> Result<Value> {
    let tf = oto_verify::median_latency(full_model, 1, runs).context("timing the full model in tract")?;
    let ts = oto_verify::median_latency(small, 1, runs).context("timing the compressed model in tract")?;
    let mut lat = json!({
        "batch": 1, "runs": runs,
        "tract_full": tf.as_secs_f64() * 1e3, "tract_compressed": ts.as_secs_f64() * 1e3,
    });
    let tmp;
    let fp = match full_path {
        Some(p) => Some(p.to_path_buf()),
        None => {
            tmp = tempfile::tempdir().ok();
            tmp.as_ref().and_then(|d| {
                let p = d.path().join("full.onnx");
                oto_onnx::save_model(full_model, &p).ok().map(|_| p)
            })
        }
    };
    if let Some(ort) = fp.and_then(|fp| ort_latency(&fp, output, runs)) {
        lat["onnxruntime_full"] = ort["full"].clone();
        lat["onnxruntime_compressed"] = ort["compressed"].clone();
    }
    Ok(lat)
}

/// The file a path names (symlinks and `..` resolved), also for a file not yet written.
fn resolved(p: &Path) -> PathBuf {
    if let Ok(c) = p.canonicalize() {
        return c;
    }
    let parent = p.parent().filter(|q| !q.as_os_str().is_empty()).unwrap_or(Path::new("."));
    parent.canonicalize().unwrap_or_else(|_| parent.to_path_buf()).join(p.file_name().unwrap_or_default())
}

/// No output overwrites the input or another output.
fn refuse_overwrites(input: &Path, output: &Path, masked: Option<&Path>, o: &Common) -> Result<()> {
    let mut outs: Vec<(&str, &Path)> = vec![("-o", output)];
    outs.extend(masked.map(|m| ("--masked", m)));
    outs.extend(o.manifest.as_deref().map(|m| ("--manifest", m)));
    outs.extend(o.report.as_deref().map(|r| ("--report", r)));
    let inp = resolved(input);
    for (i, (flag, p)) in outs.iter().enumerate() {
        let r = resolved(p);
        if r == inp {
            bail!("{flag} {} is the input model: oto never overwrites its input; write to another file", p.display());
        }
        if let Some((other, _)) = outs[..i].iter().find(|(_, q)| resolved(q) == r) {
            bail!("{flag} and {other} both name {}; give each output its own file", p.display());
        }
    }
    Ok(())
}

/// Constructs the compressed model of `full` and proves it ([`oto_verify::prove`]: the
/// structural check always, the numeric proof unless `--no-verify`), then writes it and the
/// manifest/report atomically; `masked`: also writes the full model (in the inference form it
/// was compared in) there. `extend` adds to the report. On any failure nothing is left written.
pub fn prove_and_write(
    full: &Graph,
    an: &zig::Analysis,
    input: &Path,
    output: &Path,
    o: &Common,
    masked: Option<&Path>,
    extend: impl FnOnce(&mut Report),
) -> Result<()> {
    refuse_overwrites(input, output, masked, o)?;
    let popts = oto_verify::ProveOptions { numeric: !o.no_verify, tolerance: o.tolerance, batch: 2, seed: 0 };
    let proof = oto_verify::prove(full, an, &CompressOptions::default(), &popts)
        .with_context(|| format!("compressing {} (nothing was written)", input.display()))?;
    let mut report = Report::new(input, output, full, an, &proof.compressed);
    extend(&mut report);
    for w in &proof.compressed.warnings {
        eprintln!("warning: {w}");
    }
    if let Some(cmp) = &proof.comparison {
        let (abs, rel) = (cmp.max_abs(), cmp.max_rel());
        report.json["verify"] = json!({
            "engine": "tract", "batch": 2, "seed": 0, "input_shapes": cmp.input_shapes,
            "max_abs": abs, "max_rel": rel, "tolerance": o.tolerance, "passed": true,
        });
        println!("verify (tract, batch 2): max |Δ| = {abs:.3e}, relative = {rel:.3e} (tolerance {:e})", o.tolerance);
    }
    let mut guard = Cleanup(vec![]);
    let full_model = proof.reference.to_model();
    if let Some(mp) = masked {
        oto_onnx::save_model(&full_model, mp).with_context(|| format!("cannot write the masked model to '{}'", mp.display()))?;
        guard.0.push(mp.to_path_buf());
    }
    oto_onnx::save_model(&proof.model, output).with_context(|| format!("cannot write the compressed model to '{}'", output.display()))?;
    guard.0.push(output.to_path_buf());
    if o.latency_runs > 0 {
        // timing is information, not a check: a model tract cannot time is still written
        match latency(&full_model, &proof.model, output, masked, o.latency_runs) {
            Ok(l) => report.json["latency_ms"] = l,
            Err(e) => eprintln!("warning: latency not measured ({e:#}); --latency-runs 0 skips timing"),
        }
    }
    if let Some(m) = &o.manifest {
        write_text(m, &proof.compressed.manifest.to_json(), "manifest")?;
        guard.0.push(m.clone());
    }
    if let Some(r) = &o.report {
        write_text(r, &serde_json::to_string_pretty(&report.json)?, "report")?;
        guard.0.push(r.clone());
    }
    if !o.quiet {
        report.print();
        if let Some(l) = report.json["latency_ms"].as_object() {
            let f = |k: &str| l.get(k).and_then(|v| v.as_f64()).map(|v| format!("{v:.2} ms")).unwrap_or("-".into());
            println!(
                "latency (median, batch 1): tract {} -> {}; onnxruntime {} -> {}",
                f("tract_full"),
                f("tract_compressed"),
                f("onnxruntime_full"),
                f("onnxruntime_compressed")
            );
        }
    }
    guard.0.clear();
    println!("wrote {}", output.display());
    Ok(())
}
