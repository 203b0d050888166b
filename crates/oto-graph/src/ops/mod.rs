//! The op registry: every ONNX node is parsed once, at load, into a typed [`Op`], and everything
//! oto knows about an op family lives in one file of this folder, behind one trait ([`OpRule`]):
//!
//! * **shape** — output shapes, element types and folded integer contents ([`OpRule::infer`]);
//! * **ZIG rule** — how the op moves, ties, consumes or creates channel elements
//!   ([`OpRule::zig`], OTOv2 spec §3.1);
//! * **slice rule** — what removing channels does to the op's attributes and constant inputs
//!   ([`OpRule::slice`]), and which channel axes it cannot cut ([`OpRule::unsliceable`]);
//! * **cost** — multiply-accumulates per sample ([`OpRule::macs`]).
//!
//! Analysis, construction, the FLOPs counter, the report and the executor all dispatch on [`Op`];
//! no other code matches op-type strings or reads attribute protos. To add an operator, add its
//! struct (with `parse` and the [`OpRule`] methods) to the family file it belongs to, or write a
//! new family file and add one line to [`registry!`] below (docs/architecture.md has a worked
//! example).
pub mod attrs;

pub use attrs::{Attrs, IntsArg};

use crate::compress::rewrite::Rewriter;
use crate::error::Result;
use crate::ir::{Graph, NodeId, ValueId};
use crate::shape::{InferCtx, OutInfo};
use crate::zig::State;

/// What every op family implements (see the module docs).
pub(crate) trait OpRule {
    /// Output shapes/types/folded contents; `shape: None` when it cannot tell, `Err` only when
    /// the inputs contradict the op.
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>>;
    /// The zero-invariance propagation rule.
    fn zig(&self, st: &mut State);
    /// Rewrites attributes and integer constants that encode channel counts once channels are
    /// removed (most ops need nothing).
    fn slice(&self, _rw: &mut Rewriter, _nid: NodeId) -> Result<()> {
        Ok(())
    }
    /// Values whose channel rows this op's slice rule cannot cut, with the reason (checked right
    /// after [`OpRule::zig`]): their rows become unprunable, so analysis never promises a cut
    /// that construction cannot make.
    fn unsliceable(&self, _st: &State) -> Vec<(ValueId, String)> {
        vec![]
    }
    /// False for ops whose outputs depend only on their inputs' shapes (`Shape`, `Size`): for
    /// every other op, an output the zig rule leaves without channel ids while an input has them
    /// makes that input's rows unprunable (`not_followed:<op>`), so a rule that cannot follow its
    /// channels never leaves a group without its consumers.
    fn reads_values(&self) -> bool {
        true
    }
    /// MACs per sample (0 for ops the original does not count).
    fn macs(&self, _g: &Graph, _nid: NodeId) -> u64 {
        0
    }
    /// Inputs whose sliced axes scale [`OpRule::macs`] (weights), for the row-MACs cost model.
    fn mac_operands(&self) -> &'static [usize] {
        &[]
    }
}

/// Parsing one op family from a node (`Ok(None)`: not this family's op type).
pub(crate) trait OpParse: Sized {
    fn parse(a: &Attrs) -> Result<Option<Self>>;
}

macro_rules! registry {
    ($($family:ident { $($ty:ident),* $(,)? }),* $(,)?) => {
        $(pub mod $family;)*

        /// A typed ONNX node: the op and its attributes, with the spec's defaults resolved.
        #[derive(Clone, Debug, PartialEq)]
        pub enum Op {
            $($($ty($family::$ty),)*)*
            /// An op oto does not understand (another domain, or a type not in the registry).
            Unknown(unknown::Unknown),
        }

        impl Op {
            pub(crate) fn rule(&self) -> &dyn OpRule {
                match self {
                    $($(Op::$ty(o) => o,)*)*
                    Op::Unknown(o) => o,
                }
            }

            fn parse_known(a: &Attrs) -> Result<Option<Op>> {
                $($(if let Some(o) = <$family::$ty as OpParse>::parse(a)? {
                    return Ok(Some(Op::$ty(o)));
                })*)*
                Ok(None)
            }
        }
    };
}

// One line per op family: the file, then the typed ops it defines.
registry! {
    unary { Unary, Clip, PRelu },
    passthrough { Identity, Dropout, Cast, CastLike },
    elementwise { Binary },
    conv { Conv },
    matmul { Gemm, MatMul },
    einsum { Einsum },
    norm { Norm },
    lrn { Lrn },
    concat_split { Concat, Split },
    slice_gather { Slice, Gather, GatherElements, GatherNd },
    scatter { Scatter },
    reshape { Reshape, Squeeze, Unsqueeze, Flatten },
    transpose { Transpose },
    expand { Expand, Tile },
    pad { Pad },
    pool { Pool, GlobalPool },
    resize { Resize, DepthToSpace, SpaceToDepth },
    softmax { Softmax },
    reduce { Reduce, ArgReduce },
    meta { Constant, ShapeOf, Size, ConstantOfShape, Range, IndexOnly },
    unknown { },
}

impl Op {
    /// Parses a node: a typed op, or [`Op::Unknown`] for anything the registry does not know.
    /// A known op with an invalid attribute is an error naming the node, attribute and opset.
    pub fn parse(a: &Attrs) -> Result<Op> {
        if a.is_onnx() {
            if let Some(op) = Op::parse_known(a)? {
                return Ok(op);
            }
        }
        Ok(Op::Unknown(unknown::Unknown { domain: a.domain.into(), op_type: a.op_type.into() }))
    }

    /// True for ops in the registry.
    pub fn is_known(&self) -> bool {
        !matches!(self, Op::Unknown(_))
    }
}
