//! oto-verify: an independent runtime check of oto's models with [tract](https://github.com/sonos/tract)
//! (pure Rust, no Python, no native libraries).
//!
//! * [`Runner`]: an optimized tract plan of a `ModelProto` for fixed input shapes; [`Runner::run`]
//!   runs it on f32 inputs and returns the f32 outputs.
//! * [`input_specs`] / [`random_inputs`]: input shapes from the graph inputs (a symbolic leading
//!   batch axis is set to the requested batch) and seeded random data.
//! * [`compare`]: runs two models on the same seeded random inputs and reports the max absolute
//!   and max relative difference per output (`max|Δ| / max|y_reference|`) plus shape mismatches.
//! * [`median_latency`]: median wall time of one inference.
//!
//! * [`prove()`]: the one "prove" step — construct the compressed model, check its structure,
//!   and compare it with the full model (module [`prove`]).
//!
//! Used by `oto compress`, `oto prune`, `oto train` and the library API to prove that a
//! compressed model computes the same function as the zeroed full model (OTOv2 spec §5.2).
pub mod batch;
mod pieces;
pub mod prove;
pub use batch::batch_equivalence;
pub use prove::{prove, ProveOptions, Proof};

use anyhow::{anyhow, bail, Context, Result};
use oto_onnx::pb::{tensor_shape_proto::dimension, type_proto, ModelProto};
use oto_onnx::tensor::{BOOL, DOUBLE, FLOAT, FLOAT16, INT32, INT64};
use rand::{Rng, SeedableRng};
use std::time::{Duration, Instant};
use tract_onnx::prelude::*;

/// A dense f32 tensor (row-major).
#[derive(Clone, Debug, PartialEq)]
pub struct TensorF32 {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// One graph input: name, element type and concrete shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputSpec {
    pub name: String,
    pub elem_type: i32,
    pub shape: Vec<usize>,
    /// Integer inputs: values are drawn from `0..index_bound` — the size of the table the input
    /// indexes (an embedding's rows, when it feeds a `Gather` as indices), else 2 (masks, flags).
    pub index_bound: i64,
}

/// Element types the check can feed (values are held as f32: integers up to 2^24 are exact).
const FEEDABLE: &[i32] = &[FLOAT, FLOAT16, DOUBLE, INT32, INT64, BOOL];

/// The table size an integer graph input indexes: the axis length of the `Gather` data it feeds
/// as indices (the smallest when several), or 2.
fn index_bound(g: &oto_graph::Graph, name: &str) -> i64 {
    let Some(v) = g.id(name) else { return 2 };
    g.value(v)
        .consumers
        .iter()
        .filter_map(|&(nid, slot)| match &g.nodes[nid].op {
            oto_graph::Op::Gather(ga) if slot == 1 => {
                let data = g.shape(g.nodes[nid].input(0)?)?;
                let axis = oto_graph::shape::fold::norm_axis(ga.axis, data.len())?;
                data[axis].known()
            }
            _ => None,
        })
        .min()
        .unwrap_or(2)
        .max(1)
}

