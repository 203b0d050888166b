//! Training-only structure → inference form (OTOv2 spec §4.2 step 6).
//!
//! * **BatchNormalization in training mode** — opset ≥ 14 `training_mode = 1`, or (opset 7–13)
//!   the optional outputs `mean, var, saved_mean, saved_var` present, or (opset < 7) `is_test = 0`:
//!   the attribute is removed (`is_test` set to 1) and the extra outputs are dropped. An extra
//!   output read by another node or declared as a graph output cannot be dropped: that is an error
//!   (re-export the model in eval mode).
//! * **Dropout in training mode** — opset ≥ 12 with a `training_mode` input that is not the
//!   constant `false`: the input is removed (Dropout is then the identity, its optional mask all
//!   true); opset < 7 `is_test = 0`: set to 1. An inference-mode Dropout is the identity: the
//!   written models have none ([`drop_dropout`]: its readers read its input).
//!
//! Inference-mode BatchNormalization normalises with the running statistics, so the converted
//! model computes the eval-mode function of the trained network, which is what a compressed
//! model is for.
use super::manifest::Rewrite;
use crate::error::{GraphError, Result};
use crate::ir::{Graph, NodeId};
use crate::ops::norm::NormKind;
use crate::ops::Op;

/// What has to change on node `nid` (None: already in inference form).
enum Fix {
    /// BatchNormalization: remove `training_mode` (when set), drop outputs 1.., set `is_test`.
    Bn { training_mode: bool, extra_outputs: bool, is_test: bool },
    /// Dropout: remove input 2 (`training_mode`) and/or set `is_test`.
    Dropout { drop_input: bool, is_test: bool },
}

fn fix_of(g: &Graph, nid: NodeId) -> Option<Fix> {
    let n = &g.nodes[nid];
    match &n.op {
        Op::Norm(bn) if bn.kind == NormKind::Batch => {
            let extra_outputs = n.outputs.iter().skip(1).any(|o| o.is_some());
            let (training_mode, is_test) = (bn.training_mode, !bn.is_test);
            (training_mode || extra_outputs || is_test).then_some(Fix::Bn { training_mode, extra_outputs, is_test })
        }
        Op::Dropout(d) => {
            let drop_input = g.opset >= 12
                && n.input(2).is_some_and(|v| g.const_i64(v).map(|x| x.iter().any(|&b| b != 0)).unwrap_or(true));
            let is_test = !d.is_test;
            (drop_input || is_test).then_some(Fix::Dropout { drop_input, is_test })
        }
        _ => None,
    }
}

/// Whether the graph holds training-only structure that [`to_inference`] would change, or a
/// Dropout that [`drop_dropout`] removes.
pub(crate) fn has_training_structure(g: &Graph) -> bool {
    (0..g.nodes.len()).any(|nid| fix_of(g, nid).is_some() || matches!(g.nodes[nid].op, Op::Dropout(_)))
}

/// Removes every inference-mode Dropout (no `training_mode` input, or a constant false one) whose
/// mask is unread and whose output is not a graph output: its readers read its input instead.
pub(crate) fn drop_dropout(g: &mut Graph, rewrites: &mut Vec<Rewrite>) {
    let mut dead = vec![false; g.nodes.len()];
    let mut gone = vec![];
    for nid in 0..g.nodes.len() {
        let n = &g.nodes[nid];
        let (Op::Dropout(_), Some(x), Some(y)) = (&n.op, n.input(0), n.output(0)) else { continue };
        let inference = n.input(2).is_none_or(|v| g.const_i64(v).is_some_and(|t| t.iter().all(|&b| b == 0)));
        let mask_read = n.output(1).is_some_and(|m| !g.value(m).consumers.is_empty() || g.outputs.contains(&m));
        if !inference || mask_read || g.outputs.contains(&y) {
            continue;
        }
        let inputs: Vec<usize> = n.inputs.iter().flatten().copied().collect();
        for v in inputs {
            g.values[v].consumers.retain(|&(c, _)| c != nid);
        }
        for (c, slot) in std::mem::take(&mut g.values[y].consumers) {
            g.nodes[c].inputs[slot] = Some(x);
            g.values[x].consumers.push((c, slot));
        }
        gone.extend(g.nodes[nid].outputs.iter().flatten().map(|&o| g.values[o].name.clone()));
        log(g, nid, "removed (Dropout is the identity in inference)", vec![], vec![], rewrites);
        dead[nid] = true;
    }
    g.remove_nodes(&dead); // the removed nodes' outputs lose their producer there
    if let Some(gp) = g.template.graph.as_mut() {
        gp.value_info.retain(|vi| !gone.iter().any(|d| Some(d.as_str()) == vi.name.as_deref()));
    }
}

