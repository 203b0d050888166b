//! Executor gradients against central finite differences (executor in f64), BatchNorm training
//! semantics (running-stat update like PyTorch's BatchNorm2d(momentum=0.1) for ONNX momentum
//! 0.9), Dropout, checkpoints (named tensors) and write_back round trips.
mod exec_common;
use exec_common::*;
use oto_graph::Graph;
use oto_onnx::attr::{a_float, a_int, a_ints, a_string, node};
use oto_exec::Executor;
use tch::{Device, Kind, Tensor};

fn graph(c: &Case) -> Graph {
    Graph::from_model(c.model.clone()).unwrap()
}

/// Float initializers are trainable here, except BN running stats and op constants (by name).
fn trainable(g: &Graph) -> Vec<usize> {
    g.initializer_ids()
        .into_iter()
        .filter(|&id| {
            let n = &g.value(id).name;
            let constant = ["two", "eps", "lo", "hi", "sc"].contains(&n.as_str());
            !(n.ends_with("_mean") || n.ends_with("_var") || constant) && g.value(id).dtype == 1
        })
        .collect()
}

/// Checks d(Σ out·R)/dθ from autograd against central differences, for up to 8 entries of
/// every trainable tensor; `train` selects BatchNorm batch statistics.
fn grad_check(c: &Case, train: bool) {
    let g = graph(c);
    let ex = Executor::with_kind(&g, &trainable(&g), Device::Cpu, Kind::Double).unwrap();
    let data: Vec<Tensor> = c.data.iter().map(|t| t.to_kind(Kind::Double)).collect();
    let outs = ex.forward(&data, train).unwrap();
    tch::manual_seed(99);
    let weights: Vec<Tensor> = outs.iter().map(|o| Tensor::randn(o.size(), (Kind::Double, Device::Cpu))).collect();
    let loss_of = |outs: &[Tensor]| -> Tensor {
        outs.iter().zip(&weights).map(|(o, w)| (o * w).sum(Kind::Double)).reduce(|a, b| a + b).unwrap()
    };
    let loss = loss_of(&outs);
    loss.backward();
    let params = ex.params();
    assert!(!params.is_empty());
    let h = 1e-6;
    let mut worst = 0.0f64;
    for p in &params {
        let grad = p.tensor.grad();
        assert!(grad.defined(), "{}: {} has no gradient", c.name, p.name);
        let n = p.tensor.numel() as i64;
        let scale = grad.abs().max().double_value(&[]).max(1e-3);
        let flat = p.tensor.view([-1]);
        let gflat = grad.view([-1]);
        let picks: Vec<i64> = if n <= 8 { (0..n).collect() } else { (0..8).map(|k| (k * 7919 + 3) % n).collect() };
        for i in picks {
            let eval = |delta: f64| -> f64 {
                tch::no_grad(|| {
                    let _ = flat.get(i).f_add_scalar_(delta).unwrap();
                });
                let l = tch::no_grad(|| loss_of(&ex.forward(&data, train).unwrap()).double_value(&[]));
                tch::no_grad(|| {
                    let _ = flat.get(i).f_sub_scalar_(delta).unwrap();
                });
                l
            };
            let fd = (eval(h) - eval(-h)) / (2.0 * h);
            let an = gflat.double_value(&[i]);
            let err = (fd - an).abs() / scale;
            worst = worst.max(err);
            assert!(err < 1e-5, "{} ({}): d/d{}[{i}] autograd {an} vs finite difference {fd}", c.name, if train { "train" } else { "eval" }, p.name);
        }
    }
    println!("{:28} {} params, worst rel err {worst:.2e}", c.name, params.len());
}

fn positive(n: usize) -> Vec<f32> {
    (0..n).map(|i| 0.6 + 0.17 * i as f32).collect()
}

