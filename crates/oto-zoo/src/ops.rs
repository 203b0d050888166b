//! Layer methods on [`Builder`]: each emits the ONNX node(s) a PyTorch export would produce,
//! creates and initialises the parameters, and computes the output shape (failing with a
//! readable message when the input is too small or shapes disagree).
use crate::builder::{fail, Builder, Val, BATCH, R};
use crate::init::Init;
use oto_onnx::attr::{a_float, a_int, a_ints, a_string};


/// Broadcasts two tracked shapes (numpy rules, batch only matches batch or 1).
fn broadcast(a: &[i64], b: &[i64]) -> Option<Vec<i64>> {
    let n = a.len().max(b.len());
    let get = |s: &[i64], i: usize| if i + s.len() >= n { s[i + s.len() - n] } else { 1 };
    (0..n)
        .map(|i| match (get(a, i), get(b, i)) {
            (x, y) if x == y => Some(x),
            (1, y) => Some(y),
            (x, 1) => Some(x),
            _ => None,
        })
        .collect()
}

impl Builder {
    fn dims4(&self, x: &Val, what: &str) -> R<[i64; 4]> {
        match x.shape[..] {
            [n, c, h, w] => Ok([n, c, h, w]),
            _ => fail(format!("'{}' expects a 4-D [N,C,H,W] input, got {:?}", self.path(what), x.shape)),
        }
    }

    fn out_size(&self, what: &str, size: i64, k: i64, s: i64, p: i64) -> R<i64> {
        if size + 2 * p < k {
            return fail(format!(
                "'{}' (kernel {k}, stride {s}, pad {p}) needs a spatial size of at least {} but gets {size}",
                self.path(what),
                k - 2 * p
            ));
        }
        Ok((size + 2 * p - k) / s + 1)
    }

    /// Conv2d (square kernel), weight `[out, C/groups, k, k]`, optional bias.
    #[allow(clippy::too_many_arguments)]
    pub fn conv(&mut self, x: &Val, name: &str, out: i64, k: i64, s: i64, p: i64, groups: i64, bias: bool) -> R<Val> {
        let [n, c, h, w] = self.dims4(x, name)?;
        if out < 1 || groups < 1 || c % groups != 0 || out % groups != 0 {
            return fail(format!("'{}': {c} -> {out} channels cannot use {groups} groups", self.path(name)));
        }
        let (oh, ow) = (self.out_size(name, h, k, s, p)?, self.out_size(name, w, k, s, p)?);
        let fan_out = (out * k * k) as usize;
        let w = self.param(&format!("{name}.weight"), &[out, c / groups, k, k], |i, n| i.conv_weight(n, fan_out))?;
        let mut ins = vec![x.name.clone(), w];
        if bias {
            let fan_in = (c / groups * k * k) as usize;
            ins.push(self.param(&format!("{name}.bias"), &[out], |i, n| i.bias(n, fan_in))?);
        }
        let attrs = vec![
            a_ints("dilations", &[1, 1]),
            a_int("group", groups),
            a_ints("kernel_shape", &[k, k]),
            a_ints("pads", &[p, p, p, p]),
            a_ints("strides", &[s, s]),
        ];
        Ok(self.op("Conv", name, &refs(&ins), attrs, vec![n, out, oh, ow]))
    }

    /// ConvTranspose2d, weight `[C, out, k, k]`, output size `(H-1)*s - 2p + k`.
    #[allow(clippy::too_many_arguments)]
    pub fn conv_transpose(&mut self, x: &Val, name: &str, out: i64, k: i64, s: i64, p: i64, bias: bool) -> R<Val> {
        let [n, c, h, w] = self.dims4(x, name)?;
        let (oh, ow) = ((h - 1) * s - 2 * p + k, (w - 1) * s - 2 * p + k);
        if oh < 1 || ow < 1 {
            return fail(format!("'{}' would produce an empty output", self.path(name)));
        }
        let fan = (c * k * k) as usize;
        let w = self.param(&format!("{name}.weight"), &[c, out, k, k], |i, n| i.conv_weight(n, fan))?;
        let mut ins = vec![x.name.clone(), w];
        if bias {
            let fan_in = (out * k * k) as usize;
            ins.push(self.param(&format!("{name}.bias"), &[out], |i, n| i.bias(n, fan_in))?);
        }
        let attrs = vec![
            a_ints("dilations", &[1, 1]),
            a_int("group", 1),
            a_ints("kernel_shape", &[k, k]),
            a_ints("pads", &[p, p, p, p]),
            a_ints("strides", &[s, s]),
        ];
        Ok(self.op("ConvTranspose", name, &refs(&ins), attrs, vec![n, out, oh, ow]))
    }

