//! Row layout: where every prunable ZIG row (spec §2.6, §3.2) lives inside the trainable tensors.
//!
//! For every (parameter, axis) that carries in-row slices (Producer/Accessory members of the
//! analysis) we keep an `i64` index tensor of the axis length on the parameter's device: position
//! `i` → the global id of its prunable row, or `N` (a dump slot) when the position belongs to an
//! unprunable row. Per-row reductions are then one `sum over the other axes` + `index_add_` into an
//! `[·, N + 1]` vector per tensor, and per-row factors are applied with one `index_select` and a
//! broadcast multiply per tensor — no Rust loop over rows touches a tensor.
//!
//! Row numbering is global in group order (groups by id, rows in the group's order), as in the
//! original's concatenation of groups (spec §3.5). Aux (concat) slices need no special handling:
//! they are attached to their dependents' elements by the analysis (spec §2.7).

use super::Param;
use oto_graph::zig::{Analysis, RowId};
use std::collections::BTreeMap;
use tch::{Device, Kind, Tensor};

/// One (parameter, axis) with in-row slices of prunable rows.
#[derive(Debug)]
pub struct Entry {
    /// Index into the optimizer's parameter list.
    pub param: usize,
    pub axis: usize,
    /// Axis length.
    pub len: usize,
    /// Dimensions to reduce (all but `axis`).
    pub reduce_dims: Vec<i64>,
    /// Broadcast shape of a per-position factor: 1 everywhere except `len` at `axis`.
    pub bshape: Vec<i64>,
    /// `[len]` i64 on the parameter's device: global prunable row id, or `N` (dump slot).
    pub index: Tensor,
    /// The same map on the host.
    pub host: Vec<i64>,
}

/// Prunable rows and their positions in the parameters.
#[derive(Debug)]
pub struct RowLayout {
    /// Number of prunable rows with at least one trainable in-row slice.
    pub n_rows: usize,
    /// Analysis row id of every global prunable row.
    pub row_ids: Vec<RowId>,
    /// Analysis group id of every global prunable row.
    pub row_group: Vec<usize>,
    /// Number of scalars in each row (all its slices), the `w` of the average magnitude.
    pub row_width: Vec<usize>,
    /// (analysis group id, global row ids) for every group with prunable rows, by group id.
    pub groups: Vec<(usize, Vec<usize>)>,
    pub entries: Vec<Entry>,
    /// `param_entries[p]` = indices into `entries` for parameter `p`.
    pub param_entries: Vec<Vec<usize>>,
    /// Device of the row accumulators (the first parameter's device).
    pub device: Device,
}

impl RowLayout {
    /// Builds the layout. Parameters not mentioned by the analysis and rows without trainable
    /// slices are simply absent (plain steps / not counted).
    pub fn new(a: &Analysis, params: &[Param]) -> Self {
        let device = params.first().map(|p| p.tensor.device()).unwrap_or(Device::Cpu);
        let by_value: BTreeMap<usize, usize> = params.iter().enumerate().map(|(i, p)| (p.value_id, i)).collect();
        // (param, axis) -> per-position analysis row (prunable only), merged over members.
        let mut maps: BTreeMap<(usize, usize), Vec<Option<RowId>>> = BTreeMap::new();
        for m in &a.members {
            if !m.kind.in_row() {
                continue;
            }
            let Some(&pi) = by_value.get(&m.tensor) else { continue };
            let v = maps.entry((pi, m.axis)).or_insert_with(|| vec![None; m.map.len()]);
            if v.len() != m.map.len() {
                continue;
            }
            for (i, &e) in m.map.iter().enumerate() {
                let r = a.elem_row[e];
                if v[i].is_none() && a.rows[r].prunable() {
                    v[i] = Some(r);
                }
            }
        }
        // Rows that have at least one trainable position.
        let mut has = vec![false; a.rows.len()];
        for v in maps.values() {
            for r in v.iter().flatten() {
                has[*r] = true;
            }
        }
        let mut global = vec![usize::MAX; a.rows.len()];
        let (mut row_ids, mut row_group, mut groups) = (vec![], vec![], vec![]);
        for gr in &a.groups {
            let mut ids = vec![];
            for &r in &gr.rows {
                if a.rows[r].prunable() && has[r] && global[r] == usize::MAX {
                    global[r] = row_ids.len();
                    ids.push(row_ids.len());
                    row_ids.push(r);
                    row_group.push(gr.id);
                }
            }
            if !ids.is_empty() {
                groups.push((gr.id, ids));
            }
        }
        // Rows not listed in any group (should not happen): append at the end.
        for (r, &h) in has.iter().enumerate() {
            if h && global[r] == usize::MAX {
                global[r] = row_ids.len();
                row_ids.push(r);
                row_group.push(a.rows[r].group);
                groups.push((a.rows[r].group, vec![global[r]]));
            }
        }
        let n = row_ids.len();
        let mut row_width = vec![0usize; n];
        let mut entries = vec![];
        let mut param_entries = vec![vec![]; params.len()];
        for ((pi, axis), v) in maps {
            let t = &params[pi].tensor;
            let size = t.size();
            if axis >= size.len() || size[axis] as usize != v.len() {
                continue;
            }
            let host: Vec<i64> = v.iter().map(|r| r.map(|r| global[r] as i64).unwrap_or(n as i64)).collect();
            if host.iter().all(|&h| h == n as i64) {
                continue;
            }
            let per_pos = size.iter().enumerate().filter(|(d, _)| *d != axis).map(|(_, &s)| s as usize).product::<usize>();
            for &h in &host {
                if (h as usize) < n {
                    row_width[h as usize] += per_pos;
                }
            }
            let reduce_dims = (0..size.len() as i64).filter(|&d| d != axis as i64).collect();
            let bshape = (0..size.len()).map(|d| if d == axis { v.len() as i64 } else { 1 }).collect();
            let index = Tensor::from_slice(&host).to_device(t.device());
            param_entries[pi].push(entries.len());
            entries.push(Entry { param: pi, axis, len: v.len(), reduce_dims, bshape, index, host });
        }
        RowLayout { n_rows: n, row_ids, row_group, row_width, groups, entries, param_entries, device }
    }

