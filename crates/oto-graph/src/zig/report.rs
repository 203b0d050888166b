//! The analysis report: a serialisable, versioned summary of an [`Analysis`] (the JSON written by
//! `oto analyze --json`, documented in `docs/analysis-report-schema.md`) and its human-readable
//! text form.
//!
//! Index maps are given per row: for every member (one axis of one initializer) and every row of
//! the group, the indices along that axis that belong to the row, compressed into half-open
//! ranges `[start, end, step]`, or the string `"identity"` when row `i` is exactly index `i`, or
//! `{"offset": k}` when row `i` is exactly index `k + i` (a concat input's slice: most of a
//! DenseNet's members, whose report would otherwise list every row).
use super::{Analysis, MemberKind};
use crate::ir::{fmt_shape, Graph};
use serde::Serialize;
use std::collections::HashMap;

/// Version of the JSON layout; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 2;

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub model: ModelInfo,
    pub summary: Summary,
    pub groups: Vec<GroupReport>,
    /// Float initializers of unknown role (kept as they are, never trained or pruned).
    pub frozen: Vec<TensorInfo>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ModelInfo {
    /// File name or graph name.
    pub name: String,
    pub graph_name: String,
    pub producer: String,
    pub ir_version: i64,
    pub opset: i64,
    pub inputs: Vec<TensorInfo>,
    pub outputs: Vec<TensorInfo>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TensorInfo {
    pub name: String,
    /// e.g. `[N, 3, 32, 32]`; null when unknown.
    pub shape: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub nodes: usize,
    pub initializers: usize,
    pub groups: usize,
    pub prunable_groups: usize,
    /// Total rows (removable channel units) over all groups.
    pub channels: usize,
    /// Rows that can be removed (= prunable rows).
    pub prunable_channels: usize,
    /// Elements of all initializers.
    pub params: u64,
    /// Elements of trainable initializers.
    pub trainable_params: u64,
    /// Elements of in-row slices (producer + accessory) of prunable rows.
    pub prunable_params: u64,
    /// Multiply-accumulates per sample (Conv/ConvTranspose/Gemm/MatMul).
    pub macs: u64,
    pub frozen: usize,
    /// Count of unprunable rows per reason code.
    pub reasons: std::collections::BTreeMap<String, usize>,
}

#[derive(Clone, Debug, Serialize)]
pub struct GroupReport {
    pub id: usize,
    /// At least one row is prunable.
    pub prunable: bool,
    /// Null when every row is prunable; otherwise the reason codes of the unprunable rows, joined by `,`.
    pub reason: Option<String>,
    pub reasons: Vec<String>,
    /// Number of rows (removable units).
    pub channels: usize,
    pub prunable_channels: usize,
    /// What created the group's channels (stems, graph inputs, padding, ...).
    pub sources: Vec<String>,
    pub members: Vec<MemberReport>,
    pub ops: Vec<OpRef>,
}

#[derive(Clone, Debug, Serialize)]
pub struct OpRef {
    pub name: String,
    pub op: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct MemberReport {
    /// Initializer (or folded Constant) name.
    pub tensor: String,
    pub shape: Vec<i64>,
    pub axis: usize,
    pub kind: MemberKind,
    /// The node whose rule attached this slice.
    pub node: String,
    /// Classification of the index map: identity, offset, gather, block, strided, expanded, mixed.
    pub view: &'static str,
    /// `"identity"` or, per row of the group (in `rows` order), a list of `[start, end, step]` ranges.
    pub index: IndexMap,
}

/// Which indices along a member's axis belong to each row of its group.
#[derive(Clone, Debug, PartialEq)]
pub enum IndexMap {
    /// Row `i` is index `i` (serialised as the string `"identity"`).
    Identity,
    /// Row `i` is index `k + i` (serialised as `{"offset": k}`).
    Offset(usize),
    /// Per row, `[start, end, step]` runs (serialised as one list of runs per row). Stored flat
    /// (row `r`'s runs are `runs[ends[r - 1]..ends[r]]`): a DenseNet report holds thousands of
    /// rows, and one allocation per row dominated building and dropping the report.
    Rows { runs: Vec<[usize; 3]>, ends: Vec<usize> },
}

impl IndexMap {
    /// The map of explicit per-row index lists (each sorted).
    pub fn from_rows<R: AsRef<[usize]>>(rows: &[R]) -> IndexMap {
        let (mut runs, mut ends) = (vec![], Vec::with_capacity(rows.len()));
        for r in rows {
            compress_ranges_into(r.as_ref(), &mut runs);
            ends.push(runs.len());
        }
        IndexMap::Rows { runs, ends }
    }
    /// The runs of row `r` (empty for an identity or offset map, or a row out of range).
    pub fn row_runs(&self, r: usize) -> &[[usize; 3]] {
        match self {
            IndexMap::Identity | IndexMap::Offset(_) => &[],
            IndexMap::Rows { runs, ends } => match ends.get(r) {
                Some(&e) => &runs[if r == 0 { 0 } else { ends[r - 1] }..e],
                None => &[],
            },
        }
    }
    /// The indices of row `r` (expanded).
    pub fn row(&self, r: usize) -> Vec<usize> {
        match self {
            IndexMap::Identity => vec![r],
            IndexMap::Offset(k) => vec![k + r],
            IndexMap::Rows { .. } => self.row_runs(r).iter().flat_map(|&[s, e, st]| (s..e).step_by(st.max(1))).collect(),
        }
    }
}

impl Serialize for IndexMap {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        match self {
            IndexMap::Identity => s.serialize_str("identity"),
            IndexMap::Offset(k) => {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("offset", k)?;
                m.end()
            }
            IndexMap::Rows { ends, .. } => {
                let mut seq = s.serialize_seq(Some(ends.len()))?;
                for r in 0..ends.len() {
                    seq.serialize_element(self.row_runs(r))?;
                }
                seq.end()
            }
        }
    }
}

/// Compresses a sorted index list into `[start, end, step]` runs.
pub fn compress_ranges(idx: &[usize]) -> Vec<[usize; 3]> {
    let mut out = vec![];
    compress_ranges_into(idx, &mut out);
    out
}

/// [`compress_ranges`], appending to `out`.
fn compress_ranges_into(idx: &[usize], out: &mut Vec<[usize; 3]>) {
    let mut i = 0;
    while i < idx.len() {
        let start = idx[i];
        if i + 1 == idx.len() {
            out.push([start, start + 1, 1]);
            break;
        }
        let step = idx[i + 1].wrapping_sub(start);
        if step == 0 || idx[i + 1] < start {
            out.push([start, start + 1, 1]);
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j + 1 < idx.len() && idx[j + 1] > idx[j] && idx[j + 1] - idx[j] == step {
            j += 1;
        }
        let len = j - i + 1;
        if len == 2 && step != 1 {
            // two points with a gap: keep them as singles (clearer than a 2-element stride)
            out.push([start, start + 1, 1]);
            i += 1;
            continue;
        }
        out.push([start, idx[j] + 1, step]);
        i = j + 1;
    }
}

/// Classifies the per-row index sets of one member in one group.
fn classify(per_row: &[&[usize]], axis_size: usize, repeated_elems: bool) -> &'static str {
    if per_row.iter().all(|r| r.len() == 1) {
        let first = per_row.first().map(|r| r[0]).unwrap_or(0);
        if per_row.iter().enumerate().all(|(i, r)| r[0] == first + i) {
            return if first == 0 && per_row.len() == axis_size { "identity" } else { "offset" };
        }
        return "gather";
    }
    let contiguous = per_row.iter().all(|r| r.windows(2).all(|w| w[1] == w[0] + 1));
    if contiguous {
        return if repeated_elems { "expanded" } else { "block" };
    }
    let strided = per_row.iter().all(|r| {
        r.len() < 2 || {
            let s = r[1] - r[0];
            r.windows(2).all(|w| w[1] - w[0] == s)
        }
    });
    if strided {
        return "strided";
    }
    "mixed"
}

impl Report {
    /// Builds the report of analysis `a` of graph `g`; `name` names the model (e.g. its file).
    pub fn new(g: &Graph, a: &Analysis, name: &str) -> Report {
        let tmpl = g.model_template();
        let gp = tmpl.graph.as_ref();
        let tinfo = |id: usize| TensorInfo { name: g.value(id).name.clone(), shape: g.shape(id).map(|s| fmt_shape(s)) };
        let model = ModelInfo {
            name: name.to_string(),
            graph_name: gp.and_then(|gp| gp.name.clone()).unwrap_or_default(),
            producer: tmpl.producer_name.clone().unwrap_or_default(),
            ir_version: tmpl.ir_version.unwrap_or(0),
            opset: g.opset,
            inputs: g.inputs.iter().map(|&i| tinfo(i)).collect(),
            outputs: g.outputs.iter().map(|&i| tinfo(i)).collect(),
        };

        let (mut member_reports, prunable_params) = member_reports(g, a);

        let mut groups = vec![];
        let mut reasons_count: std::collections::BTreeMap<String, usize> = Default::default();
        for r in &a.rows {
            for reason in &r.reasons {
                *reasons_count.entry(reason.clone()).or_default() += 1;
            }
        }
        for gr in &a.groups {
            let prunable_channels = gr.rows.iter().filter(|&&r| a.rows[r].prunable()).count();
            let members = gr.members.iter().filter_map(|&mi| member_reports.remove(&(mi, gr.id))).collect();
            groups.push(GroupReport {
                id: gr.id,
                prunable: prunable_channels > 0,
                reason: if gr.reasons.is_empty() { None } else { Some(gr.reasons.join(",")) },
                reasons: gr.reasons.clone(),
                channels: gr.rows.len(),
                prunable_channels,
                sources: gr.sources.iter().map(|&s| a.sources[s].what.clone()).collect(),
                members,
                ops: gr.nodes.iter().map(|&n| OpRef { name: g.nodes[n].name.clone(), op: g.nodes[n].op_type.clone() }).collect(),
            });
        }
        let trainable_params = a
            .trainable
            .iter()
            .filter_map(|&v| g.init(v))
            .map(|t| oto_onnx::tensor::numel(&t.dims) as u64)
            .sum();
        let summary = Summary {
            nodes: g.nodes.len(),
            initializers: g.values.iter().filter(|v| v.is_initializer).count(),
            groups: groups.len(),
            prunable_groups: groups.iter().filter(|x| x.prunable).count(),
            channels: a.rows.len(),
            prunable_channels: a.prunable_rows(),
            params: g.param_count(),
            trainable_params,
            prunable_params,
            macs: crate::flops::macs(g),
            frozen: a.frozen.len(),
            reasons: reasons_count,
        };
        Report { schema_version: SCHEMA_VERSION, model, summary, groups, frozen: a.frozen.iter().map(|&v| tinfo(v)).collect() }
    }

    /// JSON with objects indented and arrays of plain values on one line (index maps stay small).
    pub fn to_json(&self) -> String {
        let mut buf = Vec::with_capacity(1 << 16);
        let mut ser = serde_json::Serializer::with_formatter(&mut buf, Layout::default());
        match self.serialize(&mut ser) {
            Ok(()) => String::from_utf8(buf).unwrap_or_default(),
            Err(e) => format!("{{\"error\": \"{e}\"}}"),
        }
    }

    /// A human-readable summary: totals, the unprunable groups with their reasons, frozen constants.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let s = &self.summary;
        let mut o = String::new();
        let _ = writeln!(o, "model      {}", self.model.name);
        for i in &self.model.inputs {
            let _ = writeln!(o, "input      {} {}", i.name, i.shape.as_deref().unwrap_or("?"));
        }
        for i in &self.model.outputs {
            let _ = writeln!(o, "output     {} {}", i.name, i.shape.as_deref().unwrap_or("?"));
        }
        let _ = writeln!(o, "nodes      {}", s.nodes);
        let _ = writeln!(o, "params     {} ({} trainable, {} in prunable rows)", s.params, s.trainable_params, s.prunable_params);
        let _ = writeln!(o, "MACs       {} per sample ({})", s.macs, human(s.macs as f64));
        let _ = writeln!(o, "groups     {} ({} prunable)", s.groups, s.prunable_groups);
        let _ = writeln!(o, "channels   {} ({} prunable)", s.channels, s.prunable_channels);
        let unprunable: Vec<&GroupReport> = self.groups.iter().filter(|g| g.reason.is_some()).collect();
        if !unprunable.is_empty() {
            let _ = writeln!(o, "\ngroups with unprunable channels:");
            let _ = writeln!(o, "  {:>5}  {:>8}  {:<40}  {}", "group", "channels", "reason", "created by");
            const MAX: usize = 60;
            for g in unprunable.iter().take(MAX) {
                let ch = if g.prunable { format!("{}/{}", g.channels - g.prunable_channels, g.channels) } else { g.channels.to_string() };
                let mut src = g.sources.first().cloned().unwrap_or_default();
                if g.sources.len() > 1 {
                    src.push_str(&format!(" (+{} more)", g.sources.len() - 1));
                }
                let _ = writeln!(o, "  {:>5}  {:>8}  {:<40}  {}", g.id, ch, g.reason.as_deref().unwrap_or(""), src);
            }
            if unprunable.len() > MAX {
                let _ = writeln!(o, "  ... {} more (see --json)", unprunable.len() - MAX);
            }
        }
        if !self.frozen.is_empty() {
            let _ = writeln!(o, "\nfrozen float constants (unknown role, kept as they are):");
            for f in &self.frozen {
                let _ = writeln!(o, "  {} {}", f.name, f.shape.as_deref().unwrap_or(""));
            }
        }
        o
    }
}

