//! Shape inference (and folding of small integer shape computations) over the IR.
//!
//! Every op in scope gets an output shape rule in its family file of [`crate::ops`]; integer tensors that feed
//! Reshape/Expand/Resize are folded symbolically in [`fold`] so that `Shape → Gather → Concat →
//! Reshape` chains with a symbolic batch still give exact shapes. Ops without a rule fall back to
//! the model's `value_info`; they are never an error here (analysis decides what they mean).
pub mod broadcast;
pub mod ctx;
pub mod fold;
pub(crate) mod source;

pub use ctx::InferCtx;

use crate::error::{GraphError, Result};
use crate::ir::{Dim, Graph, Shape};
use oto_onnx::pb::ModelProto;
use std::collections::HashMap;
use std::path::Path;

/// What a shape rule says about one output.
#[derive(Clone, Debug, Default)]
pub struct OutInfo {
    pub shape: Option<Shape>,
    pub dtype: i32,
    pub folded: Option<Vec<Dim>>,
}

impl Graph {
    /// Builds the IR and infers every value's shape.
    pub fn from_model(model: ModelProto) -> Result<Graph> {
        let mut g = Graph::from_model_unchecked(model)?;
        g.infer_shapes()?;
        Ok(g)
    }

    /// Loads an ONNX file (external data resolved) and infers shapes.
    pub fn load(path: &Path) -> Result<Graph> {
        Graph::from_model(oto_onnx::load_model(path)?)
    }

    /// Overrides the shape of a graph input (e.g. to fix the batch or spatial size); re-run
    /// [`Graph::infer_shapes`] afterwards.
    pub fn set_input_shape(&mut self, name: &str, shape: Vec<Dim>) -> Result<()> {
        let id = self.id(name).filter(|id| self.inputs.contains(id)).ok_or_else(|| GraphError::Input {
            input: name.into(),
            reason: "no such graph input".into(),
        })?;
        self.values[id].shape = Some(shape);
        Ok(())
    }

    /// What node `nid`'s op rule says about its outputs, from the current input shapes.
    pub fn infer_node(&self, nid: crate::ir::NodeId) -> Result<Vec<OutInfo>> {
        self.nodes[nid].op.rule().infer(&InferCtx { g: self, nid })
    }

    /// (Re-)infers shapes of all node outputs in topological order.
    pub fn infer_shapes(&mut self) -> Result<()> {
        let declared: HashMap<String, (i32, Option<Shape>)> = {
            let gp = self.template.graph.as_ref();
            gp.map(|g| g.value_info.iter().chain(g.output.iter()))
                .into_iter()
                .flatten()
                .map(|vi| (vi.name.clone().unwrap_or_default(), crate::load::declared(vi)))
                .collect()
        };
        for v in self.values.iter_mut() {
            if let (Some(t), true) = (&v.init, v.folded.is_none()) {
                if !oto_onnx::tensor::is_float(t) && oto_onnx::tensor::numel(&t.dims) <= 64 {
                    v.folded = oto_onnx::tensor::to_i64(t).ok().map(|x| x.into_iter().map(Dim::Known).collect());
                }
            }
        }
        for nid in 0..self.nodes.len() {
            let outs = self.infer_node(nid)?;
            let node = &self.nodes[nid];
            let out_ids: Vec<Option<usize>> = node.outputs.clone();
            for (slot, o) in out_ids.into_iter().enumerate() {
                let Some(o) = o else { continue };
                let info = outs.get(slot).cloned().unwrap_or_default();
                let v = &mut self.values[o];
                if v.init.is_some() {
                    continue; // Constant node: shape set at load
                }
                let decl = declared.get(&v.name);
                v.shape = info.shape.or_else(|| decl.and_then(|d| d.1.clone()));
                if let Some(sh) = &v.shape {
                    check_size(sh).map_err(|reason| GraphError::Shape { node: node.name.clone(), op: node.op_type.clone(), reason })?;
                }
                v.dtype = if info.dtype != 0 { info.dtype } else { decl.map(|d| d.0).unwrap_or(0) };
                v.folded = info.folded;
            }
        }
        Ok(())
    }
}

/// A value's shape must be one a real model computes: no negative dimension, at most
/// [`crate::validate::MAX_ELEMENTS`] elements for its known dimensions (so no size arithmetic
/// downstream can overflow, and a corrupt shape constant is named where it appears).
fn check_size(shape: &[Dim]) -> std::result::Result<(), String> {
    if let Some(k) = shape.iter().filter_map(Dim::known).find(|&k| k < 0) {
        return Err(format!("computes a negative dimension {k} (shape {}); the model's shape constants are corrupt", crate::ir::fmt_shape(shape)));
    }
    if crate::ir::elements(shape, 1, 1) > crate::validate::MAX_ELEMENTS {
        return Err(format!(
            "computes a value of shape {}, more than 2^40 elements per sample: no real model does; the model's shape constants or attributes are corrupt",
            crate::ir::fmt_shape(shape)
        ));
    }
    Ok(())
}
