//! CUDA vs CPU executor parity (eval outputs, train-mode loss, gradients, BN running stats) on a
//! few zoo models, plus a train-step timing. Skips (passes with a note) without a CUDA device;
//! build with `--features cuda` so libtorch_cuda is linked.
mod exec_common;
use exec_common::randn;
use oto_graph::{zig, Graph};
use oto_exec::Executor;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

fn rel(a: &Tensor, b: &Tensor) -> f64 {
    let a = a.to_device(Device::Cpu).to_kind(Kind::Double);
    let b = b.to_device(Device::Cpu).to_kind(Kind::Double);
    (&a - &b).abs().max().double_value(&[]) / b.abs().max().double_value(&[]).max(1e-6)
}

#[test]
fn cuda_matches_cpu_on_zoo_models() {
    if !tch::Cuda::is_available() {
        println!("no CUDA device (or built without --features cuda): skipped");
        return;
    }
    // In f64 (no TF32 in cuDNN / cuBLAS) CUDA and CPU must agree tightly; the f32 eval output is
    // also checked, at a tolerance that allows TF32 convolutions.
    let (tol_out, tol_grad, tol_f32) = (1e-8, 1e-7, 5e-3);
    let gpu = Device::Cuda(0);
    let mut failures = vec![];
    for name in ["resnet20", "mobilenet_v2", "convnext_mini", "carn_mini", "stacked_unets", "tiny_transformer", "densenet_bc", "shufflenet_style", "demonet"] {
        let cfg = oto_zoo::ZooConfig { randomize_stats: true, seed: 3, ..Default::default() };
        let cfg = if name == "mobilenet_v2" { oto_zoo::ZooConfig { input_shape: Some([3, 32, 32]), width_mult: Some(0.5), ..cfg } } else { cfg };
        let e = oto_zoo::list().iter().find(|e| e.name == name).unwrap();
        let g = Graph::from_model(oto_zoo::build(name, &cfg).unwrap()).unwrap();
        let tr = zig::analyze(&g).trainable;
        let [c, h, w] = cfg.input_shape.unwrap_or(e.input_shape).map(|d| d as i64);
        let x32 = randn(&[4, c, h, w], 5);
        let e_f32 = {
            let cpu = Executor::new(&g, &tr, Device::Cpu).unwrap();
            let cu = Executor::new(&g, &tr, gpu).unwrap();
            let yc = cpu.forward(&[x32.shallow_clone()], false).unwrap().remove(0);
            let yg = cu.forward(&[x32.to_device(gpu)], false).unwrap().remove(0);
            assert_eq!(yg.device(), gpu);
            rel(&yg, &yc)
        };
        let x = x32.to_kind(Kind::Double);
        let cpu = Executor::with_kind(&g, &tr, Device::Cpu, Kind::Double).unwrap();
        let cu = Executor::with_kind(&g, &tr, gpu, Kind::Double).unwrap();
        let yc = cpu.forward(&[x.shallow_clone()], false).unwrap().remove(0);
        let yg = cu.forward(&[x.to_device(gpu)], false).unwrap().remove(0);
        assert_eq!(yg.device(), gpu);
        let e_out = rel(&yg, &yc);
        let lc = cpu.forward(&[x.shallow_clone()], true).unwrap().remove(0).square().mean(Kind::Double);
        let lg = cu.forward(&[x.to_device(gpu)], true).unwrap().remove(0).square().mean(Kind::Double);
        lc.backward();
        lg.backward();
        // Gradient error per tensor relative to its own scale, floored at 1e-3 of the largest
        // gradient (e.g. a conv bias before a train-mode BN has an exactly-zero true gradient,
        // so both sides are round-off there).
        let gmax = cpu.params().iter().map(|p| p.tensor.grad().abs().max().double_value(&[])).fold(0.0, f64::max);
        let mut e_grad = 0.0f64;
        for (pc, pg) in cpu.params().iter().zip(cu.params()) {
            let (a, b) = (pg.tensor.grad().to_device(Device::Cpu).to_kind(Kind::Double), pc.tensor.grad().to_kind(Kind::Double));
            let scale = b.abs().max().double_value(&[]).max(1e-3 * gmax);
            e_grad = e_grad.max((&a - &b).abs().max().double_value(&[]) / scale);
        }
        let mut e_state = 0.0f64;
        for ((_, a), (_, b)) in cpu.named_tensors().iter().zip(cu.named_tensors()) {
            e_state = e_state.max(rel(&b, a));
        }
        println!("{name:18} f32 out {e_f32:.1e} | f64: out {e_out:.1e}  loss {:.1e}  grad {e_grad:.1e}  state {e_state:.1e}", rel(&lg, &lc));
        if e_f32 > tol_f32 || e_out > tol_out || e_grad > tol_grad || e_state > tol_out {
            failures.push(name);
        }
    }
    // Train-step timing (forward + backward), resnet20 batch 128 and mobilenet_v2 (CIFAR) batch 128.
    for name in ["resnet20", "mobilenet_v2"] {
        let cfg = oto_zoo::ZooConfig { input_shape: Some([3, 32, 32]), seed: 1, ..Default::default() };
        let g = Graph::from_model(oto_zoo::build(name, &cfg).unwrap()).unwrap();
        let tr = zig::analyze(&g).trainable;
        let ex = Executor::new(&g, &tr, gpu).unwrap();
        let x = Tensor::randn([128, 3, 32, 32], (Kind::Float, gpu));
        let step = || {
            let l = ex.forward(&[x.shallow_clone()], true).unwrap().remove(0).square().mean(Kind::Float);
            l.backward();
            for p in ex.params() {
                let mut gr = p.tensor.grad();
                if gr.defined() {
                    let _ = gr.zero_();
                }
            }
        };
        for _ in 0..5 {
            step();
        }
        tch::Cuda::synchronize(0);
        let t = Instant::now();
        let n = 30;
        for _ in 0..n {
            step();
        }
        tch::Cuda::synchronize(0);
        println!("{name:18} train step (fwd+bwd, batch 128, 32x32): {:.2} ms", t.elapsed().as_secs_f64() * 1e3 / n as f64);
    }
    assert!(failures.is_empty(), "CUDA/CPU mismatch: {failures:?}");
}
