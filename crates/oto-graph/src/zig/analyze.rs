//! The analysis driver: seeds graph inputs, applies the op rules in topological order, marks graph
//! outputs, then turns element classes into rows and groups.
use super::ids::{IdTensor, Slot};
use super::uf::UnionFind;
use super::{Analysis, ElemId, Group, Member, MemberKind, Row, Source};
use crate::ir::{Graph, NodeId, ValueId};
use std::collections::{BTreeSet, HashMap};

/// Options of the analysis.
#[derive(Clone, Debug, Default)]
pub struct AnalyzeOptions {
    /// Node names, initializer names or op types whose channels must stay (reason `user`).
    pub keep: Vec<String>,
}

pub(crate) struct State<'g> {
    pub g: &'g Graph,
    pub uf: UnionFind,
    pub reasons: Vec<Vec<String>>,
    pub zero_const: Vec<bool>,
    pub sources: Vec<Source>,
    pub members: Vec<Member>,
    pub ids: Vec<Option<IdTensor>>,
    /// First element of the output channels of a stem weight already seen (weight sharing).
    pub weight_elems: HashMap<ValueId, ElemId>,
    /// Members by (tensor, axis), to tie repeated attachments without a scan.
    pub member_index: HashMap<(ValueId, usize), Vec<usize>>,
    pub params: BTreeSet<ValueId>,
    pub nid: NodeId,
}

impl<'g> State<'g> {
    /// Creates `n` fresh elements for a new channel space.
    pub fn fresh(&mut self, node: Option<NodeId>, what: &str, n: usize) -> Vec<Slot> {
        let first = self.uf.add(n);
        self.reasons.extend((0..n).map(|_| vec![]));
        self.zero_const.extend((0..n).map(|_| false));
        self.sources.push(Source { node, what: what.into(), first, count: n });
        (first..first + n).map(Slot::z).collect()
    }
    pub fn unprunable(&mut self, e: ElemId, reason: &str) {
        let r = &mut self.reasons[e];
        if !r.iter().any(|x| x == reason) {
            r.push(reason.to_string());
        }
    }
    pub fn unprunable_all(&mut self, t: &IdTensor, reason: &str) {
        for e in t.elems() {
            self.unprunable(e, reason);
        }
    }
    /// Attaches `map` (element of every index along `axis`) of initializer `tensor`. A tensor
    /// attached twice on the same axis (weight sharing, or an exporter's de-duplication of equal
    /// initializers) ties the two maps position by position: it is sliced once, so both uses
    /// must keep the same indices.
    pub fn member(&mut self, tensor: ValueId, axis: usize, kind: MemberKind, map: Vec<ElemId>) {
        if kind != MemberKind::SliceOnly {
            self.params.insert(tensor);
        }
        let same = self.member_index.entry((tensor, axis)).or_default();
        for &mi in same.iter() {
            let prev = &self.members[mi].map;
            if prev.len() == map.len() {
                for (a, b) in prev.iter().zip(&map) {
                    self.uf.union(*a, *b);
                }
            }
        }
        same.push(self.members.len());
        self.members.push(Member { tensor, axis, kind, node: self.nid, map });
    }
    /// Checks zero propagation at an exit: every N slot's element becomes unprunable.
    pub fn exit(&mut self, t: &IdTensor) {
        for s in t.slots.clone() {
            if s.taint != 0 {
                let n = &self.g.nodes[(s.taint - 1) as usize];
                let reason = format!("not_zero_preserving:{}", n.name);
                self.unprunable(s.e, &reason);
            }
        }
    }
}

/// Partitions the graph's channels into rows and groups (see the module docs).
pub fn analyze(g: &Graph) -> Analysis {
    analyze_with(g, &AnalyzeOptions::default())
}

