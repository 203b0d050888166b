//! Fixed-batch exports made batch-free.
//!
//! `torch.onnx.export(model, torch.randn(1, 3, 32, 32), f)` writes every graph input with a
//! batch of 1, and the exporter folds `x.view(x.size(0), -1)` into the constant target
//! `[1, -1]`. [`symbolic_batch`] gives the inputs a symbolic batch `N` and re-infers the graph
//! node by node; where a Reshape's constant target still holds the old batch, the entry that
//! carries `N` is found from the shapes and rewritten (`0` = copy the input's batch, or `-1`):
//! an entry holding the exported batch that alone makes the element counts agree (a 1 is never
//! assumed to be the batch otherwise), else the entries where a row-major layout can put it
//! merged with another dim (`nn.MultiheadAttention`'s `[T, N·H, D]` and `[T·N, E]`), tried in
//! order with backtracking when a later node contradicts the choice (shapes that do not infer,
//! a batch contracted by a MatMul, broadcast against another dim, or held twice by one value).
//! Every graph output must then carry `N` on axis 0. Anything else is an error that says how to
//! re-export with a dynamic batch. The caller proves the result per sample
//! (`oto_verify::batch_equivalence`).
use crate::compress::rewrite::repoint_const;
use crate::error::{GraphError, Result};
use crate::ir::{Dim, Graph, NodeId, ValueId};
use crate::ops::{IntsArg, Op};
use crate::shape::broadcast::{factors, product, quotient};
use std::collections::HashMap;

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

/// [`err`] about node `nid`: "node 'name' {what}".
fn node_err(h: &Graph, nid: NodeId, what: &str) -> GraphError {
    err(format!("node '{}' {what}", h.nodes[nid].name))
}

/// Whether a dim holds the batch, alone or merged (`N`, `N*4`).
fn holds_batch(d: &Dim) -> bool {
    factors(d).0.iter().any(|s| s == BATCH)
}

/// A dim's value as exported (the batch at `b0`), when it has no other symbol.
fn at_batch(d: &Dim, b0: i64) -> Option<i64> {
    let (syms, k) = factors(d);
    match syms.as_slice() {
        [] => Some(k),
        [s] if s == BATCH => Some(k * b0),
        _ => None,
    }
}

/// At most this many passes when ambiguous Reshapes need another choice.
const MAX_PASSES: usize = 256;

/// An ambiguous Reshape met in a pass: the candidate taken and how many there were.
#[derive(Clone, Copy, Debug)]
struct Choice {
    node: NodeId,
    taken: usize,
    count: usize,
}

/// A failed pass: the error, and the choices made before it with whether each feeds the node
/// that failed (only those are worth revisiting).
type Failure = (GraphError, Vec<(Choice, bool)>);

/// `err` at node `f`, with the choices that feed it marked.
fn failure(h: &Graph, f: Option<NodeId>, e: GraphError, choices: Vec<Choice>) -> Failure {
    let mut feeds = vec![false; h.nodes.len()];
    let mut stack: Vec<NodeId> = f.into_iter().collect();
    while let Some(n) = stack.pop() {
        if std::mem::replace(&mut feeds[n], true) {
            continue;
        }
        stack.extend(h.nodes[n].inputs.iter().flatten().filter_map(|&v| h.value(v).producer));
    }
    let all = f.is_none();
    (e, choices.into_iter().map(|c| (c, all || feeds[c.node])).collect())
}

/// Where the batch sits inside a dim that merges it with others (`N·k`): row-major, outermost
/// (`bsz * num_heads`) or innermost (`tgt_len * bsz`). A merged dim's symbol does not say, so a
/// pass records it where a Reshape merges the batch and carries it to equal dims downstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pos {
    Outer,
    Inner,
}

