//! The compression manifest (JSON, documented in `docs/manifest-schema.md`).
use crate::ir::Graph;
use crate::zig::{Analysis, RowId};
use serde::Serialize;
use std::collections::BTreeSet;

/// Bumped on any incompatible change of the JSON layout.
pub const MANIFEST_SCHEMA_VERSION: u32 = 1;

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct KeptAxis {
    pub axis: usize,
    /// Kept indices along `axis` of the original tensor, ascending.
    pub kept: Vec<usize>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SlicedTensor {
    pub name: String,
    pub original_shape: Vec<i64>,
    pub new_shape: Vec<i64>,
    /// Only the axes that lost indices.
    pub axes: Vec<KeptAxis>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct GroupRemoval {
    pub group: usize,
    /// Human-readable channel spaces of the group (its sources).
    pub sources: Vec<String>,
    pub rows: usize,
    pub prunable_rows: usize,
    pub removed_rows: Vec<RowId>,
}

/// One rewritten attribute or shape constant.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Rewrite {
    pub node: String,
    /// Attribute name or constant role (`group`, `split`, `starts`, `ends`, `indices`, `pads`,
    /// `shape`, `sizes`, `num_groups`; training → inference: `training_mode`, `outputs`, `is_test`).
    pub what: String,
    pub old: Vec<i64>,
    pub new: Vec<i64>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Manifest {
    pub schema_version: u32,
    pub params_before: u64,
    pub params_after: u64,
    pub macs_before: u64,
    pub macs_after: u64,
    pub rows_total: usize,
    pub rows_prunable: usize,
    pub rows_removed: usize,
    /// Groups that lost at least one row.
    pub groups: Vec<GroupRemoval>,
    pub tensors: Vec<SlicedTensor>,
    pub rewrites: Vec<Rewrite>,
    pub warnings: Vec<String>,
}

impl Manifest {
    pub(crate) fn new(g: &Graph, a: &Analysis, removed: &BTreeSet<RowId>) -> Manifest {
        let groups = a
            .groups
            .iter()
            .filter_map(|gr| {
                let rem: Vec<RowId> = gr.rows.iter().copied().filter(|r| removed.contains(r)).collect();
                (!rem.is_empty()).then(|| GroupRemoval {
                    group: gr.id,
                    sources: gr.sources.iter().map(|&s| a.sources[s].what.clone()).collect(),
                    rows: gr.rows.len(),
                    prunable_rows: gr.prunable_rows(a).count(),
                    removed_rows: rem,
                })
            })
            .collect();
        let params = g.param_count();
        let macs = crate::flops::macs(g);
        Manifest {
            schema_version: MANIFEST_SCHEMA_VERSION,
            params_before: params,
            params_after: params,
            macs_before: macs,
            macs_after: macs,
            rows_total: a.rows.len(),
            rows_prunable: a.prunable_rows(),
            rows_removed: removed.len(),
            groups,
            tensors: vec![],
            rewrites: vec![],
            warnings: vec![],
        }
    }

    pub(crate) fn finish(&mut self, _before: &Graph, after: &Graph) {
        self.params_after = after.param_count();
        self.macs_after = crate::flops::macs(after);
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("manifest serializes")
    }
}
