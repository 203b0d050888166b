//! Compressed-model construction (OTOv2 spec §4.2) directly on the ONNX graph, plus the helpers
//! that make "masked" full models (rows zeroed by a criterion) for one-shot pruning and tests.
//!
//! [`compress`] removes every prunable row whose in-row slices (Producer and Accessory members of
//! the [`Analysis`]) are exactly zero: it slices every member tensor along its axis with the kept
//! indices (once per `(tensor, axis)`), rewrites attributes and shape constants that encode channel
//! counts (Conv `group`, Split sizes, Slice bounds, Gather indices, Pad pads, Reshape/Expand/Resize
//! shapes, GroupNormalization `num_groups`), re-runs shape inference and checks that every value's
//! channel axes have exactly the kept sizes. Node and tensor names, the opset, the metadata and the
//! graph inputs/outputs are unchanged. Removing nothing returns the input graph untouched.
//!
//! A kept zero row never changes the output, so whenever a removal cannot be expressed (a value
//! would lose all its channels, a kept set would not be rectangular) the affected rows are kept
//! and a warning is recorded; this is always exact.
mod manifest;
mod rewrite;
mod select;
pub mod tensor;

pub use manifest::{GroupRemoval, KeptAxis, Manifest, Rewrite, SlicedTensor, MANIFEST_SCHEMA_VERSION};
pub use select::{masked, prune, row_norms, select_rows, zero_rows, Criterion, Selection};

use crate::error::{GraphError, Result};
use crate::ir::{Graph, ValueId};
use crate::zig::{ids::IdTensor, Analysis, RowId};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Which rows [`compress`] removes.
#[derive(Clone, Debug, Default)]
pub enum Removal {
    /// Every prunable row whose in-row slices are all exactly zero (the default).
    #[default]
    ZeroRows,
    /// Exactly these rows (each must be prunable); their slices need not be zero. Used by tests
    /// and by callers that decide the set themselves (the result then differs from the input).
    Rows(BTreeSet<RowId>),
}

/// Options of [`compress`].
#[derive(Clone, Debug, Default)]
pub struct CompressOptions {
    pub removal: Removal,
}

/// The result of [`compress`].
#[derive(Clone, Debug)]
pub struct Compressed {
    pub graph: Graph,
    /// Rows actually removed (sorted).
    pub removed_rows: Vec<RowId>,
    pub manifest: Manifest,
    /// Human-readable adjustments (rows kept to avoid an empty value, ...).
    pub warnings: Vec<String>,
}

/// Rows whose in-row slices are all exactly zero and that are prunable with parameters.
pub fn zero_rows_of(g: &Graph, a: &Analysis) -> Result<BTreeSet<RowId>> {
    let mut nonzero = vec![false; a.rows.len()];
    for m in a.members.iter().filter(|m| m.kind.in_row()) {
        let t = g.init(m.tensor).ok_or_else(|| no_init(g, m.tensor))?;
        let zero = tensor::slice_is_zero(t, m.axis)?;
        for (i, &e) in m.map.iter().enumerate() {
            if !zero.get(i).copied().unwrap_or(false) {
                nonzero[a.elem_row[e]] = true;
            }
        }
    }
    Ok(a.rows.iter().filter(|r| r.prunable() && r.has_params && !nonzero[r.id]).map(|r| r.id).collect())
}

fn no_init(g: &Graph, v: ValueId) -> GraphError {
    GraphError::Other(format!("'{}' is a parameter of the analysis but has no constant data", g.value(v).name))
}

/// Position `i` along `axis` of every slot of an id tensor.
fn axis_pos(t: &IdTensor, axis: usize) -> impl Iterator<Item = usize> + '_ {
    let inner: usize = t.dims[axis + 1..].iter().product();
    let n = t.dims[axis];
    (0..t.slots.len()).map(move |f| (f / inner) % n)
}