/// `g` with a symbolic batch, or `None` when its inputs' batch is already symbolic.
///
/// Where the batch was merged with another dim (`nn.MultiheadAttention`'s `[T, N·H, D]`), a
/// row-major layout can put it in either of two target entries; a pass takes the first and
/// moves on, and a later contradiction (shapes that do not infer, or a value holding the batch
/// twice, which would mix samples) sends the search back to the last such choice.
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
    let mut forced: Vec<usize> = vec![];
    let mut first_error = None;
    for _ in 0..MAX_PASSES {
        let (error, mut seen) = match pass(g, b0, &forced) {
            Ok(r) => return Ok(Some(r)),
            Err(f) => f,
        };
        first_error.get_or_insert(error);
        // back to the last choice feeding the failure that has an untried candidate; the
        // choices after it start again
        while seen.last().is_some_and(|(c, feeds)| !feeds || c.taken + 1 >= c.count) {
            seen.pop();
        }
        let Some((last, _)) = seen.pop() else { break };
        forced = seen.iter().map(|(c, _)| c.taken).chain([last.taken + 1]).collect();
    }
    Err(first_error.unwrap_or_else(|| err("no consistent placement of the batch was found".into())))
}

/// One pass over the graph, taking candidate `forced[k]` (else the first) at the `k`-th ambiguous
/// Reshape; on failure, the error and the choices made before it.
fn pass(g: &Graph, b0: i64, forced: &[usize]) -> std::result::Result<(Graph, BatchRewrite), Failure> {
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
    let mut choices: Vec<Choice> = vec![];
    let mut pos: HashMap<ValueId, Pos> = HashMap::new();
    let mut nid = 0;
    while nid < h.nodes.len() {
        if b0 == 1 && matches!(h.nodes[nid].op, Op::Concat(_)) {
            match broadcast_to_batch(&mut h, nid) {
                Ok(Some(note)) => {
                    out.rewrites.push(note);
                    continue; // the inserted nodes come first
                }
                Ok(None) => {}
                Err(e) => return Err(failure(&h, Some(nid), e, choices)),
            }
        }
        match resize_by_scales(&mut h, nid, b0) {
            Ok(Some(note)) => out.rewrites.push(note),
            Ok(None) => {}
            Err(e) => return Err(failure(&h, Some(nid), e, choices)),
        }
        let mut merged = None;
        if let Op::Reshape(r) = h.nodes[nid].op.clone() {
            let k = choices.len();
            let at = Placement { b0, pick: forced.get(k).copied().unwrap_or(0), pos: h.nodes[nid].input(0).and_then(|x| pos.get(&x).copied()) };
            match fix_reshape(&mut h, nid, &r.shape, r.allowzero, &at, &mut out) {
                Ok((c, p)) => {
                    choices.extend(c);
                    merged = p;
                }
                Err(e) => return Err(failure(&h, Some(nid), e, choices)),
            }
        }
        if contracts_the_batch(&h, nid) {
            return Err(failure(&h, Some(nid), node_err(&h, nid, "would contract over the batch"), choices));
        }
        let outs = match h.infer_node(nid) {
            Ok(o) => o,
            Err(e) => return Err(failure(&h, Some(nid), err(format!("its shapes do not follow a batch of {BATCH}: {e}")), choices)),
        };
        if drops_the_batch(&h, nid, &outs) {
            let e = node_err(&h, nid, &format!("({}) loses the batch", h.nodes[nid].op_type));
            return Err(failure(&h, Some(nid), e, choices));
        }
        if outs.first().and_then(|i| i.shape.as_ref()).is_some_and(|out0| loses_the_batch(&h, nid, out0)) {
            return Err(failure(&h, Some(nid), node_err(&h, nid, "would broadcast the batch against another dim"), choices));
        }
        for (slot, o) in h.nodes[nid].outputs.clone().into_iter().enumerate() {
            let Some(o) = o else { continue };
            let info = outs.get(slot).cloned().unwrap_or_default();
            let exported_known = g.values.get(o).is_some_and(|v| v.shape.is_some());
            if info.shape.is_none() && exported_known && h.values[o].init.is_none() {
                let e = err(format!("the shapes of node '{}' do not follow a batch of {BATCH}", h.nodes[nid].name));
                return Err(failure(&h, Some(nid), e, choices));
            }
            let v = &mut h.values[o];
            if v.init.is_none() {
                v.shape = info.shape;
                v.dtype = if info.dtype != 0 { info.dtype } else { v.dtype };
                v.folded = info.folded;
            }
            let twice = v.shape.iter().flatten().flat_map(|d| factors(d).0).filter(|s| s == BATCH).count() > 1;
            if twice {
                return Err(failure(&h, Some(nid), node_err(&h, nid, "would mix the samples of a batch"), choices));
            }
            if let Some(p) = merged.or_else(|| inherited_pos(&h, nid, o, &pos)) {
                pos.insert(o, p);
            }
        }
        nid += 1;
    }
    for &o in &h.outputs {
        let v = h.value(o);
        if !matches!(v.shape.as_ref().and_then(|s| s.first()), Some(Dim::Sym(s)) if s == BATCH) {
            let e = err(format!("output '{}' does not carry the batch on axis 0 (its shape is {:?})", v.name, v.shape));
            return Err(failure(&h, v.producer, e, choices));
        }
    }
    h.declare_interface();
    Ok((h, out))
}

