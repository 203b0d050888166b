//! DHSPG overhead: times a DHSPG step (in the pruning stage, the most expensive one) against a
//! plain SGD step and a dense training step (forward + backward through the executor) on
//! resnet20's parameters with synthetic gradients, for both forms of the row work (per tensor,
//! and the multi-tensor buffer of `optim::flat`).
//!
//! `cargo run -p oto-train --release --example bench_dhspg [batch] [iters]` (CUDA when available).
use oto_train::exec::Executor;
use oto_train::optim::*;
use oto_train::tch::{self, Device, Kind, Tensor};
use std::time::Instant;

fn sync(dev: Device) {
    if let Device::Cuda(i) = dev {
        tch::Cuda::synchronize(i as i64);
    }
}

fn time<F: FnMut()>(dev: Device, iters: usize, mut f: F) -> f64 {
    for _ in 0..3 {
        f();
    }
    sync(dev);
    let t0 = Instant::now();
    for _ in 0..iters {
        f();
    }
    sync(dev);
    t0.elapsed().as_secs_f64() * 1e3 / iters as f64
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let batch: i64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(64);
    let iters: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20);
    let dev = Device::cuda_if_available();
    let model = oto_zoo::build("resnet20", &Default::default())?;
    let g = oto_graph::Graph::from_model(model)?;
    let a = oto_graph::zig::analyze(&g);
    let exec = Executor::new(&g, &a.trainable, dev)?;
    let ts: Vec<Tensor> = exec.params().iter().map(|p| p.tensor.shallow_clone()).collect();
    let nparams: i64 = ts.iter().map(|t| t.numel() as i64).sum();
    // synthetic gradients
    let set_grads = || {
        let l = ts.iter().map(|t| (t * t.randn_like()).sum(Kind::Float)).fold(Tensor::zeros([], (Kind::Float, dev)), |a, b| a + b);
        l.backward();
    };
    set_grads();

    let mut sgd = Sgd::new(exec.params(), &SgdConfig { lr: 1e-6, momentum: 0.9, ..Default::default() })?;
    let t_sgd = time(dev, iters, || sgd.step().unwrap());

    // DHSPG in the pruning stage, tiny lr so that rows do not vanish during the benchmark
    // both forms of the row work: one tensor at a time, and the multi-tensor buffer (default on CUDA)
    let cfg = DhspgConfig { lr: 1e-6, first_momentum: 0.9, epsilon: 0.0, ..DhspgConfig::for_variant(Variant::Sgd) }; // target s = 0.5
    let mut per = Dhspg::new(exec.params(), &a, DhspgConfig { multi_tensor: Some(false), ..cfg.clone() })?;
    let t_per = time(dev, iters, || per.step().unwrap());
    let mut multi = Dhspg::new(exec.params(), &a, DhspgConfig { multi_tensor: Some(true), ..cfg })?;
    let t_multi = time(dev, iters, || multi.step().unwrap());
    let st = multi.stats();

    // dense training step: forward + cross-entropy + backward
    let x = Tensor::randn([batch, 3, 32, 32], (Kind::Float, dev));
    let y = Tensor::randint(10, [batch], (Kind::Int64, dev));
    let t_train = time(dev, iters.min(10).max(2), || {
        let out = exec.forward(&[x.shallow_clone()], true).unwrap();
        let loss = out[0].cross_entropy_for_logits(&y);
        loss.backward();
    });
    println!("resnet20: {} tensors, {nparams} scalars, {} prunable rows, {} in the multi-tensor buffer, device {dev:?}", ts.len(), multi.layout().n_rows, multi.multi_tensor_params());
    println!("stage of the timed DHSPG steps: {:?}", st.stage);
    println!("SGD step                 {t_sgd:8.3} ms");
    println!("dense train step (b={batch}) {t_train:8.3} ms   (fwd+bwd)");
    let default_multi = matches!(dev, Device::Cuda(_));
    for (name, t_dh, is_default) in [("per-tensor", t_per, !default_multi), ("multi-tensor", t_multi, default_multi)] {
        println!(
            "DHSPG step, {name:12} {t_dh:8.3} ms   ({:.2}x SGD step); overhead (DHSPG − SGD) / (train + SGD) = {:.2} %{}",
            t_dh / t_sgd,
            100.0 * (t_dh - t_sgd) / (t_train + t_sgd),
            if is_default { "   <- default on this device" } else { "" }
        );
    }
    Ok(())
}
