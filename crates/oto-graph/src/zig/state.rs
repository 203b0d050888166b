//! The analysis state the op rules work on (`OpRule::zig` in [`crate::ops`]): the union-find
//! of elements, the id tensor of every value, the members attached so far and the unprunable
//! marks. The driver ([`super::analyze`]) creates it and turns it into an [`super::Analysis`].
use super::ids::{IdTensor, Slot};
use super::uf::UnionFind;
use super::{ElemId, Member, MemberKind, Source};
use crate::ir::{Graph, NodeId, ValueId};
use std::collections::HashMap;
use std::rc::Rc;

pub(crate) struct State<'g> {
    pub g: &'g Graph,
    pub uf: UnionFind,
    /// Interned reason codes (`reason_id` gives the index).
    pub(super) reason_names: Vec<String>,
    pub(super) reason_index: HashMap<String, u32>,
    /// (element, reason id) marks, in order; repeats are removed in `finish`.
    pub(super) marks: Vec<(ElemId, u32)>,
    /// Last reason marked on each element (`u32::MAX`: none), to skip immediate repeats.
    pub(super) last_mark: Vec<u32>,
    /// Reason id of `not_zero_preserving:<node>` per node (`u32::MAX`: not interned yet).
    pub(super) taint_reason: Vec<u32>,
    pub sources: Vec<Source>,
    pub members: Vec<Member>,
    /// Channel ids per value; shared (not copied) where an op passes its input through.
    pub ids: Vec<Option<Rc<IdTensor>>>,
    /// First element of the output channels of a stem weight already seen (weight sharing).
    pub weight_elems: Vec<Option<ElemId>>,
    /// Members of every tensor, to tie repeated attachments without a scan.
    pub(super) member_index: Vec<Vec<usize>>,
    /// Trainable parameters (by value id).
    pub(super) params: Vec<bool>,
    pub nid: NodeId,
}

/// The most channel elements one analysis creates (see [`State::fresh`]).
pub const MAX_ELEMENTS: usize = 1 << 22;
/// The widest channel space given one element per channel (graph inputs, opaque ops' outputs);
/// a wider one (a corrupt shape) is one element.
pub const MAX_CHANNELS: usize = 1 << 20;

impl<'g> State<'g> {
    /// An empty state over `g`.
    pub(super) fn new(g: &'g Graph) -> State<'g> {
        State {
            g,
            uf: UnionFind::default(),
            reason_names: vec![],
            reason_index: HashMap::new(),
            marks: vec![],
            last_mark: vec![],
            taint_reason: vec![u32::MAX; g.nodes.len()],
            sources: vec![],
            members: vec![],
            ids: vec![None; g.values.len()],
            weight_elems: vec![None; g.values.len()],
            member_index: vec![Vec::new(); g.values.len()],
            params: vec![false; g.values.len()],
            nid: 0,
        }
    }
    /// Creates `n` fresh elements for a new channel space.
    /// Past [`MAX_ELEMENTS`] (4 M) in all (a corrupt shape: real models have well under a million
    /// channels in all), the `n` slots share one element, unprunable (`too_large_to_track`).
    pub fn fresh(&mut self, node: Option<NodeId>, what: &str, n: usize) -> Vec<Slot> {
        if self.uf.len().saturating_add(n) > MAX_ELEMENTS {
            let e = self.fresh(node, what, 1)[0];
            self.unprunable(e.e, "too_large_to_track");
            return vec![e; n];
        }
        let first = self.uf.add(n);
        self.last_mark.resize(first + n, u32::MAX);
        self.sources.push(Source { node, what: what.into(), first, count: n });
        (first..first + n).map(Slot::z).collect()
    }
    /// The id of an interned reason code.
    pub fn reason_id(&mut self, reason: &str) -> u32 {
        if let Some(&r) = self.reason_index.get(reason) {
            return r;
        }
        let r = self.reason_names.len() as u32;
        self.reason_names.push(reason.to_string());
        self.reason_index.insert(reason.to_string(), r);
        r
    }
    pub(super) fn mark(&mut self, e: ElemId, r: u32) {
        if self.last_mark[e] != r {
            self.last_mark[e] = r;
            self.marks.push((e, r));
        }
    }
    pub fn unprunable(&mut self, e: ElemId, reason: &str) {
        let r = self.reason_id(reason);
        self.mark(e, r);
    }
    pub fn unprunable_all(&mut self, t: &IdTensor, reason: &str) {
        let r = self.reason_id(reason);
        for s in &t.slots {
            self.mark(s.e, r);
        }
    }
    /// Marks `v` as a trainable parameter.
    pub fn param(&mut self, v: ValueId) {
        self.params[v] = true;
    }
    /// Attaches `map` (element of every index along `axis`) of initializer `tensor`. A tensor
    /// attached twice on the same axis (weight sharing, or an exporter's de-duplication of equal
    /// initializers) ties the two maps position by position: it is sliced once, so both uses
    /// must keep the same indices.
    pub fn member(&mut self, tensor: ValueId, axis: usize, kind: MemberKind, map: Vec<ElemId>) {
        if kind != MemberKind::SliceOnly {
            self.params[tensor] = true;
        }
        let same = &mut self.member_index[tensor];
        for &mi in same.iter() {
            let prev = &self.members[mi];
            if prev.axis == axis && prev.map.len() == map.len() {
                for (a, b) in prev.map.iter().zip(&map) {
                    self.uf.union(*a, *b);
                }
            }
        }
        same.push(self.members.len());
        self.members.push(Member { tensor, axis, kind, node: self.nid, map });
    }
    /// Checks zero propagation at an exit: every N slot's element becomes unprunable.
    pub fn exit(&mut self, t: &IdTensor) {
        for s in &t.slots {
            if s.taint != 0 {
                let n = (s.taint - 1) as usize;
                let mut r = self.taint_reason[n];
                if r == u32::MAX {
                    r = self.reason_id(&format!("not_zero_preserving:{}", self.g.nodes[n].name));
                    self.taint_reason[n] = r;
                }
                self.mark(s.e, r);
            }
        }
    }
}
