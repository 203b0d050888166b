//! Output-shape rules, one arm per ONNX op. A rule returns `shape: None` when it cannot tell;
//! it returns `Err` only when the inputs contradict the op (rank or size mismatch).
use super::broadcast::{broadcast, product};
use super::fold::{binary, norm_axis};
use super::OutInfo;
use crate::error::{GraphError, Result};
use crate::ir::{Dim, Graph, NodeId, Shape};
use oto_onnx::tensor::{BOOL, FLOAT, INT64};

const K: fn(i64) -> Dim = Dim::Known;

struct Ctx<'a> {
    g: &'a Graph,
    nid: NodeId,
}

impl Ctx<'_> {
    fn node(&self) -> &crate::ir::Node {
        &self.g.nodes[self.nid]
    }
    fn err(&self, reason: impl Into<String>) -> GraphError {
        let n = self.node();
        GraphError::Shape { node: n.name.clone(), op: n.op.clone(), reason: reason.into() }
    }
    fn shape(&self, slot: usize) -> Option<Shape> {
        self.node().input(slot).and_then(|v| self.g.values[v].shape.clone())
    }
    fn dtype(&self, slot: usize) -> i32 {
        self.node().input(slot).map(|v| self.g.values[v].dtype).unwrap_or(0)
    }
    fn folded(&self, slot: usize) -> Option<Vec<Dim>> {
        self.node().input(slot).and_then(|v| self.g.values[v].folded.clone())
    }
    fn ints(&self, slot: usize) -> Option<Vec<i64>> {
        self.node().input(slot).and_then(|v| self.g.const_i64(v))
    }
    /// An int list given as attribute (old opsets) or as a constant input (new opsets).
    fn ints_attr_or_input(&self, attr: &str, slot: usize) -> Option<Vec<i64>> {
        self.node().attr_ints(attr).or_else(|| self.ints(slot))
    }
    fn has_input(&self, slot: usize) -> bool {
        self.node().input(slot).is_some()
    }
}

fn same(shape: Option<Shape>, dtype: i32) -> OutInfo {
    OutInfo { shape, dtype, folded: None }
}

fn out(shape: Shape, dtype: i32) -> OutInfo {
    OutInfo { shape: Some(shape), dtype, folded: None }
}

const UNARY: &[&str] = &[
    "Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Celu", "Gelu", "Tanh", "Sigmoid", "HardSigmoid", "HardSwish",
    "Softplus", "Softsign", "Mish", "Abs", "Neg", "Sign", "Sqrt", "Sin", "Cos", "Erf", "Exp", "Log", "Reciprocal",
    "Floor", "Ceil", "Round", "Identity", "Clip", "Softmax", "LogSoftmax", "Hardmax", "LpNormalization",
    "InstanceNormalization", "BatchNormalization", "LayerNormalization", "GroupNormalization", "Dropout",
    "ThresholdedRelu", "Shrink", "IsNaN", "Not", "Swish",
];
const BINARY: &[&str] = &[
    "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "Equal", "Less", "Greater", "LessOrEqual",
    "GreaterOrEqual", "And", "Or", "Xor", "Mod", "BitShift", "Where",
];

