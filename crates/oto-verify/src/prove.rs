//! The one "prove" step of oto (used by `oto compress`, `oto prune`, `oto train` and the Rust
//! API): construct the compressed model, check its structure, and prove numerically that it
//! computes what the full model computes.
//!
//! 1. **Construction** ([`oto_graph::compress::compress`]): the zero (or chosen) rows are sliced
//!    out; training-only structure (training-mode BatchNormalization, Dropout) becomes inference
//!    form.
//! 2. **Reference**: the full model in the same inference form (the construction with nothing
//!    removed), so a training-mode export is compared in eval mode, and written that way.
//! 3. **Structural check** ([`oto_graph::check::structural`]): always runs; the compressed
//!    model re-loads through the op registry with consistent shapes and the reference's
//!    interface.
//! 4. **Numeric proof** (unless skipped): both models run in tract on the same seeded inputs;
//!    the largest relative output difference must be within the tolerance.
use crate::{compare, Comparison};
use anyhow::{bail, Context, Result};
use oto_graph::compress::{self, CompressOptions, Compressed, Removal};
use oto_graph::zig::Analysis;
use oto_graph::Graph;
use oto_onnx::pb::ModelProto;

/// What [`prove`] checks.
#[derive(Clone, Debug)]
pub struct ProveOptions {
    /// Run the numeric proof (off: `--no-verify`; the structural check always runs).
    pub numeric: bool,
    /// Largest accepted relative difference `max|Δ| / max|y_full|`.
    pub tolerance: f32,
    /// Batch size of the seeded inputs (a symbolic batch axis is set to it).
    pub batch: usize,
    pub seed: u64,
}

impl Default for ProveOptions {
    fn default() -> Self {
        ProveOptions { numeric: true, tolerance: 1e-4, batch: 2, seed: 0 }
    }
}

/// A compressed model with its proof.
#[derive(Clone, Debug)]
pub struct Proof {
    pub compressed: Compressed,
    /// The compressed model as it is to be written.
    pub model: ModelProto,
    /// The full model in inference form (what the compressed model is compared with).
    pub reference: Graph,
    /// The numeric comparison (`None` when skipped).
    pub comparison: Option<Comparison>,
}

/// The full model in inference form: `full` itself unless it holds training-only structure.
pub fn inference_form(full: &Graph, analysis: &Analysis) -> Result<Graph> {
    let c = compress::compress(full, analysis, &CompressOptions { removal: Removal::Rows(Default::default()) })
        .context("converting the full model to inference form")?;
    Ok(c.graph)
}

/// Every trainable weight must be finite: beside an Inf, a removed channel's zeros are not
/// invariant (0 × Inf = NaN), so no cut next to it is exact. (NaN is refused at load.)
fn check_finite_weights(full: &Graph, analysis: &Analysis) -> Result<()> {
    for &v in &analysis.trainable {
        let Some(t) = &full.values[v].init else { continue };
        let Ok(x) = oto_onnx::tensor::to_f32(t) else { continue };
        if let Some(i) = x.iter().position(|x| !x.is_finite()) {
            bail!(
                "weight '{}' holds {} (flat index {i}): the model's outputs are not finite and no channel next to it can be cut exactly (0 × Inf = NaN); fix the weights (a diverged training run?)",
                full.values[v].name,
                x[i]
            );
        }
    }
    Ok(())
}

/// The largest single value the numeric proof may hold (tract keeps at least that much alive).
pub const PROOF_VALUE_BYTES: u64 = 2 << 30;

/// Refuses, before anything is allocated, a proof whose largest value at `batch` would exceed
/// [`PROOF_VALUE_BYTES`] (a symbolic batch axis counts `batch`, another symbolic dim 16, as
/// [`crate::input_specs`] feeds; 4 bytes an element).
fn check_proof_memory(g: &Graph, batch: usize) -> Result<()> {
    let bytes = |shape: &[oto_graph::Dim]| oto_graph::ir::elements(shape, batch as u64, 16).saturating_mul(4);
    let worst = g.values.iter().filter_map(|v| Some((bytes(v.shape.as_ref()?), v))).max_by_key(|(b, _)| *b);
    if let Some((b, v)) = worst.filter(|(b, _)| *b > PROOF_VALUE_BYTES) {
        bail!(
            "the numeric proof would hold value '{}' of shape {} at batch {batch}: about {:.1} GiB for that value alone (limit {} GiB); \
             check the model's input shape (--input-shape) or skip the numeric proof with --no-verify (the structural check still runs)",
            v.name,
            oto_graph::ir::fmt_shape(v.shape.as_ref().unwrap()),
            b as f64 / (1u64 << 30) as f64,
            PROOF_VALUE_BYTES >> 30
        );
    }
    Ok(())
}

/// Constructs the compressed model of `full` and proves it (see the module docs). An `Err`
/// says which step failed; nothing is written here.
pub fn prove(full: &Graph, analysis: &Analysis, removal: &CompressOptions, o: &ProveOptions) -> Result<Proof> {
    check_finite_weights(full, analysis)?;
    let compressed = compress::compress(full, analysis, removal).context("constructing the compressed model")?;
    let reference = inference_form(full, analysis)?;
    let model = compressed.graph.to_model();
    oto_graph::check::structural(&model, &reference).context("structural check of the compressed model")?;
    let comparison = if o.numeric {
        check_proof_memory(&reference, o.batch)?;
        let cmp = compare(&reference.to_model(), &model, o.batch, o.seed).map_err(|e| {
            // ops outside the registry are the usual reason tract cannot run a model
            let unknown: std::collections::BTreeSet<String> = full
                .nodes
                .iter()
                .filter_map(|n| match &n.op {
                    oto_graph::Op::Unknown(u) => Some(u.display()),
                    _ => None,
                })
                .collect();
            let hint = if unknown.is_empty() {
                String::new()
            } else {
                format!(
                    " (the model has ops oto does not model and tract may not run: {}; --no-verify skips the numeric proof, the structural check still runs)",
                    unknown.into_iter().collect::<Vec<_>>().join(", ")
                )
            };
            e.context(format!("running the full and compressed models in tract{hint}"))
        })?;
        if !cmp.passes(o.tolerance) {
            bail!(
                "the compressed model differs from the full model (max |Δ| {:.3e}, relative {:.3e} > {:e}{}); \
                 this is a bug in oto — please report it with the model",
                cmp.max_abs(),
                cmp.max_rel(),
                o.tolerance,
                if cmp.shapes_match() { "" } else { ", output shapes differ" }
            );
        }
        Some(cmp)
    } else {
        None
    };
    Ok(Proof { compressed, model, reference, comparison })
}
