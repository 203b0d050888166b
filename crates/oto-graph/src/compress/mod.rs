//! Compressed-model construction (OTOv2 spec §4.2) directly on the ONNX graph, plus the helpers
//! that make "masked" full models (rows zeroed by a criterion) for one-shot pruning and tests.
//!
//! [`compress`] removes every prunable row whose in-row slices (Producer and Accessory members of
//! the [`Analysis`]) are exactly zero: it slices every member tensor along its axis with the kept
//! indices (once per `(tensor, axis)`), rewrites attributes and shape constants that encode channel
//! counts (Conv `group`, Split sizes, Slice bounds, Gather indices, Pad pads, Reshape/Expand/Resize
//! shapes, GroupNormalization `num_groups`), re-runs shape inference and checks that every value's
//! channel axes have exactly the kept sizes. Training-mode BatchNormalization and Dropout are
//! converted to inference form (`training`). Node and tensor names, the opset, the metadata and the
//! graph inputs/outputs are unchanged. Removing nothing from a graph in inference form returns it
//! untouched.
//!
//! Cost: the output graph is built in one pass that copies each unsliced initializer once and
//! takes the sliced ones as built (the template keeps no node or initializer data: `to_model`
//! rebuilds both); kept positions are computed once per value; shapes are re-inferred only
//! downstream of what changed.
//!
//! A kept zero row never changes the output, so whenever a removal cannot be expressed (a value
//! would lose all its channels, a kept set would not be rectangular) the affected rows are kept
//! and a warning is recorded; this is always exact.
mod manifest;
pub(crate) mod rewrite;
mod select;
pub mod tensor;
mod training;

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

/// Kept flags per position of every channel axis of every value that loses a slot (`None` for
/// values that lose nothing and for non-channel axes). Computed once per compression.
pub(crate) type KeptMap = Vec<Option<Vec<Option<Vec<bool>>>>>;

