//! IR → ModelProto. Everything not represented in the IR (metadata, opsets, doc strings,
//! graph input/output declarations) comes from the loaded model unchanged.
use crate::ir::{Dim, Graph, Shape};
use oto_onnx::pb::{
    tensor_shape_proto::{dimension, Dimension},
    type_proto, ModelProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

/// A tensor declaration (`graph.input` / `output` / `value_info`): name, element type, shape.
pub fn value_info(name: &str, dtype: i32, shape: &Shape) -> ValueInfoProto {
    let dim = shape
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Dim::Known(v) => dimension::Value::DimValue(*v),
                Dim::Sym(s) => dimension::Value::DimParam(s.clone()),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(dtype),
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl Graph {
    /// Writes the IR back into a ModelProto.
    pub fn to_model(&self) -> ModelProto {
        let mut model = self.template.clone();
        let name = |id: &Option<usize>| id.map(|i| self.values[i].name.clone()).unwrap_or_default();
        let g = model.graph.get_or_insert_with(Default::default);
        g.node = self
            .nodes
            .iter()
            .map(|n| {
                let mut p = n.proto.clone();
                p.input = n.inputs.iter().map(name).collect();
                p.output = n.outputs.iter().map(name).collect();
                if matches!(n.op, crate::ops::Op::Constant(_)) && oto_onnx::attr::tensor(&p, "value").is_some() {
                    if let Some(t) = n.output(0).and_then(|o| self.values[o].init.clone()) {
                        oto_onnx::attr::set(&mut p, oto_onnx::attr::a_tensor("value", t));
                    }
                }
                p
            })
            .collect();
        g.initializer = self
            .values
            .iter()
            .filter(|v| v.is_initializer)
            .filter_map(|v| v.init.clone().map(|mut t| {
                t.name = Some(v.name.clone());
                t
            }))
            .collect();
        for vi in g.value_info.iter_mut() {
            let Some(id) = self.id(vi.name.as_deref().unwrap_or("")) else { continue };
            let v = &self.values[id];
            if let Some(s) = &v.shape {
                let dtype = if v.dtype != 0 { v.dtype } else { crate::load::declared(vi).0 };
                *vi = value_info(&v.name, dtype, s);
            }
        }
        model
    }

    /// Rewrites the graph input and output declarations from the inferred shapes (after the
    /// batch was made symbolic, or a layer changed the output width).
    pub fn declare_interface(&mut self) {
        let decls: Vec<(usize, bool, crate::ir::ValueId)> = {
            let gp = self.template.graph.as_ref();
            let find = |name: &str| self.id(name);
            let mut d = vec![];
            if let Some(gp) = gp {
                for (k, vi) in gp.input.iter().enumerate() {
                    if let Some(id) = find(vi.name.as_deref().unwrap_or("")).filter(|id| self.inputs.contains(id)) {
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
            let v = &self.values[id];
            let Some(s) = v.shape.clone() else { continue };
            let vi = crate::save::value_info(&v.name, v.dtype, &s);
            if let Some(gp) = self.template.graph.as_mut() {
                if is_input {
                    gp.input[k] = vi;
                } else {
                    gp.output[k] = vi;
                }
            }
        }
    }
}
