//! Multi-tensor form of DHSPG's per-row work: the row tensors as views of one flat buffer.
//!
//! Per tensor, the row sums and the masked update cost ~20 small kernels; on a GPU a small
//! model's step is then bound by kernel launches (65 tensors × 20 ≫ the dense step). Here every
//! parameter with exactly one row entry (the common case: a Conv/Gemm/BN tensor sliced on one
//! axis) and the device and kind of the first one becomes a view of one contiguous buffer
//! ([`tch::Tensor::set_data`], values unchanged), and a per-element row index maps the buffer to
//! rows. The row sums are then one `cat` of the directions + 3 products + one `index_add_`, and the
//! update `x ← A ⊙ x − η·M ⊙ d` two `index_select`s + 3 element-wise kernels — a constant number
//! of kernels whatever the depth. Parameters outside the buffer keep the per-tensor path
//! ([`super::rows::RowLayout::row_sums`]).
//!
//! The views are checked (data pointers, host side) before each use; if anything re-bound a
//! parameter's storage (e.g. a checkpoint loader that replaces tensors) the buffer is rebuilt.

use super::rows::RowLayout;
use super::Param;
use tch::{Kind, Tensor};

/// The flat buffer and its row index.
#[derive(Debug)]
pub struct FlatRows {
    /// (parameter index, offset in the buffer, element count), in buffer order.
    pub members: Vec<(usize, i64, i64)>,
    /// Per parameter: is it in the buffer? (length = number of parameters)
    pub in_buffer: Vec<bool>,
    /// The buffer every member views.
    pub buf: Tensor,
    /// `[M]` i32 (half the memory of i64): global row id of every buffer element (`N` = not in a prunable row).
    pub elem_row: Tensor,
    /// Data pointer of every member right after binding.
    ptrs: Vec<usize>,
}

impl FlatRows {
    /// Binds the eligible parameters to one buffer; `None` if fewer than two are eligible (the
    /// per-tensor path is as cheap then).
    pub fn bind(layout: &RowLayout, params: &[Param]) -> Option<FlatRows> {
        let first = layout.entries.first()?;
        let (dev, kind) = (params[first.param].tensor.device(), params[first.param].tensor.kind());
        let mut chosen = vec![];
        for (pi, ents) in layout.param_entries.iter().enumerate() {
            let t = &params[pi].tensor;
            if ents.len() == 1 && t.device() == dev && t.kind() == kind && t.is_contiguous() && t.numel() > 0 {
                chosen.push((pi, ents[0]));
            }
        }
        if chosen.len() < 2 {
            return None;
        }
        let _g = tch::no_grad_guard();
        let flat: Vec<Tensor> = chosen.iter().map(|&(pi, _)| params[pi].tensor.detach().reshape([-1])).collect();
        let buf = Tensor::cat(&flat, 0);
        let mut members = Vec::with_capacity(chosen.len());
        let mut index = Vec::with_capacity(chosen.len());
        let mut off = 0i64;
        for &(pi, ei) in &chosen {
            let t = &params[pi].tensor;
            let numel = t.numel() as i64;
            let size = t.size();
            let mut p = t.shallow_clone();
            p.set_data(&buf.narrow(0, off, numel).view(&size[..]));
            let e = &layout.entries[ei];
            index.push(e.index.to_device(dev).to_kind(Kind::Int).view(&e.bshape[..]).expand(&size[..], false).reshape([-1]));
            members.push((pi, off, numel));
            off += numel;
        }
        let elem_row = Tensor::cat(&index, 0);
        let ptrs = members.iter().map(|&(pi, _, _)| params[pi].tensor.data_ptr() as usize).collect();
        let mut in_buffer = vec![false; params.len()];
        for &(pi, _) in &chosen {
            in_buffer[pi] = true;
        }
        Some(FlatRows { members, in_buffer, buf, elem_row, ptrs })
    }

    /// True while every member still views the buffer.
    pub fn valid(&self, params: &[Param]) -> bool {
        self.members.iter().zip(&self.ptrs).all(|(&(pi, _, _), &p)| params[pi].tensor.data_ptr() as usize == p)
    }

    /// The members' directions concatenated in buffer order.
    pub fn cat_dirs(&self, dirs: &[Option<Tensor>]) -> Tensor {
        let ds: Vec<Tensor> = self.members.iter().map(|&(pi, _, _)| dirs[pi].as_ref().expect("direction of a row tensor").reshape([-1])).collect();
        Tensor::cat(&ds, 0)
    }

    /// Adds `[‖x_g‖², ⟨x_g, d_g⟩, ‖d_g‖²]` of the buffer's elements into `acc` (`[3, N + 1]`, f64).
    /// Three 1-D `index_add_`s (the CPU kernel of a 2-D `index_add_` along dim 1 loops over slices).
    pub fn add_row_sums(&self, d: &Tensor, acc: &mut Tensor) {
        let x = &self.buf;
        let idx = self.elem_row.to_device(acc.device());
        for (k, v) in [x * x, x * d, d * d].into_iter().enumerate() {
            let _ = acc.get(k as i64).index_add_(0, &idx, &v.to_kind(Kind::Double).to_device(acc.device()));
        }
    }

    /// `x ← A ⊙ x − η·M ⊙ d` on the buffer (`factors` = `[2, N + 1]`: rows A and M).
    pub fn update(&mut self, factors: &Tensor, mut d: Tensor, lr: f64) {
        let f = factors.to_device(self.buf.device()).to_kind(self.buf.kind());
        let _ = self.buf.g_mul_(&f.get(0).index_select(0, &self.elem_row));
        let _ = d.g_mul_(&f.get(1).index_select(0, &self.elem_row));
        let _ = self.buf.g_sub_(&d.g_mul_scalar_(lr));
    }
}
