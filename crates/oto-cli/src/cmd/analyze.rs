//! `oto analyze MODEL.onnx`: ZIG analysis with a human summary, and optionally a JSON report,
//! a DOT graph and an SVG picture (no system Graphviz needed).
use anyhow::{bail, Context, Result};
use oto_graph::zig::{self, report::Report, AnalyzeOptions};
use oto_graph::{Dim, Graph};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The ONNX model to analyse
    pub model: PathBuf,
    /// Write the JSON report (schema: docs/analysis-report-schema.md) to FILE ('-' = stdout)
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the graph as Graphviz DOT, nodes coloured by group
    #[arg(long, value_name = "FILE")]
    pub dot: Option<PathBuf>,
    /// Write the graph as SVG (built-in layout, nodes coloured by group)
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Override a graph input's shape, e.g. `input=1,3,32,32` (`N` or any name = symbolic dim); repeatable
    #[arg(long = "input-shape", value_name = "NAME=D0,D1,...")]
    pub input_shape: Vec<String>,
    /// Keep the channels of this node name, initializer name or op type (reason `user`); repeatable
    #[arg(long, value_name = "NAME")]
    pub keep: Vec<String>,
    /// Print only the JSON (no summary) when --json - is given
    #[arg(long, short)]
    pub quiet: bool,
}

/// Parses `NAME=1,3,32,32` (dims may be symbolic names).
pub fn parse_input_shape(s: &str) -> Result<(String, Vec<Dim>)> {
    let Some((name, dims)) = s.rsplit_once('=') else {
        bail!("--input-shape '{s}': expected NAME=D0,D1,... (e.g. input=1,3,32,32)");
    };
    if name.is_empty() {
        bail!("--input-shape '{s}': the input name is empty");
    }
    let dims = dims
        .split(',')
        .map(|d| {
            let d = d.trim();
            match d.parse::<i64>() {
                Ok(v) if v > 0 => Ok(Dim::Known(v)),
                Ok(v) => bail!("--input-shape '{s}': dimension {v} must be positive"),
                Err(_) if !d.is_empty() && d.chars().all(|c| c.is_alphanumeric() || c == '_') => Ok(Dim::Sym(d.into())),
                Err(_) => bail!("--input-shape '{s}': '{d}' is neither a positive integer nor a symbolic name"),
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((name.to_string(), dims))
}

/// Loads a model file into a graph with optional input-shape overrides.
pub fn load_graph(path: &Path, shapes: &[String]) -> Result<Graph> {
    let model = oto_onnx::load_model(path).with_context(|| format!("loading {}", path.display()))?;
    let mut g = Graph::from_model_unchecked(model)
        .with_context(|| format!("{}: the graph is malformed; fix or re-export the model", path.display()))?;
    for s in shapes {
        let (name, dims) = parse_input_shape(s)?;
        g.set_input_shape(&name, dims).with_context(|| {
            let names: Vec<&str> = g.inputs.iter().map(|&i| g.value(i).name.as_str()).collect();
            format!("--input-shape {s}: the model's inputs are {names:?}")
        })?;
    }
    g.infer_shapes()
        .with_context(|| format!("{}: shape inference failed; check the input shapes (--input-shape NAME=...)", path.display()))?;
    Ok(g)
}

/// Prints to stdout; a closed pipe (`oto analyze … | head`) is not an error, and never a panic.
pub fn out(text: &str) {
    use std::io::Write;
    let mut so = std::io::stdout().lock();
    let _ = so.write_all(text.as_bytes()).and_then(|_| so.flush());
}

fn write_out(path: &Path, text: &str, what: &str) -> Result<()> {
    if path.as_os_str() == "-" {
        out(text);
        out("\n");
        return Ok(());
    }
    // unsynced: analysis outputs are regenerated in a fraction of a second; an fsync of a
    // DenseNet-121 report alone would cost a third of the command's time
    oto_onnx::write_atomic_unsynced(path, text.as_bytes())
        .with_context(|| format!("writing the {what} to {}; check that the directory exists and is writable", path.display()))
}

pub fn run(a: Args) -> Result<()> {
    let t0 = Instant::now();
    let g = load_graph(&a.model, &a.input_shape)?;
    let t_load = t0.elapsed();
    let opts = AnalyzeOptions { keep: a.keep.clone() };
    for k in &opts.keep {
        let known = g.id(k).is_some() || g.nodes.iter().any(|n| n.name == *k || n.op_type == *k);
        if !known {
            bail!("--keep {k}: no node, initializer or op type of that name in {}", a.model.display());
        }
    }
    let t1 = Instant::now();
    let an = zig::analyze_with(&g, &opts);
    let t_an = t1.elapsed();
    let name = a.model.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let report = Report::new(&g, &an, &name);
    let json_stdout = a.json.as_deref().is_some_and(|p| p.as_os_str() == "-");
    if !(a.quiet && json_stdout) {
        out(&report.to_text());
        out(&format!("time       load {:.1} ms, analysis {:.1} ms\n", t_load.as_secs_f64() * 1e3, t_an.as_secs_f64() * 1e3));
    }
    if let Some(p) = &a.json {
        write_out(p, &report.to_json(), "JSON report")?;
    }
    if let Some(p) = &a.dot {
        write_out(p, &oto_graph::viz::dot(&g, &an), "DOT graph")?;
    }
    if let Some(p) = &a.svg {
        write_out(p, &oto_graph::viz::svg(&g, &an), "SVG picture")?;
    }
    // The command ends here: skip freeing the graph, analysis and report one allocation at a
    // time (~7 % of a DenseNet-121 `oto analyze`); the OS takes the memory back at exit.
    std::mem::forget((g, an, report));
    Ok(())
}