/// Concrete input shapes of `model`: the real graph inputs (initializers listed as inputs are
/// skipped); a symbolic or unknown dimension on axis 0 becomes `batch`, any other one a fixed
/// size per symbol (16 for a sequence, 64 for an image side: [`sym_default`]).
pub fn input_specs(model: &ModelProto, batch: usize) -> Result<Vec<InputSpec>> {
    let g = model.graph.as_ref().ok_or_else(|| anyhow!("the model has no graph"))?;
    let inits: std::collections::HashSet<&str> = g.initializer.iter().filter_map(|t| t.name.as_deref()).collect();
    // integer inputs need the model's structure (which table they index)
    let graph = if g.input.iter().any(|vi| input_elem_type(vi).is_some_and(|t| t != FLOAT)) {
        Some(oto_graph::Graph::from_model(model.clone()).context("reading the model's structure for its integer inputs")?)
    } else {
        None
    };
    let mut out = vec![];
    let mut symbols: std::collections::HashMap<String, usize> = Default::default();
    for vi in &g.input {
        let name = vi.name.clone().unwrap_or_default();
        if inits.contains(name.as_str()) {
            continue;
        }
        let Some(type_proto::Value::TensorType(tt)) = vi.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
            bail!("graph input '{name}' is not a tensor");
        };
        let elem_type = tt.elem_type.unwrap_or(0);
        let dims = tt.shape.as_ref().map(|s| s.dim.as_slice()).unwrap_or(&[]);
        if tt.shape.is_none() {
            bail!("graph input '{name}' has no declared shape; cannot build random inputs for it");
        }
        let mut shape = vec![];
        for (axis, d) in dims.iter().enumerate() {
            match &d.value {
                Some(dimension::Value::DimValue(v)) if *v >= 0 => shape.push(*v as usize),
                _ if axis == 0 => shape.push(batch),
                // another symbolic dim (a sequence length, an image side): one value per symbol
                Some(dimension::Value::DimParam(p)) => shape.push(*symbols.entry(p.clone()).or_insert(sym_default(dims.len()))),
                _ => shape.push(sym_default(dims.len())),
            }
        }
        if !FEEDABLE.contains(&elem_type) {
            bail!(
                "graph input '{name}' has element type {} (the check feeds float16/32/64, int32/int64 and bool inputs)",
                oto_onnx::tensor::type_name(elem_type)
            );
        }
        let index_bound = match (&graph, elem_type) {
            (Some(gr), INT32 | INT64) => index_bound(gr, &name),
            _ => 2,
        };
        out.push(InputSpec { name, elem_type, shape, index_bound });
    }
    Ok(out)
}

/// The size given to a symbolic dim other than the batch: 64 in image-like inputs (rank ≥ 4:
/// a side that survives a stride-32 network), 16 otherwise (a sequence length).
fn sym_default(rank: usize) -> usize {
    if rank >= 4 {
        64
    } else {
        16
    }
}

fn input_elem_type(vi: &oto_onnx::pb::ValueInfoProto) -> Option<i32> {
    match vi.r#type.as_ref()?.value.as_ref()? {
        type_proto::Value::TensorType(tt) => tt.elem_type,
        _ => None,
    }
}

/// Seeded inputs for the given specs: floats standard-normal-ish (uniform in [-1, 1) summed
/// twice), integers uniform in `0..index_bound` (token ids inside their embedding table), bools
/// fair coin flips; held as f32 and converted to the input's type when run.
pub fn random_inputs(specs: &[InputSpec], seed: u64) -> Result<Vec<TensorF32>> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    specs
        .iter()
        .map(|s| {
            let n: usize = s.shape.iter().product();
            let data = match s.elem_type {
                FLOAT | FLOAT16 | DOUBLE => (0..n).map(|_| rng.random_range(-1.0f32..1.0) + rng.random_range(-1.0f32..1.0)).collect(),
                INT32 | INT64 => (0..n).map(|_| rng.random_range(0..s.index_bound) as f32).collect(),
                BOOL => (0..n).map(|_| rng.random_range(0..2) as f32).collect(),
                t => bail!("graph input '{}' has element type {} (not feedable)", s.name, oto_onnx::tensor::type_name(t)),
            };
            Ok(TensorF32 { shape: s.shape.clone(), data })
        })
        .collect()
}

/// `t` (held as f32) as a tract tensor of ONNX element type `elem_type`.
fn to_tract(t: &TensorF32, elem_type: i32) -> Result<Tensor> {
    let shape = t.shape.clone();
    let bad = |e: tract_ndarray::ShapeError| anyhow!("bad input tensor: {e}");
    Ok(match elem_type {
        DOUBLE => tract_ndarray::ArrayD::from_shape_vec(shape, t.data.iter().map(|&x| x as f64).collect()).map_err(bad)?.into(),
        FLOAT16 => tract_ndarray::ArrayD::from_shape_vec(shape, t.data.iter().map(|&x| f16::from_f32(x)).collect()).map_err(bad)?.into(),
        INT64 => tract_ndarray::ArrayD::from_shape_vec(shape, t.data.iter().map(|&x| x as i64).collect()).map_err(bad)?.into(),
        INT32 => tract_ndarray::ArrayD::from_shape_vec(shape, t.data.iter().map(|&x| x as i32).collect()).map_err(bad)?.into(),
        BOOL => tract_ndarray::ArrayD::from_shape_vec(shape, t.data.iter().map(|&x| x != 0.0).collect()).map_err(bad)?.into(),
        _ => tract_ndarray::ArrayD::from_shape_vec(shape, t.data.clone()).map_err(bad)?.into(),
    })
}