/// Kept flags per position along each channel axis of `t` (a position is kept when any slot in
/// its hyperplane is kept). `None` for non-channel axes.
pub(crate) fn kept_positions(t: &IdTensor, kept_row: &dyn Fn(usize) -> bool, elem_row: &[RowId]) -> Vec<Option<Vec<bool>>> {
    (0..t.rank())
        .map(|a| {
            if !t.chan[a] {
                return None;
            }
            let mut k = vec![false; t.dims[a]];
            for (s, i) in t.slots.iter().zip(axis_pos(t, a)) {
                if kept_row(elem_row[s.e]) {
                    k[i] = true;
                }
            }
            Some(k)
        })
        .collect()
}

/// Final kept-row decision: starts from `removed`, then keeps rows until no value loses all
/// positions of a channel axis and every value's kept set is rectangular.
fn settle(a: &Analysis, g: &Graph, removed: &mut BTreeSet<RowId>, warnings: &mut Vec<String>) {
    loop {
        let mut restore: BTreeSet<RowId> = BTreeSet::new();
        for (v, t) in a.value_ids.iter().enumerate() {
            let Some(t) = t else { continue };
            if t.slots.iter().all(|s| !removed.contains(&a.elem_row[s.e])) {
                continue;
            }
            let kept_row = |r: usize| !removed.contains(&r);
            let kp = kept_positions(t, &kept_row, &a.elem_row);
            for (ax, k) in kp.iter().enumerate() {
                let Some(k) = k else { continue };
                if !k.iter().any(|&x| x) {
                    // never empty a value: keep the rows at its lowest position
                    let rows: BTreeSet<RowId> =
                        t.slots.iter().zip(axis_pos(t, ax)).filter(|(_, i)| *i == 0).map(|(s, _)| a.elem_row[s.e]).collect();
                    warnings.push(format!(
                        "value '{}' would lose all {} channels of axis {ax}; kept row(s) {:?} (zero channels, output unchanged)",
                        g.value(v).name,
                        k.len(),
                        rows
                    ));
                    restore.extend(rows);
                }
            }
            if !restore.is_empty() {
                break;
            }
            // rectangular: a removed slot must sit on some removed position
            for (f, s) in t.slots.iter().enumerate() {
                let r = a.elem_row[s.e];
                if !removed.contains(&r) {
                    continue;
                }
                let all_kept = kp.iter().enumerate().all(|(ax, k)| match k {
                    Some(k) => {
                        let inner: usize = t.dims[ax + 1..].iter().product();
                        k[(f / inner) % t.dims[ax]]
                    }
                    None => true,
                });
                if all_kept {
                    warnings.push(format!(
                        "value '{}': removing row {r} alone would leave a non-rectangular channel set; kept it",
                        g.value(v).name
                    ));
                    restore.insert(r);
                }
            }
            if !restore.is_empty() {
                break;
            }
        }
        if restore.is_empty() {
            return;
        }
        for r in restore {
            removed.remove(&r);
        }
    }
}

