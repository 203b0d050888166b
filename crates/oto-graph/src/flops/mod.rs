//! FLOPs as the original counts them (`flops/flops.py`): multiply-accumulates (MACs) of
//! Conv / ConvTranspose / Gemm / MatMul only, per sample (batch 1).
use crate::ir::{Graph, NodeId};

/// MACs of one node (0 for ops that are not counted or whose shapes are unknown); each op
/// family's count is its `OpRule::macs` in [`crate::ops`].
pub fn node_macs(g: &Graph, nid: NodeId) -> u64 {
    g.nodes[nid].op.rule().macs(g, nid)
}

/// Total MACs per sample.
pub fn macs(g: &Graph) -> u64 {
    (0..g.nodes.len()).map(|n| node_macs(g, n)).sum()
}

mod rows;
pub use rows::RowMacs;
