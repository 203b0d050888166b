//! Channel-id tensors: for a data value, the element behind every position of its channel axes.
//!
//! An [`IdTensor`] has the value's rank. `dims[a] == 1` with `chan[a] == false` means "the same
//! along this axis" (broadcast); `chan[a] == true` marks an axis whose index *is* a channel index
//! (possibly of size 1). Each slot also carries the zero-propagation state of §2.4: `taint = 0`
//! means "exactly zero when the element's row is zeroed" (Z), otherwise `node + 1` of the op that
//! broke it (N).
use super::analyze::MAX_TRACKED_ELEMENTS;
use super::uf::UnionFind;
use super::ElemId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    pub e: ElemId,
    pub taint: u32,
}

impl Slot {
    pub fn z(e: ElemId) -> Slot {
        Slot { e, taint: 0 }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdTensor {
    pub dims: Vec<usize>,
    pub chan: Vec<bool>,
    pub slots: Vec<Slot>,
}

fn strides(dims: &[usize]) -> Vec<usize> {
    let mut s = vec![1; dims.len()];
    for i in (0..dims.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * dims[i + 1];
    }
    s
}

impl IdTensor {
    /// One element everywhere.
    pub fn scalar(rank: usize, slot: Slot) -> IdTensor {
        IdTensor { dims: vec![1; rank], chan: vec![false; rank], slots: vec![slot] }
    }
    /// Channels along `axis`, broadcast elsewhere.
    pub fn along(rank: usize, axis: usize, slots: Vec<Slot>) -> IdTensor {
        let mut dims = vec![1; rank];
        let mut chan = vec![false; rank];
        dims[axis] = slots.len();
        chan[axis] = true;
        IdTensor { dims, chan, slots }
    }
    pub fn rank(&self) -> usize {
        self.dims.len()
    }
    /// Axes that carry channel indices.
    pub fn chan_axes(&self) -> Vec<usize> {
        (0..self.rank()).filter(|&a| self.chan[a]).collect()
    }
    /// Distinct elements (in slot order).
    pub fn elems(&self) -> Vec<ElemId> {
        let mut seen = std::collections::HashSet::new();
        self.slots.iter().filter(|s| seen.insert(s.e)).map(|s| s.e).collect()
    }
    /// Prepends broadcast axes up to `rank`.
    pub fn align(&self, rank: usize) -> IdTensor {
        let extra = rank.saturating_sub(self.rank());
        let mut dims = vec![1; extra];
        dims.extend(&self.dims);
        let mut chan = vec![false; extra];
        chan.extend(&self.chan);
        IdTensor { dims, chan, slots: self.slots.clone() }
    }
    /// Materialises broadcast axes to the given sizes (where `dims[a] == 1`); `None` when
    /// `target` is not a broadcast of these dims (another rank, or a non-1 axis resized) or
    /// holds more than [`MAX_TRACKED_ELEMENTS`] slots (an inconsistent or corrupt graph: the
    /// caller then follows nothing there).
    pub fn expand(&self, target: &[usize]) -> Option<IdTensor> {
        if target == self.dims.as_slice() {
            return Some(self.clone());
        }
        let broadcast = target.len() == self.rank() && self.dims.iter().zip(target).all(|(&d, &t)| d == 1 || d == t);
        let total = target.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
        let total = total.filter(|&n| broadcast && n as u64 <= MAX_TRACKED_ELEMENTS)?;
        let src_strides = strides(&self.dims);
        let dst_strides = strides(target);
        let mut slots = Vec::with_capacity(total);
        for flat in 0..total {
            let mut src = 0;
            for a in 0..target.len() {
                let i = (flat / dst_strides[a]) % target[a];
                if self.dims[a] != 1 {
                    src += i * src_strides[a];
                }
            }
            slots.push(self.slots[src]);
        }
        Some(IdTensor { dims: target.to_vec(), chan: self.chan.clone(), slots })
    }
    pub fn permute(&self, perm: &[usize]) -> IdTensor {
        let dims: Vec<usize> = perm.iter().map(|&p| self.dims[p]).collect();
        let chan: Vec<bool> = perm.iter().map(|&p| self.chan[p]).collect();
        let src_strides = strides(&self.dims);
        let dst_strides = strides(&dims);
        let total: usize = dims.iter().product();
        let mut slots = Vec::with_capacity(total);
        for flat in 0..total {
            let mut src = 0;
            for (a, &p) in perm.iter().enumerate() {
                src += ((flat / dst_strides[a]) % dims[a]) * src_strides[p];
            }
            slots.push(self.slots[src]);
        }
        IdTensor { dims, chan, slots }
    }
    /// Gathers indices along `axis` (a broadcast axis stays broadcast).
    pub fn index(&self, axis: usize, idx: &[usize]) -> IdTensor {
        if self.dims[axis] == 1 && !self.chan[axis] {
            return self.clone();
        }
        let st = strides(&self.dims);
        let mut dims = self.dims.clone();
        dims[axis] = idx.len();
        let total: usize = dims.iter().product();
        let dst = strides(&dims);
        let mut slots = Vec::with_capacity(total);
        for flat in 0..total {
            let mut src = 0;
            for a in 0..dims.len() {
                let i = (flat / dst[a]) % dims[a];
                src += if a == axis { idx[i] } else { i } * st[a];
            }
            slots.push(self.slots[src]);
        }
        IdTensor { dims, chan: self.chan.clone(), slots }
    }
    /// Concatenation along `axis`; `None` unless the inputs agree on the other dims after
    /// expansion (see [`IdTensor::expand`]).
    pub fn concat(parts: &[IdTensor], axis: usize) -> Option<IdTensor> {
        let rank = parts[0].rank();
        let mut other: Vec<usize> = vec![1; rank];
        for p in parts {
            for a in 0..rank {
                if a != axis {
                    other[a] = other[a].max(p.dims[a]);
                }
            }
        }
        let expanded: Vec<IdTensor> = parts
            .iter()
            .map(|p| {
                let mut t = other.clone();
                t[axis] = p.dims[axis];
                p.expand(&t)
            })
            .collect::<Option<_>>()?;
        let mut dims = other.clone();
        dims[axis] = expanded.iter().map(|p| p.dims[axis]).sum();
        let mut chan = vec![false; rank];
        for p in parts {
            for a in 0..rank {
                chan[a] |= p.chan[a];
            }
        }
        chan[axis] = true;
        let outer: usize = dims[..axis].iter().product();
        let mut slots = Vec::with_capacity(dims.iter().product());
        for o in 0..outer {
            for p in &expanded {
                let inner: usize = p.dims[axis..].iter().product();
                slots.extend_from_slice(&p.slots[o * inner..(o + 1) * inner]);
            }
        }
        Some(IdTensor { dims, chan, slots })
    }
    /// Reshape of the flat slot order to new dims (same number of slots).
    pub fn relabel(&self, dims: Vec<usize>, chan: Vec<bool>) -> IdTensor {
        assert_eq!(dims.iter().product::<usize>(), self.slots.len());
        IdTensor { dims, chan, slots: self.slots.clone() }
    }
    /// Ties every slot to the slot at index 0 of `axis` (same row along that axis).
    pub fn tie_along(&self, axis: usize, uf: &mut UnionFind) {
        if self.dims[axis] <= 1 {
            return;
        }
        let st = strides(&self.dims);
        for flat in 0..self.slots.len() {
            let i = (flat / st[axis]) % self.dims[axis];
            if i > 0 {
                uf.union(self.slots[flat].e, self.slots[flat - i * st[axis]].e);
            }
        }
    }
    /// Collapses all axes except `keep` by union: the result varies along `keep` only. Taints
    /// combine (any N → N).
    pub fn collapse_to(&self, keep: Option<usize>, uf: &mut UnionFind) -> IdTensor {
        let rank = self.rank();
        let n = keep.map(|k| self.dims[k]).unwrap_or(1);
        let st = strides(&self.dims);
        let mut out: Vec<Option<Slot>> = vec![None; n];
        for (flat, s) in self.slots.iter().enumerate() {
            let i = keep.map(|k| (flat / st[k]) % self.dims[k]).unwrap_or(0);
            out[i] = Some(match out[i] {
                None => *s,
                Some(prev) => {
                    uf.union(prev.e, s.e);
                    Slot { e: prev.e, taint: if prev.taint != 0 { prev.taint } else { s.taint } }
                }
            });
        }
        let slots = out.into_iter().map(|s| s.unwrap()).collect();
        match keep {
            Some(k) => {
                let mut t = IdTensor::along(rank, k, slots);
                t.chan[k] = self.chan[k];
                t
            }
            None => IdTensor::scalar(rank, slots[0]),
        }
    }
    /// Sets the taint of every slot.
    pub fn with_taint(mut self, taint: u32) -> IdTensor {
        for s in self.slots.iter_mut() {
            s.taint = taint;
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn ids(v: &[usize]) -> Vec<Slot> {
        v.iter().map(|&e| Slot::z(e)).collect()
    }
    #[test]
    fn permute_and_expand() {
        let t = IdTensor::along(4, 1, ids(&[0, 1, 2]));
        let e = t.expand(&[1, 3, 2, 1]).unwrap();
        assert!(t.expand(&[1, 4, 2, 1]).is_none() && t.expand(&[3, 2]).is_none());
        assert_eq!(e.slots.iter().map(|s| s.e).collect::<Vec<_>>(), vec![0, 0, 1, 1, 2, 2]);
        let p = e.permute(&[0, 2, 3, 1]);
        assert_eq!(p.dims, vec![1, 2, 1, 3]);
        assert_eq!(p.slots.iter().map(|s| s.e).collect::<Vec<_>>(), vec![0, 1, 2, 0, 1, 2]);
    }
    #[test]
    fn concat_channels() {
        let a = IdTensor::along(4, 1, ids(&[0, 1]));
        let b = IdTensor::along(4, 1, ids(&[5]));
        let c = IdTensor::concat(&[a, b.clone(), b], 1).unwrap();
        assert_eq!(c.slots.iter().map(|s| s.e).collect::<Vec<_>>(), vec![0, 1, 5, 5]);
    }
}