/// serde_json formatter: objects one key per line, indented by nesting; arrays inline unless they
/// hold objects (then one object per line).
#[derive(Default)]
struct Layout {
    /// Open containers: (is_object, has_entries).
    stack: Vec<(bool, bool)>,
}

impl Layout {
    fn newline<W: ?Sized + std::io::Write>(&self, w: &mut W, depth: usize) -> std::io::Result<()> {
        w.write_all(b"\n")?;
        for _ in 0..depth {
            w.write_all(b"  ")?;
        }
        Ok(())
    }
}

impl serde_json::ser::Formatter for Layout {
    fn begin_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.stack.push((false, false));
        w.write_all(b"[")
    }
    fn end_array<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        let (_, had_objects) = self.stack.pop().unwrap_or((false, false));
        if had_objects {
            self.newline(w, self.stack.len())?;
        }
        w.write_all(b"]")
    }
    fn begin_array_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }
    fn end_array_value<W: ?Sized + std::io::Write>(&mut self, _w: &mut W) -> std::io::Result<()> {
        Ok(())
    }
    fn begin_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        if let Some(top) = self.stack.last_mut() {
            if !top.0 {
                top.1 = true;
                let depth = self.stack.len();
                self.newline(w, depth)?;
            }
        }
        self.stack.push((true, false));
        w.write_all(b"{")
    }
    fn end_object<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        let (_, had_keys) = self.stack.pop().unwrap_or((true, false));
        if had_keys {
            self.newline(w, self.stack.len())?;
        }
        w.write_all(b"}")
    }
    fn begin_object_key<W: ?Sized + std::io::Write>(&mut self, w: &mut W, first: bool) -> std::io::Result<()> {
        if !first {
            w.write_all(b",")?;
        }
        if let Some(top) = self.stack.last_mut() {
            top.1 = true;
        }
        self.newline(w, self.stack.len())
    }
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
    fn end_object_value<W: ?Sized + std::io::Write>(&mut self, _w: &mut W) -> std::io::Result<()> {
        Ok(())
    }
}

