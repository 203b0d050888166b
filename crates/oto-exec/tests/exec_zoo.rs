//! Every zoo model: executor forward (eval mode, batch 2) equals onnxruntime within 1e-4
//! relative, and a training-mode forward/backward gives every trainable tensor a gradient.
mod exec_common;
use exec_common::*;
use oto_graph::{zig, Graph};
use oto_onnx::ModelProto;
use oto_exec::Executor;
use tch::{Device, Kind, Tensor};

const TOL: f64 = 1e-4;

/// Small configurations so the whole file stays fast.
fn cfg(name: &str) -> oto_zoo::ZooConfig {
    let (shape, width) = match name {
        "vgg16_bn_imagenet" => (Some([3, 64, 64]), Some(0.25)),
        "resnet18" | "mobilenet_v2" => (Some([3, 32, 32]), Some(0.5)),
        "resnet50" | "densenet121" | "convnext_tiny" => (Some([3, 32, 32]), Some(0.25)),
        "convnext_nano" => (Some([3, 32, 32]), Some(0.5)),
        "carn_x2" | "carn_x4" => (Some([3, 16, 16]), Some(0.5)),
        "vgg16_bn" | "resnet56" | "resnet56_a" => (None, Some(0.5)),
        _ => (None, None),
    };
    oto_zoo::ZooConfig { input_shape: shape, width_mult: width, randomize_stats: true, seed: 7, ..Default::default() }
}

#[test]
fn zoo_forward_matches_onnxruntime_and_trains() {
    tch::set_num_threads(2);
    let mut models: Vec<(String, ModelProto, Vec<Tensor>)> = vec![];
    for e in oto_zoo::list() {
        let c = cfg(e.name);
        let m = oto_zoo::build(e.name, &c).unwrap_or_else(|err| panic!("{}: {err}", e.name));
        let [ch, h, w] = c.input_shape.unwrap_or(e.input_shape).map(|d| d as i64);
        let x = randn(&[2, ch, h, w], 11);
        models.push((e.name.to_string(), m, vec![x]));
    }
    let dir = tempfile::tempdir().unwrap();
    let list: Vec<(String, &ModelProto, Vec<Tensor>)> =
        models.iter().map(|(n, m, d)| (n.clone(), m, d.iter().map(|t| t.shallow_clone()).collect())).collect();
    let refs = ort_outputs(dir.path(), &list);
    let mut failures = vec![];
    for ((name, m, data), r) in models.iter().zip(refs) {
        let t0 = std::time::Instant::now();
        let g = Graph::from_model(m.clone()).unwrap();
        let trainable = zig::analyze(&g).trainable;
        let ex = match Executor::new(&g, &trainable, Device::Cpu) {
            Ok(ex) => ex,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        // Eval-mode parity.
        let out = match ex.forward(data, false) {
            Ok(o) => o,
            Err(e) => {
                failures.push(format!("{name}: forward: {e}"));
                continue;
            }
        };
        let err = match r {
            Ok(r) => rel_err(&out[0], &r[0]),
            Err(e) => Err(format!("onnxruntime: {e}")),
        };
        match &err {
            Ok(e) if *e <= TOL => {}
            Ok(e) => failures.push(format!("{name}: rel err {e:.3e} > {TOL:e}")),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
        // Training mode: forward + backward reaches every trainable tensor.
        let params = ex.params();
        let y = ex.forward(data, true).unwrap();
        let loss = y[0].square().mean(Kind::Float);
        loss.backward();
        let lv = loss.double_value(&[]);
        let missing: Vec<&str> = params.iter().filter(|p| !p.tensor.grad().defined()).map(|p| p.name.as_str()).collect();
        if !lv.is_finite() || !missing.is_empty() {
            failures.push(format!("{name}: train loss {lv}, params without grad: {missing:?}"));
        }
        println!(
            "{name:20} steps {:4} params {:4} eval rel err {:.2e}  ({:.2}s)",
            ex.num_steps(),
            params.len(),
            err.clone().unwrap_or(f64::NAN),
            t0.elapsed().as_secs_f64()
        );
    }
    assert!(failures.is_empty(), "{} model(s) failed:\n{}", failures.len(), failures.join("\n"));
}
