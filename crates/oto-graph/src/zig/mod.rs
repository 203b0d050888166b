//! Zero-Invariant Group (ZIG) analysis as a channel-level dependence analysis.
//!
//! Every channel that an op *creates* (a stem's output channel, a graph-input channel, a
//! zero-padding channel, an unknown op's output) is an **element**. Each data value carries an
//! [`ids::IdTensor`]: for every position along the axes where channels vary, the element it comes
//! from, plus a zero-propagation state (does zeroing that element's row make this position exactly
//! zero?). Ops move, merge or tie elements per their family's rule in [`crate::ops`] (`OpRule::zig`); ties are a
//! union-find, so the classes of elements are the **rows** (the paper's ZIGs `g ∈ G`): zeroing all
//! tensor slices attached to a row makes its channels exactly zero everywhere they leave the
//! graph, so the row can be removed without changing any output. Rows are gathered into
//! **groups** (channel spaces that share a producing op) for reporting and for the optimizer.
//!
//! Nothing is pattern-matched by model: Flatten/Reshape index expansion, channel shuffles,
//! PixelShuffle written as Reshape-Transpose-Reshape, concat offsets and weight sharing all fall out
//! of moving the id tensors. Anything we cannot prove exact makes the touched rows unprunable with
//! a reason code, never an error.

mod analyze;
pub mod ids;
pub(crate) mod prop;
pub mod report;
pub(crate) mod reshape;
mod state;
mod uf;

pub use analyze::{analyze, analyze_with, AnalyzeOptions};
pub(crate) use state::State;
use crate::ir::{NodeId, ValueId};
use serde::Serialize;

pub type ElemId = usize;
pub type RowId = usize;

/// How a tensor slice relates to a row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberKind {
    /// Output-channel slice of a stem (Conv/Gemm/MatMul weight and bias): in the row vector.
    Producer,
    /// Per-channel parameter of an accessory (BN/IN/GN/LN scale+bias, depthwise conv, per-channel
    /// Add/Mul constants, PRelu slope): in the row vector.
    Accessory,
    /// Sliced at construction but never part of the row vector (BN running stats, Div divisors).
    SliceOnly,
    /// Input-channel slice of a consumer stem: sliced when the *feeding* row is removed.
    Consumer,
}

impl MemberKind {
    /// Part of the row vector that the optimizer drives to zero.
    pub fn in_row(self) -> bool {
        matches!(self, MemberKind::Producer | MemberKind::Accessory)
    }
}

/// One axis of one initializer, with the element behind every index of that axis.
#[derive(Clone, Debug, Serialize)]
pub struct Member {
    pub tensor: ValueId,
    pub axis: usize,
    pub kind: MemberKind,
    pub node: NodeId,
    /// `map[i]` = element of index `i` along `axis` (length = the axis size).
    pub map: Vec<ElemId>,
}

/// What created an element (its channel space).
#[derive(Clone, Debug, Serialize)]
pub struct Source {
    pub node: Option<NodeId>,
    pub what: String,
    /// First element id and count (elements of a source are contiguous).
    pub first: ElemId,
    pub count: usize,
}

/// One removable unit: an equivalence class of elements.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    pub id: RowId,
    pub group: usize,
    pub elems: Vec<ElemId>,
    /// Empty when prunable.
    pub reasons: Vec<String>,
    /// Has at least one in-row parameter slice.
    pub has_params: bool,
}

impl Row {
    pub fn prunable(&self) -> bool {
        self.reasons.is_empty()
    }
}

/// A set of rows sharing producing ops (one channel space after ties).
#[derive(Clone, Debug, Serialize)]
pub struct Group {
    pub id: usize,
    pub rows: Vec<RowId>,
    pub sources: Vec<usize>,
    /// Indices into `Analysis::members` touching this group's rows.
    pub members: Vec<usize>,
    pub nodes: Vec<NodeId>,
    /// Distinct reason codes of its unprunable rows (sorted).
    pub reasons: Vec<String>,
}

impl Group {
    pub fn prunable_rows<'a>(&'a self, a: &'a Analysis) -> impl Iterator<Item = RowId> + 'a {
        self.rows.iter().copied().filter(|&r| a.rows[r].prunable())
    }
    pub fn prunable(&self, a: &Analysis) -> bool {
        self.prunable_rows(a).next().is_some()
    }
}

/// The result of [`analyze`].
#[derive(Clone, Debug)]
pub struct Analysis {
    pub sources: Vec<Source>,
    pub members: Vec<Member>,
    pub rows: Vec<Row>,
    pub groups: Vec<Group>,
    /// Row of every element.
    pub elem_row: Vec<RowId>,
    /// Channel ids of every data value that carries channels.
    pub value_ids: Vec<Option<ids::IdTensor>>,
    /// Float initializers that are trainable (attached to a known parametric op).
    pub trainable: Vec<ValueId>,
    /// Float constants of unknown role: frozen, listed in the report.
    pub frozen: Vec<ValueId>,
}

impl Analysis {
    pub fn row_of(&self, e: ElemId) -> RowId {
        self.elem_row[e]
    }
    /// Number of prunable rows.
    pub fn prunable_rows(&self) -> usize {
        self.rows.iter().filter(|r| r.prunable()).count()
    }
    /// In-row members restricted to `row`: (member index, positions along its axis).
    pub fn row_slices(&self, row: RowId) -> Vec<(usize, Vec<usize>)> {
        let mut out = vec![];
        for (mi, m) in self.members.iter().enumerate() {
            if !m.kind.in_row() {
                continue;
            }
            let pos: Vec<usize> = m.map.iter().enumerate().filter(|(_, &e)| self.elem_row[e] == row).map(|(i, _)| i).collect();
            if !pos.is_empty() {
                out.push((mi, pos));
            }
        }
        out
    }
}