/// A MatMul or Gemm contracting a dim that holds the batch (`N·8` against `8`, or on both
/// sides): shape inference accepts a symbol against a number, but either way samples mix.
fn contracts_the_batch(h: &Graph, nid: NodeId) -> bool {
    let n = &h.nodes[nid];
    let (Some(a), Some(b)) = (n.input(0).and_then(|v| h.shape(v)), n.input(1).and_then(|v| h.shape(v))) else { return false };
    let (ka, kb) = match &n.op {
        Op::MatMul(_) => (a.last(), if b.len() >= 2 { b.get(b.len() - 2) } else { b.last() }),
        Op::Gemm(gm) => (a.get(usize::from(!gm.trans_a)), b.get(usize::from(gm.trans_b))),
        _ => return false,
    };
    ka.is_some_and(holds_batch) || kb.is_some_and(holds_batch)
}

/// A Concat along a non-batch axis of values with the batch and batch-free ones of batch 1 (a
/// class token: a `[1, 1, D]` parameter, or its `expand(x.shape[0], -1, -1)` folded at batch 1):
/// each batch-free input is expanded to the batch, `Expand(t, Concat(Shape(x)[0:1], [1, …]))`
/// inserted before the Concat. A note when nodes were inserted.
fn broadcast_to_batch(h: &mut Graph, nid: NodeId) -> Result<Option<String>> {
    let n = &h.nodes[nid];
    let Op::Concat(c) = &n.op else { return Ok(None) };
    let is_n = |d: Option<&Dim>| matches!(d, Some(Dim::Sym(s)) if s == BATCH);
    let Some(carrier) = n.inputs.iter().flatten().copied().find(|&v| is_n(h.shape(v).and_then(|s| s.first()))) else { return Ok(None) };
    let rank = h.shape(carrier).map_or(0, |s| s.len()) as i64;
    if rank < 2 || (c.axis + rank) % rank == 0 || h.opset < 15 {
        return Ok(None);
    }
    let free: Vec<usize> = (0..n.inputs.len())
        .filter(|&slot| n.input(slot).and_then(|v| h.shape(v)).is_some_and(|s| s.len() as i64 == rank && s[0] == Dim::Known(1) && !s.iter().any(holds_batch)))
        .collect();
    if free.is_empty() {
        return Ok(None);
    }
    let base = n.name.clone();
    let ones = oto_onnx::tensor::i64_tensor("", &[rank - 1], &vec![1; rank as usize - 1]);
    let ones = h.add_const(&h.fresh_name(&format!("{base}_oto_ones")), ones);
    let attr = oto_onnx::attr::a_int;
    // each insertion before the Concat moves it one place on
    let batch = h.insert_node(nid, "Shape", &format!("{base}_oto_batch"), &[carrier], vec![attr("start", 0), attr("end", 1)])?;
    let target = h.insert_node(nid + 1, "Concat", &format!("{base}_oto_target"), &[batch, ones], vec![attr("axis", 0)])?;
    let mut at = nid + 2;
    for &slot in &free {
        let t = h.nodes[at].input(slot).expect("a free input");
        let e = h.insert_node(at, "Expand", &format!("{base}_oto_expand{slot}"), &[t, target], vec![])?;
        at += 1;
        h.values[t].consumers.retain(|&c| c != (at, slot));
        h.values[e].consumers.push((at, slot));
        h.nodes[at].inputs[slot] = Some(e);
    }
    Ok(Some(format!("{base}: batch-free input(s) {free:?} expanded to the batch")))
}

