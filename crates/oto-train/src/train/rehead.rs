//! `--rehead`: a classifier whose class count differs from the dataset's (a torchvision model
//! with 1,000 ImageNet classes trained on a 10-class folder set) gets its last layer replaced by
//! a freshly drawn one with the dataset's class count, as `model.fc = nn.Linear(in, classes)`
//! does in PyTorch. Without the flag the mismatch is an error ([`check_classes`]).
//!
//! The last layer is found from the graph's first output, walking back through ops that keep
//! the class axis (activations, Dropout, Flatten, global pooling, Softmax) and a bias `Add`, to a
//! Gemm, a MatMul with a 2-D weight, or an ungrouped Conv (SqueezeNet's 1×1 classifier); its
//! weight and bias get PyTorch's `nn.Linear`/`nn.Conv2d` default (uniform ±1/√fan_in).
use crate::error::TrainError;
use oto_graph::ops::elementwise::BinaryKind;
use oto_graph::{Dim, Graph, Op, ValueId};
use oto_onnx::tensor;
use oto_zoo::init::Init;

/// What [`rehead`] replaced.
#[derive(Debug, Clone, PartialEq)]
pub struct Rehead {
    /// The node of the replaced layer.
    pub layer: String,
    pub from: i64,
    pub to: i64,
}

/// The class count of the graph's first output when it is `[N, classes]` logits.
pub fn output_classes(g: &Graph) -> Option<i64> {
    g.outputs.first().and_then(|&o| g.shape(o)).filter(|s| s.len() == 2).and_then(|s| s[1].known())
}

/// An error when the model's class count is known and is not the dataset's.
pub fn check_classes(g: &Graph, classes: usize, model: &str) -> Result<(), TrainError> {
    match output_classes(g) {
        Some(k) if k != classes as i64 => Err(TrainError::Config(format!(
            "--model {model}: the model outputs {k} classes but the dataset has {classes}; \
             pass --rehead to replace its last layer by a fresh one with {classes} outputs, or re-export \
             the model with {classes} classes"
        ))),
        _ => Ok(()),
    }
}

/// The classifier's weight, its class axis, its fan-in and its bias, walking back from `v`.
fn find_head(g: &Graph, mut v: ValueId) -> Result<(usize, ValueId, usize, usize, Option<ValueId>), String> {
    let weight = |x: Option<ValueId>| x.filter(|&w| g.value(w).is_initializer && g.init(w).is_some_and(tensor::is_float));
    let mut bias = None;
    loop {
        let Some(nid) = g.value(v).producer else { return Err(format!("'{}' is not computed by a layer", g.value(v).name)) };
        let n = &g.nodes[nid];
        let dims = |w: ValueId| g.init(w).map(|t| t.dims.clone()).unwrap_or_default();
        match &n.op {
            Op::Gemm(gm) if !gm.trans_a => {
                let w = weight(n.input(1)).filter(|&w| dims(w).len() == 2).ok_or("its Gemm has no 2-D weight initializer")?;
                let (axis, fan) = if gm.trans_b { (0, dims(w)[1]) } else { (1, dims(w)[0]) };
                return Ok((nid, w, axis, fan as usize, weight(n.input(2)).or(bias)));
            }
            Op::MatMul(_) => {
                let w = weight(n.input(1)).filter(|&w| dims(w).len() == 2).ok_or("its MatMul has no 2-D weight initializer")?;
                return Ok((nid, w, 1, dims(w)[0] as usize, bias));
            }
            Op::Conv(c) if !c.transpose && c.group == 1 => {
                let w = weight(n.input(1)).ok_or("its Conv has no weight initializer")?;
                let fan = dims(w)[1..].iter().product::<i64>();
                return Ok((nid, w, 0, fan as usize, weight(n.input(2))));
            }
            Op::Binary(b) if b.kind == BinaryKind::Add && bias.is_none() => {
                let (x, c) = match (weight(n.input(0)), weight(n.input(1))) {
                    (None, Some(c)) => (n.input(0), c),
                    (Some(c), None) => (n.input(1), c),
                    _ => return Err(format!("the Add '{}' before the output is not a bias", n.name)),
                };
                bias = Some(c);
                v = x.ok_or("an Add without inputs")?;
            }
            Op::Unary(_) | Op::Identity(_) | Op::Dropout(_) | Op::Flatten(_) | Op::GlobalPool(_) | Op::Softmax(_) => {
                v = n.input(0).ok_or("a node without inputs")?;
            }
            _ => return Err(format!("the output is computed by a {} ('{}'), not a linear or 1×1 conv layer", n.op_type, n.name)),
        }
    }
}

/// Replaces the last layer of `g` by a fresh one with `classes` outputs (seeded with `seed`);
/// the graph's shapes and output declarations are re-inferred.
pub fn rehead(g: &mut Graph, classes: usize, seed: u64) -> Result<Rehead, TrainError> {
    let out = *g.outputs.first().ok_or_else(|| TrainError::Config("the model has no output".into()))?;
    let from = output_classes(g).unwrap_or(-1);
    let (nid, w, axis, fan_in, bias) = find_head(g, out)
        .map_err(|e| TrainError::Config(format!("--rehead: cannot find the classifier layer: {e}; replace it in PyTorch and re-export")))?;
    let mut init = Init::new(seed ^ 0x5eed_4ead, false);
    for (v, axis) in [(Some(w), axis), (bias, usize::MAX)] {
        let Some(v) = v else { continue };
        if g.value(v).consumers.len() != 1 {
            return Err(TrainError::Config(format!("--rehead: the classifier tensor '{}' is shared with other layers", g.value(v).name)));
        }
        let t = g.value_mut(v).init.as_mut().expect("a weight initializer");
        let mut d = t.dims.clone();
        // the bias: its one axis longer than 1 (shape [K] or [1, K])
        let ax = if axis == usize::MAX { d.iter().position(|&x| x == from).unwrap_or(d.len() - 1) } else { axis };
        d[ax] = classes as i64;
        let data = init.linear_weight(tensor::numel(&d), fan_in);
        tensor::set_f32(t, &d, &data);
        g.value_mut(v).shape = Some(d.iter().map(|&x| Dim::Known(x)).collect());
    }
    g.infer_shapes()?;
    g.declare_interface();
    Ok(Rehead { layer: g.nodes[nid].name.clone(), from, to: classes as i64 })
}
