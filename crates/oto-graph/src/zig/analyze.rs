//! The analysis driver: seeds graph inputs, applies the op rules in topological order, marks graph
//! outputs, then turns element classes into rows and groups.
use super::ids::IdTensor;
use super::state::State;
use super::uf::UnionFind;
use super::{Analysis, Group, Row};
use crate::ir::{Graph, ValueId};
use std::rc::Rc;

/// Options of the analysis.
#[derive(Clone, Debug, Default)]
pub struct AnalyzeOptions {
    /// Node names, initializer names or op types whose channels must stay (reason `user`).
    pub keep: Vec<String>,
}


/// Partitions the graph's channels into rows and groups (see the module docs).
pub fn analyze(g: &Graph) -> Analysis {
    analyze_with(g, &AnalyzeOptions::default())
}

pub fn analyze_with(g: &Graph, opts: &AnalyzeOptions) -> Analysis {
    let mut st = State::new(g);
    for &i in &g.inputs {
        let v = g.value(i);
        let rank = v.rank().unwrap_or(0);
        let axis = match rank {
            0 | 1 => None,
            3 => Some(2),
            _ => Some(1),
        };
        let t = match axis.and_then(|a| v.dim(a).filter(|&d| (0..=super::state::MAX_CHANNELS as i64).contains(&d)).map(|d| (a, d as usize))) {
            Some((a, n)) => {
                let slots = st.fresh(None, &format!("graph input '{}'", v.name), n);
                IdTensor::along(rank, a, slots)
            }
            None => {
                let s = st.fresh(None, &format!("graph input '{}'", v.name), 1);
                IdTensor::scalar(rank, s[0])
            }
        };
        st.unprunable_all(&t, "graph_input");
        st.ids[i] = Some(Rc::new(t));
    }
    for nid in 0..g.nodes.len() {
        st.nid = nid;
        let rule = g.nodes[nid].op.rule();
        if too_large_to_track(g, nid) {
            super::prop::unknown(&mut st, "too_large_to_track");
            continue;
        }
        rule.zig(&mut st);
        if rule.reads_values() {
            not_followed(&mut st, nid);
        }
        for (v, reason) in rule.unsliceable(&st) {
            if let Some(t) = st.ids[v].clone() {
                st.unprunable_all(&t, &reason);
            }
        }
        let n = &g.nodes[nid];
        if opts.keep.iter().any(|k| *k == n.name || *k == n.op_type || n.inputs.iter().flatten().any(|&v| g.values[v].name == *k)) {
            for o in n.outputs.iter().flatten() {
                if let Some(t) = st.ids[*o].clone() {
                    st.unprunable_all(&t, "user");
                }
            }
        }
    }
    for &o in &g.outputs {
        if let Some(t) = st.ids[o].clone() {
            st.unprunable_all(&t, "reaches_output");
        }
    }
    finish(st)
}

/// The safety net behind every zig rule: an output that is used but got no channel ids while
/// an input has them means the rule could not follow the input's channels (unknown rank, an
/// op it does not model): those rows become unprunable rather than losing their consumers.
fn not_followed(st: &mut State, nid: usize) {
    let g = st.g;
    let n = &g.nodes[nid];
    let lost = n.outputs.iter().flatten().any(|&o| st.ids[o].is_none() && (!g.values[o].consumers.is_empty() || g.outputs.contains(&o)));
    if !lost {
        return;
    }
    let reason = format!("not_followed:{}", n.op_type);
    for v in n.inputs.iter().flatten() {
        if let Some(t) = st.ids[*v].clone() {
            st.unprunable_all(&t, &reason);
        }
    }
}

/// Channel ids are tracked per element of a value's static shape (symbolic dims count 1): a
/// node whose inputs or outputs hold more than this is not followed (its rows unprunable,
/// reason `too_large_to_track`). Real models stay far below (a 224×224 ImageNet stem's output:
/// 0.8 M); a corrupt shape would otherwise make the analysis allocate gigabytes.
pub const MAX_TRACKED_ELEMENTS: u64 = 1 << 26;

fn too_large_to_track(g: &Graph, nid: usize) -> bool {
    let n = &g.nodes[nid];
    n.inputs.iter().chain(&n.outputs).flatten().any(|&v| {
        g.values[v].shape.as_ref().is_some_and(|s| crate::ir::elements(s, 1, 1) > MAX_TRACKED_ELEMENTS)
    })
}

const NONE: usize = usize::MAX;

fn finish(mut st: State) -> Analysis {
    let g = st.g;
    let (mut rows, elem_row) = element_rows(&mut st);
    let order = ReasonOrder::new(&mut st);
    let row_rids = row_reasons(&st, &mut rows, &elem_row, &order);
    let mut groups = group_rows(&st, &mut rows, &row_rids, &order);
    attach_members_and_nodes(&st, &rows, &elem_row, &mut groups);
    let trainable: Vec<ValueId> = (0..g.values.len()).filter(|&v| st.params[v]).collect();
    let frozen = g
        .values
        .iter()
        .enumerate()
        .filter(|(i, v)| {
            v.is_initializer
                && !st.params[*i]
                && st.member_index[*i].is_empty()
                && v.init.as_ref().is_some_and(|t| oto_onnx::tensor::is_float(t) && oto_onnx::tensor::numel(&t.dims) > 1)
        })
        .map(|(i, _)| i)
        .collect();
    let value_ids = st.ids.into_iter().map(|t| t.map(Rc::unwrap_or_clone)).collect();
    Analysis { sources: st.sources, members: st.members, rows, groups, elem_row, value_ids, trainable, frozen }
}