/// A Resize whose constant `sizes` hold the exported batch (`F.interpolate(size=…)` folded at
/// batch 1): the same resampling given by `scales` (`1` on the batch and channel axes,
/// `size / input` on the others, checked to give the exported sizes), which follow any batch.
fn resize_by_scales(h: &mut Graph, nid: NodeId, b0: i64) -> Result<Option<String>> {
    let n = &h.nodes[nid];
    let Op::Resize(r) = &n.op else { return Ok(None) };
    let (Some(slot), None, "stretch") = (r.sizes_slot(), &r.axes, r.keep_aspect_ratio_policy.as_str()) else { return Ok(None) };
    let (Some(x), Some(sv)) = (n.input(0), n.input(slot)) else { return Ok(None) };
    let (Some(xs), Some(sizes)) = (h.shape(x), h.const_i64(sv)) else { return Ok(None) };
    if xs.first() != Some(&Dim::Sym(BATCH.into())) || sizes.first() != Some(&b0) || sizes.len() != xs.len() {
        return Ok(None);
    }
    let mut scales = vec![1.0f32];
    for (d, &s) in xs.iter().zip(&sizes).skip(1) {
        let Some(d) = d.known().filter(|&d| d > 0) else { return Ok(None) };
        let f = s as f32 / d as f32;
        if (d as f32 * f).floor() as i64 != s {
            return Ok(None);
        }
        scales.push(f);
    }
    let (base, ss) = (format!("{}_oto_scales", n.name), r.scales_slot());
    let t = oto_onnx::tensor::f32_tensor("", &[scales.len() as i64], &scales);
    let c = h.add_const(&h.fresh_name(&base), t);
    for v in [h.nodes[nid].input(ss), Some(sv)].into_iter().flatten() {
        h.values[v].consumers.retain(|&(k, _)| k != nid);
    }
    let n = &mut h.nodes[nid];
    n.inputs[ss] = Some(c);
    n.inputs.truncate(slot);
    h.values[c].consumers.push((nid, ss));
    h.reparse(nid)?;
    Ok(Some(format!("{}: sizes {sizes:?} -> scales {scales:?}", h.nodes[nid].name)))
}

/// A node that reads a value holding the batch and writes none (shape-reading ops aside): a
/// Reshape target or a computed shape that still holds the exported batch.
fn drops_the_batch(h: &Graph, nid: NodeId, outs: &[crate::shape::OutInfo]) -> bool {
    let n = &h.nodes[nid];
    let has = |s: &[Dim]| s.iter().any(holds_batch);
    // CastLike reads only the type of its second input
    let data = if matches!(n.op, Op::CastLike(_)) { &n.inputs[..1] } else { &n.inputs[..] };
    let reads = data.iter().flatten().any(|&v| h.value(v).init.is_none() && h.shape(v).is_some_and(|s| has(s)));
    let writes = outs.iter().any(|o| o.shape.as_ref().is_none_or(|s| has(s)) || o.folded.as_ref().is_some_and(|f| has(f)));
    reads && !writes && n.op.rule().reads_values()
}

/// A broadcasting op (elementwise, MatMul) whose output does not keep an input's batch dim at
/// its place: broadcasting `N·4` against `4` is accepted by shape inference (a symbol may be
/// anything) but is wrong for every batch but one.
fn loses_the_batch(h: &Graph, nid: NodeId, out: &[Dim]) -> bool {
    let n = &h.nodes[nid];
    // (input dims, output dims they align with from the right)
    let mut pairs: Vec<(Vec<Dim>, Vec<Dim>)> = vec![];
    match &n.op {
        Op::Binary(_) => {
            for x in n.inputs.iter().flatten().filter_map(|&v| h.shape(v)) {
                pairs.push((x.clone(), out.to_vec()));
            }
        }
        Op::MatMul(_) => {
            let (Some(a), Some(b)) = (n.input(0).and_then(|v| h.shape(v)), n.input(1).and_then(|v| h.shape(v))) else { return false };
            if a.len() < 2 || b.len() < 2 || out.len() < 2 {
                return false;
            }
            let o = out.len();
            pairs.push((a[..a.len() - 1].to_vec(), out[..o - 1].to_vec()));
            let mut bb = b[..b.len() - 2].to_vec();
            bb.push(b[b.len() - 1].clone());
            let mut ob = out[..o - 2].to_vec();
            ob.push(out[o - 1].clone());
            pairs.push((bb, ob));
        }
        _ => return false,
    }
    pairs.iter().any(|(x, y)| x.len() <= y.len() && x.iter().rev().zip(y.iter().rev()).any(|(d, e)| holds_batch(d) && d != e))
}

