//! Load-time normalisation: weight-only ops are folded into initializers.
//!
//! `torch.onnx.export(..., do_constant_folding=False)` writes `Transpose(W)` before MatMul and
//! de-duplicates equal initializers through `Identity` (e.g. a BatchNorm's all-ones running_var
//! becomes `Identity(other_layer.bn.weight)`). Treating such values as shared weights would tie
//! unrelated channels, so each folded result becomes an initializer of its own, named after the
//! node's output; the original initializer is dropped when nothing else reads it.
//!
//! The dynamo exporter de-duplicates equal initializers directly: at random init every
//! BatchNorm's running_mean *is* some layer's all-zeros bias, every LayerNorm weight the same
//! all-ones tensor ([`unshare_uniform_initializers`] gives each use its own copy).
use crate::ops::{Attrs, IntsArg, Op};
use oto_onnx::pb::{ModelProto, NodeProto, TensorProto};
use oto_onnx::tensor::{f32_tensor, is_float, numel, to_f32};
use std::collections::{HashMap, HashSet};

/// Folds Identity / Transpose / Unsqueeze / Squeeze / Reshape / Cast(float) of float initializers.
pub fn fold_weight_ops(model: &mut ModelProto) {
    let opset = crate::load::default_opset(model);
    let Some(g) = model.graph.as_mut() else { return };
    let outputs: HashSet<String> = g.output.iter().filter_map(|o| o.name.clone()).collect();
    let mut inits: HashMap<String, TensorProto> =
        g.initializer.iter().map(|t| (t.name.clone().unwrap_or_default(), t.clone())).collect();
    let mut removed = vec![false; g.node.len()];
    let mut added: Vec<TensorProto> = vec![];
    let mut changed = true;
    while changed {
        changed = false;
        for (i, n) in g.node.iter().enumerate() {
            if removed[i] || n.output.len() != 1 || outputs.contains(&n.output[0]) {
                continue;
            }
            let Some(op) = typed(n, opset) else { continue };
            if !matches!(op, Op::Identity(_) | Op::Cast(_) | Op::Transpose(_) | Op::Unsqueeze(_) | Op::Squeeze(_) | Op::Reshape(_)) {
                continue;
            }
            let Some(src) = n.input.first().and_then(|x| inits.get(x)) else { continue };
            if !is_float(src) {
                continue;
            }
            let Ok(data) = to_f32(src) else { continue };
            let dims = src.dims.clone();
            let int_input = |slot: usize| n.input.get(slot).and_then(|x| inits.get(x)).and_then(|t| oto_onnx::tensor::to_i64(t).ok());
            let arg = |a: &IntsArg| match a {
                IntsArg::Attr(v) => Some(v.clone()),
                IntsArg::Input(slot) => int_input(*slot),
                IntsArg::Absent => None,
            };
            let folded: Option<(Vec<i64>, Vec<f32>)> = match &op {
                Op::Identity(_) => Some((dims, data)),
                Op::Cast(c) if c.to == oto_onnx::tensor::FLOAT => Some((dims, data)),
                Op::Transpose(t) => t.perm_for(dims.len()).map(|perm| transpose(&dims, &data, &perm)),
                Op::Unsqueeze(u) => arg(&u.axes).and_then(|a| squeeze_dims(&dims, &a, true)).map(|d| (d, data)),
                Op::Squeeze(sq) => arg(&sq.axes).and_then(|a| squeeze_dims(&dims, &a, false)).map(|d| (d, data)),
                Op::Reshape(r) => arg(&r.shape).and_then(|t| reshape_dims(&dims, &t)).map(|d| (d, data)),
                _ => None,
            };
            let Some((new_dims, new_data)) = folded else { continue };
            if numel(&new_dims) != new_data.len() {
                continue;
            }
            let t = f32_tensor(&n.output[0], &new_dims, &new_data);
            inits.insert(n.output[0].clone(), t.clone());
            added.push(t);
            removed[i] = true;
            changed = true;
        }
    }
    apply_folds(g, &removed, added, &outputs);
}