pub fn analyze_with(g: &Graph, opts: &AnalyzeOptions) -> Analysis {
    let mut st = State {
        g,
        uf: UnionFind::default(),
        reasons: vec![],
        zero_const: vec![],
        sources: vec![],
        members: vec![],
        ids: vec![None; g.values.len()],
        weight_elems: HashMap::new(),
        member_index: HashMap::new(),
        params: BTreeSet::new(),
        nid: 0,
    };
    for &i in &g.inputs {
        let v = g.value(i);
        let rank = v.rank().unwrap_or(0);
        let axis = match rank {
            0 | 1 => None,
            3 => Some(2),
            _ => Some(1),
        };
        let t = match axis.and_then(|a| v.dim(a).map(|d| (a, d as usize))) {
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
        st.ids[i] = Some(t);
    }
    for nid in 0..g.nodes.len() {
        st.nid = nid;
        super::rules::apply(&mut st, nid);
        let n = &g.nodes[nid];
        if opts.keep.iter().any(|k| *k == n.name || *k == n.op || n.inputs.iter().flatten().any(|&v| g.values[v].name == *k)) {
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

fn finish(mut st: State) -> Analysis {
    let g = st.g;
    let ne = st.uf.len();
    // rows = classes of elements, numbered by their first element
    let mut root_row: HashMap<usize, usize> = HashMap::new();
    let mut elem_row = vec![0; ne];
    let mut rows: Vec<Row> = vec![];
    for e in 0..ne {
        let r = st.uf.find(e);
        let id = *root_row.entry(r).or_insert_with(|| {
            rows.push(Row { id: rows.len(), group: 0, elems: vec![], reasons: vec![], has_params: false });
            rows.len() - 1
        });
        elem_row[e] = id;
        rows[id].elems.push(e);
        for reason in &st.reasons[e] {
            if !rows[id].reasons.contains(reason) {
                rows[id].reasons.push(reason.clone());
            }
        }
    }
    for m in &st.members {
        if m.kind.in_row() {
            for &e in &m.map {
                rows[elem_row[e]].has_params = true;
            }
        }
    }
    for r in rows.iter_mut() {
        if !r.has_params && r.reasons.is_empty() {
            r.reasons.push("no_params".into());
        }
        r.reasons.sort();
    }
    // groups: union of sources that share a row
    let mut elem_source = vec![0; ne];
    for (si, s) in st.sources.iter().enumerate() {
        for e in s.first..s.first + s.count {
            elem_source[e] = si;
        }
    }
    let mut suf = UnionFind::default();
    suf.add(st.sources.len());
    for r in &rows {
        for w in r.elems.windows(2) {
            suf.union(elem_source[w[0]], elem_source[w[1]]);
        }
    }
    let mut root_group: HashMap<usize, usize> = HashMap::new();
    let mut groups: Vec<Group> = vec![];
    let mut source_group = vec![0; st.sources.len()];
    for si in 0..st.sources.len() {
        let r = suf.find(si);
        let gid = *root_group.entry(r).or_insert_with(|| {
            groups.push(Group { id: groups.len(), rows: vec![], sources: vec![], members: vec![], nodes: vec![], reasons: vec![] });
            groups.len() - 1
        });
        source_group[si] = gid;
        groups[gid].sources.push(si);
    }
    for r in rows.iter_mut() {
        let gid = source_group[elem_source[r.elems[0]]];
        r.group = gid;
        groups[gid].rows.push(r.id);
        for reason in &r.reasons {
            if !groups[gid].reasons.contains(reason) {
                groups[gid].reasons.push(reason.clone());
            }
        }
    }
    for (mi, m) in st.members.iter().enumerate() {
        let mut seen = BTreeSet::new();
        for &e in &m.map {
            seen.insert(rows[elem_row[e]].group);
        }
        for gid in seen {
            groups[gid].members.push(mi);
        }
    }
    for (nid, n) in g.nodes.iter().enumerate() {
        let mut seen = BTreeSet::new();
        for o in n.outputs.iter().flatten() {
            if let Some(t) = &st.ids[*o] {
                for e in t.elems() {
                    seen.insert(rows[elem_row[e]].group);
                }
            }
        }
        for gid in seen {
            groups[gid].nodes.push(nid);
        }
    }
    for gr in groups.iter_mut() {
        gr.reasons.sort();
        let mut have: std::collections::HashSet<NodeId> = gr.nodes.iter().copied().collect();
        for &mi in &gr.members {
            let nid = st.members[mi].node;
            if have.insert(nid) {
                gr.nodes.push(nid);
            }
        }
        gr.nodes.sort();
    }
    let trainable: Vec<ValueId> = st.params.iter().copied().collect();
    let member_tensors: std::collections::HashSet<ValueId> = st.members.iter().map(|m| m.tensor).collect();
    let frozen = g
        .values
        .iter()
        .enumerate()
        .filter(|(i, v)| {
            v.is_initializer
                && v.init.as_ref().is_some_and(|t| oto_onnx::tensor::is_float(t) && oto_onnx::tensor::numel(&t.dims) > 1)
                && !st.params.contains(i)
                && !member_tensors.contains(i)
        })
        .map(|(i, _)| i)
        .collect();
    let _ = &mut st;
    Analysis { sources: st.sources, members: st.members, rows, groups, elem_row, value_ids: st.ids, trainable, frozen }
}
