//! `Einsum` (attention written as `torch.einsum`, e.g. MaxViT's relative attention
//! `"bghid,bghjd->bghij"`): y = Σ over the contracted letters of the operands' product.
//!
//! Shape rule: each letter takes its operands' dim (a 1 broadcasts), `...` broadcasts
//! numpy-style, and the output is the `->` side (or, implicit, the letters used once in
//! alphabetical order after the ellipsis). ZIG rule: the channels of every operand are
//! unprunable (`einsum`): a letter ties operands the way MatMul does, which oto does not model
//! for einsum yet, so it promises nothing. Slice rule: nothing (its rows are never cut).
//! Cost: not counted.
use super::{Attrs, OpParse, OpRule};
use crate::error::Result;
use crate::ir::{Dim, Shape};
use crate::shape::broadcast::broadcast;
use crate::shape::ctx::out;
use crate::shape::{InferCtx, OutInfo};
use crate::zig::prop::unknown;
use crate::zig::State;

#[derive(Clone, Debug, PartialEq)]
pub struct Einsum {
    /// The equation as written (spaces removed).
    pub equation: String,
    /// Per operand, its terms (a letter, or `None` for `...`).
    pub inputs: Vec<Vec<Option<char>>>,
    /// The output's terms (explicit, or the implicit-mode default).
    pub output: Vec<Option<char>>,
}

fn terms(s: &str) -> std::result::Result<Vec<Option<char>>, String> {
    let mut out = vec![];
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("...") {
            if out.contains(&None) {
                return Err(format!("'{s}' has more than one '...'"));
            }
            out.push(None);
            rest = r;
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            if !c.is_ascii_alphabetic() {
                return Err(format!("'{s}' holds '{c}' (letters and '...' only)"));
            }
            out.push(Some(c));
            rest = &rest[c.len_utf8()..];
        }
    }
    Ok(out)
}

impl Einsum {
    /// Parses an equation such as `"bij,bjk->bik"` or `"ij,jk"` (implicit output).
    pub fn from_equation(eq: &str) -> std::result::Result<Einsum, String> {
        let equation: String = eq.chars().filter(|c| !c.is_whitespace()).collect();
        let (lhs, rhs) = match equation.split_once("->") {
            Some((l, r)) => (l, Some(r)),
            None => (equation.as_str(), None),
        };
        let inputs = lhs.split(',').map(terms).collect::<std::result::Result<Vec<_>, _>>()?;
        let output = match rhs {
            Some(r) => terms(r)?,
            None => {
                let mut letters: Vec<char> = inputs.iter().flatten().flatten().copied().collect();
                letters.sort_unstable();
                let once: Vec<char> = letters.iter().copied().filter(|c| letters.iter().filter(|d| *d == c).count() == 1).collect();
                let ell = inputs.iter().any(|t| t.contains(&None));
                ell.then_some(None).into_iter().chain(once.into_iter().map(Some)).collect()
            }
        };
        for l in output.iter().flatten() {
            if !inputs.iter().flatten().any(|t| *t == Some(*l)) {
                return Err(format!("output letter '{l}' is in no operand"));
            }
        }
        Ok(Einsum { equation, inputs, output })
    }

    /// Output shape from the operands' shapes (`Err`: they contradict the equation).
    pub fn shape(&self, shapes: &[Shape]) -> std::result::Result<Shape, String> {
        if shapes.len() != self.inputs.len() {
            return Err(format!("{} operands for an equation with {}", shapes.len(), self.inputs.len()));
        }
        let mut letter: std::collections::BTreeMap<char, Dim> = Default::default();
        let mut ells: Vec<Shape> = vec![];
        for (t, s) in self.inputs.iter().zip(shapes) {
            let n_letters = t.iter().flatten().count();
            let has_ell = t.contains(&None);
            if s.len() < n_letters || (!has_ell && s.len() != n_letters) {
                return Err(format!("operand of rank {} does not fit '{}'", s.len(), self.equation));
            }
            let ell_len = s.len() - n_letters;
            let mut axis = 0;
            for term in t {
                match term {
                    None => {
                        ells.push(s[axis..axis + ell_len].to_vec());
                        axis += ell_len;
                    }
                    Some(c) => {
                        let d = &s[axis];
                        let merged = match (letter.get(c), d) {
                            (None, _) | (Some(Dim::Known(1)), _) => d.clone(),
                            (Some(cur), Dim::Known(1)) => cur.clone(),
                            (Some(Dim::Known(a)), Dim::Known(b)) if a != b => {
                                return Err(format!("letter '{c}' is {a} in one operand and {b} in another"));
                            }
                            (Some(Dim::Sym(_)), Dim::Known(_)) => d.clone(),
                            (Some(cur), _) => cur.clone(),
                        };
                        letter.insert(*c, merged);
                        axis += 1;
                    }
                }
            }
        }
        let ell = broadcast(&ells.iter().collect::<Vec<_>>())?;
        Ok(self.output.iter().flat_map(|t| match t {
            None => ell.clone(),
            Some(c) => vec![letter[c].clone()],
        }).collect())
    }
}

impl OpParse for Einsum {
    fn parse(a: &Attrs) -> Result<Option<Self>> {
        if a.op_type != "Einsum" {
            return Ok(None);
        }
        let eq = a.string_opt("equation")?.ok_or_else(|| a.err("equation", "is required"))?;
        Einsum::from_equation(&eq).map(Some).map_err(|e| a.err("equation", e))
    }
}

impl OpRule for Einsum {
    fn infer(&self, c: &InferCtx) -> Result<Vec<OutInfo>> {
        let shapes: Option<Vec<Shape>> = (0..self.inputs.len()).map(|i| c.shape(i)).collect();
        let Some(shapes) = shapes else { return Ok(vec![OutInfo::default()]) };
        let s = self.shape(&shapes).map_err(|e| c.err(e))?;
        Ok(vec![out(s, c.dtype(0))])
    }
    fn zig(&self, st: &mut State) {
        unknown(st, "einsum")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const K: fn(i64) -> Dim = Dim::Known;

    #[test]
    fn explicit_implicit_and_ellipsis_shapes() {
        let e = Einsum::from_equation("b g h i d, b g h j d -> b g h i j").unwrap();
        let s = e.shape(&[vec![K(2), K(4), K(3), K(49), K(32)], vec![K(2), K(4), K(3), K(49), K(32)]]).unwrap();
        assert_eq!(s, vec![K(2), K(4), K(3), K(49), K(49)]);
        let e = Einsum::from_equation("ij,jk").unwrap();
        assert_eq!(e.output, vec![Some('i'), Some('k')]);
        assert_eq!(e.shape(&[vec![K(2), K(3)], vec![K(3), K(5)]]).unwrap(), vec![K(2), K(5)]);
        let e = Einsum::from_equation("...ij,...jk->...ik").unwrap();
        let s = e.shape(&[vec![Dim::Sym("N".into()), K(1), K(2), K(3)], vec![K(7), K(3), K(5)]]).unwrap();
        assert_eq!(s, vec![Dim::Sym("N".into()), K(7), K(2), K(5)]);
    }

    #[test]
    fn contradictions_are_errors() {
        let e = Einsum::from_equation("ij,jk->ik").unwrap();
        assert!(e.shape(&[vec![K(2), K(3)], vec![K(4), K(5)]]).unwrap_err().contains("'j'"));
        assert!(Einsum::from_equation("ij->iz").is_err());
        assert!(Einsum::from_equation("i1,j").is_err());
    }
}
