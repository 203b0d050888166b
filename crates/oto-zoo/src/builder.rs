//! The graph builder: appends nodes in creation order (so graphs are topologically sorted),
//! gives every node, value and initializer a unique PyTorch-like name, and tracks static
//! shapes (batch kept symbolic as `N`) so that layer methods in `ops.rs` can size weights
//! and reject inputs too small for a network with an error rather than a panic.
use crate::init::Init;
use oto_onnx::pb::{
    tensor_shape_proto::{dimension, Dimension},
    type_proto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto,
    TypeProto, ValueInfoProto,
};
use oto_onnx::tensor::{f32_tensor, i64_tensor, FLOAT};
use oto_onnx::AttributeProto;
use std::collections::{HashMap, HashSet};

/// Batch dimension marker in tracked shapes; written as `dim_param: "N"`.
pub const BATCH: i64 = -1;
/// Refuse models whose parameters would exceed this many floats (protobuf's 2 GiB limit).
const MAX_PARAMS: usize = 400_000_000;

/// A shape problem found while building (input too small, mismatched concat, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct ShapeError(pub String);

pub type R<T> = Result<T, ShapeError>;

pub fn fail<T>(msg: impl Into<String>) -> R<T> {
    Err(ShapeError(msg.into()))
}

/// A value in the graph: its name and tracked shape (dim 0 may be [`BATCH`]).
#[derive(Debug, Clone)]
pub struct Val {
    pub name: String,
    pub shape: Vec<i64>,
}

impl Val {
    pub fn c(&self) -> i64 {
        self.shape[1]
    }
    pub fn h(&self) -> i64 {
        self.shape[2]
    }
    pub fn w(&self) -> i64 {
        self.shape[3]
    }
}

pub struct Builder {
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    node_names: HashSet<String>,
    value_names: HashSet<String>,
    consts: HashMap<String, String>,
    scope: Vec<String>,
    params: usize,
    /// The next suffix to try for each base name, of values and of nodes (so that making n
    /// names takes linear time).
    next_value_suffix: HashMap<String, usize>,
    next_node_suffix: HashMap<String, usize>,
    pub init: Init,
}

/// `base`, or `base_k` for the first free k, added to `taken`.
fn unique(taken: &mut HashSet<String>, next: &mut HashMap<String, usize>, base: &str) -> String {
    if taken.insert(base.to_string()) {
        return base.to_string();
    }
    let k = next.entry(base.to_string()).or_insert(1);
    loop {
        let name = format!("{base}_{k}");
        *k += 1;
        if taken.insert(name.clone()) {
            return name;
        }
    }
}

impl Builder {
    pub fn new(seed: u64, randomize_stats: bool) -> Self {
        Builder {
            nodes: Vec::new(),
            inits: Vec::new(),
            inputs: Vec::new(),
            node_names: HashSet::new(),
            value_names: HashSet::new(),
            consts: HashMap::new(),
            scope: Vec::new(),
            params: 0,
            next_value_suffix: HashMap::new(),
            next_node_suffix: HashMap::new(),
            init: Init::new(seed, randomize_stats),
        }
    }

    /// Declares a float graph input; `shape[0]` should be [`BATCH`].
    pub fn input(&mut self, name: &str, shape: &[i64]) -> Val {
        self.value_names.insert(name.to_string());
        self.inputs.push(value_info(name, shape));
        Val { name: name.into(), shape: shape.to_vec() }
    }

    /// Runs `f` with `name` pushed on the module path (`layer1` then `0` gives `layer1.0.*`).
    pub fn scope<T>(&mut self, name: &str, f: impl FnOnce(&mut Self) -> T) -> T {
        self.scope.push(name.to_string());
        let out = f(self);
        self.scope.pop();
        out
    }

    /// Full dotted module path of `local` in the current scope.
    pub fn path(&self, local: &str) -> String {
        let mut parts: Vec<&str> = self.scope.iter().map(|s| s.as_str()).collect();
        if !local.is_empty() {
            parts.push(local);
        }
        parts.join(".")
    }

    /// Adds the float parameter `{path(local)}` of shape `dims`, filled by `gen(init, numel)`.
    /// Sizes are checked before anything is allocated; names must be unique (a model bug otherwise).
    pub fn param(&mut self, local: &str, dims: &[i64], gen: impl FnOnce(&mut Init, usize) -> Vec<f32>) -> R<String> {
        let name = self.path(local);
        let n = oto_onnx::tensor::numel(dims);
        self.params += n;
        if self.params > MAX_PARAMS {
            return fail(format!("model would exceed {MAX_PARAMS} parameters at '{name}'; use a smaller input or width"));
        }
        if !self.value_names.insert(name.clone()) {
            return fail(format!("internal: duplicate parameter name '{name}'"));
        }
        let data = gen(&mut self.init, n);
        if data.len() != n {
            return fail(format!("internal: parameter '{name}' has {} values for shape {dims:?}", data.len()));
        }
        self.inits.push(raw_f32(&name, dims, &data));
        Ok(name)
    }

