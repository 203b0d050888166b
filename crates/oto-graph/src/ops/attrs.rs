//! Reading a node's attributes once, at load, with the ONNX spec's defaults and a clear error
//! that names the node, the attribute and the opset when an attribute has the wrong type or an
//! impossible value. Only the op parsers in this module tree read raw attribute protos.
use crate::error::{GraphError, Result};
use oto_onnx::pb::{attribute_proto::AttributeType, AttributeProto, NodeProto, TensorProto};

/// The largest size attribute (group, stride, dilation, kernel, pad) oto reads: 2^31.
pub const MAX_SIZE: i64 = 1 << 31;

/// The node being parsed: its proto, display name and the opset of its domain.
pub struct Attrs<'a> {
    pub proto: &'a NodeProto,
    pub name: &'a str,
    pub op_type: &'a str,
    pub domain: &'a str,
    pub opset: i64,
}

/// An integer-list argument that is an attribute in older opsets and an input in newer ones.
#[derive(Clone, Debug, PartialEq)]
pub enum IntsArg {
    /// Given as an attribute (older opsets).
    Attr(Vec<i64>),
    /// Read from input `slot` (constant or folded at analysis time, a tensor at run time).
    Input(usize),
    /// Neither: the op's default applies.
    Absent,
}

impl IntsArg {
    /// The values for node `nid` of `g`: the attribute, or input `slot` when it is constant or
    /// folded (`None` when absent or computed at run time).
    pub fn values(&self, g: &crate::ir::Graph, nid: crate::ir::NodeId) -> Option<Vec<i64>> {
        match self {
            IntsArg::Attr(v) => Some(v.clone()),
            IntsArg::Input(slot) => g.nodes[nid].input(*slot).and_then(|v| g.const_i64(v)),
            IntsArg::Absent => None,
        }
    }
}

impl<'a> Attrs<'a> {
    /// True for the default ONNX domain.
    pub fn is_onnx(&self) -> bool {
        self.domain.is_empty() || self.domain == "ai.onnx"
    }

    pub fn err(&self, attr: &str, reason: impl std::fmt::Display) -> GraphError {
        GraphError::Attr {
            node: self.name.into(),
            op: self.op_type.into(),
            attr: attr.into(),
            opset: self.opset,
            reason: reason.to_string(),
        }
    }

    fn find(&self, name: &str) -> Option<&'a AttributeProto> {
        self.proto.attribute.iter().find(|a| a.name.as_deref() == Some(name))
    }

    /// The attribute `name` when present, after checking its declared type (an attribute whose
    /// type field is unset is accepted when the expected field holds data).
    fn typed(&self, name: &str, want: AttributeType) -> Result<Option<&'a AttributeProto>> {
        let Some(a) = self.find(name) else { return Ok(None) };
        match a.r#type.and_then(|t| AttributeType::try_from(t).ok()) {
            Some(t) if t == want => Ok(Some(a)),
            Some(AttributeType::Undefined) | None => Ok(Some(a)),
            Some(t) => Err(self.err(name, format!("must be of type {}, got {}", want.as_str_name(), t.as_str_name()))),
        }
    }

    pub fn int_opt(&self, name: &str) -> Result<Option<i64>> {
        Ok(self.typed(name, AttributeType::Int)?.and_then(|a| a.i))
    }
    pub fn int(&self, name: &str, default: i64) -> Result<i64> {
        Ok(self.int_opt(name)?.unwrap_or(default))
    }
    pub fn flag(&self, name: &str) -> Result<bool> {
        Ok(self.int(name, 0)? != 0)
    }
    pub fn ints_opt(&self, name: &str) -> Result<Option<Vec<i64>>> {
        Ok(self.typed(name, AttributeType::Ints)?.map(|a| a.ints.clone()))
    }
    pub fn float_opt(&self, name: &str) -> Result<Option<f32>> {
        Ok(self.typed(name, AttributeType::Float)?.and_then(|a| a.f))
    }
    pub fn float(&self, name: &str, default: f32) -> Result<f32> {
        Ok(self.float_opt(name)?.unwrap_or(default))
    }
    pub fn floats_opt(&self, name: &str) -> Result<Option<Vec<f32>>> {
        Ok(self.typed(name, AttributeType::Floats)?.map(|a| a.floats.clone()).filter(|v| !v.is_empty()))
    }
    pub fn string_opt(&self, name: &str) -> Result<Option<String>> {
        Ok(self.typed(name, AttributeType::String)?.and_then(|a| a.s.as_ref()).map(|s| String::from_utf8_lossy(s).into_owned()))
    }
    pub fn string(&self, name: &str, default: &str) -> Result<String> {
        Ok(self.string_opt(name)?.unwrap_or_else(|| default.into()))
    }
    pub fn tensor_opt(&self, name: &str) -> Result<Option<&'a TensorProto>> {
        Ok(self.typed(name, AttributeType::Tensor)?.and_then(|a| a.t.as_ref()))
    }

    /// An int list that is the attribute `name` before `opset_input` and input `slot` from it on.
    pub fn ints_attr_or_input(&self, name: &str, slot: usize, opset_input: i64) -> Result<IntsArg> {
        if self.opset < opset_input {
            return Ok(match self.ints_opt(name)? {
                Some(v) => IntsArg::Attr(v),
                None => IntsArg::Absent,
            });
        }
        // some exporters keep writing the attribute in newer opsets: accept it
        if let Some(v) = self.ints_opt(name)? {
            return Ok(IntsArg::Attr(v));
        }
        Ok(if self.has_input(slot) { IntsArg::Input(slot) } else { IntsArg::Absent })
    }

    /// Input `slot` is present (not omitted with an empty name).
    pub fn has_input(&self, slot: usize) -> bool {
        self.proto.input.get(slot).is_some_and(|s| !s.is_empty())
    }

    /// A non-negative integer attribute (`>= min`), e.g. a block size or a group count.
    pub fn int_at_least(&self, name: &str, default: i64, min: i64) -> Result<i64> {
        let v = self.int(name, default)?;
        if v < min || v > MAX_SIZE {
            return Err(self.err(name, format!("must be >= {min} and <= 2^31 (a size), got {v}")));
        }
        Ok(v)
    }

    /// A list attribute whose entries must all be `>= min` and at most [`MAX_SIZE`] (strides,
    /// dilations, kernel sizes, pads: no real model comes near, and shape arithmetic on them
    /// cannot overflow).
    pub fn ints_at_least(&self, name: &str, min: i64) -> Result<Option<Vec<i64>>> {
        let v = self.ints_opt(name)?;
        if let Some(bad) = v.as_ref().and_then(|v| v.iter().find(|&&x| x < min || x > MAX_SIZE)) {
            return Err(self.err(name, format!("entries must be >= {min} and <= 2^31 (sizes), got {bad}")));
        }
        Ok(v)
    }

    /// A string attribute that must be one of `allowed` (compared case-sensitively, as ONNX does).
    pub fn choice(&self, name: &str, default: &str, allowed: &[&str]) -> Result<String> {
        let v = self.string(name, default)?;
        if !allowed.contains(&v.as_str()) {
            return Err(self.err(name, format!("must be one of {allowed:?}, got '{v}'")));
        }
        Ok(v)
    }
}
