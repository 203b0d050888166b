//! `oto eval MODEL.onnx --dataset KIND`: test-set metrics of an ONNX model (a run's `full.onnx`
//! or `compressed.onnx`, or any single-input network) with the training engine — the executor in
//! inference mode and `train::evaluate`, exactly as `oto train` measures its models: top-1 /
//! top-5 / cross-entropy, or PSNR (Y) / L1 for super-resolution.
//!
//! Dataset settings come from the flags, else from the run's `config.toml` next to MODEL (so
//! `oto eval runs/x/compressed.onnx` needs no flags), else the defaults of `oto train`.
use anyhow::{bail, Context, Result};
use oto_train::exec::Executor;
use oto_train::train::{self, DatasetKind, EvalResult, RunData, TrainConfig};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The ONNX model (e.g. a run's full.onnx or compressed.onnx)
    pub model: PathBuf,
    /// fashion-mnist | mnist | cifar10 | cifar100 | svhn | imagefolder | sr | text [default: the run's, from config.toml next to MODEL]
    #[arg(long)]
    pub dataset: Option<String>,
    /// Dataset folder (fashion-mnist without --data: the bundled subset)
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Super-resolution scale [default: the run's, else 2]
    #[arg(long, value_name = "N")]
    pub sr_scale: Option<usize>,
    /// Super-resolution test set: the folder <data>/<NAME>/HR, e.g. Set5, Set14, BSD100 [default: the run's, else Set5]
    #[arg(long, value_name = "NAME")]
    pub sr_test_set: Option<String>,
    /// imagefolder: square side the images are resized / cropped to [default: the run's, else 64]
    #[arg(long, value_name = "N")]
    pub image_size: Option<u32>,
    /// Input normalisation mean per channel, e.g. 0.485,0.456,0.406 [default: the run's, else the dataset's]
    #[arg(long, value_name = "M[,M,M]", value_delimiter = ',')]
    pub mean: Option<Vec<f32>>,
    /// Input normalisation std per channel, e.g. 0.229,0.224,0.225 [default: the run's, else the dataset's]
    #[arg(long, value_name = "S[,S,S]", value_delimiter = ',')]
    pub std: Option<Vec<f32>>,
    /// Evaluation batch size [default: the run's eval_batch_size, else 256]
    #[arg(long, value_name = "N")]
    pub batch_size: Option<usize>,
    /// cpu | cuda | cuda:N [default: cpu]
    #[arg(long)]
    pub device: Option<String>,
    /// libtorch threads [default: the run's]; the same count as in training reproduces its numbers bit for bit
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Also write the result as JSON: {model, dataset, test_set (sr), loss, top1, top5, psnr, samples}
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// The run configuration `MODEL` was trained with, when it sits in a run folder.
fn run_config(model: &Path) -> Option<(PathBuf, TrainConfig)> {
    let p = model.parent()?.join("config.toml");
    let text = std::fs::read_to_string(&p).ok()?;
    match TrainConfig::from_toml(&text) {
        Ok(c) => Some((p, c)),
        Err(e) => {
            eprintln!("note: ignoring {} ({e})", p.display());
            None
        }
    }
}

/// The evaluation settings as a [`TrainConfig`] (so the dataset plumbing of `oto train` is used
/// as is): defaults ← the run's data settings ← flags.
pub fn config(a: &Args) -> Result<TrainConfig> {
    if !a.model.is_file() {
        bail!("model file '{}' does not exist", a.model.display());
    }
    let mut c = TrainConfig::default();
    let run = run_config(&a.model);
    match (&a.dataset, &run) {
        (Some(d), _) => c.dataset = DatasetKind::parse(d)?,
        (None, Some((p, r))) => {
            eprintln!("dataset settings from {}", p.display());
            c.dataset = r.dataset;
        }
        (None, None) => bail!(
            "--dataset is needed ({} has no run config.toml next to it); valid: {}",
            a.model.display(),
            DatasetKind::VALID
        ),
    }
    // The run's data settings apply only to the run's dataset.
    if let Some((_, r)) = run.as_ref().filter(|(_, r)| r.dataset == c.dataset) {
        c.data = r.data.clone();
        c.sr_scale = r.sr_scale;
        c.sr_test_set = r.sr_test_set.clone();
        c.image_size = r.image_size;
        c.seq_len = r.seq_len;
        c.mean = r.mean.clone();
        c.std = r.std.clone();
        c.eval_batch_size = r.eval_batch_size;
        c.threads = r.threads;
        c.data_threads = r.data_threads;
    }
    if a.data.is_some() {
        c.data = a.data.clone();
    }
    macro_rules! set {
        ($($f:ident => $g:ident),*) => { $( if let Some(v) = a.$f.clone() { c.$g = v; } )* };
    }
    set!(sr_scale => sr_scale, sr_test_set => sr_test_set, image_size => image_size, batch_size => eval_batch_size,
         device => device, threads => threads);
    if a.mean.is_some() {
        c.mean = a.mean.clone();
    }
    if a.std.is_some() {
        c.std = a.std.clone();
    }
    c.model = a.model.to_string_lossy().into_owned();
    // Only the test split is read (`data::load_test`): a folder holding just the test set is enough.
    c.augment = false;
    c.checkpoint = false;
    c.progress = "quiet".into();
    c.validate()?;
    Ok(c)
}

/// Classification: one zero image through the model must give `[1, classes]` logits, with the
/// dataset's class count (a clear error for a model of another dataset, instead of a wrong
/// number or an out-of-range label inside libtorch).
fn check_classifier(exec: &Executor, data: &RunData, dataset: DatasetKind) -> Result<()> {
    let (Some(x), Some(k)) = (data.example_input(exec.device())?, data.num_classes()) else {
        return Ok(());
    };
    let sample = format!("{:?}", x.size());
    let y = exec.forward(&[x], false).context("running the model on one test-sized input")?;
    let s = y.first().map(|t| t.size()).unwrap_or_default();
    match s[..] {
        [1, n] if n == k as i64 => Ok(()),
        [1, n] => bail!(
            "the model outputs {n} classes but the {} dataset has {k}; is it a model of another dataset (--dataset)?",
            dataset.name()
        ),
        _ => bail!(
            "the model outputs {s:?} for one {sample} input, not [1, classes] logits; \
             a super-resolution model needs --dataset sr"
        ),
    }
}

fn describe_set(c: &TrainConfig) -> String {
    match c.dataset {
        DatasetKind::Sr => format!("sr {} x{}", c.sr_test_set, c.sr_scale),
        d => d.name().to_string(),
    }
}

pub fn evaluate(c: &TrainConfig) -> Result<EvalResult> {
    train::setup_runtime(c);
    let device = train::parse_device(&c.device)?;
    let mut data = train::data::load_test(c).with_context(|| format!("loading the {} dataset", c.dataset.name()))?;
    let g = train::load_model(c, &data)?;
    if let Some(note) = train::fit_data(&mut data, &g)? {
        eprintln!("note: {note}");
    }
    let exec = Executor::new(&g, &[], device)?;
    check_classifier(&exec, &data, c.dataset)?;
    Ok(train::evaluate(&exec, &data)?)
}

pub fn run(a: Args) -> Result<()> {
    let c = config(&a)?;
    let ev = evaluate(&c)?;
    println!("{} on {} ({} test samples): {}", a.model.display(), describe_set(&c), ev.samples, ev.describe());
    if let Some(p) = &a.json {
        let v = serde_json::json!({
            "model": a.model.display().to_string(),
            "dataset": c.dataset.name(),
            "test_set": (c.dataset == DatasetKind::Sr).then(|| c.sr_test_set.clone()),
            "loss": ev.loss,
            "top1": ev.top1,
            "top5": ev.top5,
            "psnr": ev.psnr,
            "samples": ev.samples,
        });
        let text = serde_json::to_string_pretty(&v)? + "\n";
        oto_onnx::write_atomic(p, text.as_bytes()).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}