    /// BatchNorm2d in inference form (one output).
    pub fn bn(&mut self, x: &Val, name: &str) -> R<Val> {
        let c = x.shape[1];
        let ins = [
            x.name.clone(),
            self.param(&format!("{name}.weight"), &[c], Init::gamma)?,
            self.param(&format!("{name}.bias"), &[c], Init::beta)?,
            self.param(&format!("{name}.running_mean"), &[c], Init::beta)?,
            self.param(&format!("{name}.running_var"), &[c], Init::var)?,
        ];
        let attrs = vec![a_float("epsilon", 1e-5), a_float("momentum", 0.9)];
        Ok(self.op("BatchNormalization", name, &refs(&ins), attrs, x.shape.clone()))
    }

    /// Conv (no bias) -> BN -> ReLU, the ubiquitous block; BN named `bn`, conv `conv`.
    #[allow(clippy::too_many_arguments)]
    pub fn conv_bn_relu(&mut self, x: &Val, conv: &str, bn: &str, out: i64, k: i64, s: i64, groups: i64) -> R<Val> {
        let y = self.conv(x, conv, out, k, s, k / 2, groups, false)?;
        let y = self.bn(&y, bn)?;
        Ok(self.relu(&y))
    }

    fn unary(&mut self, op: &str, x: &Val) -> Val {
        self.op(op, "", &[&x.name], vec![], x.shape.clone())
    }
    pub fn relu(&mut self, x: &Val) -> Val {
        self.unary("Relu", x)
    }
    pub fn sigmoid(&mut self, x: &Val) -> Val {
        self.unary("Sigmoid", x)
    }
    /// Clip with min/max given as scalar inputs (ReLU6 is `clip(x, 0, 6)`).
    pub fn clip(&mut self, x: &Val, lo: f32, hi: f32) -> Val {
        let (l, h) = (self.scalar(lo), self.scalar(hi));
        self.op("Clip", "", &[&x.name, &l, &h], vec![], x.shape.clone())
    }
    /// GELU in the exact Erf form: x * 0.5 * (1 + erf(x / sqrt 2)).
    pub fn gelu(&mut self, x: &Val) -> Val {
        let s = self.scalar(std::f32::consts::SQRT_2);
        let d = self.op("Div", "", &[&x.name, &s], vec![], x.shape.clone());
        let e = self.unary("Erf", &d);
        let one = self.scalar(1.0);
        let a = self.op("Add", "", &[&e.name, &one], vec![], x.shape.clone());
        let m = self.op("Mul", "", &[&x.name, &a.name], vec![], x.shape.clone());
        let half = self.scalar(0.5);
        self.op("Mul", "", &[&m.name, &half], vec![], x.shape.clone())
    }