/// The batch position of output `o` of node `nid`: that of an input holding the same merged dim.
fn inherited_pos(h: &Graph, nid: NodeId, o: ValueId, pos: &HashMap<ValueId, Pos>) -> Option<Pos> {
    let merged = |v: ValueId| h.shape(v).and_then(|s| s.iter().find(|d| holds_batch(d) && factors(d).1 != 1).cloned());
    let d = merged(o)?;
    h.nodes[nid].inputs.iter().flatten().filter(|&&i| merged(i).as_ref() == Some(&d)).find_map(|i| pos.get(i).copied())
}

/// The target as the export ran it (the batch at `b0`): `0` copies the input's dim, `-1` takes
/// the rest.
fn exported_target(xs: &[Dim], target: &[i64], allowzero: bool, b0: i64) -> Option<Vec<i64>> {
    let xi: Vec<i64> = xs.iter().map(|d| at_batch(d, b0)).collect::<Option<_>>()?;
    let mut e: Vec<i64> = target.iter().enumerate().map(|(i, &t)| if t == 0 && !allowzero { xi.get(i).copied().unwrap_or(0) } else { t }).collect();
    if let Some(q) = e.iter().position(|&t| t == -1) {
        let known: i64 = e.iter().filter(|&&t| t != -1).product();
        let total: i64 = xi.iter().product();
        (known > 0 && total % known == 0).then_some(())?;
        e[q] = total / known;
    }
    Some(e)
}

/// What [`fix_reshape`] needs besides the node: the exported batch, the candidate to take when
/// several fit, and where the batch sits in the input's merged dim (when known).
struct Placement {
    b0: i64,
    pick: usize,
    pos: Option<Pos>,
}

/// Output axes a batch can land on in a row-major Reshape: the batch of input dim `bx` (`N·k`,
/// `N` outermost or innermost in it) has stride `s`; it lands on target axis `p` when the stride
/// of `p` (the product of the later entries) divides `s` and the exported entry holds `b0·s/stride`.
fn layout_candidates(xs: &[Dim], bx: usize, target: &[i64], b0: i64, pos: Option<Pos>) -> Vec<(usize, Option<Pos>)> {
    let Some(xi) = xs.iter().map(|d| at_batch(d, b0)).collect::<Option<Vec<i64>>>() else { return vec![] };
    let after: i64 = xi[bx + 1..].iter().product();
    let k = factors(&xs[bx]).1;
    let strides: &[i64] = match pos {
        _ if k == 1 => &[after],
        Some(Pos::Outer) => &[after * k],
        Some(Pos::Inner) => &[after],
        None => &[after * k, after],
    };
    let total: i64 = xi.iter().product();
    if target.iter().any(|&t| t <= 0) || target.iter().product::<i64>() != total {
        return vec![];
    }
    let mut out = vec![];
    for (p, &t) in target.iter().enumerate() {
        let rest: i64 = target[p + 1..].iter().product();
        for &s in strides {
            if s % rest == 0 && t % (b0 * (s / rest)) == 0 && !out.iter().any(|c: &(usize, Option<Pos>)| c.0 == p) {
                // the batch's place in the new dim `N·(t/b0)`: innermost when its stride is the axis'
                let q = t / b0;
                let at = if q == 1 { None } else if s == rest { Some(Pos::Inner) } else if s / rest == q { Some(Pos::Outer) } else { None };
                out.push((p, at));
            }
        }
    }
    // the batch alone first (an exported entry equal to b0), then merged outermost (split into
    // heads: `bsz * num_heads`), then innermost (`tgt_len * bsz`)
    out.sort_by_key(|&(p, at)| match at {
        _ if target[p] == b0 => 0,
        Some(Pos::Outer) => 1,
        Some(Pos::Inner) => 2,
        None => 3,
    });
    out
}