/// The typed op of a node; `None` for a node whose attributes are invalid (the real load reports
/// it; here it is just not folded).
fn typed(n: &NodeProto, opset: i64) -> Option<Op> {
    let (name, op_type, domain) = (n.name.as_deref().unwrap_or(""), n.op_type.as_deref().unwrap_or(""), n.domain.as_deref().unwrap_or(""));
    Op::parse(&Attrs { proto: n, name, op_type, domain, opset }).ok()
}

/// Row-major strides of `dims`.
fn strides(dims: &[i64]) -> Vec<usize> {
    let mut s = vec![1usize; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * dims[i + 1].max(0) as usize;
    }
    s
}

/// Writes out `ConstantOfShape`'s default `value` (a float32 0, by the spec) where the
/// exporter left it implicit (the dynamo exporter's `new_zeros`): tract, the proof's runtime,
/// otherwise types the result as float64 and cannot run the model (Swin's shift mask).
pub fn explicit_defaults(model: &mut ModelProto) {
    let opset = crate::load::default_opset(model);
    let Some(g) = model.graph.as_mut() else { return };
    for n in g.node.iter_mut() {
        if matches!(typed(n, opset), Some(Op::ConstantOfShape(c)) if c.value.is_none()) {
            oto_onnx::attr::set(n, oto_onnx::attr::a_tensor("value", f32_tensor("", &[1], &[0.0])));
        }
    }
}

/// Gives every further use of a constant-filled float initializer (all elements equal, more
/// than one) its own copy, named `<name>__oto<k>`. Such sharing is an exporter's
/// de-duplication of equal values (ones, zeros, 1e-6 layer-scale gammas), not a tied weight
/// (tied weights are random): kept shared it would tie the channels of unrelated layers in
/// analysis and train unrelated parameters as one. Numerically the model is unchanged.
pub fn unshare_uniform_initializers(model: &mut ModelProto) {
    let Some(g) = model.graph.as_mut() else { return };
    let uniform: HashMap<String, TensorProto> = g
        .initializer
        .iter()
        .filter(|t| is_float(t) && numel(&t.dims) > 1)
        .filter(|t| to_f32(t).is_ok_and(|d| d.iter().all(|x| x.to_bits() == d[0].to_bits())))
        .map(|t| (t.name.clone().unwrap_or_default(), t.clone()))
        .collect();
    if uniform.is_empty() {
        return;
    }
    let mut taken: HashSet<String> = g.initializer.iter().filter_map(|t| t.name.clone()).collect();
    taken.extend(g.node.iter().flat_map(|n| n.output.iter().cloned()));
    let mut seen: HashSet<String> = HashSet::new();
    let mut added = vec![];
    for n in g.node.iter_mut() {
        for x in n.input.iter_mut() {
            let Some(t) = uniform.get(x.as_str()) else { continue };
            if seen.insert(x.clone()) {
                continue; // the first use keeps the original
            }
            let mut k = 1;
            while taken.contains(&format!("{x}__oto{k}")) {
                k += 1;
            }
            let name = format!("{x}__oto{k}");
            taken.insert(name.clone());
            let mut copy = t.clone();
            copy.name = Some(name.clone());
            added.push(copy);
            *x = name;
        }
    }
    g.initializer.extend(added);
}

