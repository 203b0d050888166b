//! `oto zoo list` and `oto zoo export NAME -o FILE.onnx`: the built-in model zoo.
use anyhow::{bail, Context, Result};
use super::analyze::out;
use std::path::PathBuf;

#[derive(clap::Subcommand, Debug)]
pub enum ZooCommand {
    /// List the built-in models (name, default input shape, task, description)
    List,
    /// Build a zoo model with seeded random weights and save it as ONNX
    Export(ExportArgs),
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Model name (see `oto zoo list`)
    pub name: String,
    /// Output file
    #[arg(short, long, value_name = "FILE.onnx")]
    pub output: PathBuf,
    /// Input shape of one sample, C,H,W (default: the model's)
    #[arg(long = "input-shape", value_name = "C,H,W")]
    pub input_shape: Option<String>,
    /// Number of classes (classification models)
    #[arg(long)]
    pub classes: Option<usize>,
    /// Seed of the random initialisation
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Non-trivial BatchNorm statistics, affine parameters and biases
    #[arg(long)]
    pub random_stats: bool,
    /// Channel width multiplier (widths rounded to multiples of 8)
    #[arg(long)]
    pub width: Option<f32>,
    /// Depth, for models that take one (densenet_bc)
    #[arg(long)]
    pub depth: Option<usize>,
}

/// Parses `C,H,W` (also accepts `CxHxW`).
pub fn parse_chw(s: &str) -> Result<[usize; 3]> {
    let parts: Vec<&str> = s.split([',', 'x', 'X']).map(|p| p.trim()).collect();
    let dims: Vec<usize> = parts
        .iter()
        .map(|p| p.parse::<usize>().ok().filter(|&d| d > 0))
        .collect::<Option<Vec<_>>>()
        .with_context(|| format!("--input-shape '{s}': expected three positive integers C,H,W (e.g. 3,32,32)"))?;
    match dims.as_slice() {
        [c, h, w] => Ok([*c, *h, *w]),
        _ => bail!("--input-shape '{s}': expected three dimensions C,H,W (e.g. 3,32,32), got {}", dims.len()),
    }
}

fn task_str(t: oto_zoo::Task) -> String {
    match t {
        oto_zoo::Task::Classification => "classification".into(),
        oto_zoo::Task::SuperResolution { scale } => format!("super-resolution x{scale}"),
    }
}

pub fn run(cmd: ZooCommand) -> Result<()> {
    match cmd {
        ZooCommand::List => {
            let list = oto_zoo::list();
            let w = list.iter().map(|e| e.name.len()).max().unwrap_or(4).max(4);
            out(&format!("{:w$}  {:<12}  {:<22}  description\n", "name", "input", "task"));
            for e in list {
                let [c, h, wd] = e.input_shape;
                let mut task = task_str(e.task);
                if e.task == oto_zoo::Task::Classification {
                    task = format!("{task} ({})", e.num_classes);
                }
                out(&format!("{:w$}  {:<12}  {:<22}  {}\n", e.name, format!("{c},{h},{wd}"), task, e.description));
            }
            Ok(())
        }
        ZooCommand::Export(a) => {
            let cfg = oto_zoo::ZooConfig {
                input_shape: a.input_shape.as_deref().map(parse_chw).transpose()?,
                num_classes: a.classes,
                seed: a.seed,
                randomize_stats: a.random_stats,
                width_mult: a.width,
                depth: a.depth,
            };
            let model = oto_zoo::build(&a.name, &cfg).with_context(|| format!("building zoo model '{}'", a.name))?;
            oto_onnx::save_model(&model, &a.output)
                .with_context(|| format!("saving {}; check that the directory exists and is writable", a.output.display()))?;
            let params: usize = model
                .graph
                .as_ref()
                .map(|g| g.initializer.iter().map(|t| oto_onnx::tensor::numel(&t.dims)).sum())
                .unwrap_or(0);
            out(&format!("wrote {} ({} nodes, {} params)\n", a.output.display(), model.graph.as_ref().map_or(0, |g| g.node.len()), params));
            Ok(())
        }
    }
}
