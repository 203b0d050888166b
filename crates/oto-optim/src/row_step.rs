//! The frame of a row-structured step, shared by DHSPG and HESSO: the baseline direction of every
//! tensor (§3.3), the per-row sums `‖x_g‖², ⟨x_g, d_g⟩, ‖d_g‖²` (the multi-tensor buffer's in one
//! pass, the other row tensors one by one), and the update `x ← A_b ⊙ x − η·M_b ⊙ d` with per-row
//! factors broadcast along each row axis. The optimizers differ only in the host-side row logic
//! that turns the sums into the factors `A` and `M`.

use super::baseline::{Direction, DirectionConfig};
use super::flat::FlatRows;
use super::rows::RowLayout;
use super::Param;
use crate::OptimError;
use oto_graph::zig::Analysis;
use tch::{Device, Kind, Tensor};

/// What a row-structured optimizer builds once: the row layout of `analysis` over `params`, the
/// baseline direction state, and the multi-tensor buffer (`multi_tensor`: `None` = on for CUDA).
pub fn frame(params: &[Param], analysis: &Analysis, dir: DirectionConfig, multi_tensor: Option<bool>) -> (RowLayout, Direction, Option<FlatRows>) {
    let layout = RowLayout::new(analysis, params);
    let dir = Direction::new(dir, params.len());
    let flat = if multi_tensor.unwrap_or(matches!(layout.device, Device::Cuda(_))) { FlatRows::bind(&layout, params) } else { None };
    (layout, dir, flat)
}

/// One step's directions and row sums, between [`RowStep::begin`] and [`RowStep::apply`].
pub struct RowStep {
    /// Baseline direction per parameter (`None`: no gradient and no prunable row; left as is).
    pub dirs: Vec<Option<Tensor>>,
    /// Per-row `‖x_g‖²`, `⟨x_g, d_g⟩`, `‖d_g‖²` before the update (host, f64).
    pub xx: Vec<f64>,
    pub xd: Vec<f64>,
    pub dd: Vec<f64>,
    in_flat: Vec<bool>,
    d_flat: Option<Tensor>,
}

impl RowStep {
    /// Directions from the current gradients and the row sums; `who` names the optimizer in errors.
    /// Rebinds the multi-tensor buffer if something re-bound a parameter's storage. Must run
    /// under `no_grad`.
    pub fn begin(
        who: &str,
        params: &[Param],
        dir: &mut Direction,
        layout: &RowLayout,
        flat: &mut Option<FlatRows>,
    ) -> Result<RowStep, OptimError> {
        let mut dirs: Vec<Option<Tensor>> = Vec::with_capacity(params.len());
        for (i, p) in params.iter().enumerate() {
            let g = p.tensor.grad();
            if !g.defined() {
                if !layout.param_entries[i].is_empty() {
                    return Err(OptimError::Config(format!(
                        "{who}: tensor '{}' belongs to prunable rows but has no gradient; every tensor of a row must take part in the loss",
                        p.name
                    )));
                }
                dirs.push(None);
                continue;
            }
            dirs.push(Some(dir.direction(i, &p.tensor, &g)));
        }
        if flat.as_ref().is_some_and(|f| !f.valid(params)) {
            *flat = FlatRows::bind(layout, params);
        }
        let in_flat = flat.as_ref().map(|f| f.in_buffer.clone()).unwrap_or_else(|| vec![false; params.len()]);
        let d_flat = flat.as_ref().map(|f| f.cat_dirs(&dirs));
        let [xx, xd, dd] = if layout.n_rows > 0 {
            let mut acc = layout.sums_acc();
            if let (Some(f), Some(d)) = (flat.as_ref(), &d_flat) {
                f.add_row_sums(d, &mut acc);
            }
            layout.add_row_sums(params, &dirs, Some(&in_flat), &mut acc);
            layout.sums_to_host(&acc)
        } else {
            [vec![], vec![], vec![]]
        };
        Ok(RowStep { dirs, xx, xd, dd, in_flat, d_flat })
    }

