//! The structural check of a model about to be written (`oto compress`, `oto prune`,
//! `oto train`, `--no-verify` included): the model is re-loaded through the op registry, so every
//! node's shape rule sees its real inputs (an `Add` of incompatible shapes, a Conv whose weight
//! does not match its input, a Reshape of the wrong size are errors that name the node), every
//! declared shape (`value_info`, graph outputs) must agree with the inferred one, and the graph
//! inputs and outputs must keep the reference model's shapes.
use crate::error::{GraphError, Result};
use crate::ir::{fmt_shape, Dim, Graph, Shape};
use oto_onnx::pb::ModelProto;

/// Known dims that differ (a symbolic dim agrees with anything).
fn disagree(a: &[Dim], b: &[Dim]) -> bool {
    a.len() != b.len() || a.iter().zip(b).any(|(x, y)| matches!((x.known(), y.known()), (Some(p), Some(q)) if p != q))
}

fn producer_of(g: &Graph, v: usize) -> (String, String) {
    match g.values[v].producer {
        Some(p) => (g.nodes[p].name.clone(), g.nodes[p].op_type.clone()),
        None => ("<graph input>".into(), "Input".into()),
    }
}

/// Checks `model` (see the module docs) against `reference` (the model it must be
/// interchangeable with: same graph inputs and outputs). Returns the loaded graph.
pub fn structural(model: &ModelProto, reference: &Graph) -> Result<Graph> {
    let g = Graph::from_model(model.clone())?;
    // every declared shape against the inferred one
    if let Some(gp) = model.graph.as_ref() {
        for vi in gp.value_info.iter().chain(gp.output.iter()) {
            let Some(v) = g.id(vi.name.as_deref().unwrap_or("")) else { continue };
            let (_, Some(decl)) = crate::load::declared(vi) else { continue };
            let Some(inferred) = g.shape(v) else { continue };
            if disagree(&decl, inferred) {
                let (node, op) = producer_of(&g, v);
                return Err(GraphError::Shape {
                    node,
                    op,
                    reason: format!("output '{}' is declared {} but computes {}", g.values[v].name, fmt_shape(&decl), fmt_shape(inferred)),
                });
            }
        }
    }
    // the interface stays the reference's
    let side = |a: &[usize], b: &[usize], what: &str| -> Result<()> {
        if a.len() != b.len() {
            return Err(GraphError::Other(format!("the model has {} graph {what}s, the reference {}", a.len(), b.len())));
        }
        for (&x, &y) in a.iter().zip(b) {
            let (sx, sy): (Option<&Shape>, Option<&Shape>) = (g.shape(x), reference.shape(y));
            if let (Some(sx), Some(sy)) = (sx, sy) {
                if disagree(sx, sy) {
                    let (node, op) = producer_of(&g, x);
                    return Err(GraphError::Shape {
                        node,
                        op,
                        reason: format!("graph {what} '{}' has shape {} but the reference has {}", g.values[x].name, fmt_shape(sx), fmt_shape(sy)),
                    });
                }
            }
        }
        Ok(())
    };
    side(&g.inputs, &reference.inputs, "input")?;
    side(&g.outputs, &reference.outputs, "output")?;
    Ok(g)
}
