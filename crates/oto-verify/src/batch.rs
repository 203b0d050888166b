//! The per-sample proof of a fixed-batch export made batch-free
//! ([`oto_graph::batch::symbolic_batch`]): two seeded input batches of the exported size run
//! through the exported model one at a time and, stacked, through the batch-free model in one
//! run; each half of the stacked output must equal its own run. Both models must be in
//! inference form (training-mode BatchNorm mixes samples).
use crate::{input_specs, optimized_or_not, random_inputs, run_with, Runner, TensorF32};
use anyhow::{bail, Context, Result};
use oto_onnx::pb::ModelProto;

/// Largest relative difference `max|Δ| / max|y|` over all outputs, or an error. When tract's
/// optimizer fails on a model it can run (LeViT), both run unoptimized.
pub fn batch_equivalence(exported: &ModelProto, batch_free: &ModelProto, batch: usize) -> Result<f32> {
    optimized_or_not(|optimize| equivalence(exported, batch_free, batch, optimize))
}

fn equivalence(exported: &ModelProto, batch_free: &ModelProto, batch: usize, optimize: bool) -> Result<f32> {
    let specs = input_specs(exported, batch).context("reading the exported model's inputs")?;
    let (xa, xb) = (random_inputs(&specs, 11)?, random_inputs(&specs, 12)?);
    let once = Runner::with_options(exported, &specs, optimize).context("running the exported model")?;
    let (ya, yb) = (once.run(&xa).context("running the exported model")?, once.run(&xb).context("running the exported model")?);
    let stacked: Vec<TensorF32> = xa
        .iter()
        .zip(&xb)
        .map(|(a, b)| {
            let mut shape = a.shape.clone();
            shape[0] *= 2;
            TensorF32 { shape, data: [a.data.as_slice(), b.data.as_slice()].concat() }
        })
        .collect();
    let ys = run_with(batch_free, &stacked, optimize).context("running the model with a symbolic batch")?;
    let mut worst = 0f32;
    for ((a, b), s) in ya.iter().zip(&yb).zip(&ys) {
        let mut want = a.shape.clone();
        want[0] *= 2;
        if s.shape != want {
            bail!("with a batch of {} the output has shape {:?}, expected {want:?}", 2 * batch, s.shape);
        }
        let scale = a.data.iter().chain(&b.data).fold(0f32, |m, x| m.max(x.abs())).max(1e-12);
        let diff = a.data.iter().chain(&b.data).zip(&s.data).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        worst = worst.max(diff / scale);
    }
    Ok(worst)
}