/// Builds the compressed model (see the module docs).
pub fn compress(g: &Graph, a: &Analysis, opts: &CompressOptions) -> Result<Compressed> {
    let mut warnings = vec![];
    let mut removed = match &opts.removal {
        Removal::ZeroRows => zero_rows_of(g, a)?,
        Removal::Rows(r) => {
            for &row in r {
                let rr = a.rows.get(row).ok_or_else(|| GraphError::Other(format!("row {row} does not exist")))?;
                if !rr.prunable() {
                    return Err(GraphError::Other(format!("row {row} is not prunable ({})", rr.reasons.join(", "))));
                }
            }
            r.clone()
        }
    };
    settle(a, g, &mut removed, &mut warnings);
    let mut manifest = Manifest::new(g, a, &removed);
    if removed.is_empty() {
        manifest.warnings = warnings.clone();
        return Ok(Compressed { graph: g.clone(), removed_rows: vec![], manifest, warnings });
    }
    let kept_row = |r: usize| !removed.contains(&r);
    let mut out = g.clone();

    // 1. slice member tensors, once per (tensor, axis), in axis order per tensor
    let mut plan: BTreeMap<ValueId, BTreeMap<usize, Vec<usize>>> = BTreeMap::new();
    let mut origin: HashMap<(ValueId, usize), usize> = HashMap::new();
    for (mi, m) in a.members.iter().enumerate() {
        let keep: Vec<usize> = (0..m.map.len()).filter(|&i| kept_row(a.elem_row[m.map[i]])).collect();
        let entry = plan.entry(m.tensor).or_default();
        match entry.get(&m.axis) {
            Some(prev) if *prev != keep => {
                let other = &a.members[origin[&(m.tensor, m.axis)]];
                return Err(GraphError::Other(format!(
                    "tensor '{}' axis {} is sliced differently for nodes '{}' and '{}' (weight sharing not tied by the analysis)",
                    g.value(m.tensor).name,
                    m.axis,
                    g.nodes[other.node].name,
                    g.nodes[m.node].name
                )));
            }
            Some(_) => {}
            None => {
                origin.insert((m.tensor, m.axis), mi);
                entry.insert(m.axis, keep);
            }
        }
    }
    for (&v, axes) in &plan {
        let orig = g.init(v).ok_or_else(|| no_init(g, v))?;
        let mut t = orig.clone();
        let mut kept_axes = vec![];
        for (&axis, keep) in axes {
            let n = t.dims.get(axis).copied().unwrap_or(0) as usize;
            if keep.len() == n {
                continue;
            }
            t = tensor::slice_axis(&t, axis, keep)?;
            kept_axes.push(KeptAxis { axis, kept: keep.clone() });
        }
        if kept_axes.is_empty() {
            continue;
        }
        manifest.tensors.push(SlicedTensor {
            name: g.value(v).name.clone(),
            original_shape: orig.dims.clone(),
            new_shape: t.dims.clone(),
            axes: kept_axes,
        });
        rewrite::set_const(&mut out, v, t);
    }

    // 2. attributes and shape constants
    let mut rw = rewrite::Rewriter { g: &mut out, a, removed: &removed, log: &mut manifest.rewrites };
    for nid in 0..g.nodes.len() {
        rw.node(nid)?;
    }

    // 3. shapes
    out.infer_shapes()?;
    check_shapes(g, &out, a, &removed)?;
    rewrite::refresh_template_inputs(&mut out);
    manifest.warnings = warnings.clone();
    manifest.finish(g, &out);
    Ok(Compressed { graph: out, removed_rows: removed.into_iter().collect(), manifest, warnings })
}

/// Every channel axis of every value must have exactly its kept size.
fn check_shapes(g: &Graph, out: &Graph, a: &Analysis, removed: &BTreeSet<RowId>) -> Result<()> {
    let kept_row = |r: usize| !removed.contains(&r);
    for (v, t) in a.value_ids.iter().enumerate() {
        let Some(t) = t else { continue };
        let Some(shape) = out.shape(v) else { continue };
        if shape.len() != t.rank() {
            continue;
        }
        for (ax, k) in kept_positions(t, &kept_row, &a.elem_row).into_iter().enumerate() {
            let Some(k) = k else { continue };
            let want = k.iter().filter(|&&x| x).count() as i64;
            if k.len() <= 1 || g.value(v).dim(ax) != Some(k.len() as i64) {
                continue;
            }
            if let Some(got) = shape[ax].known() {
                if got != want {
                    let node = out.value(v).producer.map(|p| out.nodes[p].name.clone()).unwrap_or_default();
                    return Err(GraphError::Other(format!(
                        "construction error: value '{}' (from node '{node}') has {got} entries on channel axis {ax} after compression, expected {want}; this is a bug in oto's analysis or construction — please report it with the model",
                        out.value(v).name
                    )));
                }
            }
        }
    }
    Ok(())
}