/// Shapes (and folded contents) of node `nid`'s outputs.
pub fn infer(g: &Graph, nid: NodeId) -> Result<Vec<OutInfo>> {
    let c = Ctx { g, nid };
    let n = c.node();
    if !(n.domain.is_empty() || n.domain == "ai.onnx") {
        return Ok(vec![]);
    }
    let op = n.op.as_str();
    let x = c.shape(0);
    let dt = c.dtype(0);
    Ok(match op {
        "Constant" => vec![],
        _ if UNARY.contains(&op) => {
            let mut outs = vec![same(x.clone(), dt)];
            if op == "BatchNormalization" && n.outputs.len() > 1 {
                let ch = x.as_ref().and_then(|s| s.get(1).cloned()).map(|d| vec![d]);
                outs.extend((1..n.outputs.len()).map(|_| same(ch.clone(), dt)));
            }
            if op == "Dropout" && n.outputs.len() > 1 {
                outs.push(same(x.clone(), BOOL));
            }
            if op == "Identity" {
                outs[0].folded = c.folded(0);
            }
            outs
        }
        "Cast" => {
            let to = n.attr_int("to").unwrap_or(0) as i32;
            vec![OutInfo { shape: x, dtype: to, folded: c.folded(0) }]
        }
        _ if BINARY.contains(&op) => {
            let shapes: Vec<Shape> = (0..n.inputs.len()).filter_map(|i| c.shape(i)).collect();
            if shapes.len() < n.inputs.iter().flatten().count() {
                return Ok(vec![OutInfo::default()]);
            }
            let refs: Vec<&Shape> = shapes.iter().collect();
            let s = broadcast(&refs).map_err(|e| c.err(e))?;
            let dtype = match op {
                "Equal" | "Less" | "Greater" | "LessOrEqual" | "GreaterOrEqual" | "And" | "Or" | "Xor" => BOOL,
                "Where" => c.dtype(1),
                _ => dt,
            };
            let folded = match (c.folded(0), c.folded(1)) {
                (Some(a), Some(b)) if n.inputs.len() == 2 => binary(op, &a, &b),
                _ => None,
            };
            vec![OutInfo { shape: Some(s), dtype, folded }]
        }
        "Conv" | "ConvInteger" => vec![conv(&c, false)?],
        "ConvTranspose" => vec![conv(&c, true)?],
        "MaxPool" | "AveragePool" | "LpPool" => {
            let mut o = pool(&c)?;
            let mut v = vec![o.clone()];
            if n.outputs.len() > 1 {
                o.dtype = INT64;
                v.push(o);
            }
            v
        }
        "GlobalAveragePool" | "GlobalMaxPool" | "GlobalLpPool" => match x {
            Some(s) if s.len() >= 3 => {
                let mut o = s[..2].to_vec();
                o.extend(std::iter::repeat_n(K(1), s.len() - 2));
                vec![out(o, dt)]
            }
            Some(_) => return Err(c.err("expects an input of rank >= 3 (N, C, spatial...)")),
            None => vec![OutInfo::default()],
        },
        "Gemm" => {
            let (Some(a), Some(b)) = (x, c.shape(1)) else { return Ok(vec![OutInfo::default()]) };
            if a.len() != 2 || b.len() != 2 {
                return Err(c.err(format!("Gemm needs rank-2 A and B, got ranks {} and {}", a.len(), b.len())));
            }
            let ta = n.attr_int("transA").unwrap_or(0) != 0;
            let tb = n.attr_int("transB").unwrap_or(0) != 0;
            let (m, ka) = if ta { (a[1].clone(), a[0].clone()) } else { (a[0].clone(), a[1].clone()) };
            let (kb, nn) = if tb { (b[1].clone(), b[0].clone()) } else { (b[0].clone(), b[1].clone()) };
            if let (Some(p), Some(q)) = (ka.known(), kb.known()) {
                if p != q {
                    return Err(c.err(format!("inner dimensions differ: A has {p}, B has {q}")));
                }
            }
            vec![out(vec![m, nn], dt)]
        }
        "MatMul" => {
            let (Some(a), Some(b)) = (x, c.shape(1)) else { return Ok(vec![OutInfo::default()]) };
            vec![out(matmul(&c, &a, &b)?, dt)]
        }
        "Flatten" => {
            let Some(s) = x else { return Ok(vec![OutInfo::default()]) };
            let axis = norm_axis(n.attr_int("axis").unwrap_or(1), s.len() + 1).ok_or_else(|| c.err("axis out of range"))?;
            vec![out(vec![product(&s[..axis]), product(&s[axis..])], dt)]
        }
        "Reshape" => vec![reshape(&c, x, dt)?],
        "Transpose" => {
            let Some(s) = x else { return Ok(vec![OutInfo::default()]) };
            let perm = n.attr_ints("perm").unwrap_or_else(|| (0..s.len() as i64).rev().collect());
            if perm.len() != s.len() {
                return Err(c.err(format!("perm {perm:?} does not match input rank {}", s.len())));
            }
            let o: Option<Shape> = perm.iter().map(|&p| s.get(p as usize).cloned()).collect();
            vec![out(o.ok_or_else(|| c.err("bad perm"))?, dt)]
        }
        "Squeeze" => {
            let Some(s) = x else { return Ok(vec![OutInfo::default()]) };
            let axes = c.ints_attr_or_input("axes", 1);
            let keep: Shape = match axes {
                Some(ax) => {
                    let ax: Vec<usize> = ax.iter().filter_map(|&a| norm_axis(a, s.len())).collect();
                    s.iter().enumerate().filter(|(i, _)| !ax.contains(i)).map(|(_, d)| d.clone()).collect()
                }
                None => s.iter().filter(|d| **d != K(1)).cloned().collect(),
            };
            vec![OutInfo { shape: Some(keep), dtype: dt, folded: c.folded(0) }]
        }
        "Unsqueeze" => {
            let Some(s) = x else { return Ok(vec![OutInfo::default()]) };
            let Some(axes) = c.ints_attr_or_input("axes", 1) else { return Ok(vec![OutInfo::default()]) };
            let r = s.len() + axes.len();
            let mut ax: Vec<usize> = axes.iter().filter_map(|&a| norm_axis(a, r)).collect();
            ax.sort();
            let mut o = vec![];
            let mut it = s.iter();
            for i in 0..r {
                if ax.contains(&i) {
                    o.push(K(1));
                } else if let Some(d) = it.next() {
                    o.push(d.clone());
                }
            }
            vec![OutInfo { shape: Some(o), dtype: dt, folded: c.folded(0) }]
        }
        "Concat" => {
            let shapes: Vec<Option<Shape>> = (0..n.inputs.len()).map(|i| c.shape(i)).collect();
            let Some(first) = shapes.iter().flatten().next().cloned() else { return Ok(vec![OutInfo::default()]) };
            let axis = norm_axis(n.attr_int("axis").unwrap_or(0), first.len()).ok_or_else(|| c.err("axis out of range"))?;
            let mut o = first.clone();
            let mut parts = vec![];
            for s in &shapes {
                let Some(s) = s else { return Ok(vec![OutInfo::default()]) };
                if s.len() != first.len() {
                    return Err(c.err(format!("inputs have different ranks ({} and {})", first.len(), s.len())));
                }
                parts.push(s[axis].clone());
            }
            o[axis] = match parts.iter().map(|d| d.known()).collect::<Option<Vec<_>>>() {
                Some(v) => K(v.iter().sum()),
                None => Dim::Sym(format!("{}_cat", n.name)),
            };
            let folded: Option<Vec<Dim>> = (0..n.inputs.len()).map(|i| c.folded(i)).collect::<Option<Vec<_>>>().map(|v| v.concat());
            vec![OutInfo { shape: Some(o), dtype: dt, folded }]
        }
        "Split" => split(&c, x, dt)?,
        "Slice" => vec![slice(&c, x, dt)?],
        "Gather" => {
            let (Some(s), Some(ish)) = (x, c.shape(1)) else { return Ok(vec![OutInfo::default()]) };
            let axis = norm_axis(n.attr_int("axis").unwrap_or(0), s.len()).ok_or_else(|| c.err("axis out of range"))?;
            let mut o = s[..axis].to_vec();
            o.extend(ish.iter().cloned());
            o.extend(s[axis + 1..].iter().cloned());
            let folded = match (c.folded(0), c.ints(1)) {
                (Some(d), Some(idx)) if s.len() == 1 => idx
                    .iter()
                    .map(|&i| norm_axis(i, d.len()).map(|i| d[i].clone()))
                    .collect::<Option<Vec<_>>>(),
                _ => None,
            };
            vec![OutInfo { shape: Some(o), dtype: dt, folded }]
        }
        "Shape" => {
            let Some(s) = x else { return Ok(vec![out(vec![Dim::Sym(format!("{}_rank", n.name))], INT64)]) };
            let r = s.len() as i64;
            let cl = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
            let start = cl(n.attr_int("start").unwrap_or(0));
            let end = cl(n.attr_int("end").unwrap_or(r));
            let d = s[start..end.max(start)].to_vec();
            vec![OutInfo { shape: Some(vec![K(d.len() as i64)]), dtype: INT64, folded: Some(d) }]
        }
        "Size" => {
            let folded = x.map(|s| vec![product(&s)]);
            vec![OutInfo { shape: Some(vec![]), dtype: INT64, folded }]
        }
        "ConstantOfShape" => {
            let Some(f) = c.folded(0) else { return Ok(vec![OutInfo::default()]) };
            let vt = oto_onnx::attr::tensor(&n.proto, "value");
            let dtype = vt.and_then(|t| t.data_type).unwrap_or(FLOAT);
            let folded = match (vt, f.iter().map(|d| d.known()).collect::<Option<Vec<_>>>()) {
                (Some(t), Some(dims)) if dtype != FLOAT && dims.iter().product::<i64>() <= 64 => {
                    oto_onnx::tensor::to_i64(t).ok().and_then(|v| v.first().copied()).map(|v| vec![K(v); dims.iter().product::<i64>() as usize])
                }
                _ => None,
            };
            vec![OutInfo { shape: Some(f), dtype, folded }]
        }
        "Expand" => {
            let (Some(s), Some(t)) = (x, c.folded(1)) else { return Ok(vec![OutInfo::default()]) };
            vec![out(broadcast(&[&s, &t]).map_err(|e| c.err(e))?, dt)]
        }
        "Tile" => {
            let (Some(s), Some(r)) = (x, c.ints(1)) else { return Ok(vec![OutInfo::default()]) };
            let o = s.iter().zip(r).map(|(d, k)| binary("Mul", &[d.clone()], &[K(k)]).map(|v| v[0].clone()).unwrap_or(Dim::Sym("tile".into()))).collect();
            vec![out(o, dt)]
        }
        "Range" => {
            let (Some(a), Some(b), Some(d)) = (c.ints(0), c.ints(1), c.ints(2)) else {
                return Ok(vec![OutInfo { shape: Some(vec![Dim::Sym(format!("{}_len", n.name))]), dtype: dt, folded: None }]);
            };
            let (a, b, d) = (a[0], b[0], d[0]);
            if d == 0 {
                return Err(c.err("delta is 0"));
            }
            let len = (((b - a) as f64) / d as f64).ceil().max(0.0) as i64;
            let folded = (len <= 64).then(|| (0..len).map(|i| K(a + i * d)).collect());
            vec![OutInfo { shape: Some(vec![K(len)]), dtype: dt, folded }]
        }
        "Pad" => {
            let Some(s) = x else { return Ok(vec![OutInfo::default()]) };
            let Some(pads) = c.ints_attr_or_input("pads", 1) else { return Ok(vec![OutInfo::default()]) };
            let axes: Vec<usize> = match c.ints(3) {
                Some(a) => a.iter().filter_map(|&a| norm_axis(a, s.len())).collect(),
                None => (0..s.len()).collect(),
            };
            if pads.len() != 2 * axes.len() {
                return Err(c.err(format!("pads has {} entries, expected {}", pads.len(), 2 * axes.len())));
            }
            let mut o = s.clone();
            for (k, &a) in axes.iter().enumerate() {
                o[a] = binary("Add", &[s[a].clone()], &[K(pads[k] + pads[k + axes.len()])]).map(|v| v[0].clone()).unwrap_or(Dim::Sym("pad".into()));
            }
            vec![out(o, dt)]
        }
        "Resize" | "Upsample" => vec![resize(&c, x, dt)],
        "DepthToSpace" | "SpaceToDepth" => {
            let Some(s) = x else { return Ok(vec![OutInfo::default()]) };
            let b = n.attr_int("blocksize").unwrap_or(1);
            if s.len() != 4 {
                return Err(c.err("expects a rank-4 input"));
            }
            let ch = s[1].known();
            let o = if op == "DepthToSpace" {
                if let Some(ch) = ch {
                    if ch % (b * b) != 0 {
                        return Err(c.err(format!("{ch} channels are not divisible by blocksize² = {}", b * b)));
                    }
                }
                vec![s[0].clone(), mulk(&s[1], 1, b * b), mulk(&s[2], b, 1), mulk(&s[3], b, 1)]
            } else {
                vec![s[0].clone(), mulk(&s[1], b * b, 1), mulk(&s[2], 1, b), mulk(&s[3], 1, b)]
            };
            vec![out(o, dt)]
        }
        _ if op.starts_with("Reduce") || op == "ArgMax" || op == "ArgMin" => {
            let Some(s) = x else { return Ok(vec![OutInfo::default()]) };
            let keep = n.attr_int("keepdims").unwrap_or(1) != 0;
            let axes = if op.starts_with("Arg") {
                Some(vec![n.attr_int("axis").unwrap_or(0)])
            } else {
                c.ints_attr_or_input("axes", 1)
            };
            let axes: Vec<usize> = match axes {
                Some(a) if !a.is_empty() => a.iter().filter_map(|&a| norm_axis(a, s.len())).collect(),
                _ if n.attr_int("noop_with_empty_axes").unwrap_or(0) != 0 => vec![],
                _ if c.has_input(1) => return Ok(vec![OutInfo::default()]),
                _ => (0..s.len()).collect(),
            };
            let o: Shape = s
                .iter()
                .enumerate()
                .filter_map(|(i, d)| if axes.contains(&i) { keep.then_some(K(1)) } else { Some(d.clone()) })
                .collect();
            vec![out(o, if op.starts_with("Arg") { INT64 } else { dt })]
        }
        "Einsum" | "If" | "Loop" | "Scan" => vec![],
        _ => vec![],
    })
}

