//! `Transpose`: permutes the axes, and with them the channel axes of the id tensor.
use super::{Attrs, OpParse, OpRule};
use crate::error::Result;
use crate::ir::Dim;
use crate::shape::{InferCtx, OutInfo};
use crate::zig::prop::{input_ids, set_out, unknown};
use crate::zig::State;

/// `perm` (default: the axes reversed).
#[derive(Clone, Debug, PartialEq)]
pub struct Transpose {
    pub perm: Option<Vec<i64>>,
}

impl Transpose {
    /// The permutation for an input of rank `rank`, if valid.
    pub fn perm_for(&self, rank: usize) -> Option<Vec<usize>> {
        let p: Vec<usize> = match &self.perm {
            Some(p) => p.iter().map(|&x| usize::try_from(x).ok()).collect::<Option<_>>()?,
            None => (0..rank).rev().collect(),
        };
        (p.len() == rank && (0..rank).all(|i| p.contains(&i))).then_some(p)
    }
}

impl OpParse for Transpose {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        if a.op_type != "Transpose" {
            return Ok(None);
        }
        let perm = a.ints_opt("perm")?;
        if let Some(p) = &perm {
            let mut s = p.clone();
            s.sort();
            if s.iter().enumerate().any(|(i, &x)| x != i as i64) {
                return Err(a.err("perm", format!("{p:?} is not a permutation of 0..{}", p.len())));
            }
        }
        Ok(Some(Transpose { perm }))
    }
}

impl OpRule for Transpose {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        let Some(s) = c.shape(0) else { return Ok(vec![OutInfo::default()]) };
        let perm = self.perm_for(s.len()).ok_or_else(|| c.err(format!("perm {:?} does not match input rank {}", self.perm, s.len())))?;
        let o: Vec<Dim> = perm.iter().map(|&p| s[p].clone()).collect();
        // shape data (e.g. F.pad's reordered pads): permute the folded contents too
        let dims: Option<Vec<i64>> = s.iter().map(|d| d.known().map(|v| v.max(0))).collect();
        let folded = match (c.folded(0), dims) {
            (Some(f), Some(d)) if d.iter().product::<i64>() as usize == f.len() => Some(crate::fold::transpose(&d, &f, &perm).1),
            _ => None,
        };
        Ok(vec![OutInfo { shape: Some(o), dtype: c.dtype(0), folded }])
    }
    fn zig(&self, st: &mut State) {
        let Some(t) = input_ids(st, 0) else { return };
        match self.perm_for(t.rank()) {
            Some(perm) => set_out(st, 0, t.permute(&perm)),
            None => unknown(st, "bad_transpose"),
        }
    }
}

