//! Training-step benchmark of the oto executor (used by scripts/bench_train.sh): a zoo model
//! (default resnet20), batch B of CIFAR-shaped random data (or real CIFAR-10 with --cifar DIR),
//! SGD momentum 0.9; prints the median step time and the peak RSS as one JSON line.
//!
//! `cargo run -p oto-train --release --example bench_train -- [--model resnet20] [--batch 128]
//!  [--steps 20] [--warmup 3] [--threads N] [--cifar DIR] [--device cpu|cuda]`
use oto_train::exec::Executor;
use oto_train::optim::{Optimizer, Sgd, SgdConfig};
use std::time::Instant;
use tch::{Device, Kind, Tensor};

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse::<f64>().ok()))
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let get = |k: &str| args.iter().position(|a| a == k).and_then(|i| args.get(i + 1)).cloned();
    let model = get("--model").unwrap_or_else(|| "resnet20".into());
    let batch: i64 = get("--batch").map_or(128, |v| v.parse().unwrap());
    let steps: usize = get("--steps").map_or(20, |v| v.parse().unwrap());
    let warmup: usize = get("--warmup").map_or(3, |v| v.parse().unwrap());
    if let Some(t) = get("--threads") {
        tch::set_num_threads(t.parse()?);
    }
    tch::manual_seed(0);
    let g = oto_graph::Graph::from_model(oto_zoo::build(&model, &oto_zoo::ZooConfig::default())?)?;
    let an = oto_graph::zig::analyze(&g);
    let dev = match get("--device").as_deref() {
        None | Some("cpu") => Device::Cpu,
        Some(d) => oto_train::train::parse_device(d)?,
    };
    let exec = Executor::new(&g, &an.trainable, dev)?;
    let mut opt = Sgd::new(exec.params(), &SgdConfig { lr: 0.05, momentum: 0.9, weight_decay: 5e-4, ..Default::default() })?;
    let params = exec.params();
    let (x, y) = match get("--cifar") {
        Some(dir) => {
            let d = oto_train::datasets::load_cifar10_dir(std::path::Path::new(&dir), true)?;
            let (im, lb) = d.to_tensors();
            (
                ((im.narrow(0, 0, batch).to_kind(Kind::Float) / 255.0 - 0.5) / 0.25).to_device(dev),
                lb.narrow(0, 0, batch).to_device(dev),
            )
        }
        None => (Tensor::randn([batch, 3, 32, 32], (Kind::Float, dev)), Tensor::randint(10, [batch], (Kind::Int64, dev))),
    };
    let mut times = vec![];
    for i in 0..warmup + steps {
        let t = Instant::now();
        let logits = exec.forward(&[x.shallow_clone()], true)?.remove(0);
        let loss = logits.cross_entropy_for_logits(&y);
        for p in &params {
            let mut g = p.tensor.grad();
            if g.defined() {
                let _ = tch::no_grad(|| g.zero_());
            }
        }
        loss.backward();
        opt.step()?;
        let _ = loss.double_value(&[]); // waits for the device
        if i >= warmup {
            times.push(t.elapsed().as_secs_f64());
        }
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let med = times[times.len() / 2];
    println!(
        "{{\"impl\": \"oto\", \"model\": \"{model}\", \"device\": \"{dev:?}\", \"batch\": {batch}, \"threads\": {}, \"step_ms\": {:.3}, \"peak_rss_mib\": {:.1}}}",
        tch::get_num_threads(),
        med * 1e3,
        peak_rss_mib()
    );
    Ok(())
}
