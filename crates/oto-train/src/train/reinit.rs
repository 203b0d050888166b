//! Re-initialisation of an ONNX network for training it from scratch (`oto train FILE.onnx
//! --init random`, as OTOv2 trains): every weight, bias and normalisation parameter gets
//! PyTorch's default for its layer type, read from the typed op that consumes it.
//!
//! * Conv / ConvTranspose / Gemm / MatMul weights and their biases: `kaiming_uniform_(a=√5)`,
//!   i.e. uniform ±1/√fan_in, with PyTorch's fan-in (`weight.size(1) · kernel` for convs);
//! * BatchNormalization: scale 1, bias 0, running mean 0, running variance 1;
//!   Layer/Instance/GroupNormalization: scale 1, bias 0; PRelu slope 0.25;
//! * an embedding table (the data of a Gather on axis 0 by token ids): normal(0, 1), as
//!   `nn.Embedding`.
//!
//! Float initializers that no rule covers (a layer scale, a position embedding) keep their
//! values and are listed in the report, so the caller can say so.
use oto_graph::ops::elementwise::BinaryKind;
use oto_graph::ops::norm::NormKind;
use oto_graph::{Graph, Op, ValueId};
use oto_onnx::tensor;
use oto_zoo::init::Init;
use std::collections::{HashMap, HashSet};

/// What [`reinitialize`] did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ReinitReport {
    /// Initializers given fresh values.
    pub reset: Vec<String>,
    /// Float initializers with more than one element that no rule covers (values kept).
    pub kept: Vec<String>,
}

#[derive(Debug, Clone, Copy)]
enum Rule {
    /// Uniform ±1/√fan_in (PyTorch's default for weights and biases).
    Uniform { fan_in: usize },
    Normal { std: f32 },
    Const(f32),
}

/// Re-draws the parameters of `g` with `seed`, in node order (a shared tensor once).
pub fn reinitialize(g: &mut Graph, seed: u64) -> ReinitReport {
    let mut rules: Vec<(ValueId, Rule)> = vec![];
    let mut seen: HashSet<ValueId> = HashSet::new();
    // fan-in of each MatMul-with-weight output, for the bias an Add puts on it
    let mut matmul_fan: HashMap<ValueId, usize> = HashMap::new();
    for nid in 0..g.nodes.len() {
        for (v, r) in node_rules(g, nid, &matmul_fan) {
            if seen.insert(v) {
                rules.push((v, r));
            }
        }
        let n = &g.nodes[nid];
        if let (Op::MatMul(_), Some(w), Some(o)) = (&n.op, n.input(1).and_then(|w| float_dims(g, w)), n.output(0)) {
            if w.len() == 2 {
                matmul_fan.insert(o, w[0].max(1) as usize);
            }
        }
    }
    let mut init = Init::new(seed, false);
    let mut report = ReinitReport::default();
    for (v, rule) in rules {
        let Some(t) = g.values[v].init.as_mut() else { continue };
        let d = t.dims.clone();
        let n = tensor::numel(&d);
        let data = match rule {
            Rule::Uniform { fan_in } => init.linear_weight(n, fan_in),
            Rule::Normal { std } => init.normal(n, std),
            Rule::Const(x) => vec![x; n],
        };
        tensor::set_f32(t, &d, &data);
        report.reset.push(g.values[v].name.clone());
    }
    for (v, val) in g.values.iter().enumerate() {
        if val.is_initializer && !seen.contains(&v) && float_dims(g, v).is_some_and(|d| tensor::numel(&d) > 1) {
            report.kept.push(val.name.clone());
        }
    }
    report
}

/// Dims of a float initializer.
fn float_dims(g: &Graph, v: ValueId) -> Option<Vec<i64>> {
    g.values[v].init.as_ref().filter(|t| g.values[v].is_initializer && tensor::is_float(t)).map(|t| t.dims.clone())
}

