//! Per-sample augmentation on `u8` CHW images (pad + random crop, horizontal flip) and
//! conversion to normalised f32 (`(x/255 - mean) / std` per channel), as torchvision's
//! `RandomCrop(padding=p)`, `RandomHorizontalFlip()`, `ToTensor()`, `Normalize(mean, std)`.
use rand::Rng;

use super::error::{DataError, Result};
use super::Sample;

/// Per-channel normalisation on the [0,1] scale.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalize {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Normalize {
    pub fn new(mean: &[f32], std: &[f32]) -> Self {
        Normalize { mean: mean.to_vec(), std: std.to_vec() }
    }
    pub fn cifar10() -> Self {
        Self::new(&[0.4914, 0.4822, 0.4465], &[0.2470, 0.2435, 0.2616])
    }
    pub fn cifar100() -> Self {
        Self::new(&[0.5071, 0.4865, 0.4409], &[0.2673, 0.2564, 0.2762])
    }
    pub fn imagenet() -> Self {
        Self::new(&[0.485, 0.456, 0.406], &[0.229, 0.224, 0.225])
    }
    pub fn fashion_mnist() -> Self {
        Self::new(&[0.2860], &[0.3530])
    }
    pub fn mnist() -> Self {
        Self::new(&[0.1307], &[0.3081])
    }
    pub fn svhn() -> Self {
        Self::new(&[0.4377, 0.4438, 0.4728], &[0.1980, 0.2010, 0.1970])
    }
    /// The values are usable: one or more finite means, positive finite stds.
    pub fn check(&self) -> Result<()> {
        for (what, v) in [("mean", &self.mean), ("std", &self.std)] {
            if v.is_empty() || v.iter().any(|x| !x.is_finite()) {
                return Err(DataError::Config(format!("normalisation {what} must be one finite value, or one per channel, got {v:?}")));
            }
        }
        if self.std.iter().any(|&s| s <= 0.0) {
            return Err(DataError::Config(format!("normalisation std must be positive, got {:?}", self.std)));
        }
        Ok(())
    }
    /// Checks the values ([`Normalize::check`]) and the channel count; a single mean/std is
    /// broadcast to every channel.
    pub(crate) fn for_channels(&self, c: usize) -> Result<(Vec<f32>, Vec<f32>)> {
        self.check()?;
        let fit = |v: &[f32], what: &str| -> Result<Vec<f32>> {
            match v.len() {
                1 => Ok(vec![v[0]; c]),
                n if n == c => Ok(v.to_vec()),
                n => Err(DataError::Config(format!(
                    "normalisation {what} has {n} values but the images have {c} channels"
                ))),
            }
        };
        Ok((fit(&self.mean, "mean")?, fit(&self.std, "std")?))
    }
}

/// Geometric augmentation. Training defaults for CIFAR: [`Augment::cifar`]; evaluation: [`Augment::none`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Augment {
    /// Zero padding on each side before cropping.
    pub pad: usize,
    /// Output size (H, W) of the crop; `None` = the input size (standard pad + crop).
    pub crop: Option<(usize, usize)>,
    /// Random crop position (training) vs centre crop (evaluation).
    pub random_crop: bool,
    /// Random horizontal flip with probability 0.5.
    pub hflip: bool,
}

impl Augment {
    pub fn none() -> Self {
        Augment::default()
    }
    /// `RandomCrop(32, padding=4)` + `RandomHorizontalFlip()`.
    pub fn cifar() -> Self {
        Augment { pad: 4, crop: None, random_crop: true, hflip: true }
    }
    /// Pad + random crop only (digits must not be flipped: MNIST, SVHN).
    pub fn pad_crop(pad: usize) -> Self {
        Augment { pad, crop: None, random_crop: true, hflip: false }
    }
    pub fn is_identity(&self) -> bool {
        self.pad == 0 && self.crop.is_none() && !self.hflip
    }
    /// Output (H, W) for an input of (h, w).
    pub fn out_size(&self, h: usize, w: usize) -> (usize, usize) {
        self.crop.unwrap_or((h, w))
    }

    /// Applies the augmentation to `s` (in place) using `rng`.
    pub fn apply<R: Rng>(&self, s: &mut Sample, rng: &mut R) -> Result<()> {
        let (c, h, w) = (s.channels, s.height, s.width);
        let (oh, ow) = self.out_size(h, w);
        let (ph, pw) = (h + 2 * self.pad, w + 2 * self.pad);
        if oh > ph || ow > pw || oh == 0 || ow == 0 {
            return Err(DataError::Config(format!(
                "crop {oh}x{ow} does not fit a {h}x{w} image padded by {}",
                self.pad
            )));
        }
        let (y0, x0) = if self.random_crop {
            (rng.random_range(0..=ph - oh), rng.random_range(0..=pw - ow))
        } else {
            ((ph - oh) / 2, (pw - ow) / 2)
        };
        let flip = self.hflip && rng.random_bool(0.5);
        if (y0, x0) == (self.pad, self.pad) && (oh, ow) == (h, w) && !flip {
            return Ok(());
        }
        let mut out = vec![0u8; c * oh * ow];
        for ch in 0..c {
            for oy in 0..oh {
                // Row in padded coordinates → source row.
                let sy = (y0 + oy) as isize - self.pad as isize;
                if sy < 0 || sy >= h as isize {
                    continue;
                }
                let src = &s.pixels[ch * h * w + sy as usize * w..][..w];
                let dst = &mut out[ch * oh * ow + oy * ow..][..ow];
                for (ox, d) in dst.iter_mut().enumerate() {
                    let px = if flip { ow - 1 - ox } else { ox };
                    let sx = (x0 + px) as isize - self.pad as isize;
                    if sx >= 0 && sx < w as isize {
                        *d = src[sx as usize];
                    }
                }
            }
        }
        s.pixels = out;
        s.height = oh;
        s.width = ow;
        Ok(())
    }
}

/// Writes `u8` CHW pixels as normalised f32 into `out` (same length).
pub(crate) fn to_f32(pixels: &[u8], c: usize, mean: &[f32], std: &[f32], out: &mut [f32]) {
    let hw = pixels.len() / c.max(1);
    for ch in 0..c {
        let (m, inv) = (mean[ch], 1.0 / std[ch]);
        let src = &pixels[ch * hw..(ch + 1) * hw];
        let dst = &mut out[ch * hw..(ch + 1) * hw];
        for (d, &p) in dst.iter_mut().zip(src) {
            *d = (p as f32 * (1.0 / 255.0) - m) * inv;
        }
    }
}