/// A Reshape whose data carries `N` but whose constant target still holds the exported batch:
/// the entry that must carry `N` becomes `0` (copy, same axis) or `-1`. Returns the choice made
/// when several entries were possible (candidate `pick`).
fn fix_reshape(h: &mut Graph, nid: NodeId, shape: &IntsArg, allowzero: bool, at: &Placement, out: &mut BatchRewrite) -> Result<(Option<Choice>, Option<Pos>)> {
    let (b0, pick) = (at.b0, at.pick);
    let n = &h.nodes[nid];
    let (Some(x), IntsArg::Input(slot)) = (n.input(0), shape) else { return Ok((None, None)) };
    // a constant target, or one computed from constants (the dynamo exporter's Concat of pieces)
    let Some(tv) = n.input(*slot).filter(|&v| h.const_i64(v).is_some()) else { return Ok((None, None)) };
    let (Some(xs), Some(target)) = (h.shape(x).cloned(), h.const_i64(tv)) else { return Ok((None, None)) };
    let Some(bx) = xs.iter().position(holds_batch) else { return Ok((None, None)) };
    // the target as dims: 0 copies the input's dim (unless allowzero), -1 stays open
    let dims: Vec<Dim> = target
        .iter()
        .enumerate()
        .map(|(i, &t)| if t == 0 && !allowzero { xs.get(i).cloned().unwrap_or(Dim::Known(0)) } else { Dim::Known(t) })
        .collect();
    if dims.iter().any(holds_batch) {
        return Ok((None, None)); // an entry already copies the batch
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
    // the exported target with its 0 and -1 entries resolved (the output's exported shape)
    let exported: Option<Vec<i64>> = h
        .nodes[nid]
        .output(0)
        .and_then(|o| h.static_shape(o))
        .filter(|s| s.len() == target.len())
        .or_else(|| exported_target(&xs, &target, allowzero, b0));
    let candidates: Vec<usize> = (0..dims.len()).filter(|&p| dims[p] == Dim::Known(b0) && fits(p)).collect();
    let (p, choice, by_value, placed) = match candidates.as_slice() {
        [p] => (*p, None, true, None),
        c if c.contains(&bx) => (bx, None, true, None),
        _ => {
            let merged = exported.as_ref().map(|e| layout_candidates(&xs, bx, e, b0, at.pos)).unwrap_or_default();
            match (merged.len(), merged.get(pick)) {
                (1, _) => (merged[0].0, None, false, merged[0].1),
                (_, Some(&(p, w))) => (p, Some(Choice { node: nid, taken: pick, count: merged.len() }), false, w),
                (_, None) => {
                    let name = h.nodes[nid].name.clone();
                    return Err(err(format!("Reshape '{name}' to {target:?} does not show which entry is the batch")));
                }
            }
        }
    };
    let mut new = target.clone();
    // `0` copies the input's dim: right when it is the new entry (`N·k` with k·b0 exported)
    let copies = by_value || exported.as_ref().is_some_and(|e| factors(&xs[bx]).1 * b0 == e[p]);
    if p == bx && !allowzero && copies {
        new[p] = 0;
    } else {
        if let Some(q) = new.iter().position(|&t| t == -1).filter(|&q| q != p) {
            // the open entry gets its value from the exported shapes (the output is
            // re-inferred only after this rewrite)
            let Some(v) = exported.as_ref().map(|e| e[q]) else {
                return Err(err(format!("Reshape '{}' has another open (-1) entry", h.nodes[nid].name)));
            };
            new[q] = v;
        }
        new[p] = -1;
    }
    let t = oto_onnx::tensor::i64_tensor("", &[new.len() as i64], &new);
    let base = h.value(tv).name.clone();
    repoint_const(h, nid, *slot, &base, t); // folded by add_const
    out.rewrites.push(format!("{}: {target:?} -> {new:?}", h.nodes[nid].name));
    Ok((choice, placed))
}