fn conv_bn_relu_gemm() -> Case {
    case("conv_bn_relu_gemm")
        .input("x", &[3, 3, 6, 6])
        .init("w", &[4, 3, 3, 3])
        .init("cb", &[4])
        .node(node("Conv", "conv", &["x", "w", "cb"], &["c"], vec![a_ints("pads", &[1, 1, 1, 1])]))
        .init("bn_s", &[4])
        .init("bn_b", &[4])
        .init("bn_mean", &[4])
        .init_f("bn_var", &[4], &positive(4))
        .node(node("BatchNormalization", "bn", &["c", "bn_s", "bn_b", "bn_mean", "bn_var"], &["b"], vec![a_float("momentum", 0.9)]))
        .node(node("Relu", "relu", &["b"], &["r"], vec![]))
        .node(node("GlobalAveragePool", "gap", &["r"], &["p"], vec![]))
        .node(node("Flatten", "flat", &["p"], &["f"], vec![]))
        .init("fc_w", &[5, 4])
        .init("fc_b", &[5])
        .node(node("Gemm", "fc", &["f", "fc_w", "fc_b"], &["y"], vec![a_int("transB", 1)]))
        .output("y")
        .build()
}

#[test]
fn gradients_match_finite_differences() {
    grad_check(&conv_bn_relu_gemm(), false);
    grad_check(&conv_bn_relu_gemm(), true);
    let residual = case("residual_add")
        .input("x", &[2, 4, 5, 5])
        .init("w1", &[4, 4, 3, 3])
        .node(node("Conv", "c1", &["x", "w1"], &["a"], vec![a_ints("pads", &[1, 1, 1, 1])]))
        .node(node("Sigmoid", "s", &["a"], &["b"], vec![]))
        .init("w2", &[4, 4, 3, 3])
        .init("b2", &[4])
        .node(node("Conv", "c2", &["b", "w2", "b2"], &["c"], vec![a_ints("pads", &[1, 1, 1, 1])]))
        .node(node("Add", "add", &["c", "x"], &["d"], vec![]))
        .node(node("Tanh", "t", &["d"], &["e"], vec![]))
        .node(node("ReduceMean", "rm", &["e"], &["y"], vec![a_ints("axes", &[2, 3])]))
        .output("y")
        .build();
    grad_check(&residual, false);
    let concat = case("concat_branches")
        .input("x", &[2, 3, 6, 6])
        .init("wa", &[2, 3, 1, 1])
        .init("wb", &[3, 3, 3, 3])
        .node(node("Conv", "ca", &["x", "wa"], &["a"], vec![]))
        .node(node("Conv", "cb", &["x", "wb"], &["b"], vec![a_ints("pads", &[1, 1, 1, 1])]))
        .node(node("Concat", "cat", &["a", "b"], &["c"], vec![a_int("axis", 1)]))
        .node(node("MaxPool", "mp", &["c"], &["m"], vec![a_ints("kernel_shape", &[2, 2]), a_ints("strides", &[2, 2])]))
        .init("wc", &[4, 5, 3, 3])
        .node(node("Conv", "cc", &["m", "wc"], &["y"], vec![a_ints("pads", &[0, 1, 1, 0])]))
        .output("y")
        .build();
    grad_check(&concat, false);
    let ln = case("layernorm_fused_and_decomposed")
        .input("x", &[2, 3, 8])
        .init("w", &[8, 8])
        .init("bias", &[8])
        .node(node("MatMul", "mm", &["x", "w"], &["a"], vec![]))
        .node(node("Add", "ab", &["a", "bias"], &["b"], vec![]))
        .init("ln_s", &[8])
        .init("ln_b", &[8])
        .node(node("LayerNormalization", "ln", &["b", "ln_s", "ln_b"], &["c"], vec![]))
        // The decomposed form: (x - mean) / sqrt(var + eps) * s + b from primitive ops.
        .node(node("ReduceMean", "m1", &["c"], &["mu"], vec![a_ints("axes", &[-1])]))
        .node(node("Sub", "d1", &["c", "mu"], &["cen"], vec![]))
        .init_f("two", &[], &[2.0])
        .node(node("Pow", "p", &["cen", "two"], &["sq"], vec![]))
        .node(node("ReduceMean", "m2", &["sq"], &["var"], vec![a_ints("axes", &[-1])]))
        .init_f("eps", &[], &[1e-5])
        .node(node("Add", "ae", &["var", "eps"], &["ve"], vec![]))
        .node(node("Sqrt", "sq", &["ve"], &["sd"], vec![]))
        .node(node("Div", "dv", &["cen", "sd"], &["nrm"], vec![]))
        .init("ln2_s", &[8])
        .node(node("Mul", "ms", &["nrm", "ln2_s"], &["sc"], vec![]))
        .node(node("Softmax", "sm", &["sc"], &["y"], vec![a_int("axis", -1)]))
        .output("y")
        .build();
    grad_check(&ln, false);
    let dw = case("depthwise_separable")
        .input("x", &[2, 4, 7, 7])
        .init("dw", &[4, 1, 3, 3])
        .init("dwb", &[4])
        .node(node("Conv", "dwc", &["x", "dw", "dwb"], &["a"], vec![a_int("group", 4), a_ints("pads", &[1, 1, 1, 1]), a_ints("strides", &[2, 2])]))
        .init_f("lo", &[], &[-0.5])
        .init_f("hi", &[], &[0.5])
        .node(node("Clip", "clip", &["a", "lo", "hi"], &["b"], vec![]))
        .init("pw", &[6, 4, 1, 1])
        .node(node("Conv", "pwc", &["b", "pw"], &["c"], vec![]))
        .init("gn_s", &[6])
        .init("gn_b", &[6])
        .node(node("InstanceNormalization", "inorm", &["c", "gn_s", "gn_b"], &["d"], vec![]))
        .node(node("AveragePool", "ap", &["d"], &["y"], vec![a_ints("kernel_shape", &[3, 3]), a_ints("pads", &[1, 1, 1, 1])]))
        .output("y")
        .build();
    grad_check(&dw, false);
    let up = case("upsampling_decoder")
        .input("x", &[2, 4, 3, 3])
        .init("wt", &[4, 8, 3, 3])
        .init("bt", &[8])
        .node(node("ConvTranspose", "ct", &["x", "wt", "bt"], &["a"], vec![a_ints("strides", &[2, 2]), a_ints("pads", &[1, 0, 0, 1])]))
        .init_f("sc", &[4], &[1.0, 1.0, 2.0, 2.0])
        .node(node("Resize", "rs", &["a", "", "sc"], &["b"], vec![a_string("mode", "linear")]))
        .node(node("DepthToSpace", "d2s", &["b"], &["c"], vec![a_int("blocksize", 2)]))
        .init_i("pads", &[0, 0, 1, 1, 0, 0, 1, 1])
        .node(node("Pad", "pad", &["c", "pads"], &["y"], vec![a_string("mode", "reflect")]))
        .output("y")
        .build();
    grad_check(&up, false);
}

