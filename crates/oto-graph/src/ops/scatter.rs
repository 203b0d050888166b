//! `ScatterND` and `ScatterElements`: write `updates` into a copy of `data` at `indices`
//! (attention masks, index bookkeeping).
//!
//! Shape rule: the output has the data's shape and type. ZIG rule: positions are overwritten by
//! index, which no channel mapping describes: the rows involved are unprunable (`scatter`).
use super::{Attrs, OpParse, OpRule};
use crate::error::Result;
use crate::shape::ctx::same;
use crate::shape::{InferCtx, OutInfo};
use crate::zig::prop::unknown;
use crate::zig::State;

#[derive(Clone, Debug, PartialEq)]
pub struct Scatter {
    /// `ScatterElements` (with `axis`) rather than `ScatterND`.
    pub elements: bool,
    pub axis: i64,
    /// "none", "add", "mul", "max", "min".
    pub reduction: String,
}

impl OpParse for Scatter {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        let elements = match a.op_type {
            "ScatterND" => false,
            "ScatterElements" => true,
            _ => return Ok(None),
        };
        let reduction = a.choice("reduction", "none", &["none", "add", "mul", "max", "min"])?;
        Ok(Some(Scatter { elements, axis: a.int("axis", 0)?, reduction }))
    }
}

impl OpRule for Scatter {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        Ok(vec![same(c.shape(0), c.dtype(0))])
    }
    fn zig(&self, st: &mut State) {
        unknown(st, "scatter")
    }
}