    fn binary(&mut self, op: &str, a: &Val, b: &Val) -> R<Val> {
        let Some(shape) = broadcast(&a.shape, &b.shape) else {
            return fail(format!("{op} in '{}': shapes {:?} and {:?} do not broadcast", self.path(""), a.shape, b.shape));
        };
        Ok(self.op(op, "", &[&a.name, &b.name], vec![], shape))
    }
    pub fn add(&mut self, a: &Val, b: &Val) -> R<Val> {
        self.binary("Add", a, b)
    }
    pub fn mul(&mut self, a: &Val, b: &Val) -> R<Val> {
        self.binary("Mul", a, b)
    }
    /// Multiplies by a scalar constant.
    pub fn mul_scalar(&mut self, x: &Val, v: f32) -> Val {
        let s = self.scalar(v);
        self.op("Mul", "", &[&x.name, &s], vec![], x.shape.clone())
    }
    /// Adds (op "Add") or multiplies (op "Mul") by a learned parameter of shape `dims`.
    pub fn param_op(&mut self, op: &str, x: &Val, name: &str, dims: &[i64], gen: impl FnOnce(&mut Init, usize) -> Vec<f32>) -> R<Val> {
        let p = self.param(name, dims, gen)?;
        let pv = Val { name: p, shape: dims.to_vec() };
        self.binary(op, x, &pv)
    }

    pub fn concat(&mut self, xs: &[&Val], axis: i64) -> R<Val> {
        let rank = xs[0].shape.len() as i64;
        let ax = if axis < 0 { axis + rank } else { axis } as usize;
        let mut shape = xs[0].shape.clone();
        shape[ax] = 0;
        for x in xs {
            let same = x.shape.len() == shape.len()
                && x.shape.iter().zip(&xs[0].shape).enumerate().all(|(i, (a, b))| i == ax || a == b);
            if !same {
                let all: Vec<_> = xs.iter().map(|v| v.shape.clone()).collect();
                return fail(format!("Concat in '{}' on axis {axis}: shapes {all:?} disagree", self.path("")));
            }
            shape[ax] += x.shape[ax];
        }
        let names: Vec<&str> = xs.iter().map(|v| v.name.as_str()).collect();
        Ok(self.op("Concat", "", &names, vec![a_int("axis", axis)], shape))
    }

    fn pool(&mut self, op: &str, x: &Val, k: i64, s: i64, p: i64) -> R<Val> {
        let [n, c, h, w] = self.dims4(x, op)?;
        let (oh, ow) = (self.out_size(op, h, k, s, p)?, self.out_size(op, w, k, s, p)?);
        let attrs = vec![a_ints("kernel_shape", &[k, k]), a_ints("pads", &[p, p, p, p]), a_ints("strides", &[s, s])];
        Ok(self.op(op, "", &[&x.name], attrs, vec![n, c, oh, ow]))
    }
    pub fn maxpool(&mut self, x: &Val, k: i64, s: i64, p: i64) -> R<Val> {
        self.pool("MaxPool", x, k, s, p)
    }
    pub fn avgpool(&mut self, x: &Val, k: i64, s: i64, p: i64) -> R<Val> {
        self.pool("AveragePool", x, k, s, p)
    }
    pub fn global_avg_pool(&mut self, x: &Val) -> R<Val> {
        let [n, c, _, _] = self.dims4(x, "GlobalAveragePool")?;
        Ok(self.op("GlobalAveragePool", "", &[&x.name], vec![], vec![n, c, 1, 1]))
    }
    pub fn flatten(&mut self, x: &Val) -> Val {
        let shape = vec![x.shape[0], x.shape[1..].iter().product()];
        self.op("Flatten", "", &[&x.name], vec![a_int("axis", 1)], shape)
    }

    /// nn.Linear as Gemm(transB=1) on `[N, in]`, weight `[out, in]`.
    pub fn gemm(&mut self, x: &Val, name: &str, out: i64) -> R<Val> {
        let [n, k] = x.shape[..] else {
            return fail(format!("'{}' expects a 2-D input, got {:?}", self.path(name), x.shape));
        };
        let fan_in = k as usize;
        let ins = [
            x.name.clone(),
            self.param(&format!("{name}.weight"), &[out, k], |i, n| i.linear_weight(n, fan_in))?,
            self.param(&format!("{name}.bias"), &[out], |i, n| i.bias(n, fan_in))?,
        ];
        let attrs = vec![a_float("alpha", 1.0), a_float("beta", 1.0), a_int("transB", 1)];
        Ok(self.op("Gemm", name, &refs(&ins), attrs, vec![n, out]))
    }

