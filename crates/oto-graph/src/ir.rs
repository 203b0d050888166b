//! The graph IR: nodes (topologically sorted), values and initializers.
use crate::ops::{Attrs, Op};
use oto_onnx::pb::{ModelProto, NodeProto, TensorProto};
use std::collections::HashMap;

pub type NodeId = usize;
pub type ValueId = usize;

/// One tensor dimension: a known size or a symbolic name (e.g. the batch `N`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Dim {
    Known(i64),
    Sym(String),
}

impl Dim {
    pub fn known(&self) -> Option<i64> {
        match self {
            Dim::Known(v) => Some(*v),
            Dim::Sym(_) => None,
        }
    }
}

impl std::fmt::Display for Dim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dim::Known(v) => write!(f, "{v}"),
            Dim::Sym(s) => write!(f, "{s}"),
        }
    }
}

pub type Shape = Vec<Dim>;

/// Formats a shape like `[N, 64, 32, 32]`.
pub fn fmt_shape(s: &[Dim]) -> String {
    format!("[{}]", s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "))
}

#[derive(Clone, Debug)]
pub struct Value {
    pub name: String,
    /// ONNX element type (1 = float, 7 = int64, ...); 0 when unknown.
    pub dtype: i32,
    pub shape: Option<Shape>,
    pub producer: Option<NodeId>,
    /// (node, input slot) pairs reading this value, in node order.
    pub consumers: Vec<(NodeId, usize)>,
    /// Constant data: a graph initializer, or a `Constant` node folded in at load.
    pub init: Option<TensorProto>,
    /// True for entries of `graph.initializer` (false for converted Constant nodes).
    pub is_initializer: bool,
    /// Statically known contents of a small integer tensor (shape computations), per element.
    pub folded: Option<Vec<Dim>>,
}

impl Value {
    /// A value with nothing known about it yet.
    pub fn new(name: &str) -> Value {
        Value {
            name: name.into(),
            dtype: 0,
            shape: None,
            producer: None,
            consumers: vec![],
            init: None,
            is_initializer: false,
            folded: None,
        }
    }
    pub fn rank(&self) -> Option<usize> {
        self.shape.as_ref().map(|s| s.len())
    }
    pub fn dim(&self, axis: usize) -> Option<i64> {
        self.shape.as_ref().and_then(|s| s.get(axis)).and_then(|d| d.known())
    }
    pub fn is_const(&self) -> bool {
        self.init.is_some()
    }
}

#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    /// The ONNX op type as written in the file (for messages; dispatch on [`Node::op`]).
    pub op_type: String,
    /// The typed op, parsed once at load (see [`crate::ops`]).
    pub op: Op,
    pub domain: String,
    /// Input slots; `None` for an omitted optional input (empty name in ONNX).
    pub inputs: Vec<Option<ValueId>>,
    pub outputs: Vec<Option<ValueId>>,
    /// The original node, for attributes (inputs/outputs are rebuilt from the fields above on save).
    pub proto: NodeProto,
}

impl Node {
    pub fn input(&self, slot: usize) -> Option<ValueId> {
        self.inputs.get(slot).copied().flatten()
    }
    pub fn output(&self, slot: usize) -> Option<ValueId> {
        self.outputs.get(slot).copied().flatten()
    }
}

#[derive(Clone, Debug)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub values: Vec<Value>,
    pub by_name: HashMap<String, ValueId>,
    /// Real graph inputs (initializers listed as inputs are excluded).
    pub inputs: Vec<ValueId>,
    pub outputs: Vec<ValueId>,
    /// Opset version of the default ONNX domain.
    pub opset: i64,
    /// The loaded model with its graph's nodes/initializers/value_info kept as loaded; `to_model`
    /// rebuilds those parts from the IR.
    pub(crate) template: ModelProto,
}

impl Graph {
    pub fn value(&self, id: ValueId) -> &Value {
        &self.values[id]
    }
    pub fn value_mut(&mut self, id: ValueId) -> &mut Value {
        &mut self.values[id]
    }
    pub fn id(&self, name: &str) -> Option<ValueId> {
        self.by_name.get(name).copied()
    }
    pub fn shape(&self, id: ValueId) -> Option<&Shape> {
        self.values[id].shape.as_ref()
    }
    /// Static shape (all dims known), if any.
    pub fn static_shape(&self, id: ValueId) -> Option<Vec<i64>> {
        self.shape(id)?.iter().map(|d| d.known()).collect()
    }
    pub fn init(&self, id: ValueId) -> Option<&TensorProto> {
        self.values[id].init.as_ref()
    }
    /// Constant data of a value as f32.
    pub fn const_f32(&self, id: ValueId) -> Option<Vec<f32>> {
        self.init(id).and_then(|t| oto_onnx::tensor::to_f32(t).ok())
    }
    /// Constant data of an integer value (initializer or folded), as i64.
    pub fn const_i64(&self, id: ValueId) -> Option<Vec<i64>> {
        if let Some(t) = self.init(id) {
            return oto_onnx::tensor::to_i64(t).ok();
        }
        self.values[id].folded.as_ref()?.iter().map(|d| d.known()).collect()
    }
    /// Names of the trainable-looking float initializers, in initializer order.
    pub fn initializer_ids(&self) -> Vec<ValueId> {
        self.template
            .graph
            .as_ref()
            .map(|g| g.initializer.iter().filter_map(|t| self.id(t.name.as_deref().unwrap_or(""))).collect())
            .unwrap_or_default()
    }
    /// Total number of elements of all initializers (the usual "params" count).
    pub fn param_count(&self) -> u64 {
        self.values
            .iter()
            .filter(|v| v.is_initializer)
            .filter_map(|v| v.init.as_ref())
            .map(|t| oto_onnx::tensor::numel(&t.dims) as u64)
            .sum()
    }
    pub fn model_template(&self) -> &ModelProto {
        &self.template
    }
    /// Parses the typed op of a node from its proto again (after a rewrite changed an attribute).
    pub fn reparse(&mut self, nid: NodeId) -> crate::Result<()> {
        // the typed op reads optional inputs' presence from the proto: sync it with the IR
        let names: Vec<String> = self.nodes[nid].inputs.iter().map(|v| v.map(|v| self.values[v].name.clone()).unwrap_or_default()).collect();
        self.nodes[nid].proto.input = names;
        let n = &self.nodes[nid];
        let op = Op::parse(&Attrs { proto: &n.proto, name: &n.name, op_type: &n.op_type, domain: &n.domain, opset: self.opset })?;
        self.nodes[nid].op = op;
        Ok(())
    }
    /// Adds a fresh value (used by rewrites); the name must be new.
    pub fn add_value(&mut self, name: &str) -> ValueId {
        let id = self.values.len();
        self.values.push(Value::new(name));
        self.by_name.insert(name.into(), id);
        id
    }
}