/// 1234567 → "1.23M".
pub fn human(x: f64) -> String {
    for (div, suf) in [(1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")] {
        if x >= div {
            return format!("{:.2}{suf}", x / div);
        }
    }
    format!("{x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn ranges() {
        assert_eq!(compress_ranges(&[0, 1, 2, 3]), vec![[0, 4, 1]]);
        assert_eq!(compress_ranges(&[1, 5, 9, 13]), vec![[1, 14, 4]]);
        assert_eq!(compress_ranges(&[0, 1, 2, 10, 11]), vec![[0, 3, 1], [10, 12, 1]]);
        assert_eq!(compress_ranges(&[3]), vec![[3, 4, 1]]);
        assert_eq!(compress_ranges(&[]), Vec::<[usize; 3]>::new());
        let m = IndexMap::from_rows(&[vec![1, 5, 9], vec![2, 3], vec![]]);
        assert_eq!(m.row(0), vec![1, 5, 9]);
        assert_eq!(m.row(1), vec![2, 3]);
        assert_eq!(m.row(2), Vec::<usize>::new());
        assert_eq!(m.row(3), Vec::<usize>::new());
        assert_eq!(serde_json::to_string(&m).unwrap(), "[[[1,10,4]],[[2,4,1]],[]]");
        assert_eq!(serde_json::to_string(&IndexMap::Identity).unwrap(), "\"identity\"");
        let o = IndexMap::Offset(48);
        assert_eq!((o.row(0), o.row(2)), (vec![48], vec![50]));
        assert_eq!(serde_json::to_string(&o).unwrap(), "{\"offset\":48}");
    }
    #[test]
    fn classification() {
        assert_eq!(classify(&[&[0], &[1]], 2, false), "identity");
        assert_eq!(classify(&[&[4], &[5]], 8, false), "offset");
        assert_eq!(classify(&[&[0, 1], &[2, 3]], 4, false), "block");
        assert_eq!(classify(&[&[0, 1], &[2, 3]], 4, true), "expanded");
        assert_eq!(classify(&[&[0, 2], &[1, 3]], 4, false), "strided");
    }
    #[test]
    fn json_layout() {
        #[derive(Serialize)]
        struct T {
            a: Vec<Vec<[usize; 3]>>,
            b: Vec<OpRef>,
            c: Option<String>,
            e: Vec<u8>,
        }
        let t = T { a: vec![vec![[0, 4, 1]]], b: vec![OpRef { name: "x".into(), op: "Conv".into() }], c: None, e: vec![] };
        let mut buf = vec![];
        t.serialize(&mut serde_json::Serializer::with_formatter(&mut buf, Layout::default())).unwrap();
        let s = String::from_utf8(buf).unwrap();
        assert_eq!(s, "{\n  \"a\": [[[0, 4, 1]]],\n  \"b\": [\n    {\n      \"name\": \"x\",\n      \"op\": \"Conv\"\n    }\n  ],\n  \"c\": null,\n  \"e\": []\n}");
        let v: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["a"][0][0][1], 4);
    }
}