fn mulk(d: &Dim, mul: i64, div: i64) -> Dim {
    match d {
        Dim::Known(v) => K(v * mul / div),
        Dim::Sym(s) => Dim::Sym(format!("{s}*{mul}/{div}")),
    }
}

fn conv(c: &Ctx, transpose: bool) -> Result<OutInfo> {
    let n = c.node();
    let (Some(x), Some(w)) = (c.shape(0), c.shape(1)) else { return Ok(OutInfo::default()) };
    if x.len() < 3 || w.len() != x.len() {
        return Err(c.err(format!("input rank {} and weight rank {} do not match (expected equal ranks >= 3)", x.len(), w.len())));
    }
    let sp = x.len() - 2;
    let group = n.attr_int("group").unwrap_or(1);
    if group <= 0 {
        return Err(c.err("group must be positive"));
    }
    let cin = x[1].known();
    let (wc_in, out_ch) = if transpose {
        (w[0].known(), w[1].known().map(|m| m * group))
    } else {
        (w[1].known().map(|k| k * group), w[0].known())
    };
    if let (Some(ci), Some(wi)) = (cin, wc_in) {
        if ci != wi {
            return Err(c.err(format!("input has {ci} channels but the weight expects {wi} (group = {group})")));
        }
    }
    let kernel = n.attr_ints("kernel_shape").unwrap_or_else(|| w[2..].iter().map(|d| d.known().unwrap_or(1)).collect());
    let strides = n.attr_ints("strides").unwrap_or_else(|| vec![1; sp]);
    let dil = n.attr_ints("dilations").unwrap_or_else(|| vec![1; sp]);
    let pads = n.attr_ints("pads").unwrap_or_else(|| vec![0; 2 * sp]);
    let auto = n.attr_string("auto_pad").unwrap_or_else(|| "NOTSET".into());
    if kernel.len() != sp || strides.len() != sp || dil.len() != sp || pads.len() != 2 * sp {
        return Err(c.err("kernel_shape/strides/dilations/pads lengths do not match the spatial rank"));
    }
    let mut o = vec![x[0].clone(), out_ch.map(K).unwrap_or(Dim::Sym("C".into()))];
    let opad = n.attr_ints("output_padding").unwrap_or_else(|| vec![0; sp]);
    let oshape = n.attr_ints("output_shape");
    for i in 0..sp {
        let ek = dil[i] * (kernel[i] - 1) + 1;
        let d = match x[2 + i].known() {
            None => Dim::Sym(format!("{}_s{i}", n.name)),
            Some(h) => K(if transpose {
                if let Some(os) = &oshape {
                    os[os.len() - sp + i]
                } else {
                    strides[i] * (h - 1) + opad[i] + ek - pads[i] - pads[i + sp]
                }
            } else {
                match auto.as_str() {
                    "SAME_UPPER" | "SAME_LOWER" => (h + strides[i] - 1) / strides[i],
                    "VALID" => (h - ek) / strides[i] + 1,
                    _ => (h + pads[i] + pads[i + sp] - ek).div_euclid(strides[i]) + 1,
                }
            }),
        };
        if let Dim::Known(v) = d {
            if v <= 0 {
                return Err(c.err(format!("spatial size {v} <= 0 on axis {}: the input is too small for this kernel/stride", 2 + i)));
            }
        }
        o.push(d);
    }
    Ok(out(o, c.dtype(0)))
}

