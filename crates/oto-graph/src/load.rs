//! Building the IR from a ModelProto: values for inputs, initializers and node outputs,
//! edge resolution, topological sort (stable: keeps the file's order where it is valid).
use crate::error::{GraphError, Result};
use crate::ir::{Dim, Graph, Node, Shape, Value};
use crate::ops::meta::Constant;
use crate::ops::{Attrs, Op};
use oto_onnx::pb::{tensor_shape_proto::dimension, type_proto, ModelProto, ValueInfoProto};
use std::collections::HashMap;

/// Shape and element type declared by a ValueInfoProto.
pub(crate) fn declared(vi: &ValueInfoProto) -> (i32, Option<Shape>) {
    let Some(type_proto::Value::TensorType(tt)) = vi.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return (0, None);
    };
    let shape = tt.shape.as_ref().map(|s| {
        s.dim
            .iter()
            .enumerate()
            .map(|(i, d)| match &d.value {
                Some(dimension::Value::DimValue(v)) => Dim::Known(*v),
                Some(dimension::Value::DimParam(p)) => Dim::Sym(p.clone()),
                None => Dim::Sym(format!("{}_d{i}", vi.name.as_deref().unwrap_or("?"))),
            })
            .collect()
    });
    (tt.elem_type.unwrap_or(0), shape)
}

impl Graph {
    /// Builds the IR (weight-only ops folded, see [`crate::fold`]; no shape inference yet — see
    /// [`Graph::from_model`] for the full load).
    pub fn from_model_unchecked(mut model: ModelProto) -> Result<Graph> {
        crate::validate::check_model(&model)?;
        crate::fold::fold_constant_shapes(&mut model);
        crate::fold::fold_weight_ops(&mut model);
        crate::fold::unshare_uniform_initializers(&mut model);
        crate::fold::explicit_defaults(&mut model);
        let gp = model.graph.as_ref().ok_or_else(|| GraphError::Other("the model has no graph".into()))?;
        let opset = default_opset(&model);
        let mut values: Vec<Value> = vec![];
        let mut by_name: HashMap<String, usize> = HashMap::new();
        let mut origin: HashMap<usize, String> = HashMap::new();
        fn add(values: &mut Vec<Value>, by_name: &mut HashMap<String, usize>, name: &str) -> usize {
            let id = values.len();
            values.push(Value::new(name));
            by_name.insert(name.into(), id);
            id
        }
        for t in &gp.initializer {
            let name = t.name.clone().unwrap_or_default();
            if by_name.contains_key(&name) {
                return Err(GraphError::DoubleAssign { value: name, first: "an initializer".into(), second: "another initializer".into() });
            }
            let id = add(&mut values, &mut by_name, &name);
            let v = &mut values[id];
            v.dtype = t.data_type.unwrap_or(0);
            v.shape = Some(t.dims.iter().map(|&d| Dim::Known(d)).collect());
            v.init = Some(t.clone());
            v.is_initializer = true;
            origin.insert(id, "an initializer".into());
        }
        let mut inputs = vec![];
        for vi in &gp.input {
            let name = vi.name.clone().unwrap_or_default();
            if by_name.contains_key(&name) {
                continue; // an initializer also listed as input (old exporters)
            }
            let id = add(&mut values, &mut by_name, &name);
            let (dt, shape) = declared(vi);
            values[id].dtype = dt;
            values[id].shape = shape;
            origin.insert(id, "a graph input".into());
            inputs.push(id);
        }
        // Node outputs first, so that unsorted files still resolve.
        let mut out_ids = vec![];
        for (i, n) in gp.node.iter().enumerate() {
            let nname = node_name(n, i);
            let mut outs = vec![];
            for o in &n.output {
                if o.is_empty() {
                    outs.push(None);
                    continue;
                }
                if let Some(&prev) = by_name.get(o) {
                    return Err(GraphError::DoubleAssign {
                        value: o.clone(),
                        first: origin.get(&prev).cloned().unwrap_or_default(),
                        second: nname,
                    });
                }
                let id = add(&mut values, &mut by_name, o);
                origin.insert(id, nname.clone());
                outs.push(Some(id));
            }
            out_ids.push(outs);
        }
        let mut nodes = vec![];
        for (i, (n, outs)) in gp.node.iter().zip(out_ids).enumerate() {
            let name = node_name(n, i);
            let op = n.op_type.clone().unwrap_or_default();
            let mut ins = vec![];
            for inp in &n.input {
                if inp.is_empty() {
                    ins.push(None);
                    continue;
                }
                match by_name.get(inp) {
                    Some(&id) => ins.push(Some(id)),
                    None => return Err(GraphError::Dangling { node: name, op, value: inp.clone() }),
                }
            }
            let domain = n.domain.clone().unwrap_or_default();
            let typed = Op::parse(&Attrs { proto: n, name: &name, op_type: &op, domain: &domain, opset })?;
            nodes.push(Node { name, op_type: op, op: typed, domain, inputs: ins, outputs: outs, proto: n.clone() });
        }
        let nodes = topo_sort(nodes, values.len())?;
        for (nid, n) in nodes.iter().enumerate() {
            for (slot, o) in n.outputs.iter().enumerate() {
                let _ = slot;
                if let Some(o) = o {
                    values[*o].producer = Some(nid);
                }
            }
            for (slot, i) in n.inputs.iter().enumerate() {
                if let Some(i) = i {
                    values[*i].consumers.push((nid, slot));
                }
            }
            if let Op::Constant(_) = n.op {
                if let (Some(o), Some(t)) = (n.output(0), Constant::tensor(&n.proto)) {
                    values[o].dtype = t.data_type.unwrap_or(0);
                    values[o].shape = Some(t.dims.iter().map(|&d| Dim::Known(d)).collect());
                    values[o].init = Some(t);
                }
            }
        }
        let mut outputs = vec![];
        for vi in &gp.output {
            let name = vi.name.clone().unwrap_or_default();
            let id = *by_name.get(&name).ok_or_else(|| GraphError::Dangling {
                node: "<graph output>".into(),
                op: "Output".into(),
                value: name.clone(),
            })?;
            outputs.push(id);
        }
        Ok(Graph { nodes, values, by_name, inputs, outputs, opset, template: model })
    }
}

