//! OTO's three calls from your own training loop (the library API):
//!
//! 1. `Oto::new(graph)` — analyse the network into zero-invariant groups;
//! 2. `oto.dhspg(..)` — the pruning optimizer (DHSPG; `oto.hesso(..)` for HESSO), whose
//!    `PruneConfig` says what to prune and when, used like any optimizer in *your* loop
//!    (`oto.pruner(&TrainConfig, ..)` builds the same from `oto train`'s settings);
//! 3. `oto.construct(..)` — the trained full model and the compressed one (verified), as ONNX.
//!
//! Run: `cargo run -p oto-train --release --example own_loop [OUT_DIR]`
//! (`cargo test -p oto-train --example own_loop` runs it briefly and checks the result.)
use oto_train::datasets::{fashion_mnist_mini, DataLoader, LoaderConfig, Normalize};
use oto_train::optim::{DhspgConfig, Optimizer, PruneConfig, Target, Variant};
use oto_train::train::{api::Oto, trainer, trainer::EvalResult};
use std::path::Path;
use std::sync::Arc;
use tch::Device;

type Error = Box<dyn std::error::Error>;

#[cfg_attr(test, allow(dead_code))]
fn main() -> Result<(), Error> {
    let out = std::env::args().nth(1).unwrap_or_else(|| "runs/own_loop".into());
    run(Path::new(&out), 3, None).map(|_| ())
}

/// What the example ends with: group sparsity reached, and the test metrics of both models.
#[cfg_attr(not(test), allow(dead_code))]
struct Outcome {
    group_sparsity: f64,
    full: EvalResult,
    compressed: EvalResult,
    max_rel_diff: f32,
    macs: (u64, u64),
}

/// The whole example: `epochs` epochs (at most `max_steps` batches each) of DHSPG in a plain loop.
fn run(out: &Path, epochs: usize, max_steps: Option<usize>) -> Result<Outcome, Error> {
    tch::manual_seed(0);

    // Any ONNX network works (oto_graph::Graph::load("model.onnx")); here a zoo model.
    let model = oto_zoo::build("fmnist_vgg", &oto_zoo::ZooConfig::default())?;
    let graph = oto_graph::Graph::from_model(model)?;

    // 1. analyse
    let oto = Oto::new(graph);
    println!("{} prunable rows in {} groups", oto.analysis.prunable_rows(), oto.analysis.groups.len());
    let exec = oto.executor(Device::Cpu)?;

    // Your data.
    let train = DataLoader::new(
        Arc::new(fashion_mnist_mini(true)?),
        LoaderConfig::train(64).with_normalize(Normalize::fashion_mnist()),
    )?;
    let steps_per_epoch = max_steps.unwrap_or(usize::MAX).min(train.batches_per_epoch());

    // 2. the optimizer: DHSPG zeroing half of the prunable rows, from epoch 1 on; by default
    //    the target is reached a quarter of the run later. Other targets: `Target::Flops(0.4)`
    //    keeps 40 % of the MACs, `Target::Channels(row_ids)` prunes exactly the listed rows.
    //    HESSO takes the same `PruneConfig`: `oto.hesso(&exec, HessoConfig { prune, .. })`.
    let total_steps = (epochs * steps_per_epoch) as u64;
    let prune = PruneConfig { start_step: steps_per_epoch as u64, ..PruneConfig::new(Target::GroupSparsity(0.5)) };
    let cfg = DhspgConfig {
        prune,
        lr: 0.05,
        first_momentum: 0.9,
        weight_decay: 5e-4,
        total_steps: Some(total_steps),
        ..DhspgConfig::for_variant(Variant::Sgd)
    };
    let mut opt = oto.dhspg(&exec, cfg)?;

    // Your loop: forward, loss, backward, step.
    let params = exec.params();
    for epoch in 0..epochs {
        let mut last = 0.0;
        for batch in train.epoch(epoch as u64).take(steps_per_epoch) {
            let b = batch?;
            let logits = exec.forward(&[b.images], true)?.remove(0);
            let loss = logits.cross_entropy_for_logits(&b.labels);
            for p in &params {
                let mut g = p.tensor.grad();
                if g.defined() {
                    let _ = tch::no_grad(|| g.zero_());
                }
            }
            loss.backward();
            opt.step()?;
            last = loss.double_value(&[]);
        }
        let s = opt.stats();
        println!("epoch {} loss {last:.4} group sparsity {:.3}", epoch + 1, s.group_sparsity.unwrap_or(0.0));
    }

    // 3. construct: full.onnx, compressed.onnx (+ manifest.json), verified to give the same outputs.
    let s = opt.stats();
    let c = oto.construct(&exec, out, 1e-4)?;
    println!(
        "removed {} of {} rows: params {} -> {}, MACs {} -> {}; max output difference {:.1e}",
        c.removed_rows, c.prunable_rows, c.params_before, c.params_after, c.macs_before, c.macs_after, c.max_rel_diff
    );
    // The test accuracy of both models with the executor (helper from the trainer module).
    let test = DataLoader::new(Arc::new(fashion_mnist_mini(false)?), LoaderConfig::eval(256).with_normalize(Normalize::fashion_mnist()))?;
    let data = oto_train::train::RunData::Classification { train, test, num_classes: 10, shape: [1, 28, 28], tokens: false, fit: None };
    let full = trainer::evaluate(&exec, &data)?;
    let comp = trainer::evaluate(&oto_train::exec::Executor::new(&c.compressed, &[], Device::Cpu)?, &data)?;
    println!("full: {}\ncompressed: {}", full.describe(), comp.describe());
    Ok(Outcome {
        group_sparsity: s.group_sparsity.unwrap_or(0.0),
        full,
        compressed: comp,
        max_rel_diff: c.max_rel_diff,
        macs: (c.macs_before, c.macs_after),
    })
}

#[cfg(test)]
mod tests {
    /// The documented library workflow works end to end: the target is reached, the compressed
    /// model is smaller and scores exactly what the full one scores.
    #[test]
    fn own_loop_prunes_to_target_and_compressed_equals_full() {
        let dir = tempfile::tempdir().unwrap();
        tch::set_num_threads(2);
        let o = super::run(dir.path(), 2, Some(40)).unwrap();
        assert!((o.group_sparsity - 0.5).abs() < 0.02, "group sparsity {}", o.group_sparsity);
        assert!(o.macs.1 < o.macs.0, "MACs {:?}", o.macs);
        assert!(o.max_rel_diff <= 1e-4, "{}", o.max_rel_diff);
        let (a, b) = (o.full.top1.unwrap(), o.compressed.top1.unwrap());
        assert!((a - b).abs() < 0.11, "full {a} vs compressed {b}");
        assert!(a > 30.0, "accuracy {a}: the loop did not learn");
    }
}