fn pool(c: &Ctx) -> Result<OutInfo> {
    let n = c.node();
    let Some(x) = c.shape(0) else { return Ok(OutInfo::default()) };
    if x.len() < 3 {
        return Err(c.err("expects an input of rank >= 3"));
    }
    let sp = x.len() - 2;
    let kernel = n.attr_ints("kernel_shape").ok_or_else(|| c.err("missing kernel_shape"))?;
    let strides = n.attr_ints("strides").unwrap_or_else(|| vec![1; sp]);
    let dil = n.attr_ints("dilations").unwrap_or_else(|| vec![1; sp]);
    let pads = n.attr_ints("pads").unwrap_or_else(|| vec![0; 2 * sp]);
    let ceil = n.attr_int("ceil_mode").unwrap_or(0) != 0;
    let auto = n.attr_string("auto_pad").unwrap_or_else(|| "NOTSET".into());
    if kernel.len() != sp || strides.len() != sp || pads.len() != 2 * sp || dil.len() != sp {
        return Err(c.err("kernel_shape/strides/pads lengths do not match the spatial rank"));
    }
    let mut o = x[..2].to_vec();
    for i in 0..sp {
        let ek = dil[i] * (kernel[i] - 1) + 1;
        o.push(match x[2 + i].known() {
            None => Dim::Sym(format!("{}_s{i}", n.name)),
            Some(h) => {
                let v = match auto.as_str() {
                    "SAME_UPPER" | "SAME_LOWER" => (h + strides[i] - 1) / strides[i],
                    "VALID" => (h - ek) / strides[i] + 1,
                    _ => {
                        let num = h + pads[i] + pads[i + sp] - ek;
                        let mut v = if ceil { (num + strides[i] - 1).div_euclid(strides[i]) + 1 } else { num.div_euclid(strides[i]) + 1 };
                        // a window must start inside the (left-padded) input
                        if ceil && (v - 1) * strides[i] >= h + pads[i] {
                            v -= 1;
                        }
                        v
                    }
                };
                if v <= 0 {
                    return Err(c.err(format!("spatial size {v} <= 0: the input is too small for this pool")));
                }
                K(v)
            }
        });
    }
    Ok(out(o, c.dtype(0)))
}

