//! Large graphs run in pieces. tract checks every node it adds against all nodes already there
//! (`wire_node`'s duplicate-name scan), so typing a graph of n nodes takes time quadratic in n:
//! 17 s at 50,000 nodes. A graph above [`PIECES_ABOVE`] nodes is therefore cut, in its node
//! order (ONNX requires a topological one), into models of at most [`PIECE_NODES`] nodes; each
//! piece's inputs are the values earlier pieces or the graph inputs produced, its outputs the
//! values later pieces or the graph outputs read. tract types and runs the pieces one after the
//! other on the real tensors (their element types and shapes as computed), so the values are
//! those of one run of the whole graph, in time linear in n.
use anyhow::{anyhow, Result};
use oto_onnx::pb::tensor_shape_proto::{dimension, Dimension};
use oto_onnx::pb::{attribute_proto::AttributeType, type_proto, GraphProto, ModelProto, TensorShapeProto, TypeProto, ValueInfoProto};
use std::collections::{HashMap, HashSet};
use tract_onnx::prelude::*;

/// Graphs above this many nodes run in pieces.
pub const PIECES_ABOVE: usize = 2_000;
/// Nodes per piece.
pub const PIECE_NODES: usize = 1_000;

/// One piece: a model of a run of consecutive nodes, with the names of its inputs and outputs.
pub(crate) struct Piece {
    model: ModelProto,
    inputs: Vec<String>,
    outputs: Vec<String>,
}

/// A graph cut into pieces.
pub(crate) struct Pieces {
    pieces: Vec<Piece>,
    graph_inputs: Vec<String>,
    graph_outputs: Vec<String>,
    /// Index of the last piece that reads each value (graph outputs: past the end).
    last_reader: HashMap<String, usize>,
}

