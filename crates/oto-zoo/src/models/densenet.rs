//! DenseNets (Huang et al.): dense layers BN-ReLU-Conv1x1(4k)-BN-ReLU-Conv3x3(k) whose output
//! is concatenated to their input, transitions BN-ReLU-Conv1x1(compression 0.5)-AvgPool.
//! The growing Concat inputs are the hard case for channel-group discovery.
use super::blocks::gap_head;
use crate::builder::{fail, Builder, Val, R};
use crate::Ctx;

fn bn_relu_conv(b: &mut Builder, x: &Val, i: usize, out: i64, k: i64) -> R<Val> {
    let y = b.bn(x, &format!("norm{i}"))?;
    let y = b.relu(&y);
    b.conv(&y, &format!("conv{i}"), out, k, 1, k / 2, 1, false)
}

fn dense_block(b: &mut Builder, x: &Val, name: &str, layers: usize, growth: i64) -> R<Val> {
    let mut y = x.clone();
    for l in 1..=layers {
        y = b.scope(&format!("{name}.denselayer{l}"), |b| {
            let h = bn_relu_conv(b, &y, 1, 4 * growth, 1)?;
            let h = bn_relu_conv(b, &h, 2, growth, 3)?;
            b.concat(&[&y, &h], 1)
        })?;
    }
    Ok(y)
}

fn transition(b: &mut Builder, x: &Val, name: &str) -> R<Val> {
    b.scope(name, |b| {
        let y = b.bn(x, "norm")?;
        let y = b.relu(&y);
        let y = b.conv(&y, "conv", x.c() / 2, 1, 1, 0, 1, false)?;
        b.avgpool(&y, 2, 2, 0)
    })
}

/// Blocks, transitions and the final norm, inside `features`; `y` is the stem output.
fn body(b: &mut Builder, y: Val, blocks: &[usize], growth: i64, cx: &Ctx) -> R<Val> {
    let y = b.scope("features", |b| {
        let mut y = y;
        for (i, &n) in blocks.iter().enumerate() {
            y = dense_block(b, &y, &format!("denseblock{}", i + 1), n, growth)?;
            if i + 1 < blocks.len() {
                y = transition(b, &y, &format!("transition{}", i + 1))?;
            }
        }
        let y = b.bn(&y, "norm5")?;
        Ok(b.relu(&y))
    })?;
    gap_head(b, &y, "classifier", cx.classes)
}

pub fn densenet_bc(b: &mut Builder, x: &Val, cx: &Ctx) -> R<Val> {
    let depth = cx.depth.unwrap_or(40);
    if !(10..=250).contains(&depth) || (depth - 4) / 6 * 6 + 4 != depth {
        return fail(format!("densenet_bc depth must be 6n+4 in 10..=250, got {depth}"));
    }
    let growth = cx.ch(12);
    let y = b.scope("features", |b| b.conv(x, "conv0", 2 * growth, 3, 1, 1, 1, false))?;
    let n = (depth - 4) / 6;
    body(b, y, &[n, n, n], growth, cx)
}

pub fn densenet121(b: &mut Builder, x: &Val, cx: &Ctx) -> R<Val> {
    let y = b.scope("features", |b| {
        let y = b.conv(x, "conv0", cx.ch(64), 7, 2, 3, 1, false)?;
        let y = b.bn(&y, "norm0")?;
        let y = b.relu(&y);
        b.maxpool(&y, 3, 2, 1)
    })?;
    body(b, y, &[6, 12, 24, 16], cx.ch(32), cx)
}