#[test]
fn batchnorm_training_updates_running_stats_like_pytorch() {
    let c = case("bn_train")
        .input("x", &[4, 3, 5, 5])
        .init("s", &[3])
        .init("b", &[3])
        .init("bn_mean", &[3])
        .init_f("bn_var", &[3], &positive(3))
        .node(node("BatchNormalization", "bn", &["x", "s", "b", "bn_mean", "bn_var"], &["y"], vec![a_float("momentum", 0.9), a_float("epsilon", 1e-5)]))
        .output("y")
        .build();
    let g = graph(&c);
    let ex = Executor::new(&g, &trainable(&g), Device::Cpu).unwrap();
    let state = |name: &str| ex.named_tensors().into_iter().find(|(n, _)| n == name).unwrap().1.copy();
    let (m0, v0) = (state("bn_mean"), state("bn_var"));
    let x = &c.data[0];
    let y = ex.forward(&[x.shallow_clone()], true).unwrap().remove(0);
    // PyTorch BatchNorm2d(momentum=0.1): running = 0.9·running + 0.1·batch, unbiased variance.
    let dims: &[i64] = &[0, 2, 3];
    let mean = x.mean_dim(dims, false, Kind::Float);
    let var_u = x.var_dim(dims, true, false);
    let var_b = x.var_dim(dims, false, false);
    let m1 = &m0 * 0.9 + &mean * 0.1;
    let v1 = &v0 * 0.9 + &var_u * 0.1;
    let tol = |a: &Tensor, b: &Tensor| (a - b).abs().max().double_value(&[]);
    assert!(tol(&state("bn_mean"), &m1) < 1e-6, "running mean {:?} vs {:?}", state("bn_mean"), m1);
    assert!(tol(&state("bn_var"), &v1) < 1e-5, "running var {:?} vs {:?}", state("bn_var"), v1);
    // Output uses the batch statistics (biased variance).
    let sh = [1i64, 3, 1, 1];
    let s = ex.params()[0].tensor.detach().view(sh);
    let b = ex.params()[1].tensor.detach().view(sh);
    let want = (x - mean.view(sh)) / (var_b.view(sh) + 1e-5).sqrt() * s + b;
    assert!(tol(&y, &want) < 1e-4, "train-mode output differs by {}", tol(&y, &want));
    // Eval mode then uses the updated running statistics.
    let ye = ex.forward(&[x.shallow_clone()], false).unwrap().remove(0);
    let s = ex.params()[0].tensor.detach().view(sh);
    let b = ex.params()[1].tensor.detach().view(sh);
    let want_e = (x - m1.view(sh)) / (v1.view(sh) + 1e-5).sqrt() * s + b;
    assert!(tol(&ye, &want_e) < 1e-4, "eval-mode output differs by {}", tol(&ye, &want_e));
}