    /// nn.Linear on the last axis as MatMul with a `[K, N]` weight (+ Add bias).
    pub fn matmul_weight(&mut self, x: &Val, name: &str, out: i64, bias: bool) -> R<Val> {
        let k = *x.shape.last().unwrap_or(&0);
        let fan_in = k as usize;
        let w = self.param(&format!("{name}.weight"), &[k, out], |i, n| i.linear_weight(n, fan_in))?;
        let mut shape = x.shape.clone();
        *shape.last_mut().unwrap() = out;
        let y = self.op("MatMul", name, &[&x.name, &w], vec![], shape.clone());
        if !bias {
            return Ok(y);
        }
        let b = self.param(&format!("{name}.bias"), &[out], |i, n| i.bias(n, fan_in))?;
        Ok(self.op("Add", name, &[&y.name, &b], vec![], shape))
    }

    /// MatMul of two activations `[.., M, K] x [.., K, N]`.
    pub fn matmul(&mut self, a: &Val, b: &Val) -> R<Val> {
        let (ra, rb) = (a.shape.len(), b.shape.len());
        if ra < 2 || ra != rb || a.shape[..ra - 2] != b.shape[..rb - 2] || a.shape[ra - 1] != b.shape[rb - 2] {
            return fail(format!("MatMul in '{}': shapes {:?} x {:?} disagree", self.path(""), a.shape, b.shape));
        }
        let mut shape = a.shape.clone();
        shape[ra - 1] = b.shape[rb - 1];
        Ok(self.op("MatMul", "", &[&a.name, &b.name], vec![], shape))
    }

    /// LayerNormalization over the last axis.
    pub fn layer_norm(&mut self, x: &Val, name: &str, eps: f32) -> R<Val> {
        let d = *x.shape.last().unwrap_or(&0);
        let ins = [
            x.name.clone(),
            self.param(&format!("{name}.weight"), &[d], Init::gamma)?,
            self.param(&format!("{name}.bias"), &[d], Init::beta)?,
        ];
        let attrs = vec![a_int("axis", -1), a_float("epsilon", eps)];
        Ok(self.op("LayerNormalization", name, &refs(&ins), attrs, x.shape.clone()))
    }

    /// Channels-first LayerNorm on NCHW: Transpose to NHWC, LN over C, Transpose back.
    pub fn layer_norm_cf(&mut self, x: &Val, name: &str, eps: f32) -> R<Val> {
        let t = self.transpose(x, &[0, 2, 3, 1]);
        let y = self.layer_norm(&t, name, eps)?;
        Ok(self.transpose(&y, &[0, 3, 1, 2]))
    }

    pub fn transpose(&mut self, x: &Val, perm: &[i64]) -> Val {
        let shape = perm.iter().map(|&p| x.shape[p as usize]).collect();
        self.op("Transpose", "", &[&x.name], vec![a_ints("perm", perm)], shape)
    }

    /// Reshape to `shape` (dim 0 [`BATCH`] is written as 0, "copy the batch").
    pub fn reshape(&mut self, x: &Val, shape: &[i64]) -> R<Val> {
        if x.shape[1..].iter().product::<i64>() != shape[1..].iter().product::<i64>() || shape[0] != x.shape[0] {
            return fail(format!("Reshape in '{}': {:?} cannot become {shape:?}", self.path(""), x.shape));
        }
        let spec: Vec<i64> = shape.iter().map(|&d| if d == BATCH { 0 } else { d }).collect();
        let s = self.ints(&spec);
        Ok(self.op("Reshape", "", &[&x.name, &s], vec![], shape.to_vec()))
    }

    /// PixelShuffle(r) = DepthToSpace mode CRD.
    pub fn depth_to_space(&mut self, x: &Val, r: i64) -> R<Val> {
        let [n, c, h, w] = self.dims4(x, "DepthToSpace")?;
        if c % (r * r) != 0 {
            return fail(format!("DepthToSpace in '{}': {c} channels not divisible by {}", self.path(""), r * r));
        }
        let attrs = vec![a_int("blocksize", r), a_string("mode", "CRD")];
        Ok(self.op("DepthToSpace", "", &[&x.name], attrs, vec![n, c / (r * r), h * r, w * r]))
    }

