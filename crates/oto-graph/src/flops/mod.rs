//! FLOPs as the original counts them (`flops/flops.py`): multiply-accumulates (MACs) of
//! Conv / ConvTranspose / Gemm / MatMul only, per sample (batch 1).
use crate::ir::{Graph, NodeId};

/// MACs of one node (0 for ops that are not counted or whose shapes are unknown).
pub fn node_macs(g: &Graph, nid: NodeId) -> u64 {
    let n = &g.nodes[nid];
    let shape = |slot: usize, out: bool| {
        let v = if out { n.output(slot) } else { n.input(slot) };
        v.and_then(|v| g.shape(v)).map(|s| s.iter().map(|d| d.known().unwrap_or(1).max(0) as u64).collect::<Vec<_>>())
    };
    let prod = |s: &[u64]| s.iter().product::<u64>();
    match n.op.as_str() {
        "Conv" => {
            let (Some(y), Some(w)) = (shape(0, true), shape(1, false)) else { return 0 };
            // H_out·W_out·M·(C/group)·kH·kW
            prod(&y[2..]) * prod(&w)
        }
        "ConvTranspose" => {
            let (Some(x), Some(w)) = (shape(0, false), shape(1, false)) else { return 0 };
            // every input pixel and channel scatters (M/group)·k… products
            prod(&x[2..]) * prod(&w)
        }
        "Gemm" => {
            let (Some(y), Some(a)) = (shape(0, true), shape(0, false)) else { return 0 };
            let k = if n.attr_int("transA").unwrap_or(0) != 0 { a[0] } else { a[a.len() - 1] };
            y[y.len() - 1] * k
        }
        "MatMul" => {
            let (Some(y), Some(a)) = (shape(0, true), shape(0, false)) else { return 0 };
            let k = *a.last().unwrap_or(&1);
            // the batch axis (symbolic → 1) counts once per sample
            prod(&y) * k
        }
        _ => 0,
    }
}

/// Total MACs per sample.
pub fn macs(g: &Graph) -> u64 {
    (0..g.nodes.len()).map(|n| node_macs(g, n)).sum()
}

mod rows;
pub use rows::RowMacs;