#[test]
fn dropout_is_active_only_in_training() {
    let c = case("dropout")
        .input("x", &[64, 64])
        .init_f("r", &[], &[0.25])
        .node(node("Dropout", "d", &["x", "r"], &["y"], vec![]))
        .output("y")
        .build();
    let g = graph(&c);
    let ex = Executor::new(&g, &[], Device::Cpu).unwrap();
    let x = Tensor::ones([64, 64], (Kind::Float, Device::Cpu));
    let ye = ex.forward(&[x.shallow_clone()], false).unwrap().remove(0);
    assert_eq!(ye.sum(Kind::Float).double_value(&[]), 4096.0);
    let yt = ex.forward(&[x], true).unwrap().remove(0);
    let zeros = yt.eq(0.0).sum(Kind::Float).double_value(&[]) / 4096.0;
    assert!((zeros - 0.25).abs() < 0.05, "zero fraction {zeros}");
    let kept_max = yt.max().double_value(&[]);
    assert!((kept_max - 1.0 / 0.75).abs() < 1e-6);
}

#[test]
fn write_back_and_checkpoint_round_trip() {
    let c = conv_bn_relu_gemm();
    let mut g = graph(&c);
    let ex = Executor::new(&g, &trainable(&g), Device::Cpu).unwrap();
    let x = &c.data[0];
    // Change a parameter in place and the BN running stats through a training step.
    let params = ex.params();
    let w = params.iter().find(|p| p.name == "w").unwrap();
    tch::no_grad(|| {
        let _ = w.tensor.shallow_clone().f_add_scalar_(0.25).unwrap();
    });
    ex.forward(&[x.shallow_clone()], true).unwrap();
    let want = ex.forward(&[x.shallow_clone()], false).unwrap().remove(0);

    // Checkpoint: a fresh executor of the original graph loads the named tensors.
    let saved: Vec<(String, Tensor)> = ex.named_tensors().into_iter().map(|(n, t)| (n, t.detach().copy())).collect();
    assert_eq!(saved.len(), 8, "{:?}", saved.iter().map(|s| &s.0).collect::<Vec<_>>());
    let mut ex2 = Executor::new(&g, &trainable(&g), Device::Cpu).unwrap();
    ex2.load_named_tensors(&saved).unwrap();
    let got = ex2.forward(&[x.shallow_clone()], false).unwrap().remove(0);
    assert!((&got - &want).abs().max().double_value(&[]) == 0.0);
    let err = ex2.load_named_tensors(&saved[1..]).unwrap_err().to_string();
    assert!(err.contains("missing") && err.contains('w'), "{err}");

    // write_back → ONNX bytes → reload: same eval outputs and initializer values.
    ex.write_back(&mut g).unwrap();
    let bytes = oto_onnx::encode_model(&g.to_model());
    let g2 = Graph::from_model(oto_onnx::decode_model(&bytes, "roundtrip", None).unwrap()).unwrap();
    let w2 = g2.const_f32(g2.id("w").unwrap()).unwrap();
    let w1 = Vec::<f32>::try_from(w.tensor.detach().view([-1])).unwrap();
    assert_eq!(w1, w2);
    let mean2 = g2.const_f32(g2.id("bn_mean").unwrap()).unwrap();
    let mean1 = Vec::<f32>::try_from(ex.named_tensors().into_iter().find(|(n, _)| n == "bn_mean").unwrap().1.view([-1])).unwrap();
    assert_eq!(mean1, mean2);
    let ex3 = Executor::new(&g2, &[], Device::Cpu).unwrap();
    let got = ex3.forward(&[x.shallow_clone()], false).unwrap().remove(0);
    assert!((&got - &want).abs().max().double_value(&[]) == 0.0);
}
