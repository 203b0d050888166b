//! Numpy-style (right-aligned) broadcasting of shapes with symbolic dims.
use crate::ir::{Dim, Shape};

/// Broadcast of several shapes; `Err` names the first mismatching pair.
pub fn broadcast(shapes: &[&Shape]) -> Result<Shape, String> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![Dim::Known(1); rank];
    for s in shapes {
        let off = rank - s.len();
        for (i, d) in s.iter().enumerate() {
            let cur = &out[off + i];
            out[off + i] = match (cur, d) {
                (_, Dim::Known(1)) => cur.clone(),
                (Dim::Known(1), _) => d.clone(),
                (Dim::Known(a), Dim::Known(b)) if a == b => cur.clone(),
                (Dim::Known(a), Dim::Known(b)) => {
                    return Err(format!("cannot broadcast dimension {a} with {b}"));
                }
                (Dim::Known(_), Dim::Sym(_)) => cur.clone(),
                (Dim::Sym(_), Dim::Known(_)) => d.clone(),
                (Dim::Sym(_), Dim::Sym(_)) => cur.clone(),
            };
        }
    }
    Ok(out)
}

/// Product of dims: known if all known; a single symbol times 1 stays that symbol.
pub fn product(dims: &[Dim]) -> Dim {
    let mut known = 1i64;
    let mut syms = vec![];
    for d in dims {
        match d {
            Dim::Known(v) => known *= v,
            Dim::Sym(s) => syms.push(s.clone()),
        }
    }
    match (syms.len(), known) {
        (0, k) => Dim::Known(k),
        (1, 1) => Dim::Sym(syms.pop().unwrap()),
        _ => Dim::Sym(format!("{}*{known}", syms.join("*"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn broadcasts_channels_and_batch() {
        let a = vec![Dim::Sym("N".into()), Dim::Known(8), Dim::Known(4), Dim::Known(4)];
        let b = vec![Dim::Known(8), Dim::Known(1), Dim::Known(1)];
        assert_eq!(broadcast(&[&a, &b]).unwrap(), a);
        let c = vec![Dim::Known(3)];
        assert!(broadcast(&[&a, &c]).is_err());
    }
}