/// Folds the constant tensors exporters compute at run time: `Shape` of a constant, `Expand` of
/// a constant by a constant shape, `CastLike` of a float constant to a float (the dynamo
/// exporter without its optimiser writes a bias-free conv's bias as
/// `Expand(CastLike(0, x), Expand(Shape(w)[0:1], [1]))`). Each result becomes an initializer
/// named after the node's output, so analysis sees a parameter it can slice.
pub fn fold_constant_shapes(model: &mut ModelProto) {
    let opset = crate::load::default_opset(model);
    let Some(g) = model.graph.as_mut() else { return };
    let outputs: HashSet<String> = g.output.iter().filter_map(|o| o.name.clone()).collect();
    let mut consts: HashMap<String, TensorProto> = g.initializer.iter().map(|t| (t.name.clone().unwrap_or_default(), t.clone())).collect();
    for n in &g.node {
        if let (Some(Op::Constant(_)), Some(o), Some(t)) = (typed(n, opset), n.output.first(), crate::ops::meta::Constant::tensor(n)) {
            consts.insert(o.clone(), t);
        }
    }
    let float_typed: HashSet<String> = g
        .input
        .iter()
        .chain(g.value_info.iter())
        .filter(|vi| matches!(vi.r#type.as_ref().and_then(|t| t.value.as_ref()), Some(oto_onnx::pb::type_proto::Value::TensorType(tt)) if tt.elem_type == Some(oto_onnx::tensor::FLOAT)))
        .filter_map(|vi| vi.name.clone())
        .chain(consts.iter().filter(|(_, t)| t.data_type == Some(oto_onnx::tensor::FLOAT)).map(|(k, _)| k.clone()))
        .collect();
    let mut removed = vec![false; g.node.len()];
    let mut added = vec![];
    let mut changed = true;
    while changed {
        changed = false;
        for (i, n) in g.node.iter().enumerate() {
            if removed[i] || n.output.len() != 1 || outputs.contains(&n.output[0]) {
                continue;
            }
            let c = |slot: usize| n.input.get(slot).and_then(|x| consts.get(x));
            let name = &n.output[0];
            let t = match typed(n, opset) {
                Some(Op::ShapeOf(s)) => c(0).map(|t| {
                    let dims = &t.dims[s.range(t.dims.len())];
                    oto_onnx::tensor::i64_tensor(name, &[dims.len() as i64], dims)
                }),
                Some(Op::Expand(_)) => match (c(0), c(1).and_then(|s| oto_onnx::tensor::to_i64(s).ok())) {
                    (Some(t), Some(shape)) if small(&t.dims, 1 << 16) => broadcast_to(t, &shape, name),
                    _ => None,
                },
                Some(Op::CastLike(_)) => match (c(0), n.input.get(1)) {
                    (Some(t), Some(like)) if is_float(t) && float_typed.contains(like) => to_f32(t).ok().map(|d| f32_tensor(name, &t.dims, &d)),
                    _ => None,
                },
                _ => None,
            };
            let Some(t) = t else { continue };
            consts.insert(name.clone(), t.clone());
            added.push(t);
            removed[i] = true;
            changed = true;
        }
    }
    apply_folds(g, &removed, added, &outputs);
}

/// Drops the folded nodes, adds their results as initializers, then the initializers (also
/// listed as graph inputs) and Constant nodes nothing reads any more.
fn apply_folds(g: &mut oto_onnx::pb::GraphProto, removed: &[bool], added: Vec<TensorProto>, outputs: &HashSet<String>) {
    if added.is_empty() {
        return;
    }
    let mut k = 0;
    g.node.retain(|_| {
        k += 1;
        !removed[k - 1]
    });
    g.initializer.extend(added);
    let used: HashSet<String> = g.node.iter().flat_map(|n| n.input.iter().cloned()).chain(outputs.iter().cloned()).collect();
    let inits: HashSet<String> = g.initializer.iter().filter_map(|t| t.name.clone()).collect();
    g.initializer.retain(|t| used.contains(t.name.as_deref().unwrap_or("")));
    g.input.retain(|i| !inits.contains(i.name.as_deref().unwrap_or("")) || used.contains(i.name.as_deref().unwrap_or("")));
    g.node.retain(|n| n.op_type.as_deref() != Some("Constant") || n.output.iter().any(|o| used.contains(o)));
}

/// Whether `dims` (from a file: maybe hostile) hold at most `limit` elements, without overflow.
fn small(dims: &[i64], limit: usize) -> bool {
    dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d.max(0) as usize)).is_some_and(|n| n <= limit)
}