fn matmul(c: &Ctx, a: &Shape, b: &Shape) -> Result<Shape> {
    if a.is_empty() || b.is_empty() {
        return Err(c.err("MatMul operands must have rank >= 1"));
    }
    let a2 = if a.len() == 1 { vec![K(1), a[0].clone()] } else { a.clone() };
    let b2 = if b.len() == 1 { vec![b[0].clone(), K(1)] } else { b.clone() };
    let (ka, kb) = (&a2[a2.len() - 1], &b2[b2.len() - 2]);
    if let (Some(p), Some(q)) = (ka.known(), kb.known()) {
        if p != q {
            return Err(c.err(format!("inner dimensions differ: {p} vs {q}")));
        }
    }
    let ba: Shape = a2[..a2.len() - 2].to_vec();
    let bb: Shape = b2[..b2.len() - 2].to_vec();
    let mut o = broadcast(&[&ba, &bb]).map_err(|e| c.err(e))?;
    if a.len() > 1 {
        o.push(a2[a2.len() - 2].clone());
    }
    if b.len() > 1 {
        o.push(b2[b2.len() - 1].clone());
    }
    Ok(o)
}

fn reshape(c: &Ctx, x: Option<Shape>, dt: i32) -> Result<OutInfo> {
    let n = c.node();
    let target = c.folded(1).or_else(|| n.attr_ints("shape").map(|v| v.into_iter().map(K).collect()));
    let (Some(s), Some(t)) = (x, target) else { return Ok(OutInfo::default()) };
    let allowzero = n.attr_int("allowzero").unwrap_or(0) != 0;
    let mut o: Shape = t
        .iter()
        .enumerate()
        .map(|(i, d)| match d {
            Dim::Known(0) if !allowzero => s.get(i).cloned().unwrap_or(K(0)),
            _ => d.clone(),
        })
        .collect();
    let neg: Vec<usize> = o.iter().enumerate().filter(|(_, d)| **d == K(-1)).map(|(i, _)| i).collect();
    if neg.len() > 1 {
        return Err(c.err("target shape has more than one -1"));
    }
    // cancel common symbols, then compare known products
    let mut in_syms: Vec<String> = s.iter().filter_map(|d| if let Dim::Sym(x) = d { Some(x.clone()) } else { None }).collect();
    let mut out_syms = vec![];
    for d in &o {
        if let Dim::Sym(x) = d {
            match in_syms.iter().position(|y| y == x) {
                Some(p) => {
                    in_syms.remove(p);
                }
                None => out_syms.push(x.clone()),
            }
        }
    }
    let in_known: i64 = s.iter().filter_map(|d| d.known()).product();
    let out_known: i64 = o.iter().filter_map(|d| d.known()).filter(|&v| v != -1).product();
    match neg.first() {
        Some(&i) => {
            o[i] = if in_syms.is_empty() && out_syms.is_empty() {
                if out_known == 0 || in_known % out_known != 0 {
                    return Err(c.err(format!("cannot reshape {} elements into {:?}", in_known, t)));
                }
                K(in_known / out_known)
            } else if in_syms.len() == 1 && out_syms.is_empty() && in_known == out_known {
                Dim::Sym(in_syms[0].clone())
            } else {
                Dim::Sym(format!("{}_r", n.name))
            };
        }
        None => {
            if in_syms.is_empty() && out_syms.is_empty() && in_known != out_known {
                return Err(c.err(format!("cannot reshape {in_known} elements into {} elements", out_known)));
            }
        }
    }
    let folded = c.folded(0);
    Ok(OutInfo { shape: Some(o), dtype: dt, folded })
}

