//! Symbolic folding of small integer tensors (shape computations such as
//! `Shape → Gather → Unsqueeze → Concat → Reshape`). A folded value is a flat list of dims.
use crate::ir::Dim;
use crate::ops::elementwise::BinaryKind;

/// Element-wise binary op on folded values with broadcasting of a scalar/1-element side.
pub fn binary(op: BinaryKind, a: &[Dim], b: &[Dim]) -> Option<Vec<Dim>> {
    let n = a.len().max(b.len());
    if !(a.len() == n || a.len() == 1) || !(b.len() == n || b.len() == 1) {
        return None;
    }
    (0..n)
        .map(|i| {
            let x = &a[if a.len() == 1 { 0 } else { i }];
            let y = &b[if b.len() == 1 { 0 } else { i }];
            match (x, y) {
                (Dim::Known(x), Dim::Known(y)) => Some(Dim::Known(match op {
                    BinaryKind::Add => x + y,
                    BinaryKind::Sub => x - y,
                    BinaryKind::Mul => x * y,
                    BinaryKind::Div if *y != 0 => x.div_euclid(*y),
                    BinaryKind::Max => *x.max(y),
                    BinaryKind::Min => *x.min(y),
                    // Python-style (sign of the divisor), as ONNX Mod with fmod = 0 on integers
                    BinaryKind::Mod if *y != 0 => ((x % y) + y) % y,
                    BinaryKind::Equal => (x == y) as i64,
                    _ => return None,
                })),
                // a dimension is never negative: `shape == -1` (the exporters' `expand(N, -1)`)
                (Dim::Sym(_), Dim::Known(k)) | (Dim::Known(k), Dim::Sym(_)) if op == BinaryKind::Equal && *k < 0 => Some(Dim::Known(0)),
                (Dim::Sym(p), Dim::Sym(q)) if op == BinaryKind::Equal && p == q => Some(Dim::Known(1)),
                // products of symbols (a batch merged with heads: `N*12`), and exact quotients
                (Dim::Sym(_), _) | (_, Dim::Sym(_)) if op == BinaryKind::Mul => Some(crate::shape::broadcast::product(&[x.clone(), y.clone()])),
                (Dim::Sym(_), _) if op == BinaryKind::Div => crate::shape::broadcast::quotient(x, y),
                (s @ Dim::Sym(_), Dim::Known(0)) if matches!(op, BinaryKind::Add | BinaryKind::Sub) => Some(s.clone()),
                (Dim::Known(0), s @ Dim::Sym(_)) if op == BinaryKind::Add => Some(s.clone()),
                _ => None,
            }
        })
        .collect()
}

/// Python-style index normalisation; `None` when out of range.
pub fn norm_axis(axis: i64, rank: usize) -> Option<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    (0..r).contains(&a).then_some(a as usize) // a scalar (rank 0) has no axis
}

/// Gathers a folded tensor of static shape `dims`: output element (i₀, i₁, …) is input element
/// (idx[0][i₀], idx[1][i₁], …). Used by Slice (any rank) and Transpose on shape data.
pub fn gather_nd(data: &[Dim], dims: &[usize], idx: &[Vec<usize>]) -> Option<Vec<Dim>> {
    if dims.iter().product::<usize>() != data.len() || idx.len() != dims.len() {
        return None;
    }
    let out_len: usize = idx.iter().map(|v| v.len()).product();
    let mut out = Vec::with_capacity(out_len);
    for flat in 0..out_len {
        let (mut rem, mut src) = (flat, 0);
        let mut stride = 1;
        for a in (0..dims.len()).rev() {
            let n = idx[a].len();
            let i = *idx[a].get(rem % n)?;
            rem /= n;
            if i >= dims[a] {
                return None;
            }
            src += i * stride;
            stride *= dims[a];
        }
        out.push(data[src].clone());
    }
    Some(out)
}

/// `Where(cond, a, b)` on folded values (a one-element side broadcasts).
pub fn select(cond: &[Dim], a: &[Dim], b: &[Dim]) -> Option<Vec<Dim>> {
    let n = cond.len().max(a.len()).max(b.len());
    let at = |v: &[Dim], i: usize| if v.len() == 1 { v[0].clone() } else { v[i].clone() };
    if [cond.len(), a.len(), b.len()].iter().any(|&l| l != n && l != 1) {
        return None;
    }
    (0..n).map(|i| Some(if at(cond, i).known()? != 0 { at(a, i) } else { at(b, i) })).collect()
}