    /// `x ← A ⊙ x − η·M ⊙ d` per row (`alpha`, `mask`: `N + 1` entries, the last one for positions
    /// outside prunable rows; `A = alpha·mask`); tensors without rows get `x ← base_alpha·x − η·d`.
    pub fn apply(
        self,
        layout: &RowLayout,
        flat: &mut Option<FlatRows>,
        params: &mut [Param],
        alpha: &[f64],
        mask: &[f64],
        lr: f64,
        base_alpha: f64,
    ) {
        let n = layout.n_rows;
        let factors = (n > 0).then(|| {
            let a: Vec<f64> = (0..=n).map(|g| alpha[g] * mask[g]).collect();
            layout.upload(&[&a, mask], Kind::Float)
        });
        if let (Some(f), Some(d), Some(fac)) = (flat.as_mut(), self.d_flat, &factors) {
            f.update(fac, d, lr);
        }
        for (i, p) in params.iter_mut().enumerate() {
            let Some(d) = &self.dirs[i] else { continue };
            if self.in_flat[i] {
                continue;
            }
            let ents = &layout.param_entries[i];
            let Some(f) = factors.as_ref().filter(|_| !ents.is_empty()) else {
                if base_alpha != 1.0 {
                    let _ = p.tensor.g_mul_scalar_(base_alpha);
                }
                let _ = p.tensor.g_sub_(&(d * lr));
                continue;
            };
            let (mut a_b, mut m_b): (Option<Tensor>, Option<Tensor>) = (None, None);
            for &ei in ents {
                let e = &layout.entries[ei];
                let gth = layout.gather(f, e).to_kind(p.tensor.kind());
                let (ai, mi) = (gth.get(0).reshape(&e.bshape[..]), gth.get(1).reshape(&e.bshape[..]));
                a_b = Some(a_b.map_or(ai.shallow_clone(), |x| x * &ai));
                m_b = Some(m_b.map_or(mi.shallow_clone(), |x| x * &mi));
            }
            let (a_b, m_b) = (a_b.unwrap(), m_b.unwrap());
            let _ = p.tensor.g_mul_(&a_b);
            let _ = p.tensor.g_sub_(&(d * m_b * lr));
        }
    }
}

/// `‖A·x_g − η·M·d_g‖` from the row sums of [`RowStep::begin`]: a row's norm after
/// [`RowStep::apply`] with factors `a = alpha·mask`, `m = mask`, without touching the tensors.
pub fn norm_after(xx: f64, xd: f64, dd: f64, a: f64, m: f64, lr: f64) -> f64 {
    (a * a * xx - 2.0 * a * lr * m * xd + lr * lr * m * m * dd).max(0.0).sqrt()
}

/// Whether a row is exactly zero after [`RowStep::apply`]: masked out, or zero with a zero direction.
pub fn zero_after(xx: f64, dd: f64, m: f64) -> bool {
    m == 0.0 || (xx == 0.0 && dd == 0.0)
}

/// A row optimizer's own entries of a saved state (the direction's are read by
/// [`Direction::load_state`]), with errors that name the missing key and the optimizer.
pub struct SavedRows<'a> {
    pub state: &'a [(String, Tensor)],
    /// The optimizer the state must come from, for the messages ("DHSPG", "HESSO").
    pub who: &'static str,
    /// Prunable rows of this model: per-row entries must have as many.
    pub n_rows: usize,
}

impl SavedRows<'_> {
    fn error(reason: String) -> OptimError {
        OptimError::Checkpoint { path: "optimizer state".into(), reason }
    }

    /// The entry `k` on the CPU, if present.
    fn find(&self, k: &str) -> Option<Tensor> {
        self.state.iter().find(|(n, _)| n == k).map(|(_, t)| t.to_device(Device::Cpu))
    }

    fn get(&self, k: &str) -> Result<Tensor, OptimError> {
        self.find(k).ok_or_else(|| Self::error(format!("missing '{k}' (not a {} state?)", self.who)))
    }

    /// A saved counter or flag.
    pub fn int(&self, k: &str) -> Result<i64, OptimError> {
        Ok(self.get(k)?.int64_value(&[]))
    }

    /// A saved per-row entry, checked to have one value per prunable row.
    fn rows(&self, k: &str) -> Result<Tensor, OptimError> {
        let t = self.get(k)?;
        if t.numel() != self.n_rows {
            return Err(Self::error(format!(
                "{} state has {} rows, the model has {} prunable rows (different model or analysis?)",
                self.who,
                t.numel(),
                self.n_rows
            )));
        }
        Ok(t)
    }

    /// A saved per-row flag (stored as u8).
    pub fn flags(&self, k: &str) -> Result<Vec<bool>, OptimError> {
        let v: Vec<u8> = Vec::try_from(self.rows(k)?.to_kind(Kind::Uint8)).map_err(OptimError::Torch)?;
        Ok(v.into_iter().map(|b| b != 0).collect())
    }

    /// A saved per-row value.
    pub fn values(&self, k: &str) -> Result<Vec<f64>, OptimError> {
        Vec::try_from(self.rows(k)?.to_kind(Kind::Double)).map_err(OptimError::Torch)
    }
}

/// Per-row flags as a saveable tensor (u8), the inverse of [`SavedRows::flags`].
pub fn flags_tensor(v: &[bool]) -> Tensor {
    Tensor::from_slice(&v.iter().map(|&b| b as u8).collect::<Vec<u8>>())
}