/// The rules for the float initializers node `nid` reads.
fn node_rules(g: &Graph, nid: usize, matmul_fan: &HashMap<ValueId, usize>) -> Vec<(ValueId, Rule)> {
    let n = &g.nodes[nid];
    let param = |slot: usize| n.input(slot).filter(|&v| float_dims(g, v).is_some());
    let dims = |slot: usize| param(slot).and_then(|v| float_dims(g, v));
    let prod = |d: &[i64]| d.iter().map(|&x| x.max(1) as usize).product::<usize>();
    let mut out = vec![];
    let mut push = |slot: usize, r: Rule| {
        if let Some(v) = param(slot) {
            out.push((v, r));
        }
    };
    match &n.op {
        Op::Conv(_) => {
            if let Some(w) = dims(1).filter(|w| w.len() >= 3) {
                let fan_in = prod(&w[1..]);
                push(1, Rule::Uniform { fan_in });
                push(2, Rule::Uniform { fan_in });
            }
        }
        Op::Gemm(gm) => {
            if let Some(w) = dims(1).filter(|w| w.len() == 2) {
                let fan_in = if gm.trans_b { w[1] } else { w[0] }.max(1) as usize;
                push(1, Rule::Uniform { fan_in });
                push(2, Rule::Uniform { fan_in });
            }
        }
        Op::MatMul(_) => {
            if let Some(w) = dims(1).filter(|w| w.len() == 2) {
                push(1, Rule::Uniform { fan_in: w[0].max(1) as usize });
            }
        }
        Op::Binary(b) if b.kind == BinaryKind::Add => {
            // a linear layer's bias: MatMul output + 1-D initializer
            for (a, c) in [(0, 1), (1, 0)] {
                let fan = n.input(a).and_then(|x| matmul_fan.get(&x));
                if let (Some(&fan_in), Some(d)) = (fan, dims(c)) {
                    if d.len() == 1 {
                        push(c, Rule::Uniform { fan_in });
                    }
                }
            }
        }
        Op::Norm(nm) => {
            push(1, Rule::Const(1.0));
            push(2, Rule::Const(0.0));
            if nm.kind == NormKind::Batch {
                push(3, Rule::Const(0.0));
                push(4, Rule::Const(1.0));
            }
        }
        Op::PRelu(_) => push(1, Rule::Const(0.25)),
        Op::Gather(gt) if gt.axis == 0 && dims(0).is_some_and(|d| d.len() == 2) => push(0, Rule::Normal { std: 1.0 }),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use oto_zoo::{build, ZooConfig};

    fn floats(g: &Graph, name: &str) -> Vec<f32> {
        tensor::to_f32(g.init(g.id(name).unwrap()).unwrap()).unwrap()
    }

    #[test]
    fn every_parameter_of_a_zoo_model_gets_pytorch_defaults() {
        let cfg = ZooConfig { seed: 3, randomize_stats: true, ..Default::default() };
        let g0 = Graph::from_model(build("resnet20", &cfg).unwrap()).unwrap();
        let mut g = g0.clone();
        let r = reinitialize(&mut g, 7);
        assert!(r.kept.is_empty(), "uncovered: {:?}", r.kept);
        assert!(floats(&g, "bn1.weight").iter().all(|&v| v == 1.0));
        assert!(floats(&g, "bn1.running_mean").iter().all(|&v| v == 0.0));
        assert!(floats(&g, "bn1.running_var").iter().all(|&v| v == 1.0));
        assert_ne!(floats(&g, "bn1.weight"), floats(&g0, "bn1.weight"));
        // conv1 [16, 3, 3, 3]: uniform ±1/√27 (kaiming_uniform with a = √5)
        let w = floats(&g, "conv1.weight");
        let bound = 1.0 / 27f32.sqrt();
        assert!(w.iter().all(|v| v.abs() <= bound) && w.iter().any(|v| v.abs() > 0.8 * bound));
        let fc = floats(&g, "linear.weight");
        assert!(fc.iter().all(|v| v.abs() <= 1.0 / 8.0) && fc.iter().any(|v| v.abs() > 0.05));
        let mut again = g0.clone();
        reinitialize(&mut again, 7);
        assert_eq!(floats(&again, "conv1.weight"), w, "same seed, same values");
    }

    #[test]
    fn uncovered_parameters_are_reported_and_kept() {
        let g0 = Graph::from_model(build("convnext_mini", &ZooConfig::default()).unwrap()).unwrap();
        let mut g = g0.clone();
        let r = reinitialize(&mut g, 1);
        for name in &r.kept {
            assert_eq!(floats(&g, name), floats(&g0, name), "{name} changed");
        }
        assert!(!r.reset.is_empty());
        assert!(r.kept.iter().any(|n| n.ends_with("gamma")), "{:?}", r.kept);
    }

    #[test]
    fn an_embedding_table_is_drawn_standard_normal() {
        let f = concat!(env!("CARGO_MANIFEST_DIR"), "/../oto-cli/tests/fixtures/pytorch/byte_transformer__ts__bdyn__eval.onnx");
        let mut g = Graph::from_model_unchecked(oto_onnx::load_model(std::path::Path::new(f)).unwrap()).unwrap();
        let r = reinitialize(&mut g, 5);
        assert!(r.reset.iter().any(|n| n == "emb.weight") && r.kept == ["pos"], "{r:?}");
        let w = floats(&g, "emb.weight");
        let (mean, var) = (w.iter().sum::<f32>() / w.len() as f32, w.iter().map(|v| v * v).sum::<f32>() / w.len() as f32);
        assert!(w.len() == 256 * 32 && mean.abs() < 0.05 && (var - 1.0).abs() < 0.05, "mean {mean}, var {var}");
    }
}