fn split(c: &Ctx, x: Option<Shape>, dt: i32) -> Result<Vec<OutInfo>> {
    let n = c.node();
    let nout = n.outputs.len();
    let Some(s) = x else { return Ok(vec![OutInfo::default(); nout]) };
    let axis = norm_axis(n.attr_int("axis").unwrap_or(0), s.len()).ok_or_else(|| c.err("axis out of range"))?;
    let sizes = match c.ints_attr_or_input("split", 1) {
        Some(v) => v,
        None => {
            let Some(total) = s[axis].known() else { return Ok(vec![OutInfo::default(); nout]) };
            let k = n.attr_int("num_outputs").unwrap_or(nout as i64).max(1);
            let chunk = (total + k - 1) / k;
            (0..k).map(|i| chunk.min(total - i * chunk).max(0)).collect()
        }
    };
    if let Some(total) = s[axis].known() {
        if sizes.iter().sum::<i64>() != total {
            return Err(c.err(format!("split sizes {sizes:?} do not add up to {total}")));
        }
    }
    Ok(sizes
        .iter()
        .map(|&k| {
            let mut o = s.clone();
            o[axis] = K(k);
            out(o, dt)
        })
        .collect())
}

fn slice(c: &Ctx, x: Option<Shape>, dt: i32) -> Result<OutInfo> {
    let n = c.node();
    let Some(s) = x else { return Ok(OutInfo::default()) };
    let (starts, ends, axes, steps) = if c.g.opset < 10 {
        (n.attr_ints("starts"), n.attr_ints("ends"), n.attr_ints("axes"), None)
    } else {
        (c.ints(1), c.ints(2), c.ints(3), c.ints(4))
    };
    let (Some(starts), Some(ends)) = (starts, ends) else { return Ok(OutInfo::default()) };
    let axes: Vec<usize> = match axes {
        Some(a) => a.iter().map(|&a| norm_axis(a, s.len()).ok_or_else(|| c.err("axis out of range"))).collect::<Result<_>>()?,
        None => (0..starts.len()).collect(),
    };
    let steps = steps.unwrap_or_else(|| vec![1; axes.len()]);
    if starts.len() != axes.len() || ends.len() != axes.len() || steps.len() != axes.len() {
        return Err(c.err("starts/ends/axes/steps have different lengths"));
    }
    let mut o = s.clone();
    let mut folded = c.folded(0);
    for (k, &a) in axes.iter().enumerate() {
        let step = steps[k];
        if step == 0 {
            return Err(c.err("slice step 0"));
        }
        let Some(dim) = s[a].known() else {
            if starts[k] == 0 && ends[k] >= i32::MAX as i64 && step == 1 {
                continue;
            }
            o[a] = Dim::Sym(format!("{}_sl", n.name));
            folded = None;
            continue;
        };
        let (b, e) = slice_bounds(starts[k], ends[k], step, dim);
        let len = if step > 0 { ((e - b).max(0) + step - 1) / step } else { ((b - e).max(0) + (-step) - 1) / (-step) };
        o[a] = K(len);
        if let Some(f) = folded.as_mut() {
            if s.len() == 1 {
                *f = (0..len).map(|i| f[(b + i * step) as usize].clone()).collect();
            }
        }
    }
    Ok(OutInfo { shape: Some(o), dtype: dt, folded })
}

