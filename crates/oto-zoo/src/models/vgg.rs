//! VGG16 with BatchNorm: the CIFAR variant of the OTOv2 tutorial (GAP head) and the ImageNet
//! variant whose classifier flattens a spatial map (7x7 at 224 px), which exercises pruning
//! across a Flatten that multiplies channels by H*W.
use crate::builder::{Builder, Val, R};
use crate::Ctx;

const CFG: [i64; 18] = [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0];

/// `features.*` in torchvision numbering (conv i, bn i+1, relu i+2, pool).
fn features(b: &mut Builder, x: &Val, cx: &Ctx) -> R<Val> {
    b.scope("features", |b| {
        let (mut y, mut i) = (x.clone(), 0);
        for c in CFG {
            if c == 0 {
                y = b.maxpool(&y, 2, 2, 0)?;
                i += 1;
            } else {
                y = b.conv(&y, &i.to_string(), cx.ch(c), 3, 1, 1, 1, true)?;
                y = b.bn(&y, &(i + 1).to_string())?;
                y = b.relu(&y);
                i += 3;
            }
        }
        Ok(y)
    })
}

pub fn vgg16_bn(b: &mut Builder, x: &Val, cx: &Ctx) -> R<Val> {
    let y = features(b, x, cx)?;
    let y = b.global_avg_pool(&y)?;
    let y = b.flatten(&y);
    let y = b.gemm(&y, "classifier.0", cx.ch(512))?;
    let y = b.relu(&y);
    b.gemm(&y, "classifier.2", cx.classes)
}

pub fn vgg16_bn_imagenet(b: &mut Builder, x: &Val, cx: &Ctx) -> R<Val> {
    let mut y = features(b, x, cx)?;
    // AdaptiveAvgPool2d(7) where it is a plain pooling; otherwise keep the map as it is.
    if y.h() > 7 && y.h() == y.w() && y.h() % 7 == 0 {
        let k = y.h() / 7;
        y = b.avgpool(&y, k, k, 0)?;
    }
    let y = b.flatten(&y);
    let y = b.gemm(&y, "classifier.0", cx.ch(4096))?;
    let y = b.relu(&y);
    let y = b.gemm(&y, "classifier.3", cx.ch(4096))?;
    let y = b.relu(&y);
    b.gemm(&y, "classifier.6", cx.classes)
}