    /// A shared scalar float constant.
    pub fn scalar(&mut self, v: f32) -> String {
        let key = format!("f{:08x}", v.to_bits());
        if let Some(n) = self.consts.get(&key) {
            return n.clone();
        }
        let name = self.fresh_value(&format!("const_f_{}", self.consts.len()));
        self.inits.push(f32_tensor(&name, &[], &[v]));
        self.consts.insert(key, name.clone());
        name
    }

    /// A shared 1-D constant (int64 or float); used for shapes, pads, scales, split sizes.
    pub fn ints(&mut self, v: &[i64]) -> String {
        let key = format!("i{v:?}");
        if let Some(n) = self.consts.get(&key) {
            return n.clone();
        }
        let name = self.fresh_value(&format!("const_i_{}", self.consts.len()));
        self.inits.push(i64_tensor(&name, &[v.len() as i64], v));
        self.consts.insert(key, name.clone());
        name
    }

    pub fn floats(&mut self, v: &[f32]) -> String {
        let key = format!("v{:?}", v.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
        if let Some(n) = self.consts.get(&key) {
            return n.clone();
        }
        let name = self.fresh_value(&format!("const_v_{}", self.consts.len()));
        self.inits.push(f32_tensor(&name, &[v.len() as i64], v));
        self.consts.insert(key, name.clone());
        name
    }

    fn fresh_value(&mut self, base: &str) -> String {
        unique(&mut self.value_names, &mut self.next_value_suffix, base)
    }

    /// Appends a node named `/{scope}/{module}/{op}`; returns its output names.
    pub fn node(&mut self, op: &str, module: &str, inputs: &[&str], n_out: usize, attrs: Vec<AttributeProto>) -> Vec<String> {
        let mut parts: Vec<&str> = self.scope.iter().map(|s| s.as_str()).collect();
        if !module.is_empty() {
            parts.push(module);
        }
        let base = format!("/{}{}{op}", parts.join("/"), if parts.is_empty() { "" } else { "/" });
        let name = unique(&mut self.node_names, &mut self.next_node_suffix, &base);
        let outs: Vec<String> = (0..n_out).map(|i| self.fresh_value(&format!("{name}_output_{i}"))).collect();
        let out_refs: Vec<&str> = outs.iter().map(|s| s.as_str()).collect();
        self.nodes.push(oto_onnx::attr::node(op, &name, inputs, &out_refs, attrs));
        outs
    }

    /// Single-output node with a known output shape.
    pub fn op(&mut self, op: &str, module: &str, inputs: &[&str], attrs: Vec<AttributeProto>, shape: Vec<i64>) -> Val {
        let name = self.node(op, module, inputs, 1, attrs).remove(0);
        Val { name, shape }
    }

    /// Renames the final value to `out_name` and assembles the model.
    pub fn finish(mut self, out: &Val, out_name: &str, graph_name: &str, doc: &str) -> ModelProto {
        for n in self.nodes.iter_mut() {
            for o in n.output.iter_mut().chain(n.input.iter_mut()) {
                if *o == out.name {
                    *o = out_name.to_string();
                }
            }
        }
        let graph = GraphProto {
            name: Some(graph_name.into()),
            node: self.nodes,
            initializer: self.inits,
            input: self.inputs,
            output: vec![value_info(out_name, &out.shape)],
            doc_string: Some(doc.into()),
            ..Default::default()
        };
        ModelProto {
            ir_version: Some(8),
            producer_name: Some("oto-zoo".into()),
            producer_version: Some(env!("CARGO_PKG_VERSION").into()),
            opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(17) }],
            graph: Some(graph),
            ..Default::default()
        }
    }
}

/// A float tensor with raw little-endian data; a byte cast on little-endian hosts (cheap even
/// in unoptimised builds).
fn raw_f32(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
    if cfg!(target_endian = "big") {
        return f32_tensor(name, dims, data);
    }
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(FLOAT),
        raw_data: Some(bytemuck::cast_slice::<f32, u8>(data).to_vec().into()),
        ..Default::default()
    }
}

fn value_info(name: &str, shape: &[i64]) -> ValueInfoProto {
    let dim = shape
        .iter()
        .map(|&d| Dimension {
            denotation: None,
            value: Some(if d == BATCH { dimension::Value::DimParam("N".into()) } else { dimension::Value::DimValue(d) }),
        })
        .collect();
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            denotation: None,
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(FLOAT),
                shape: Some(TensorShapeProto { dim }),
            })),
        }),
        ..Default::default()
    }
}