/// Final kept-row decision: starts from `removed`, then keeps rows until no value loses all
/// positions of a channel axis and every value's kept set is rectangular. Returns the kept
/// positions of the final decision (from its last, clean pass).
fn settle(a: &Analysis, g: &Graph, removed: &mut BTreeSet<RowId>, warnings: &mut Vec<String>) -> KeptMap {
    let mut gone = vec![false; a.rows.len()];
    for &r in removed.iter() {
        gone[r] = true;
    }
    loop {
        let mut restore: BTreeSet<RowId> = BTreeSet::new();
        let mut kept: KeptMap = vec![None; a.value_ids.len()];
        for (v, t) in a.value_ids.iter().enumerate() {
            let Some(t) = t else { continue };
            if t.slots.iter().all(|s| !gone[a.elem_row[s.e]]) {
                continue;
            }
            let kept_row = |r: usize| !gone[r];
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
                if !gone[r] {
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
            kept[v] = Some(kp);
        }
        if restore.is_empty() {
            return kept;
        }
        for r in restore {
            removed.remove(&r);
            gone[r] = false;
        }
    }
}

/// A copy of `g` for the compressed model: tensors in `replace` are taken from there instead of
/// being copied, and the template keeps only the names of its initializers and no nodes (both
/// are rebuilt from the IR by `to_model`, so their contents would be dead copies).
fn lean_clone(g: &Graph, mut replace: HashMap<ValueId, oto_onnx::pb::TensorProto>) -> Graph {
    let values = g
        .values
        .iter()
        .enumerate()
        .map(|(id, v)| crate::ir::Value {
            name: v.name.clone(),
            dtype: v.dtype,
            shape: v.shape.clone(),
            producer: v.producer,
            consumers: v.consumers.clone(),
            init: match replace.remove(&id) {
                Some(t) => Some(t),
                None => v.init.clone(),
            },
            is_initializer: v.is_initializer,
            folded: v.folded.clone(),
        })
        .collect();
    let m = &g.template;
    let template = oto_onnx::pb::ModelProto {
        ir_version: m.ir_version,
        opset_import: m.opset_import.clone(),
        producer_name: m.producer_name.clone(),
        producer_version: m.producer_version.clone(),
        domain: m.domain.clone(),
        model_version: m.model_version,
        doc_string: m.doc_string.clone(),
        metadata_props: m.metadata_props.clone(),
        training_info: m.training_info.clone(),
        functions: m.functions.clone(),
        configuration: m.configuration.clone(),
        graph: m.graph.as_ref().map(|gp| oto_onnx::pb::GraphProto {
            node: vec![],
            initializer: gp
                .initializer
                .iter()
                .map(|t| oto_onnx::pb::TensorProto { name: t.name.clone(), dims: t.dims.clone(), data_type: t.data_type, ..Default::default() })
                .collect(),
            sparse_initializer: gp.sparse_initializer.clone(),
            name: gp.name.clone(),
            doc_string: gp.doc_string.clone(),
            input: gp.input.clone(),
            output: gp.output.clone(),
            value_info: gp.value_info.clone(),
            quantization_annotation: gp.quantization_annotation.clone(),
            metadata_props: gp.metadata_props.clone(),
        }),
    };
    Graph {
        nodes: g.nodes.clone(),
        values,
        by_name: g.by_name.clone(),
        inputs: g.inputs.clone(),
        outputs: g.outputs.clone(),
        opset: g.opset,
        template,
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
    let kept = settle(a, g, &mut removed, &mut warnings);
    let mut manifest = Manifest::new(g, a, &removed);
    let training = training::has_training_structure(g);
    if removed.is_empty() && !training {
        manifest.warnings = warnings.clone();
        return Ok(Compressed { graph: lean_clone(g, HashMap::new()), removed_rows: vec![], manifest, warnings });
    }
    let mut gone = vec![false; a.rows.len()];
    for &r in &removed {
        gone[r] = true;
    }
    let kept_row = |r: usize| !gone[r];

    // 1. slice member tensors, once per (tensor, axis), in axis order per tensor
    let mut plan: BTreeMap<ValueId, BTreeMap<usize, Vec<usize>>> = BTreeMap::new();
    let mut origin: HashMap<(ValueId, usize), usize> = HashMap::new();
    for (mi, m) in a.members.iter().enumerate() {
        let entry = plan.entry(m.tensor).or_default();
        let keep: Vec<usize> = (0..m.map.len()).filter(|&i| kept_row(a.elem_row[m.map[i]])).collect();
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
    let mut sliced: HashMap<ValueId, oto_onnx::pb::TensorProto> = HashMap::new();
    for (&v, axes) in &plan {
        let orig = g.init(v).ok_or_else(|| no_init(g, v))?;
        let mut t: Option<oto_onnx::pb::TensorProto> = None;
        let mut kept_axes = vec![];
        for (&axis, keep) in axes {
            let cur = t.as_ref().unwrap_or(orig);
            let n = cur.dims.get(axis).copied().unwrap_or(0) as usize;
            if keep.len() == n {
                continue;
            }
            t = Some(tensor::slice_axis(cur, axis, keep)?);
            kept_axes.push(KeptAxis { axis, kept: keep.clone() });
        }
        let Some(t) = t else { continue };
        manifest.tensors.push(SlicedTensor {
            name: g.value(v).name.clone(),
            original_shape: orig.dims.clone(),
            new_shape: t.dims.clone(),
            axes: kept_axes,
        });
        sliced.insert(v, t);
    }
    let mut dirty: Vec<ValueId> = sliced.keys().copied().collect();
    let mut out = lean_clone(g, sliced);
    for &v in &dirty {
        let t = out.values[v].init.take().expect("sliced tensors are set");
        rewrite::set_const(&mut out, v, t);
    }

    // 2. attributes and shape constants; training-only structure to inference form
    let mut rw = rewrite::Rewriter { g: &mut out, a, kept: &kept, log: &mut manifest.rewrites, dirty: &mut dirty };
    for nid in 0..g.nodes.len() {
        rw.node(nid)?;
    }
    if training {
        training::to_inference(&mut out, &mut manifest.rewrites)?;
    }

    // 3. shapes: re-inferred downstream of what changed
    reinfer(g, &mut out, &dirty)?;
    check_shapes(g, &out, a, &kept)?;
    if training {
        training::drop_dropout(&mut out, &mut manifest.rewrites);
    }
    rewrite::refresh_template_inputs(&mut out);
    manifest.warnings = warnings.clone();
    manifest.finish(g, &out);
    Ok(Compressed { graph: out, removed_rows: removed.into_iter().collect(), manifest, warnings })
}

/// Re-runs shape inference on the nodes downstream of a change: a node is re-inferred when it
/// differs from its original in `g` (inputs or attributes) or reads a value whose constant data,
/// shape, type or folded contents changed. Equivalent to [`Graph::infer_shapes`] on the whole
/// graph (every other node sees exactly the inputs it saw at load), without its cost on the
/// untouched part.
fn reinfer(g: &Graph, out: &mut Graph, dirty_values: &[ValueId]) -> Result<()> {
    let mut dirty = vec![false; out.values.len()];
    for &v in dirty_values {
        dirty[v] = true;
    }
    for v in g.values.len()..out.values.len() {
        dirty[v] = true; // fresh constants
    }
    // constants that changed: refresh their folded contents as the loader does
    for (v, d) in dirty.iter().enumerate() {
        let val = &mut out.values[v];
        if let (true, Some(t), true) = (*d, &val.init, val.folded.is_none()) {
            if !oto_onnx::tensor::is_float(t) && oto_onnx::tensor::numel(&t.dims) <= 64 {
                val.folded = oto_onnx::tensor::to_i64(t).ok().map(|x| x.into_iter().map(crate::ir::Dim::Known).collect());
            }
        }
    }
    let mut declared: Option<HashMap<String, (i32, Option<crate::ir::Shape>)>> = None;
    for nid in 0..out.nodes.len() {
        let (n0, n1) = (&g.nodes[nid], &out.nodes[nid]);
        let changed = n1.inputs.iter().flatten().any(|&v| dirty[v])
            || n1.inputs != n0.inputs
            || n1.outputs != n0.outputs
            || n1.proto.attribute != n0.proto.attribute;
        if !changed {
            continue;
        }
        let outs = out.infer_node(nid)?;
        let out_ids = out.nodes[nid].outputs.clone();
        for (slot, o) in out_ids.into_iter().enumerate() {
            let Some(o) = o else { continue };
            let info = outs.get(slot).cloned().unwrap_or_default();
            if out.values[o].init.is_some() {
                // a Constant node: its data (and shape) were set by the rewrite
                continue;
            }
            let (mut shape, mut dtype) = (info.shape, info.dtype);
            if shape.is_none() || dtype == 0 {
                let decl = declared.get_or_insert_with(|| declared_map(out));
                if let Some(d) = decl.get(&out.values[o].name) {
                    shape = shape.or_else(|| d.1.clone());
                    if dtype == 0 {
                        dtype = d.0;
                    }
                }
            }
            let v = &mut out.values[o];
            if v.shape != shape || v.dtype != dtype || v.folded != info.folded {
                v.shape = shape;
                v.dtype = dtype;
                v.folded = info.folded;
                dirty[o] = true;
            }
        }
    }
    Ok(())
}

/// Shapes and types declared in `value_info` and the graph outputs (the fallback of ops without
/// a shape rule), as [`Graph::infer_shapes`] reads them.
fn declared_map(g: &Graph) -> HashMap<String, (i32, Option<crate::ir::Shape>)> {
    g.template
        .graph
        .as_ref()
        .map(|gp| gp.value_info.iter().chain(gp.output.iter()))
        .into_iter()
        .flatten()
        .map(|vi| (vi.name.clone().unwrap_or_default(), crate::load::declared(vi)))
        .collect()
}

/// Every channel axis of every value must have exactly its kept size.
fn check_shapes(g: &Graph, out: &Graph, a: &Analysis, kept: &KeptMap) -> Result<()> {
    for (v, t) in a.value_ids.iter().enumerate() {
        let (Some(t), Some(Some(kp))) = (t, kept.get(v)) else { continue };
        let Some(shape) = out.shape(v) else { continue };
        if shape.len() != t.rank() {
            continue;
        }
        for (ax, k) in kp.iter().enumerate() {
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
