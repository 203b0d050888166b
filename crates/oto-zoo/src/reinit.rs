//! Re-initialisation of any ONNX network, for training its architecture from scratch
//! (`oto train FILE.onnx --reinit`). The main use is the pruning control experiment: train the
//! compressed architecture from scratch with the dense budget and compare with what DHSPG gave.
//!
//! The rules follow the zoo's own initialisation ([`crate::init`], PyTorch's defaults), keyed by
//! the node that consumes the initializer and the input slot it fills. Float initializers that
//! no rule covers keep their values and are listed in the report, so a caller can warn about them.
use crate::init::Init;
use oto_onnx::{attr, tensor, ModelProto, NodeProto};
use std::collections::{HashMap, HashSet};

/// What [`reinitialize`] did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ReinitReport {
    /// Initializers given fresh values.
    pub reset: Vec<String>,
    /// Float initializers with more than one element that no rule covers (values kept).
    pub kept: Vec<String>,
}

/// How one initializer is re-drawn.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// Kaiming normal, fan-out, ReLU gain.
    ConvWeight { fan_out: usize },
    /// Uniform ±1/sqrt(fan_in) ([`Init::linear_weight`]; linear weights and all biases).
    Uniform { fan_in: usize },
    Const(f32),
}

/// Re-draws every weight, bias and normalisation parameter of `model` with `seed`, in node order.
pub fn reinitialize(model: &mut ModelProto, seed: u64) -> Result<ReinitReport, String> {
    let graph = model.graph.as_mut().ok_or("the model has no graph")?;
    let dims: HashMap<String, Vec<i64>> = graph
        .initializer
        .iter()
        .filter(|t| tensor::is_float(t))
        .map(|t| (t.name.clone().unwrap_or_default(), t.dims.clone()))
        .collect();
    // fan-in of every MatMul-with-weight output, for the bias an Add puts on it.
    let mut matmul_fan: HashMap<&str, usize> = HashMap::new();
    let mut rules: Vec<(String, Rule)> = vec![];
    let mut seen: HashSet<String> = HashSet::new();
    for node in &graph.node {
        for (name, rule) in node_rules(node, &dims, &matmul_fan) {
            if seen.insert(name.clone()) {
                rules.push((name, rule));
            }
        }
        if node.op_type.as_deref() == Some("MatMul") {
            if let (Some(w), Some(out)) = (node.input.get(1).and_then(|w| dims.get(w)), node.output.first()) {
                if w.len() == 2 {
                    matmul_fan.insert(out.as_str(), w[0].max(1) as usize);
                }
            }
        }
    }
    let mut init = Init::new(seed, false);
    let index: HashMap<String, usize> =
        graph.initializer.iter().enumerate().map(|(i, t)| (t.name.clone().unwrap_or_default(), i)).collect();
    let mut report = ReinitReport::default();
    for (name, rule) in &rules {
        let t = &mut graph.initializer[index[name]];
        let d = t.dims.clone();
        let n = tensor::numel(&d);
        let data = match *rule {
            Rule::ConvWeight { fan_out } => init.conv_weight(n, fan_out),
            Rule::Uniform { fan_in } => init.linear_weight(n, fan_in),
            Rule::Const(v) => vec![v; n],
        };
        tensor::set_f32(t, &d, &data);
        report.reset.push(name.clone());
    }
    for t in &graph.initializer {
        let name = t.name.clone().unwrap_or_default();
        if tensor::is_float(t) && tensor::numel(&t.dims) > 1 && !seen.contains(&name) {
            report.kept.push(name);
        }
    }
    Ok(report)
}

