//! Fixed-batch exports made batch-free.
//!
//! `torch.onnx.export(model, torch.randn(1, 3, 32, 32), f)` writes every graph input with a
//! batch of 1, and the exporter folds `x.view(x.size(0), -1)` into the constant target
//! `[1, -1]`. [`symbolic_batch`] gives the inputs a symbolic batch `N` and re-infers the graph
//! node by node; where a Reshape's constant target still holds the old batch, the entry that
//! carries `N` is found from the shapes (the input's `N` and the element counts must map onto
//! exactly one entry; a 1 is never assumed to be the batch) and rewritten (`0` = copy the
//! input's batch, or `-1`). Every graph output must then carry `N` on axis 0. Anything else is an
//! error that says how to re-export with a dynamic batch. The caller proves the result per
//! sample (`oto_verify::batch_equivalence`).
use crate::compress::rewrite::repoint_const;
use crate::error::{GraphError, Result};
use crate::ir::{Dim, Graph, NodeId};
use crate::ops::{IntsArg, Op};
use crate::shape::broadcast::{factors, product, quotient};

/// The symbol given to the batch.
pub const BATCH: &str = "N";

/// What [`symbolic_batch`] changed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BatchRewrite {
    /// The batch the model was exported with.
    pub exported: i64,
    /// `node: old target → new target` per rewritten Reshape.
    pub rewrites: Vec<String>,
}

/// The re-export advice of every error here.
pub fn reexport_hint() -> &'static str {
    "re-export the model with a dynamic batch: torch.onnx.export(model, x, f, dynamo=False, \
     input_names=[\"input\"], output_names=[\"output\"], dynamic_axes={\"input\": {0: \"N\"}, \"output\": {0: \"N\"}}) \
     (or, with dynamo=True, dynamic_shapes=({0: torch.export.Dim(\"N\")},) and an example batch of 2)"
}

fn err(reason: String) -> GraphError {
    GraphError::Other(format!("the model was exported with a fixed batch and {reason}; {}", reexport_hint()))
}

/// `g` with a symbolic batch, or `None` when its inputs' batch is already symbolic.
pub fn symbolic_batch(g: &Graph) -> Result<Option<(Graph, BatchRewrite)>> {
    let mut fixed = vec![];
    for &i in &g.inputs {
        match g.value(i).shape.as_ref().and_then(|s| s.first()) {
            Some(Dim::Known(b)) => fixed.push(*b),
            _ => return Ok(None),
        }
    }
    let Some(&b0) = fixed.first() else { return Ok(None) };
    if fixed.iter().any(|&b| b != b0) {
        return Err(err(format!("its inputs disagree on it ({fixed:?})")));
    }
    let mut h = g.clone();
    if let Some(gp) = h.template.graph.as_mut() {
        gp.value_info.clear(); // declarations with the old batch are no fallback any more
    }
    for &i in &h.inputs.clone() {
        if let Some(s) = h.values[i].shape.as_mut() {
            s[0] = Dim::Sym(BATCH.into());
        }
    }
    let mut out = BatchRewrite { exported: b0, rewrites: vec![] };
    for nid in 0..h.nodes.len() {
        if let Op::Reshape(r) = h.nodes[nid].op.clone() {
            fix_reshape(&mut h, nid, &r.shape, r.allowzero, b0, &mut out)?;
        }
        let outs = h.infer_node(nid).map_err(|e| err(format!("its shapes do not follow a batch of {BATCH}: {e}")))?;
        for (slot, o) in h.nodes[nid].outputs.clone().into_iter().enumerate() {
            let Some(o) = o else { continue };
            let info = outs.get(slot).cloned().unwrap_or_default();
            let v = &mut h.values[o];
            if v.init.is_none() {
                v.shape = info.shape;
                v.dtype = if info.dtype != 0 { info.dtype } else { v.dtype };
                v.folded = info.folded;
            }
        }
    }
    for &o in &h.outputs {
        let v = h.value(o);
        if !matches!(v.shape.as_ref().and_then(|s| s.first()), Some(Dim::Sym(s)) if s == BATCH) {
            return Err(err(format!("output '{}' does not carry the batch on axis 0 (its shape is {:?})", v.name, v.shape)));
        }
    }
    declare_interface(&mut h);
    Ok(Some((h, out)))
}