/// Every member's report per (member, group) — per-row index lists computed in one pass over
/// every member map — and the number of parameters in prunable rows.
fn member_reports(g: &Graph, a: &Analysis) -> (HashMap<(usize, usize), MemberReport>, u64) {
    // position of every row inside its group
    let mut row_pos = vec![0usize; a.rows.len()];
    for gr in &a.groups {
        for (p, &r) in gr.rows.iter().enumerate() {
            row_pos[r] = p;
        }
    }
    // per (member, group): per-row index lists, computed in one pass over every member map
    let mut member_reports: HashMap<(usize, usize), MemberReport> = HashMap::new();
    let mut prunable_params: u64 = 0;
    for (mi, m) in a.members.iter().enumerate() {
        let v = g.value(m.tensor);
        let shape: Vec<i64> = v.init.as_ref().map(|t| t.dims.clone()).unwrap_or_default();
        let axis_size = m.map.len();
        let numel: u64 = shape.iter().map(|&d| d.max(0) as u64).product();
        let per_index = if axis_size > 0 { numel / axis_size as u64 } else { 0 };
        for &e in &m.map {
            let r = &a.rows[a.elem_row[e]];
            if m.kind.in_row() && r.prunable() {
                prunable_params += per_index;
            }
        }
        // fast path: one group, row i ↔ index i (a stem's own weight, its BN, ...)
        let first_group = m.map.first().map(|&e| a.rows[a.elem_row[e]].group);
        if let Some(gid) = first_group {
            let identity = a.groups[gid].rows.len() == axis_size
                && m.map.iter().enumerate().all(|(i, &e)| {
                    let r = a.elem_row[e];
                    a.rows[r].group == gid && row_pos[r] == i
                });
            if identity {
                member_reports.insert(
                    (mi, gid),
                    MemberReport {
                        tensor: v.name.clone(),
                        shape,
                        axis: m.axis,
                        kind: m.kind,
                        node: g.nodes[m.node].name.clone(),
                        view: "identity",
                        index: IndexMap::Identity,
                    },
                );
                continue;
            }
        }
        // every index along the axis as (group, row position in the group, index), sorted:
        // each group's rows are then consecutive runs of indices (one sort, no per-row lists)
        let mut keys: Vec<(usize, usize, usize)> = m
            .map
            .iter()
            .enumerate()
            .map(|(i, &e)| {
                let r = a.elem_row[e];
                (a.rows[r].group, row_pos[r], i)
            })
            .collect();
        keys.sort_unstable();
        let repeated = {
            let mut sorted = m.map.clone();
            sorted.sort_unstable();
            sorted.windows(2).any(|w| w[0] == w[1])
        };
        let mut idx: Vec<usize> = Vec::with_capacity(keys.len());
        let mut bounds: Vec<usize> = vec![];
        for seg in keys.chunk_by(|x, y| x.0 == y.0) {
            let gid = seg[0].0;
            let nrows = a.groups[gid].rows.len();
            idx.clear();
            idx.extend(seg.iter().map(|k| k.2));
            bounds.clear();
            bounds.resize(nrows + 1, 0);
            for k in seg {
                bounds[k.1 + 1] += 1;
            }
            for p in 0..nrows {
                bounds[p + 1] += bounds[p];
            }
            let per_row: Vec<&[usize]> = (0..nrows).map(|p| &idx[bounds[p]..bounds[p + 1]]).collect();
            let touched: Vec<&[usize]> = per_row.iter().copied().filter(|r| !r.is_empty()).collect();
            let all_rows = touched.len() == per_row.len();
            let view = if all_rows { classify(&per_row, axis_size, repeated) } else { classify(&touched, usize::MAX, repeated) };
            let view = if !all_rows && view == "identity" { "offset" } else { view };
            let index = match view {
                "identity" => IndexMap::Identity,
                "offset" if all_rows => IndexMap::Offset(per_row[0][0]),
                _ => IndexMap::from_rows(&per_row),
            };
            member_reports.insert(
                (mi, gid),
                MemberReport {
                    tensor: v.name.clone(),
                    shape: shape.clone(),
                    axis: m.axis,
                    kind: m.kind,
                    node: g.nodes[m.node].name.clone(),
                    view,
                    index,
                },
            );
        }
    }
    (member_reports, prunable_params)
}