fn datum_type(elem_type: i32) -> DatumType {
    match elem_type {
        DOUBLE => f64::datum_type(),
        FLOAT16 => f16::datum_type(),
        INT64 => i64::datum_type(),
        INT32 => i32::datum_type(),
        BOOL => bool::datum_type(),
        _ => f32::datum_type(),
    }
}

type Plan = Arc<TypedSimplePlan>;

/// A runnable, optimized tract plan of one model for fixed input shapes; a graph above
/// [`pieces::PIECES_ABOVE`] nodes runs in pieces (module `pieces`: tract's typing is quadratic).
pub struct Runner {
    exec: Exec,
    pub inputs: Vec<InputSpec>,
    pub output_names: Vec<String>,
}

enum Exec {
    Whole(Plan),
    /// The pieces are typed and planned at each run, on the tensors that reach them.
    Pieces(pieces::Pieces, bool),
}

impl Runner {
    /// Loads `model` into tract with the given concrete input shapes and optimizes it.
    pub fn new(model: &ModelProto, inputs: &[InputSpec]) -> Result<Runner> {
        Runner::with_options(model, inputs, true)
    }

    /// Like [`Runner::new`]; `optimize = false` skips tract's optimizer (faster to build, slower
    /// to run: good for one-off equivalence checks of small inputs).
    pub fn with_options(model: &ModelProto, inputs: &[InputSpec], optimize: bool) -> Result<Runner> {
        // value_info is only a hint; tract does its own inference and mis-reads some exporters'
        // hints (the dynamo exporter lists initializers there), so it gets the graph without it.
        let mut model = model.clone();
        if let Some(g) = model.graph.as_mut() {
            g.value_info.clear();
        }
        if node_count(&model) > pieces::PIECES_ABOVE {
            if let Some(p) = pieces::split(&model) {
                let output_names = model.graph.iter().flat_map(|g| &g.output).map(|o| o.name().to_string()).collect();
                return Ok(Runner { exec: Exec::Pieces(p, optimize), inputs: inputs.to_vec(), output_names });
            }
        }
        let bytes = oto_onnx::encode_model(&model);
        let mut m = tract_onnx::onnx()
            .model_for_read(&mut bytes.as_slice())
            .map_err(|e| anyhow!("tract cannot load the model: {e:?}"))?;
        for (i, s) in inputs.iter().enumerate() {
            m = m
                .with_input_fact(i, InferenceFact::dt_shape(datum_type(s.elem_type), s.shape.clone()))
                .map_err(|e| anyhow!("tract rejects shape {:?} for input '{}': {e:?}", s.shape, s.name))?;
        }
        let typed = m.into_typed().map_err(|e| anyhow!("tract cannot type the model: {e:?}"))?;
        let opt = if optimize {
            typed.into_optimized().map_err(|e| anyhow!("tract cannot optimize the model: {e:?}"))?
        } else {
            typed
        };
        let output_names = opt.output_outlets()?.iter().map(|o| opt.node(o.node).name.clone()).collect();
        let plan = opt.into_runnable().map_err(|e| anyhow!("tract cannot plan the model: {e:?}"))?;
        Ok(Runner { exec: Exec::Whole(plan), inputs: inputs.to_vec(), output_names })
    }