/// Clamped (start, end) of a Slice on an axis of size `dim`, per the ONNX spec.
pub fn slice_bounds(start: i64, end: i64, step: i64, dim: i64) -> (i64, i64) {
    let fix = |v: i64| if v < 0 { v + dim } else { v };
    if step > 0 {
        (fix(start).clamp(0, dim), fix(end).clamp(0, dim))
    } else {
        (fix(start).clamp(0, dim - 1), fix(end).clamp(-1, dim - 1))
    }
}

fn resize(c: &Ctx, x: Option<Shape>, dt: i32) -> OutInfo {
    let n = c.node();
    let Some(s) = x else { return OutInfo::default() };
    let scales_slot = if n.op == "Upsample" || c.g.opset < 11 { 1 } else { 2 };
    if n.op == "Resize" && c.g.opset >= 11 {
        if let Some(sizes) = c.ints(3).filter(|v| !v.is_empty()) {
            let axes = n.attr_ints("axes");
            let mut o = s.clone();
            match axes {
                Some(ax) => {
                    for (k, a) in ax.iter().enumerate() {
                        if let Some(a) = norm_axis(*a, s.len()) {
                            o[a] = K(sizes[k]);
                        }
                    }
                }
                None => o = sizes.into_iter().map(K).collect(),
            }
            return out(o, dt);
        }
    }
    let scales = n
        .attr_floats("scales")
        .or_else(|| n.input(scales_slot).and_then(|v| c.g.const_f32(v)))
        .filter(|v| !v.is_empty());
    let Some(scales) = scales else { return OutInfo::default() };
    let axes: Vec<usize> = match n.attr_ints("axes") {
        Some(a) => a.iter().filter_map(|&a| norm_axis(a, s.len())).collect(),
        None => (0..s.len()).collect(),
    };
    let mut o = s.clone();
    for (k, &a) in axes.iter().enumerate() {
        let sc = scales.get(k).copied().unwrap_or(1.0);
        o[a] = match &s[a] {
            Dim::Known(v) => K(((*v as f64) * sc as f64).floor() as i64),
            d if sc == 1.0 => d.clone(),
            _ => Dim::Sym(format!("{}_rs{a}", n.name)),
        };
    }
    out(o, dt)
}

trait AttrFloats {
    fn attr_floats(&self, name: &str) -> Option<Vec<f32>>;
}
impl AttrFloats for crate::ir::Node {
    fn attr_floats(&self, name: &str) -> Option<Vec<f32>> {
        oto_onnx::attr::floats(&self.proto, name).filter(|v| !v.is_empty())
    }
}