/// Rows = classes of elements, numbered by their first element; and the row of every element.
fn element_rows(st: &mut State) -> (Vec<Row>, Vec<usize>) {
    let ne = st.uf.len();
    let mut root_row = vec![NONE; ne];
    let mut elem_row = vec![0; ne];
    let mut row_len: Vec<usize> = vec![];
    for e in 0..ne {
        let r = st.uf.find(e);
        if root_row[r] == NONE {
            root_row[r] = row_len.len();
            row_len.push(0);
        }
        elem_row[e] = root_row[r];
        row_len[root_row[r]] += 1;
    }
    let mut rows: Vec<Row> = row_len
        .iter()
        .enumerate()
        .map(|(id, &n)| Row { id, group: 0, elems: Vec::with_capacity(n), reasons: vec![], has_params: false })
        .collect();
    for (e, &r) in elem_row.iter().enumerate() {
        rows[r].elems.push(e);
    }
    (rows, elem_row)
}

/// Reason ids ordered by name (reports list reasons alphabetically, once each).
struct ReasonOrder {
    names: Vec<String>,
    rank: Vec<u32>,
    no_params: u32,
}

impl ReasonOrder {
    fn new(st: &mut State) -> ReasonOrder {
        let no_params = st.reason_id("no_params");
        let names = st.reason_names.clone();
        let mut by_name: Vec<u32> = (0..names.len() as u32).collect();
        by_name.sort_by(|&a, &b| names[a as usize].cmp(&names[b as usize]));
        let mut rank = vec![0u32; names.len()];
        for (k, &r) in by_name.iter().enumerate() {
            rank[r as usize] = k as u32;
        }
        ReasonOrder { names, rank, no_params }
    }
    fn sort(&self, rids: &mut Vec<u32>) {
        rids.sort_unstable_by_key(|&r| self.rank[r as usize]);
        rids.dedup();
    }
    fn names(&self, rids: &[u32]) -> Vec<String> {
        rids.iter().map(|&r| self.names[r as usize].clone()).collect()
    }
}

/// Marks `has_params` and the reasons of every row; returns each row's sorted reason ids.
fn row_reasons(st: &State, rows: &mut [Row], elem_row: &[usize], order: &ReasonOrder) -> Vec<Vec<u32>> {
    let mut row_rids: Vec<Vec<u32>> = vec![Vec::new(); rows.len()];
    for &(e, r) in &st.marks {
        row_rids[elem_row[e]].push(r);
    }
    for m in st.members.iter().filter(|m| m.kind.in_row()) {
        for &e in &m.map {
            rows[elem_row[e]].has_params = true;
        }
    }
    for (r, rids) in rows.iter_mut().zip(row_rids.iter_mut()) {
        if !r.has_params && rids.is_empty() {
            rids.push(order.no_params);
        }
        order.sort(rids);
        r.reasons = order.names(rids);
    }
    row_rids
}

/// Groups: the union of the sources (channel spaces) that share a row.
fn group_rows(st: &State, rows: &mut [Row], row_rids: &[Vec<u32>], order: &ReasonOrder) -> Vec<Group> {
    let ne = st.uf.len();
    let mut elem_source = vec![0; ne];
    for (si, s) in st.sources.iter().enumerate() {
        for e in s.first..s.first + s.count {
            elem_source[e] = si;
        }
    }
    let mut suf = UnionFind::default();
    suf.add(st.sources.len());
    for r in rows.iter() {
        for w in r.elems.windows(2) {
            suf.union(elem_source[w[0]], elem_source[w[1]]);
        }
    }
    let mut root_group = vec![NONE; st.sources.len()];
    let mut groups: Vec<Group> = vec![];
    let mut source_group = vec![0; st.sources.len()];
    for si in 0..st.sources.len() {
        let r = suf.find(si);
        if root_group[r] == NONE {
            root_group[r] = groups.len();
            groups.push(Group { id: groups.len(), rows: vec![], sources: vec![], members: vec![], nodes: vec![], reasons: vec![] });
        }
        let gid = root_group[r];
        source_group[si] = gid;
        groups[gid].sources.push(si);
    }
    let mut group_rids: Vec<Vec<u32>> = vec![Vec::new(); groups.len()];
    for (r, rids) in rows.iter_mut().zip(row_rids) {
        let gid = source_group[elem_source[r.elems[0]]];
        r.group = gid;
        groups[gid].rows.push(r.id);
        group_rids[gid].extend_from_slice(rids);
    }
    for (gr, rids) in groups.iter_mut().zip(group_rids.iter_mut()) {
        order.sort(rids);
        gr.reasons = order.names(rids);
    }
    groups
}

/// Members and nodes per group; `stamp[gid]` = the last member / node that touched the group.
fn attach_members_and_nodes(st: &State, rows: &[Row], elem_row: &[usize], groups: &mut [Group]) {
    let mut stamp = vec![NONE; groups.len()];
    for (mi, m) in st.members.iter().enumerate() {
        for &e in &m.map {
            let gid = rows[elem_row[e]].group;
            if stamp[gid] != mi {
                stamp[gid] = mi;
                groups[gid].members.push(mi);
            }
        }
    }
    stamp.fill(NONE);
    for (nid, n) in st.g.nodes.iter().enumerate() {
        for o in n.outputs.iter().flatten() {
            let Some(t) = &st.ids[*o] else { continue };
            for s in &t.slots {
                let gid = rows[elem_row[s.e]].group;
                if stamp[gid] != nid {
                    stamp[gid] = nid;
                    groups[gid].nodes.push(nid);
                }
            }
        }
    }
    for gr in groups.iter_mut() {
        for &mi in &gr.members {
            gr.nodes.push(st.members[mi].node);
        }
        gr.nodes.sort_unstable();
        gr.nodes.dedup();
    }
}