    /// Runs the plan; `inputs` in graph-input order.
    pub fn run(&self, inputs: &[TensorF32]) -> Result<Vec<TensorF32>> {
        if inputs.len() != self.inputs.len() {
            bail!("the model has {} inputs, {} given", self.inputs.len(), inputs.len());
        }
        let mut tv: TVec<TValue> = tvec![];
        for (t, spec) in inputs.iter().zip(&self.inputs) {
            tv.push(to_tract(t, spec.elem_type)?.into());
        }
        let outs = match &self.exec {
            Exec::Whole(plan) => plan.run(tv).map_err(|e| anyhow!("tract failed to run the model: {e:?}"))?,
            Exec::Pieces(p, optimize) => pieces::run(p, tv, *optimize)?,
        };
        outs.into_iter()
            .map(|o| {
                let o = o.cast_to::<f32>().map_err(|e| anyhow!("output is not float: {e:?}"))?.into_owned();
                let shape = o.shape().to_vec();
                let data = o.to_plain_array_view::<f32>().map_err(|e| anyhow!("{e:?}"))?.iter().copied().collect();
                Ok(TensorF32 { shape, data })
            })
            .collect()
    }
}

/// Runs `model` once on `inputs` (shapes taken from the tensors).
pub fn run(model: &ModelProto, inputs: &[TensorF32]) -> Result<Vec<TensorF32>> {
    run_with(model, inputs, true)
}

/// [`run`] with tract's optimizer on or off.
pub fn run_with(model: &ModelProto, inputs: &[TensorF32], optimize: bool) -> Result<Vec<TensorF32>> {
    let mut specs = input_specs(model, inputs.first().and_then(|t| t.shape.first().copied()).unwrap_or(1))?;
    for (s, t) in specs.iter_mut().zip(inputs) {
        s.shape = t.shape.clone();
    }
    Runner::with_options(model, &specs, optimize)?.run(inputs)
}

/// `check(true)` (tract optimizes the models), or `check(false)` when that fails: tract's
/// optimizer fails on some models it can run (LeViT: a declutter pass), and a proof compares
/// values, not plans. The first error is kept.
pub(crate) fn optimized_or_not<T>(check: impl Fn(bool) -> Result<T>) -> Result<T> {
    check(true).or_else(|e| check(false).map_err(|_| e))
}

/// Difference of one output.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputDiff {
    pub index: usize,
    pub shape_reference: Vec<usize>,
    pub shape_candidate: Vec<usize>,
    pub max_abs: f32,
    /// max |y_reference|
    pub max_ref: f32,
}

impl OutputDiff {
    /// `max|Δ| / max|y_reference|` (max|Δ| when the reference is all zero); infinite on a
    /// shape mismatch or a NaN.
    pub fn rel(&self) -> f32 {
        if self.shape_reference != self.shape_candidate || self.max_abs.is_nan() {
            return f32::INFINITY;
        }
        if self.max_ref > 0.0 {
            self.max_abs / self.max_ref
        } else {
            self.max_abs
        }
    }
}

/// Result of [`compare`].
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub outputs: Vec<OutputDiff>,
    pub input_shapes: Vec<Vec<usize>>,
}

impl Comparison {
    pub fn max_abs(&self) -> f32 {
        self.outputs.iter().map(|o| o.max_abs).fold(0.0, f32::max)
    }
    /// The largest per-output relative difference.
    pub fn max_rel(&self) -> f32 {
        self.outputs.iter().map(|o| o.rel()).fold(0.0, f32::max)
    }
    pub fn shapes_match(&self) -> bool {
        self.outputs.iter().all(|o| o.shape_reference == o.shape_candidate)
    }
    pub fn passes(&self, tolerance: f32) -> bool {
        self.shapes_match() && self.max_rel() <= tolerance
    }
}

