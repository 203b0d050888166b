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

/// A dim as a product of symbols and a known factor: `Known(6)` is `([], 6)`, `Sym("N*12")`
/// is `(["N"], 12)` (the form [`product`] writes), any other symbol is itself times 1.
pub fn factors(d: &Dim) -> (Vec<String>, i64) {
    match d {
        Dim::Known(v) => (vec![], *v),
        Dim::Sym(s) => {
            let mut syms = vec![];
            let mut k = 1i64;
            for part in s.split('*') {
                match part.parse::<i64>() {
                    Ok(v) => k *= v,
                    Err(_) => syms.push(part.to_string()),
                }
            }
            if syms.is_empty() {
                return (vec![s.clone()], 1); // a name made of digits and '*': opaque
            }
            syms.sort();
            (syms, k)
        }
    }
}

/// The dim of a product of symbols and a known factor (the inverse of [`factors`]).
pub fn from_factors(mut syms: Vec<String>, k: i64) -> Dim {
    syms.sort();
    match (syms.len(), k) {
        (0, k) => Dim::Known(k),
        (1, 1) => Dim::Sym(syms.pop().unwrap_or_default()),
        (_, 1) => Dim::Sym(syms.join("*")),
        _ => Dim::Sym(format!("{}*{k}", syms.join("*"))),
    }
}

/// Product of dims: known if all known; otherwise its symbols times the known factor
/// (`N·12` is `Sym("N*12")`, so a batch merged with heads keeps its rank and size).
pub fn product(dims: &[Dim]) -> Dim {
    let mut known = 1i64;
    let mut syms = vec![];
    for d in dims {
        let (s, k) = factors(d);
        known = known.saturating_mul(k);
        syms.extend(s);
    }
    from_factors(syms, known)
}

/// `a / b` when `b`'s symbols are among `a`'s and the factors divide (`N*12 / 12 = N`).
pub fn quotient(a: &Dim, b: &Dim) -> Option<Dim> {
    let (mut sa, ka) = factors(a);
    let (sb, kb) = factors(b);
    if kb == 0 || ka % kb != 0 {
        return None;
    }
    for s in sb {
        let i = sa.iter().position(|x| *x == s)?;
        sa.remove(i);
    }
    Some(from_factors(sa, ka / kb))
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
