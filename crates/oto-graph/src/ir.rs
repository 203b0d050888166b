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

/// Elements of a value of shape `s` (saturating, so a corrupt shape never overflows): a
/// symbolic leading axis counts `batch`, any other symbolic dimension `symbolic`, a negative
/// dimension 0. The one size rule of the analysis's budget, the proof's and training's memory
/// estimates.
pub fn elements(s: &[Dim], batch: u64, symbolic: u64) -> u64 {
    s.iter().enumerate().fold(1u64, |n, (axis, d)| {
        n.saturating_mul(match d {
            Dim::Known(k) => (*k).max(0) as u64,
            _ if axis == 0 => batch,
            _ => symbolic,
        })
    })
}

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
    /// Removes the nodes marked in `dead` (their outputs must be unread by the others: rewire
    /// first) and renumbers producers and consumers.
    pub fn remove_nodes(&mut self, dead: &[bool]) {
        let mut new_id = vec![usize::MAX; self.nodes.len()];
        let mut next = 0;
        for (nid, d) in dead.iter().enumerate() {
            if !d {
                new_id[nid] = next;
                next += 1;
            }
        }
        let mut nid = 0;
        self.nodes.retain(|_| {
            nid += 1;
            !dead[nid - 1]
        });
        for v in self.values.iter_mut() {
            v.producer = v.producer.and_then(|p| (new_id[p] != usize::MAX).then(|| new_id[p]));
            v.consumers.retain(|&(c, _)| new_id[c] != usize::MAX);
            for c in v.consumers.iter_mut() {
                c.0 = new_id[c.0];
            }
        }
    }
    /// A value name not used yet: `base`, else `base_1`, `base_2`, ….
    pub fn fresh_name(&self, base: &str) -> String {
        (0..).map(|k| if k == 0 { base.to_string() } else { format!("{base}_{k}") }).find(|n| self.id(n).is_none()).expect("a free name")
    }
    /// Adds a constant initializer named `name` (new, as for [`Graph::add_value`]), typed, shaped
    /// and, for a small integer tensor, folded as the load would.
    pub fn add_const(&mut self, name: &str, mut t: oto_onnx::pb::TensorProto) -> ValueId {
        t.name = Some(name.into());
        let id = self.add_value(name);
        let v = &mut self.values[id];
        v.dtype = t.data_type.unwrap_or(0);
        v.shape = Some(t.dims.iter().map(|&d| Dim::Known(d)).collect());
        if !oto_onnx::tensor::is_float(&t) && oto_onnx::tensor::numel(&t.dims) <= 64 {
            v.folded = oto_onnx::tensor::to_i64(&t).ok().map(|x| x.into_iter().map(Dim::Known).collect());
        }
        v.init = Some(t);
        v.is_initializer = true;
        id
    }
    /// Inserts a node (default ONNX domain) before node `at`, reading `inputs` and writing one
    /// fresh value named from `name`; later nodes are renumbered. Returns the new value.
    pub fn insert_node(&mut self, at: NodeId, op_type: &str, name: &str, inputs: &[ValueId], attrs: Vec<oto_onnx::pb::AttributeProto>) -> crate::Result<ValueId> {
        let out = self.add_value(&self.fresh_name(name));
        let proto = oto_onnx::pb::NodeProto {
            name: Some(name.into()),
            op_type: Some(op_type.into()),
            input: inputs.iter().map(|&v| self.values[v].name.clone()).collect(),
            output: vec![self.values[out].name.clone()],
            attribute: attrs,
            ..Default::default()
        };
        let op = Op::parse(&Attrs { proto: &proto, name, op_type, domain: "", opset: self.opset })?;
        for v in self.values.iter_mut() {
            v.producer = v.producer.map(|p| if p >= at { p + 1 } else { p });
            for c in v.consumers.iter_mut() {
                if c.0 >= at {
                    c.0 += 1;
                }
            }
        }
        for (slot, &v) in inputs.iter().enumerate() {
            self.values[v].consumers.push((at, slot));
        }
        self.values[out].producer = Some(at);
        let node = Node { name: name.into(), op_type: op_type.into(), op, domain: String::new(), inputs: inputs.iter().map(|&v| Some(v)).collect(), outputs: vec![Some(out)], proto };
        self.nodes.insert(at, node);
        Ok(out)
    }
    /// Adds a fresh value (used by rewrites); the name must be new.
    pub fn add_value(&mut self, name: &str) -> ValueId {
        let id = self.values.len();
        self.values.push(Value::new(name));
        self.by_name.insert(name.into(), id);
        id
    }
}