/// Element-wise comparison of two output lists.
pub fn diff_outputs(reference: &[TensorF32], candidate: &[TensorF32]) -> Result<Vec<OutputDiff>> {
    if reference.len() != candidate.len() {
        bail!("the models have different numbers of outputs ({} vs {})", reference.len(), candidate.len());
    }
    if let Some(i) = reference.iter().position(|r| r.data.iter().any(|x| !x.is_finite())) {
        bail!(
            "the full model's own output {i} is not finite (NaN or Inf) on seeded random inputs: nothing can be compared; \
             check the model's weights (NaN/Inf) or its input range"
        );
    }
    Ok(reference
        .iter()
        .zip(candidate)
        .enumerate()
        .map(|(index, (r, c))| {
            let same = r.shape == c.shape;
            let max_ref = r.data.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            let max_abs = if same {
                r.data.iter().zip(&c.data).fold(0.0f32, |m, (a, b)| {
                    let d = (a - b).abs();
                    if d.is_nan() || m.is_nan() {
                        f32::NAN
                    } else {
                        m.max(d)
                    }
                })
            } else {
                f32::INFINITY
            };
            OutputDiff { index, shape_reference: r.shape.clone(), shape_candidate: c.shape.clone(), max_abs, max_ref }
        })
        .collect())
}

/// Runs `reference` and `candidate` on the same seeded random inputs (symbolic batch = `batch`)
/// and compares their outputs. The two models must have the same graph inputs.
/// When tract's optimizer fails on a model it can run (LeViT: a declutter pass), both run
/// unoptimized: the proof compares values, not plans.
pub fn compare(reference: &ModelProto, candidate: &ModelProto, batch: usize, seed: u64) -> Result<Comparison> {
    if node_count(reference) > OPTIMIZE_MAX_NODES {
        return compare_with(reference, candidate, batch, seed, false);
    }
    optimized_or_not(|optimize| compare_with(reference, candidate, batch, seed, optimize))
}

/// Above this many nodes the proof runs tract's plans unoptimized (and in pieces, see module
/// `pieces`): its optimizer (and the naming of every node it adds, `Graph::unique_name`, a scan
/// of all nodes) takes time quadratic in the node count — minutes on a 50,000-node graph — while
/// one unoptimized run of a proof's small batch takes well under a second.
pub const OPTIMIZE_MAX_NODES: usize = 2_000;

fn node_count(model: &ModelProto) -> usize {
    model.graph.as_ref().map_or(0, |g| g.node.len())
}

/// [`compare`] with tract's optimizer on or off (off: quicker for many one-off checks).
pub fn compare_with(reference: &ModelProto, candidate: &ModelProto, batch: usize, seed: u64, optimize: bool) -> Result<Comparison> {
    let specs = input_specs(reference, batch).context("reading the reference model's inputs")?;
    let cspecs = input_specs(candidate, batch).context("reading the candidate model's inputs")?;
    if specs != cspecs {
        bail!("the two models have different inputs: {specs:?} vs {cspecs:?}");
    }
    let inputs = random_inputs(&specs, seed)?;
    let r = Runner::with_options(reference, &specs, optimize).context("reference model")?.run(&inputs).context("reference model")?;
    let c = Runner::with_options(candidate, &specs, optimize).context("candidate model")?.run(&inputs).context("candidate model")?;
    Ok(Comparison { outputs: diff_outputs(&r, &c)?, input_shapes: specs.iter().map(|s| s.shape.clone()).collect() })
}

/// Median wall time of one inference of `model` (tract, optimized plan, seeded random inputs
/// with batch `batch`) over `runs` runs after one warm-up run.
pub fn median_latency(model: &ModelProto, batch: usize, runs: usize) -> Result<Duration> {
    if node_count(model) > OPTIMIZE_MAX_NODES {
        bail!(
            "the model has {} nodes: tract's optimizer, which latency is measured with, takes time quadratic in that (above {OPTIMIZE_MAX_NODES} nodes it is skipped)",
            node_count(model)
        );
    }
    let specs = input_specs(model, batch)?;
    let inputs = random_inputs(&specs, 0)?;
    let r = Runner::new(model, &specs)?;
    r.run(&inputs)?;
    let mut times: Vec<Duration> = (0..runs.max(1))
        .map(|_| {
            let t = Instant::now();
            r.run(&inputs).map(|_| t.elapsed())
        })
        .collect::<Result<_>>()?;
    times.sort();
    Ok(times[times.len() / 2])
}
