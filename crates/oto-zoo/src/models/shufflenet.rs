//! ShuffleNetV2 (1.0x widths, torchvision names): stride-1 units Split the channels in halves
//! and transform one; stride-2 units transform both; every unit ends with Concat and a
//! channel shuffle (Reshape [N,2,C/2,H,W] -> Transpose -> Reshape), a permutation that
//! pruning must track. Inputs of at most 64 px use a stride-1 stem without max-pool.
use crate::builder::{Builder, Val, BATCH, R};
use crate::Ctx;

fn bn_relu(b: &mut Builder, x: &Val, bn: &str, relu: bool) -> R<Val> {
    let y = b.bn(x, bn)?;
    Ok(if relu { b.relu(&y) } else { y })
}

/// 1x1 (`.0/.1`), ReLU, depthwise 3x3 (`.3/.4`), 1x1 (`.5/.6`), ReLU.
fn branch2(b: &mut Builder, x: &Val, out: i64, stride: i64) -> R<Val> {
    let y = b.conv(x, "branch2.0", out, 1, 1, 0, 1, false)?;
    let y = bn_relu(b, &y, "branch2.1", true)?;
    let y = b.conv(&y, "branch2.3", out, 3, stride, 1, out, false)?;
    let y = bn_relu(b, &y, "branch2.4", false)?;
    let y = b.conv(&y, "branch2.5", out, 1, 1, 0, 1, false)?;
    bn_relu(b, &y, "branch2.6", true)
}

/// Depthwise 3x3 stride 2 (`.0/.1`), 1x1 (`.2/.3`), ReLU.
fn branch1(b: &mut Builder, x: &Val, out: i64) -> R<Val> {
    let c = x.c();
    let y = b.conv(x, "branch1.0", c, 3, 2, 1, c, false)?;
    let y = bn_relu(b, &y, "branch1.1", false)?;
    let y = b.conv(&y, "branch1.2", out, 1, 1, 0, 1, false)?;
    bn_relu(b, &y, "branch1.3", true)
}

fn channel_shuffle(b: &mut Builder, x: &Val) -> R<Val> {
    let [_, c, h, w] = [x.shape[0], x.c(), x.h(), x.w()];
    let y = b.reshape(x, &[BATCH, 2, c / 2, h, w])?;
    let y = b.transpose(&y, &[0, 2, 1, 3, 4]);
    b.reshape(&y, &[BATCH, c, h, w])
}

fn unit(b: &mut Builder, x: &Val, out: i64, stride: i64) -> R<Val> {
    let half = out / 2;
    let y = if stride == 1 {
        let parts = b.split(x, 1, &[x.c() - x.c() / 2, x.c() / 2])?;
        let r = branch2(b, &parts[1], half, 1)?;
        b.concat(&[&parts[0], &r], 1)?
    } else {
        let l = branch1(b, x, half)?;
        let r = branch2(b, x, half, 2)?;
        b.concat(&[&l, &r], 1)?
    };
    channel_shuffle(b, &y)
}

pub fn shufflenet_style(b: &mut Builder, x: &Val, cx: &Ctx) -> R<Val> {
    let small = cx.h.max(cx.w) <= 64;
    let mut y = b.conv(x, "conv1.0", cx.ch(24), 3, if small { 1 } else { 2 }, 1, 1, false)?;
    y = bn_relu(b, &y, "conv1.1", true)?;
    if !small {
        y = b.maxpool(&y, 3, 2, 1)?;
    }
    for (i, (out, n)) in [(116, 4), (232, 8), (464, 4)].into_iter().enumerate() {
        let out = cx.ch(out);
        for j in 0..n {
            let stride = if j == 0 { 2 } else { 1 };
            y = b.scope(&format!("stage{}.{j}", i + 2), |b| unit(b, &y, out, stride))?;
        }
    }
    y = b.conv(&y, "conv5.0", cx.ch(1024), 1, 1, 0, 1, false)?;
    y = bn_relu(b, &y, "conv5.1", true)?;
    let y = b.global_avg_pool(&y)?;
    let y = b.flatten(&y);
    b.gemm(&y, "fc", cx.classes)
}