/// The opset of the default ONNX domain (13 when the model imports none).
pub(crate) fn default_opset(model: &ModelProto) -> i64 {
    model
        .opset_import
        .iter()
        .find(|o| matches!(o.domain.as_deref(), None | Some("") | Some("ai.onnx")))
        .and_then(|o| o.version)
        .unwrap_or(13)
}

fn node_name(n: &oto_onnx::pb::NodeProto, i: usize) -> String {
    match n.name.as_deref() {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => format!("{}_{i}", n.op_type.as_deref().unwrap_or("node")),
    }
}

/// Kahn's algorithm, always taking the lowest original index that is ready (stable order).
fn topo_sort(nodes: Vec<Node>, nvalues: usize) -> Result<Vec<Node>> {
    let mut producer = vec![usize::MAX; nvalues];
    for (i, n) in nodes.iter().enumerate() {
        for o in n.outputs.iter().flatten() {
            producer[*o] = i;
        }
    }
    let mut indeg = vec![0usize; nodes.len()];
    let mut users: Vec<Vec<usize>> = vec![vec![]; nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        for v in n.inputs.iter().flatten() {
            let p = producer[*v];
            if p != usize::MAX {
                indeg[i] += 1;
                users[p].push(i);
            }
        }
    }
    let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<usize>> =
        (0..nodes.len()).filter(|&i| indeg[i] == 0).map(std::cmp::Reverse).collect();
    let mut order = vec![];
    while let Some(std::cmp::Reverse(i)) = ready.pop() {
        order.push(i);
        for &u in &users[i] {
            indeg[u] -= 1;
            if indeg[u] == 0 {
                ready.push(std::cmp::Reverse(u));
            }
        }
    }
    if order.len() < nodes.len() {
        let stuck = (0..nodes.len()).find(|&i| indeg[i] > 0).unwrap_or(0);
        return Err(GraphError::Cycle { node: nodes[stuck].name.clone(), op: nodes[stuck].op_type.clone() });
    }
    let mut slots: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
    Ok(order.into_iter().map(|i| slots[i].take().unwrap()).collect())
}