    /// Nearest-neighbour upsampling by an integer factor (Resize with a scales input).
    pub fn resize_nearest(&mut self, x: &Val, scale: i64) -> R<Val> {
        let [n, c, h, w] = self.dims4(x, "Resize")?;
        let s = self.floats(&[1.0, 1.0, scale as f32, scale as f32]);
        let attrs = vec![
            a_string("mode", "nearest"),
            a_string("coordinate_transformation_mode", "asymmetric"),
            a_string("nearest_mode", "floor"),
        ];
        Ok(self.op("Resize", "", &[&x.name, "", &s], attrs, vec![n, c, h * scale, w * scale]))
    }

    /// Splits along `axis` into parts of the given sizes.
    pub fn split(&mut self, x: &Val, axis: usize, sizes: &[i64]) -> R<Vec<Val>> {
        if sizes.iter().sum::<i64>() != x.shape[axis] {
            return fail(format!("Split in '{}': {sizes:?} does not cover {:?}", self.path(""), x.shape));
        }
        let s = self.ints(sizes);
        let outs = self.node("Split", "", &[&x.name, &s], sizes.len(), vec![a_int("axis", axis as i64)]);
        Ok(outs
            .into_iter()
            .zip(sizes)
            .map(|(name, &d)| {
                let mut shape = x.shape.clone();
                shape[axis] = d;
                Val { name, shape }
            })
            .collect())
    }

    pub fn softmax(&mut self, x: &Val) -> Val {
        self.op("Softmax", "", &[&x.name], vec![a_int("axis", -1)], x.shape.clone())
    }

    /// Zero-pads the channel axis of NCHW (`before` and `after` channels).
    pub fn pad_channels(&mut self, x: &Val, before: i64, after: i64) -> R<Val> {
        let [n, c, h, w] = self.dims4(x, "Pad")?;
        let pads = self.ints(&[0, before, 0, 0, 0, after, 0, 0]);
        let zero = self.scalar(0.0);
        let attrs = vec![a_string("mode", "constant")];
        Ok(self.op("Pad", "", &[&x.name, &pads, &zero], attrs, vec![n, c + before + after, h, w]))
    }

    /// `x[:, :, ::2, ::2]` as Slice with steps 2 on H and W.
    pub fn subsample2(&mut self, x: &Val) -> R<Val> {
        let [n, c, h, w] = self.dims4(x, "Slice")?;
        let starts = self.ints(&[0, 0]);
        let ends = self.ints(&[i64::MAX, i64::MAX]);
        let axes = self.ints(&[2, 3]);
        let steps = self.ints(&[2, 2]);
        let ins = [x.name.as_str(), &starts, &ends, &axes, &steps];
        Ok(self.op("Slice", "", &ins, vec![], vec![n, c, (h + 1) / 2, (w + 1) / 2]))
    }

    /// ReduceMean over `axes` (opset 17: axes attribute), keepdims 0.
    pub fn reduce_mean(&mut self, x: &Val, axes: &[i64]) -> Val {
        let shape = x.shape.iter().enumerate().filter(|(i, _)| !axes.contains(&(*i as i64))).map(|(_, &d)| d).collect();
        self.op("ReduceMean", "", &[&x.name], vec![a_ints("axes", axes), a_int("keepdims", 0)], shape)
    }
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(|s| s.as_str()).collect()
}

#[cfg(test)]
mod tests {
    use super::broadcast;
    #[test]
    fn broadcasting() {
        assert_eq!(broadcast(&[-1, 4, 5], &[5]), Some(vec![-1, 4, 5]));
        assert_eq!(broadcast(&[-1, 4, 5], &[-1, 1, 5]), Some(vec![-1, 4, 5]));
        assert_eq!(broadcast(&[-1, 4], &[3, 4]), None);
    }
}