/// `t` broadcast (numpy-style) to `shape`, float or int64; `None` for another element type or
/// incompatible shapes.
fn broadcast_to(t: &TensorProto, shape: &[i64], name: &str) -> Option<TensorProto> {
    let r = t.dims.len().max(shape.len());
    let pad = |d: &[i64]| std::iter::repeat_n(1, r - d.len()).chain(d.iter().copied()).collect::<Vec<i64>>();
    let (src, tgt) = (pad(&t.dims), pad(shape));
    let out: Vec<i64> = src.iter().zip(&tgt).map(|(&a, &b)| if a == 1 { b } else { a }).collect();
    if src.iter().zip(&tgt).any(|(&a, &b)| a != 1 && b != 1 && a != b) || !small(&out, 1 << 20) || out.iter().any(|&d| d < 0) {
        return None;
    }
    let (ss, os) = (strides(&src), strides(&out));
    let index = |flat: usize| (0..r).map(|a| if src[a] == 1 { 0 } else { ((flat / os[a]) % out[a] as usize) * ss[a] }).sum::<usize>();
    let n = numel(&out);
    if is_float(t) {
        let d = to_f32(t).ok()?;
        Some(f32_tensor(name, &out, &(0..n).map(|f| d[index(f)]).collect::<Vec<_>>()))
    } else {
        let d = oto_onnx::tensor::to_i64(t).ok()?;
        Some(oto_onnx::tensor::i64_tensor(name, &out, &(0..n).map(|f| d[index(f)]).collect::<Vec<_>>()))
    }
}

/// `data` (row-major, of shape `dims`) with its axes permuted by `perm`; also used for folded
/// shape data (`ops::transpose`).
pub(crate) fn transpose<T: Clone>(dims: &[i64], data: &[T], perm: &[usize]) -> (Vec<i64>, Vec<T>) {
    let nd: Vec<i64> = perm.iter().map(|&p| dims[p]).collect();
    if perm == [1, 0] {
        // a matrix: out[j][i] = data[i][j]
        let (r, c) = (dims[0] as usize, dims[1] as usize);
        return (nd, (0..data.len()).map(|f| data[(f % r) * c + f / r].clone()).collect());
    }
    let (ss, ds) = (strides(dims), strides(&nd));
    let out = (0..data.len())
        .map(|flat| {
            let mut src = 0;
            for (a, &p) in perm.iter().enumerate() {
                src += ((flat / ds[a]) % nd[a] as usize) * ss[p];
            }
            data[src].clone()
        })
        .collect();
    (nd, out)
}

fn squeeze_dims(dims: &[i64], axes: &[i64], unsqueeze: bool) -> Option<Vec<i64>> {
    if unsqueeze {
        let r = (dims.len() + axes.len()) as i64;
        let mut ax: Vec<i64> = axes.iter().map(|&a| if a < 0 { a + r } else { a }).collect();
        ax.sort();
        let mut out = vec![];
        let mut it = dims.iter();
        for i in 0..r {
            if ax.contains(&i) {
                out.push(1);
            } else {
                out.push(*it.next()?);
            }
        }
        Some(out)
    } else {
        let r = dims.len() as i64;
        let ax: Vec<i64> = axes.iter().map(|&a| if a < 0 { a + r } else { a }).collect();
        Some(dims.iter().enumerate().filter(|(i, _)| !ax.contains(&(*i as i64))).map(|(_, &d)| d).collect())
    }
}

fn reshape_dims(dims: &[i64], target: &[i64]) -> Option<Vec<i64>> {
    let total: i64 = dims.iter().product();
    let mut out: Vec<i64> = target.iter().enumerate().map(|(i, &d)| if d == 0 { dims.get(i).copied().unwrap_or(0) } else { d }).collect();
    let known: i64 = out.iter().filter(|&&d| d != -1).product();
    if let Some(p) = out.iter().position(|&d| d == -1) {
        if known == 0 || total % known != 0 {
            return None;
        }
        out[p] = total / known;
    }
    (out.iter().product::<i64>() == total).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn transposes_a_matrix() {
        let (d, v) = transpose(&[2, 3], &[0., 1., 2., 3., 4., 5.], &[1, 0]);
        assert_eq!(d, vec![3, 2]);
        assert_eq!(v, vec![0., 3., 1., 4., 2., 5.]);
    }
}
