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
                    _ => return None,
                })),
                (s @ Dim::Sym(_), Dim::Known(1)) if matches!(op, BinaryKind::Mul | BinaryKind::Div) => Some(s.clone()),
                (Dim::Known(1), s @ Dim::Sym(_)) if op == BinaryKind::Mul => Some(s.clone()),
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
    (0..r.max(1)).contains(&a).then_some(a as usize)
}
