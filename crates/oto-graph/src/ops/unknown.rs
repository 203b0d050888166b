//! Ops oto does not understand: another domain, control flow (`If`, `Loop`, `Scan`), or a type
//! not in the registry. Never an error: shapes come from the model's declarations, and every
//! channel the op touches becomes unprunable with the reason `unknown_op:<type>`.
use super::OpRule;
use crate::error::Result;
use crate::shape::{InferCtx, OutInfo};
use crate::zig::prop::unknown;
use crate::zig::State;

#[derive(Clone, Debug, PartialEq)]
pub struct Unknown {
    pub domain: String,
    pub op_type: String,
}

impl Unknown {
    /// How messages name it: `Op`, or `domain:Op` outside the default domain.
    pub fn display(&self) -> String {
        if self.domain.is_empty() || self.domain == "ai.onnx" {
            self.op_type.clone()
        } else {
            format!("{}:{}", self.domain, self.op_type)
        }
    }
    /// The reason code given to the channels it touches.
    pub fn reason(&self) -> String {
        format!("unknown_op:{}", self.display())
    }
}

impl OpRule for Unknown {
    fn infer(&self, _c: &InferCtx) -> Result<Vec<OutInfo>> {
        Ok(vec![])
    }
    fn zig(&self, st: &mut State) {
        let reason = self.reason();
        unknown(st, &reason)
    }
}
