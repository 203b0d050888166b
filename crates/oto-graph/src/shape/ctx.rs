//! What a shape rule sees of its node: input shapes, types, folded contents and constants.
use super::OutInfo;
use crate::error::GraphError;
use crate::ir::{Dim, Graph, Node, NodeId, Shape};
use crate::ops::IntsArg;

pub struct InferCtx<'a> {
    pub g: &'a Graph,
    pub nid: NodeId,
}

impl InferCtx<'_> {
    pub fn node(&self) -> &Node {
        &self.g.nodes[self.nid]
    }
    pub fn err(&self, reason: impl Into<String>) -> GraphError {
        let n = self.node();
        GraphError::Shape { node: n.name.clone(), op: n.op_type.clone(), reason: reason.into() }
    }
    pub fn shape(&self, slot: usize) -> Option<Shape> {
        self.node().input(slot).and_then(|v| self.g.values[v].shape.clone())
    }
    pub fn dtype(&self, slot: usize) -> i32 {
        self.node().input(slot).map(|v| self.g.values[v].dtype).unwrap_or(0)
    }
    pub fn folded(&self, slot: usize) -> Option<Vec<Dim>> {
        self.node().input(slot).and_then(|v| self.g.values[v].folded.clone())
    }
    pub fn ints(&self, slot: usize) -> Option<Vec<i64>> {
        self.node().input(slot).and_then(|v| self.g.const_i64(v))
    }
    pub fn floats(&self, slot: usize) -> Option<Vec<f32>> {
        self.node().input(slot).and_then(|v| self.g.const_f32(v))
    }
    /// The values of an attribute-or-input int list (`None` when absent or not constant).
    pub fn arg(&self, a: &IntsArg) -> Option<Vec<i64>> {
        a.values(self.g, self.nid)
    }
    /// The inputs `slots` share one element type (ONNX's type constraint `T`; unknown types,
    /// 0, are not compared): a float16 bias on a float Conv is a broken file.
    pub fn same_type(&self, slots: &[usize]) -> Result<(), GraphError> {
        let known: Vec<(usize, i32)> = slots.iter().map(|&s| (s, self.dtype(s))).filter(|t| t.1 != 0).collect();
        match known.iter().find(|t| t.1 != known[0].1) {
            Some(&(s, t)) => Err(self.err(format!(
                "input {s} has element type {} but input {} has {}: ONNX requires one type for them; fix or re-export the model",
                oto_onnx::tensor::type_name(t),
                known[0].0,
                oto_onnx::tensor::type_name(known[0].1)
            ))),
            None => Ok(()),
        }
    }
    pub fn has_input(&self, slot: usize) -> bool {
        self.node().input(slot).is_some()
    }
    pub fn n_outputs(&self) -> usize {
        self.node().outputs.len()
    }
}

/// Output `shape` with element type `dtype`.
pub fn out(shape: Shape, dtype: i32) -> OutInfo {
    OutInfo { shape: Some(shape), dtype, folded: None }
}

/// An output of possibly unknown shape with element type `dtype`.
pub fn same(shape: Option<Shape>, dtype: i32) -> OutInfo {
    OutInfo { shape, dtype, folded: None }
}

/// `n` outputs about which nothing is known.
pub fn unknown_outputs(n: usize) -> Vec<OutInfo> {
    vec![OutInfo::default(); n.max(1)]
}