/// The pieces of `model`, or `None` when it cannot be cut (not in topological order, a name
/// produced by no node, a subgraph that may read outer values, or a graph output that no node
/// produces): it then runs whole.
pub(crate) fn split(model: &ModelProto) -> Option<Pieces> {
    let g = model.graph.as_ref()?;
    let inits: HashMap<&str, usize> = g.initializer.iter().enumerate().map(|(i, t)| (t.name(), i)).collect();
    let graph_inputs: Vec<String> = g.input.iter().map(|i| i.name().to_string()).filter(|n| !inits.contains_key(n.as_str())).collect();
    let mut piece_of: HashMap<&str, usize> = graph_inputs.iter().map(|n| (n.as_str(), usize::MAX)).collect();
    let mut last_reader: HashMap<String, usize> = HashMap::new();
    for (i, n) in g.node.iter().enumerate() {
        let subgraph = |a: &oto_onnx::pb::AttributeProto| matches!(a.r#type(), AttributeType::Graph | AttributeType::Graphs) || a.g.is_some();
        if n.attribute.iter().any(subgraph) {
            return None;
        }
        let p = i / PIECE_NODES;
        for x in n.input.iter().filter(|x| !x.is_empty() && !inits.contains_key(x.as_str())) {
            piece_of.get(x.as_str())?; // produced later or by nothing
            let r = last_reader.entry(x.clone()).or_insert(p);
            *r = (*r).max(p);
        }
        for y in n.output.iter().filter(|y| !y.is_empty()) {
            piece_of.insert(y, p);
        }
    }
    let n_pieces = g.node.len().div_ceil(PIECE_NODES);
    let graph_outputs: Vec<String> = g.output.iter().map(|o| o.name().to_string()).collect();
    for o in &graph_outputs {
        piece_of.get(o.as_str()).filter(|&&p| p != usize::MAX)?;
        last_reader.insert(o.clone(), n_pieces);
    }
    let pieces = (0..n_pieces).map(|p| piece(model, g, &inits, &piece_of, &last_reader, p)).collect();
    Some(Pieces { pieces, graph_inputs, graph_outputs, last_reader })
}

fn piece(
    model: &ModelProto,
    g: &GraphProto,
    inits: &HashMap<&str, usize>,
    piece_of: &HashMap<&str, usize>,
    last_reader: &HashMap<String, usize>,
    p: usize,
) -> Piece {
    let nodes = &g.node[p * PIECE_NODES..((p + 1) * PIECE_NODES).min(g.node.len())];
    let (mut inputs, mut used) = (vec![], vec![]);
    let mut seen = HashSet::new();
    for x in nodes.iter().flat_map(|n| &n.input).filter(|x| !x.is_empty()) {
        if !seen.insert(x.as_str()) {
            continue;
        }
        match inits.get(x.as_str()) {
            Some(&i) => used.push(g.initializer[i].clone()),
            None if piece_of[x.as_str()] != p => inputs.push(x.clone()),
            None => {}
        }
    }
    let outputs: Vec<String> = nodes
        .iter()
        .flat_map(|n| &n.output)
        .filter(|y| last_reader.get(y.as_str()).is_some_and(|&r| r > p))
        .cloned()
        .collect();
    let info = |n: &String| ValueInfoProto { name: Some(n.clone()), ..Default::default() };
    let graph = GraphProto {
        name: Some(format!("piece{p}")),
        node: nodes.to_vec(),
        initializer: used,
        input: inputs.iter().map(info).collect(),
        output: outputs.iter().map(info).collect(),
        ..Default::default()
    };
    Piece { model: ModelProto { graph: Some(graph), ..header(model) }, inputs, outputs }
}

/// The model's fields other than its graph (not cloning the weights).
fn header(m: &ModelProto) -> ModelProto {
    ModelProto {
        ir_version: m.ir_version,
        opset_import: m.opset_import.clone(),
        producer_name: m.producer_name.clone(),
        domain: m.domain.clone(),
        functions: m.functions.clone(),
        ..Default::default()
    }
}

/// `t` with tract's symbolic dims (shapes it computed: TDim) as the int64 they are in ONNX.
fn plain(t: &TValue) -> Result<TValue> {
    if t.datum_type() != DatumType::TDim {
        return Ok(t.clone());
    }
    Ok(t.cast_to::<i64>().map_err(|e| anyhow!("a computed shape is not concrete: {e:?}"))?.into_owned().into_tvalue())
}

/// The ONNX type of a tensor of `dt` and `shape`.
fn tensor_type(dt: DatumType, shape: &[usize]) -> Option<TypeProto> {
    use oto_onnx::tensor::*;
    let elem_type = match dt {
        DatumType::F32 => FLOAT,
        DatumType::F64 => DOUBLE,
        DatumType::F16 => FLOAT16,
        DatumType::I64 => INT64,
        DatumType::I32 => INT32,
        DatumType::Bool => BOOL,
        DatumType::U8 => 2,
        DatumType::I8 => 3,
        DatumType::I16 => 5,
        _ => return None,
    };
    let dim = shape.iter().map(|&d| Dimension { value: Some(dimension::Value::DimValue(d as i64)), ..Default::default() }).collect();
    let tt = type_proto::Tensor { elem_type: Some(elem_type), shape: Some(TensorShapeProto { dim }) };
    Some(TypeProto { value: Some(type_proto::Value::TensorType(tt)), ..Default::default() })
}

/// Runs the pieces on `inputs` (graph-input order); `optimize` passes each through tract's
/// optimizer. Returns the graph outputs.
pub(crate) fn run(ps: &Pieces, inputs: TVec<TValue>, optimize: bool) -> Result<TVec<TValue>> {
    let mut values: HashMap<String, TValue> = ps.graph_inputs.iter().cloned().zip(inputs).collect();
    for (p, piece) in ps.pieces.iter().enumerate() {
        let plan = plan(piece, p, &values, optimize)?;
        let fed: TVec<TValue> = plan.1.iter().map(|n| values[n].clone()).collect();
        let outs = plan.0.run(fed).map_err(|e| anyhow!("tract failed to run piece {p} of the model: {e:?}"))?;
        values.extend(piece.outputs.iter().cloned().zip(outs).map(|(n, t)| plain(&t).map(|t| (n, t))).collect::<Result<Vec<_>>>()?);
        values.retain(|n, _| ps.last_reader.get(n).is_some_and(|&r| r > p)); // done with: freed
    }
    ps.graph_outputs.iter().map(|n| values.get(n).cloned().ok_or_else(|| anyhow!("no value for graph output '{n}'"))).collect()
}

/// The plan of piece `p` on the values that reach it, and the names it is fed. Integer values
/// (shapes, indices computed earlier) enter as constants, as they are in the whole graph: tract
/// needs e.g. a Reshape's target at typing time. The others are inputs of their real type and
/// shape.
fn plan(piece: &Piece, p: usize, values: &HashMap<String, TValue>, optimize: bool) -> Result<(std::sync::Arc<TypedSimplePlan>, Vec<String>)> {
    let mut model = piece.model.clone();
    let g = model.graph.as_mut().ok_or_else(|| anyhow!("piece {p} has no graph"))?;
    let (mut fed, mut infos) = (vec![], vec![]);
    let declared = std::mem::take(&mut g.input);
    for (vi, name) in declared.into_iter().zip(&piece.inputs) {
        let t = values.get(name).ok_or_else(|| anyhow!("piece {p}: no value '{name}'"))?;
        let dims: Vec<i64> = t.shape().iter().map(|&d| d as i64).collect();
        match t.datum_type() {
            DatumType::I64 | DatumType::I32 => {
                let v = t.cast_to::<i64>().map_err(|e| anyhow!("{e:?}"))?;
                let data: Vec<i64> = v.to_plain_array_view::<i64>().map_err(|e| anyhow!("{e:?}"))?.iter().copied().collect();
                g.initializer.push(oto_onnx::tensor::i64_tensor(name, &dims, &data));
            }
            dt => {
                let ty = tensor_type(dt, t.shape()).ok_or_else(|| anyhow!("piece {p}: input '{name}' is of type {dt:?}"))?;
                infos.push(InferenceFact::dt_shape(dt, t.shape()));
                g.input.push(ValueInfoProto { r#type: Some(ty), ..vi });
                fed.push(name.clone());
            }
        }
    }
    let bytes = oto_onnx::encode_model(&model);
    let mut m = tract_onnx::onnx().model_for_read(&mut bytes.as_slice()).map_err(|e| anyhow!("tract cannot load piece {p} of the model: {e:?}"))?;
    for (i, f) in infos.into_iter().enumerate() {
        m = m.with_input_fact(i, f).map_err(|e| anyhow!("tract rejects input '{}' of piece {p}: {e:?}", fed[i]))?;
    }
    let typed = m.into_typed().map_err(|e| anyhow!("tract cannot type piece {p} of the model: {e:?}"))?;
    let typed = if optimize { typed.into_optimized().map_err(|e| anyhow!("tract cannot optimize piece {p}: {e:?}"))? } else { typed };
    Ok((typed.into_runnable().map_err(|e| anyhow!("tract cannot plan piece {p} of the model: {e:?}"))?, fed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oto_onnx::pb::{AttributeProto, NodeProto, OperatorSetIdProto};

    fn node(op: &str, name: &str, inputs: &[&str]) -> NodeProto {
        NodeProto {
            op_type: Some(op.into()),
            name: Some(name.into()),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![name.into()],
            attribute: Vec::<AttributeProto>::new(),
            ..Default::default()
        }
    }

    /// 4,500 nodes: a chain with skip connections reaching 650 nodes back (across pieces), one
    /// weight read in every piece, an int64 shape computed in piece 1 and read in piece 2, and a
    /// second graph output from piece 0 that later pieces also read.
    fn long_model() -> ModelProto {
        let mut nodes = vec![];
        let mut prev = "x".to_string();
        for i in 0..4_500 {
            let name = format!("n{i}");
            let n = match i {
                1_500 => node("Shape", &name, &[&prev]),
                1_501 => node("Neg", &name, &["n1499"]),
                2_600 => node("Reshape", &name, &[&prev, "n1500"]),
                _ if i % 700 == 699 => node("Add", &name, &[&prev, &format!("n{}", i - 650)]),
                _ if i % 500 == 3 => node("Mul", &name, &[&prev, "w"]),
                _ if i % 3 == 0 => node("Sigmoid", &name, &[&prev]),
                _ => node("Neg", &name, &[&prev]),
            };
            nodes.push(n);
            if i != 1_500 {
                prev = name;
            }
        }
        let w = oto_onnx::tensor::f32_tensor("w", &[1, 3, 1, 1], &[0.5, -1.5, 2.0]);
        let info = |n: &str, shape: Option<Vec<i64>>| ValueInfoProto {
            name: Some(n.into()),
            r#type: shape.map(|s| super::tensor_type(DatumType::F32, &s.iter().map(|&d| d as usize).collect::<Vec<_>>()).unwrap()),
            ..Default::default()
        };
        let graph = GraphProto {
            name: Some("long".into()),
            node: nodes,
            initializer: vec![w],
            input: vec![info("x", Some(vec![2, 3, 4, 4]))],
            output: vec![info(&prev, None), info("n10", None)],
            ..Default::default()
        };
        ModelProto {
            ir_version: Some(8),
            opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(17) }],
            graph: Some(graph),
            ..Default::default()
        }
    }

    #[test]
    fn pieces_compute_what_the_whole_graph_computes() {
        let model = long_model();
        let x: Vec<f32> = (0..96).map(|i| (i as f32 * 0.37).sin()).collect();
        let input = || -> TVec<TValue> { tvec![tract_ndarray::ArrayD::from_shape_vec(vec![2, 3, 4, 4], x.clone()).unwrap().into_tvalue()] };
        let bytes = oto_onnx::encode_model(&model);
        let whole = tract_onnx::onnx()
            .model_for_read(&mut bytes.as_slice())
            .unwrap()
            .with_input_fact(0, InferenceFact::dt_shape(f32::datum_type(), tvec![2, 3, 4, 4]))
            .unwrap()
            .into_typed()
            .unwrap()
            .into_runnable()
            .unwrap()
            .run(input())
            .unwrap();
        let ps = split(&model).expect("a graph in topological order without subgraphs can be cut");
        assert_eq!(ps.pieces.len(), 5);
        assert!(ps.pieces[2].inputs.contains(&"n1500".to_string()), "the shape crosses from piece 1 to piece 2");
        let cut = run(&ps, input(), false).unwrap();
        assert_eq!(whole.len(), 2);
        for (a, b) in whole.iter().zip(&cut) {
            assert_eq!(a.shape(), b.shape());
            assert_eq!(a.to_plain_array_view::<f32>().unwrap(), b.to_plain_array_view::<f32>().unwrap());
        }
        // not cut: a node reading a value produced after it, or a subgraph
        let mut m = model.clone();
        m.graph.as_mut().unwrap().node.swap(0, 1);
        assert!(split(&m).is_none());
        let mut m = model;
        m.graph.as_mut().unwrap().node[7].attribute.push(AttributeProto { name: Some("body".into()), g: Some(GraphProto::default()), ..Default::default() });
        assert!(split(&m).is_none());
    }
}