    /// Per-row `[‖x_g‖², ⟨x_g, d_g⟩, ‖d_g‖²]` as a host `Vec` of 3 vectors of length `N`
    /// (f64; one device→host transfer). `dirs[p]` must be defined for every parameter with entries.
    pub fn row_sums(&self, params: &[Param], dirs: &[Option<Tensor>]) -> [Vec<f64>; 3] {
        let mut acc = self.sums_acc();
        self.add_row_sums(params, dirs, None, &mut acc);
        self.sums_to_host(&acc)
    }

    /// Current per-row norms `‖x_g‖` of `params` (one pass; for tests and reports).
    pub fn norms(&self, params: &[Param]) -> Vec<f64> {
        let _g = tch::no_grad_guard();
        let dirs: Vec<Option<Tensor>> = params.iter().map(|p| Some(p.tensor.zeros_like())).collect();
        self.row_sums(params, &dirs)[0].iter().map(|v| v.sqrt()).collect()
    }

    /// A zero `[3, N + 1]` f64 accumulator for [`Self::add_row_sums`].
    pub fn sums_acc(&self) -> Tensor {
        Tensor::zeros([3, self.n_rows as i64 + 1], (Kind::Double, self.device))
    }

    /// Adds the per-tensor row sums of every entry into `acc`, except parameters flagged in `skip`.
    pub fn add_row_sums(&self, params: &[Param], dirs: &[Option<Tensor>], skip: Option<&[bool]>, acc: &mut Tensor) {
        for e in &self.entries {
            if skip.is_some_and(|s| s[e.param]) {
                continue;
            }
            let x = &params[e.param].tensor;
            let Some(d) = &dirs[e.param] else { continue };
            let (xx, xd, dd) = (x * x, x * d, d * d);
            let red = |t: Tensor| {
                if e.reduce_dims.is_empty() {
                    t
                } else {
                    t.sum_dim_intlist(&e.reduce_dims[..], false, Kind::Float)
                }
            };
            let s = Tensor::stack(&[red(xx), red(xd), red(dd)], 0).to_kind(Kind::Double).to_device(self.device);
            let idx = e.index.to_device(self.device);
            let _ = acc.index_add_(1, &idx, &s);
        }
    }

    /// The accumulator on the host, as `[‖x_g‖²], [⟨x_g, d_g⟩], [‖d_g‖²]` (dump slot dropped).
    pub fn sums_to_host(&self, acc: &Tensor) -> [Vec<f64>; 3] {
        let n = self.n_rows;
        let host: Vec<f64> = Vec::try_from(acc.to_device(Device::Cpu).reshape([-1])).unwrap_or_default();
        let w = n + 1;
        [host[0..n].to_vec(), host[w..w + n].to_vec(), host[2 * w..2 * w + n].to_vec()]
    }

    /// Uploads per-row factors (`rows.len() == N + 1`, last = value for positions outside prunable
    /// rows) as a `[k, N + 1]` tensor of `kind` on the layout's device.
    pub fn upload(&self, rows: &[&[f64]], kind: Kind) -> Tensor {
        let flat: Vec<f64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        Tensor::from_slice(&flat).reshape([rows.len() as i64, self.n_rows as i64 + 1]).to_kind(kind).to_device(self.device)
    }

    /// Row `k` of uploaded factors gathered for entry `e`, in its broadcast shape.
    pub fn gather(&self, factors: &Tensor, e: &Entry) -> Tensor {
        factors.to_device(e.index.device()).index_select(1, &e.index)
    }
}