fn log(g: &Graph, nid: NodeId, what: &str, old: Vec<i64>, new: Vec<i64>, out: &mut Vec<Rewrite>) {
    out.push(Rewrite { node: g.nodes[nid].name.clone(), what: what.into(), old, new });
}

/// Converts every training-mode BatchNormalization and Dropout of `g` to inference form.
pub(crate) fn to_inference(g: &mut Graph, rewrites: &mut Vec<Rewrite>) -> Result<()> {
    let mut dropped_names = vec![];
    for nid in 0..g.nodes.len() {
        let Some(fix) = fix_of(g, nid) else { continue };
        apply_fix(g, nid, fix, rewrites, &mut dropped_names)?;
        g.reparse(nid)?;
    }
    if !dropped_names.is_empty() {
        if let Some(gp) = g.template.graph.as_mut() {
            gp.value_info.retain(|vi| !dropped_names.iter().any(|d| Some(d.as_str()) == vi.name.as_deref()));
        }
    }
    Ok(())
}

fn apply_fix(g: &mut Graph, nid: NodeId, fix: Fix, rewrites: &mut Vec<Rewrite>, dropped_names: &mut Vec<String>) -> Result<()> {
    {
        match fix {
            Fix::Bn { training_mode, extra_outputs, is_test } => {
                if extra_outputs {
                    // every extra output must be unused
                    for &o in g.nodes[nid].outputs.iter().skip(1).flatten() {
                        let v = g.value(o);
                        let reader = v.consumers.first().map(|&(c, _)| format!("node '{}' ({})", g.nodes[c].name, g.nodes[c].op_type));
                        let reader = reader.or_else(|| g.outputs.contains(&o).then(|| "a graph output".to_string()));
                        if let Some(reader) = reader {
                            let n = &g.nodes[nid];
                            return Err(GraphError::Other(format!(
                                "BatchNormalization '{}' is in training mode and its output '{}' (running statistics) is read by {reader}; \
                                 oto converts training-mode BatchNormalization to inference form, which has no such output — \
                                 export the model in eval mode (torch: model.eval()) before compressing",
                                n.name, v.name
                            )));
                        }
                    }
                    let n_out = g.nodes[nid].outputs.len() as i64;
                    let extra: Vec<usize> = g.nodes[nid].outputs.iter().skip(1).flatten().copied().collect();
                    for o in extra {
                        g.values[o].producer = None;
                        g.values[o].shape = None;
                        dropped_names.push(g.values[o].name.clone());
                    }
                    g.nodes[nid].outputs.truncate(1);
                    log(g, nid, "outputs", vec![n_out], vec![1], rewrites);
                }
                if training_mode {
                    g.nodes[nid].proto.attribute.retain(|a| a.name.as_deref() != Some("training_mode"));
                    log(g, nid, "training_mode", vec![1], vec![0], rewrites);
                }
                if is_test {
                    set_is_test(g, nid, rewrites);
                }
            }
            Fix::Dropout { drop_input, is_test } => {
                if drop_input {
                    let v = g.nodes[nid].input(2).expect("checked");
                    let old = g.const_i64(v).unwrap_or_default();
                    g.values[v].consumers.retain(|&c| c != (nid, 2));
                    g.nodes[nid].inputs.truncate(2);
                    log(g, nid, "training_mode", old, vec![], rewrites);
                }
                if is_test {
                    set_is_test(g, nid, rewrites);
                }
            }
        }
    }
    Ok(())
}

fn set_is_test(g: &mut Graph, nid: NodeId, rewrites: &mut Vec<Rewrite>) {
    oto_onnx::attr::set(&mut g.nodes[nid].proto, oto_onnx::attr::a_int("is_test", 1));
    log(g, nid, "is_test", vec![0], vec![1], rewrites);
}