/// A Reshape whose data carries `N` but whose constant target still holds the exported batch:
/// the one entry that must carry `N` becomes `0` (copy, same axis) or `-1`.
fn fix_reshape(h: &mut Graph, nid: NodeId, shape: &IntsArg, allowzero: bool, b0: i64, out: &mut BatchRewrite) -> Result<()> {
    let n = &h.nodes[nid];
    let (Some(x), IntsArg::Input(slot)) = (n.input(0), shape) else { return Ok(()) };
    // a constant target, or one computed from constants (the dynamo exporter's Concat of pieces)
    let Some(tv) = n.input(*slot).filter(|&v| h.const_i64(v).is_some()) else { return Ok(()) };
    let (Some(xs), Some(target)) = (h.shape(x).cloned(), h.const_i64(tv)) else { return Ok(()) };
    let has_n = |d: &Dim| factors(d).0.iter().any(|s| s == BATCH);
    let Some(bx) = xs.iter().position(has_n) else { return Ok(()) };
    // the target as dims: 0 copies the input's dim (unless allowzero), -1 stays open
    let dims: Vec<Dim> = target
        .iter()
        .enumerate()
        .map(|(i, &t)| if t == 0 && !allowzero { xs.get(i).cloned().unwrap_or(Dim::Known(0)) } else { Dim::Known(t) })
        .collect();
    if dims.iter().any(has_n) {
        return Ok(()); // an entry already copies the batch
    }
    let total = product(&xs);
    let fits = |p: usize| {
        let mut d = dims.clone();
        d[p] = quotient(&xs[bx], &Dim::Known(b0)).unwrap_or_else(|| xs[bx].clone());
        let rest: Vec<Dim> = d.iter().filter(|x| **x != Dim::Known(-1)).cloned().collect();
        match (d.contains(&Dim::Known(-1)), quotient(&total, &product(&rest))) {
            (true, Some(q)) => q.known().is_some(),
            (false, _) => product(&d) == total,
            _ => false,
        }
    };
    let candidates: Vec<usize> = (0..dims.len()).filter(|&p| dims[p] == Dim::Known(b0) && fits(p)).collect();
    let p = match candidates.as_slice() {
        [p] => *p,
        c if c.contains(&bx) => bx,
        _ => {
            let name = h.nodes[nid].name.clone();
            return Err(err(format!("Reshape '{name}' to {target:?} does not show which entry is the batch")));
        }
    };
    let mut new = target.clone();
    if p == bx && !allowzero {
        new[p] = 0;
    } else {
        if let Some(q) = new.iter().position(|&t| t == -1) {
            // the open entry gets its value from the exported shapes (the output is
            // re-inferred only after this rewrite)
            let Some(v) = h.nodes[nid].output(0).and_then(|o| h.value(o).dim(q)) else {
                return Err(err(format!("Reshape '{}' has another open (-1) entry", h.nodes[nid].name)));
            };
            new[q] = v;
        }
        new[p] = -1;
    }
    let t = oto_onnx::tensor::i64_tensor("", &[new.len() as i64], &new);
    let base = h.value(tv).name.clone();
    let id = repoint_const(h, nid, *slot, &base, t);
    h.values[id].folded = Some(new.iter().map(|&d| Dim::Known(d)).collect());
    out.rewrites.push(format!("{}: {target:?} -> {new:?}", h.nodes[nid].name));
    Ok(())
}

/// Graph input and output declarations with the symbolic batch.
fn declare_interface(h: &mut Graph) {
    let decls: Vec<(usize, bool, crate::ir::ValueId)> = {
        let gp = h.template.graph.as_ref();
        let find = |name: &str| h.id(name);
        let mut d = vec![];
        if let Some(gp) = gp {
            for (k, vi) in gp.input.iter().enumerate() {
                if let Some(id) = find(vi.name.as_deref().unwrap_or("")).filter(|id| h.inputs.contains(id)) {
                    d.push((k, true, id));
                }
            }
            for (k, vi) in gp.output.iter().enumerate() {
                if let Some(id) = find(vi.name.as_deref().unwrap_or("")) {
                    d.push((k, false, id));
                }
            }
        }
        d
    };
    for (k, is_input, id) in decls {
        let v = &h.values[id];
        let Some(s) = v.shape.clone() else { continue };
        let vi = crate::save::value_info(&v.name, v.dtype, &s);
        if let Some(gp) = h.template.graph.as_mut() {
            if is_input {
                gp.input[k] = vi;
            } else {
                gp.output[k] = vi;
            }
        }
    }
}
