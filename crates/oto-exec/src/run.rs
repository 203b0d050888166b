//! Executing one compiled node: [`run`] hands each [`Kernel`] to its family's kernel.
use super::kernel::{ints, req, Ctx, Kernel, R};
use super::{conv, elementwise as ew, norm, pool, resize, shape};
use tch::Tensor;

/// Executes one kernel. `nout`: number of output slots of the node.
pub fn run(k: &Kernel, xs: &[Option<&Tensor>], nout: usize, ctx: &Ctx) -> R<Vec<Tensor>> {
    let x0 = || req(xs, 0);
    let y = match k {
        Kernel::Identity => x0()?.shallow_clone(),
        Kernel::Unary(u) => ew::unary(*u, x0()?)?,
        Kernel::LeakyRelu(a) => ew::leaky_relu(x0()?, *a)?,
        Kernel::Elu(a) => ew::elu(x0()?, *a)?,
        Kernel::Selu(a, gm) => ew::selu(x0()?, *a, *gm)?,
        Kernel::HardSigmoid(a, b) => ew::hard_sigmoid(x0()?, *a, *b)?,
        Kernel::Gelu(tanh) => x0()?.f_gelu(if *tanh { "tanh" } else { "none" })?,
        Kernel::PRelu { slope_on_channels } => ew::prelu(x0()?, req(xs, 1)?, *slope_on_channels)?,
        Kernel::Clip(lo, hi) => ew::clip(lo, hi, xs)?,
        Kernel::Softmax { axis, legacy, log } => ew::softmax(x0()?, *axis, *legacy, *log)?,
        Kernel::Binary(b) => ew::binary(*b, x0()?, req(xs, 1)?)?,
        Kernel::PowScalar(e) => ew::pow_scalar(x0()?, *e)?,
        Kernel::Variadic(v) => ew::variadic(*v, xs)?,
        Kernel::Where => ew::where_(x0()?, req(xs, 1)?, req(xs, 2)?)?,
        Kernel::MatMul => conv::matmul(x0()?, req(xs, 1)?)?,
        Kernel::Einsum { equation } => Tensor::f_einsum(equation, &xs.iter().flatten().copied().collect::<Vec<_>>(), None::<&[i64]>)?,
        Kernel::Gemm(gm) => conv::gemm(gm, xs)?,
        Kernel::Conv(c) => conv::conv_node(c, xs)?,
        Kernel::BatchNorm { eps, momentum } => return norm::batch_norm(xs, *eps, *momentum, nout, ctx),
        Kernel::LayerNorm { axis, eps } => norm::layer_norm(xs, *axis, *eps)?,
        Kernel::GroupNorm { groups, eps } => norm::group_norm(xs, *groups, *eps)?,
        Kernel::InstanceNorm { eps } => norm::instance_norm(xs, *eps)?,
        Kernel::Lrn { size, alpha, beta, bias } => norm::lrn(x0()?, *size, *alpha, *beta, *bias)?,
        Kernel::Pool(p) => pool::pool(p, x0()?)?,
        Kernel::GlobalPool { max } => pool::global_pool(x0()?, *max)?,
        Kernel::Reduce { red, axes, keepdims, noop_empty } => pool::reduce(*red, axes, *keepdims, *noop_empty, xs)?,
        Kernel::Concat { axis } => shape::concat(xs, *axis)?,
        Kernel::Split { axis, sizes, num_outputs } => return shape::split(xs, *axis, sizes, *num_outputs, nout),
        Kernel::Slice { starts, ends, axes, steps } => {
            let st = ints(starts, xs)?.ok_or("missing starts")?;
            let en = ints(ends, xs)?.ok_or("missing ends")?;
            shape::slice(x0()?, &st, &en, ints(axes, xs)?, ints(steps, xs)?)?
        }
        Kernel::Gather { axis } => shape::gather(x0()?, req(xs, 1)?, *axis)?,
        Kernel::GatherElements { axis } => shape::gather_elements(x0()?, req(xs, 1)?, *axis)?,
        Kernel::GatherNd => shape::gather_nd(x0()?, req(xs, 1)?)?,
        Kernel::Shape { start, end } => shape::shape_of(x0()?, *start, *end),
        Kernel::Size => shape::size(x0()?),
        Kernel::Reshape { shape, allowzero } => shape::reshape(xs, shape, *allowzero)?,
        Kernel::Flatten { axis } => shape::flatten(x0()?, *axis)?,
        Kernel::Transpose { perm } => shape::transpose(x0()?, perm)?,
        Kernel::Squeeze { axes } => shape::squeeze(xs, axes)?,
        Kernel::Unsqueeze { axes } => shape::unsqueeze(xs, axes)?,
        Kernel::Expand { shape } => shape::expand(xs, shape)?,
        Kernel::Tile { reps } => shape::tile(xs, reps)?,
        Kernel::ConstantOfShape { shape, value, kind } => shape::constant_of_shape(xs, shape, *value, *kind, ctx)?,
        Kernel::Cast { to } => ew::cast(x0()?, *to, ctx)?,
        Kernel::Range => shape::range(xs)?,
        Kernel::Pad { mode, pads, value, axes } => shape::pad_node(xs, *mode, pads, value, axes)?,
        Kernel::Resize(s) => resize::resize(s, xs)?,
        Kernel::DepthToSpace { b, crd } => resize::depth_to_space(x0()?, *b, *crd)?,
        Kernel::SpaceToDepth { b } => resize::space_to_depth(x0()?, *b)?,
        Kernel::Dropout { ratio } => return ew::dropout(ratio, xs, nout, ctx),
    };
    Ok(vec![y])
}