/// The rules for the float initializers `node` consumes.
fn node_rules(node: &NodeProto, dims: &HashMap<String, Vec<i64>>, matmul_fan: &HashMap<&str, usize>) -> Vec<(String, Rule)> {
    let input = |i: usize| node.input.get(i).filter(|n| dims.contains_key(*n)).cloned();
    let shape = |i: usize| input(i).map(|n| dims[&n].clone());
    let prod = |d: &[i64]| d.iter().map(|&x| x.max(1) as usize).product::<usize>();
    let mut out = vec![];
    let mut push = |i: usize, r: Rule| {
        if let Some(n) = input(i) {
            out.push((n, r));
        }
    };
    match node.op_type.as_deref().unwrap_or("") {
        // Conv weight [C_out, C_in/groups, k...]; ConvTranspose [C_in, C_out/groups, k...], whose
        // fan over dim 0 is the zoo's choice too.
        "Conv" | "ConvTranspose" => {
            if let Some(w) = shape(1).filter(|w| w.len() >= 3) {
                push(1, Rule::ConvWeight { fan_out: w[0].max(1) as usize * prod(&w[2..]) });
                push(2, Rule::Uniform { fan_in: prod(&w[1..]) });
            }
        }
        "Gemm" => {
            if let Some(w) = shape(1).filter(|w| w.len() == 2) {
                let fan_in = if attr::int(node, "transB").unwrap_or(0) != 0 { w[1] } else { w[0] }.max(1) as usize;
                push(1, Rule::Uniform { fan_in });
                push(2, Rule::Uniform { fan_in });
            }
        }
        "MatMul" => {
            if let Some(w) = shape(1).filter(|w| w.len() == 2) {
                push(1, Rule::Uniform { fan_in: w[0].max(1) as usize });
            }
        }
        "Add" => {
            // A linear layer's bias: MatMul output + 1-D initializer.
            for (a, b) in [(0, 1), (1, 0)] {
                let fan = node.input.get(a).and_then(|x| matmul_fan.get(x.as_str()));
                if let (Some(&fan_in), Some(d)) = (fan, shape(b)) {
                    if d.len() == 1 {
                        push(b, Rule::Uniform { fan_in });
                    }
                }
            }
        }
        "BatchNormalization" => {
            push(1, Rule::Const(1.0));
            push(2, Rule::Const(0.0));
            push(3, Rule::Const(0.0));
            push(4, Rule::Const(1.0));
        }
        "LayerNormalization" | "InstanceNormalization" | "GroupNormalization" => {
            push(1, Rule::Const(1.0));
            push(2, Rule::Const(0.0));
        }
        "PRelu" => push(1, Rule::Const(0.25)),
        _ => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{build, ZooConfig};

    fn floats(m: &ModelProto, name: &str) -> Vec<f32> {
        let t = m.graph.as_ref().unwrap().initializer.iter().find(|t| t.name.as_deref() == Some(name)).unwrap();
        tensor::to_f32(t).unwrap()
    }

    #[test]
    fn every_parameter_of_a_zoo_model_is_redrawn_with_the_zoo_statistics() {
        let cfg = ZooConfig { seed: 3, randomize_stats: true, ..Default::default() };
        let mut m = build("resnet20", &cfg).unwrap();
        let before = m.clone();
        let r = reinitialize(&mut m, 7).unwrap();
        assert!(r.kept.is_empty(), "uncovered: {:?}", r.kept);
        // BN back at identity, running statistics reset.
        assert!(floats(&m, "bn1.weight").iter().all(|&v| v == 1.0));
        assert!(floats(&m, "bn1.running_mean").iter().all(|&v| v == 0.0));
        assert!(floats(&m, "bn1.running_var").iter().all(|&v| v == 1.0));
        assert_ne!(floats(&m, "bn1.weight"), floats(&before, "bn1.weight"));
        // Conv weights: new values with the Kaiming fan-out spread; shapes untouched.
        let w = floats(&m, "conv1.weight");
        assert_ne!(w, floats(&before, "conv1.weight"));
        let std = (w.iter().map(|v| v * v).sum::<f32>() / w.len() as f32).sqrt();
        let want = (2.0f32 / (16.0 * 9.0)).sqrt();
        assert!((std / want - 1.0).abs() < 0.15, "std {std} vs {want}");
        // Linear weight within ±1/sqrt(fan_in); the graph itself is unchanged.
        let fc = floats(&m, "linear.weight");
        assert!(fc.iter().all(|v| v.abs() <= 1.0 / 8.0) && fc.iter().any(|v| v.abs() > 0.05));
        assert_eq!(m.graph.as_ref().unwrap().node, before.graph.as_ref().unwrap().node);
        // Same seed, same values.
        let mut again = before.clone();
        reinitialize(&mut again, 7).unwrap();
        assert_eq!(again, m);
    }

    #[test]
    fn uncovered_parameters_are_reported_and_kept() {
        let mut m = build("convnext_mini", &ZooConfig::default()).unwrap();
        let before = m.clone();
        let r = reinitialize(&mut m, 1).unwrap();
        for name in &r.kept {
            assert_eq!(floats(&m, name), floats(&before, name), "{name} changed");
        }
        assert!(!r.reset.is_empty());
        // ConvNeXt's layer scale has no rule: kept, and named.
        assert!(r.kept.iter().any(|n| n.ends_with("gamma")), "{:?}", r.kept);
    }
}
