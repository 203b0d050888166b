//! Super-resolution pairs. HR: a folder of PNG/JPEG images (DIV2K / Set5 style). LR: a folder of
//! images with matching names (`<stem>.png` or DIV2K's `<stem>x<s>.png`), or generated with
//! MATLAB-compatible bicubic downscaling (`imresize(HR, 1/s, 'bicubic')`: antialiased cubic
//! kernel a=-0.5, symmetric borders, rows then columns, uint8 rounding after each pass).
//! HR images are cropped top-left to a multiple of the scale. All images are decoded once
//! (in parallel) and kept in memory. Training draws random aligned patches (with flips /
//! 90° rotations); testing yields full images one at a time.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::error::{DataError, Result};
use super::folder::{decode_rgb, rgb_to_chw};
use super::loader::{build_pool, mix, Prefetch};
use super::sorted_entries;

/// Where LR images come from.
#[derive(Debug, Clone, PartialEq)]
pub enum LrSource {
    /// Folder of LR images named like the HR ones (`<stem>.png` or `<stem>x<scale>.png`).
    Folder(PathBuf),
    /// Bicubic downscaling of HR (MATLAB `imresize` semantics).
    Bicubic,
}

/// One HR/LR pair, RGB `u8` CHW. `hr` is `3 × (h·s) × (w·s)`, `lr` is `3 × h × w`.
#[derive(Debug, Clone, PartialEq)]
pub struct SrImage {
    pub name: String,
    pub hr: Vec<u8>,
    pub lr: Vec<u8>,
    /// LR height / width.
    pub h: usize,
    pub w: usize,
}

/// A batch of pairs: `lr` f32 [N,3,h,w], `hr` f32 [N,3,h·s,w·s], both in [0,1].
#[derive(Debug)]
pub struct SrBatch {
    pub lr: tch::Tensor,
    pub hr: tch::Tensor,
}

#[derive(Debug, Clone)]
pub struct SrTrainConfig {
    /// LR patch side; the HR patch is `lr_patch · scale`.
    pub lr_patch: usize,
    pub batch_size: usize,
    pub batches_per_epoch: usize,
    /// Random horizontal / vertical flips and transposition (the 8 dihedral variants).
    pub augment: bool,
    pub seed: u64,
    pub prefetch: usize,
    /// Threads; 0 = all cores.
    pub threads: usize,
    /// Data-parallel training: (rank, world). This rank draws samples `rank·b/world ..
    /// (rank+1)·b/world` of every batch of `batch_size` = b, each from the same seed as in the
    /// whole batch, so the ranks' shares make up the one-process batch exactly.
    pub shard: (usize, usize),
}

impl SrTrainConfig {
    pub fn new(lr_patch: usize, batch_size: usize, batches_per_epoch: usize) -> Self {
        SrTrainConfig { lr_patch, batch_size, batches_per_epoch, augment: true, seed: 0, prefetch: 4, threads: 0, shard: (0, 1) }
    }
    /// The samples of each batch this rank draws (see [`SrTrainConfig::shard`]).
    fn share(&self) -> std::ops::Range<usize> {
        let (rank, world) = (self.shard.0, self.shard.1.max(1));
        let n = self.batch_size / world;
        rank * n..(rank + 1) * n
    }
}

#[derive(Debug, Clone)]
pub struct SrDataset {
    images: Vec<SrImage>,
    scale: usize,
}

fn stem(p: &Path) -> String {
    p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .is_some_and(|e| matches!(e.as_str(), "png" | "jpg" | "jpeg"))
}

/// Crop CHW `src` (c × sh × sw) to its top-left `h × w`.
fn crop_tl(src: &[u8], c: usize, sh: usize, sw: usize, h: usize, w: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(c * h * w);
    for ch in 0..c {
        for y in 0..h {
            let o = ch * sh * sw + y * sw;
            out.extend_from_slice(&src[o..o + w]);
        }
    }
    out
}

impl SrDataset {
    /// Loads all HR images of `hr_dir` (sorted by name) and their LR counterparts for `scale`.
    pub fn open(hr_dir: &Path, lr: LrSource, scale: usize) -> Result<Self> {
        if !(1..=8).contains(&scale) {
            return Err(DataError::Config(format!("SR scale must be 1..=8, got {scale}")));
        }
        let files: Vec<PathBuf> =
            sorted_entries(hr_dir)?.into_iter().filter(|p| p.is_file() && is_image(p)).collect();
        if files.is_empty() {
            return Err(DataError::NotFound { path: hr_dir.into(), what: "no PNG/JPEG HR images".into() });
        }
        let pool = build_pool(0)?;
        let images = pool.install(|| {
            files.par_iter().map(|f| load_pair(f, &lr, scale)).collect::<Result<Vec<_>>>()
        })?;
        Ok(SrDataset { images, scale })
    }

    /// `root/<set>/HR` with LR from `root/<set>/LR_bicubic/X<scale>` when that folder exists,
    /// else bicubic-generated (the layout of ../shared/datasets/super-resolution and DIV2K).
    pub fn open_set(root: &Path, set: &str, scale: usize) -> Result<Self> {
        let base = root.join(set);
        let lr_dir = base.join("LR_bicubic").join(format!("X{scale}"));
        let lr = if lr_dir.is_dir() { LrSource::Folder(lr_dir) } else { LrSource::Bicubic };
        Self::open(&base.join("HR"), lr, scale)
    }

    pub fn scale(&self) -> usize {
        self.scale
    }
    pub fn len(&self) -> usize {
        self.images.len()
    }
    pub fn is_empty(&self) -> bool {
        self.images.is_empty()
    }
    pub fn images(&self) -> &[SrImage] {
        &self.images
    }

    /// Full image `i` as a batch of one (for evaluation).
    pub fn test_pair(&self, i: usize) -> Option<SrBatch> {
        let im = self.images.get(i)?;
        let s = self.scale as i64;
        let (h, w) = (im.h as i64, im.w as i64);
        Some(SrBatch {
            lr: to_tensor(&im.lr, [1, 3, h, w]),
            hr: to_tensor(&im.hr, [1, 3, h * s, w * s]),
        })
    }
    /// All full images, in name order, one per batch.
    pub fn test_batches(&self) -> impl Iterator<Item = SrBatch> + '_ {
        (0..self.len()).filter_map(|i| self.test_pair(i))
    }

    /// Random aligned patches for one training epoch, produced in the background.
    /// Images smaller than the patch are never drawn; an error if none is large enough.
    pub fn train_batches(self: &Arc<Self>, cfg: &SrTrainConfig, epoch: u64) -> Result<SrBatches> {
        self.train_batches_from(cfg, epoch, 0)
    }
    /// [`SrDataset::train_batches`] from batch `first` on (a run resumed within an epoch).
    pub fn train_batches_from(self: &Arc<Self>, cfg: &SrTrainConfig, epoch: u64, first: usize) -> Result<SrBatches> {
        if cfg.lr_patch == 0 || cfg.batch_size == 0 {
            return Err(DataError::Config("lr_patch and batch_size must be at least 1".into()));
        }
        let (rank, world) = cfg.shard;
        if world == 0 || rank >= world || cfg.batch_size % world != 0 {
            return Err(DataError::Config(format!(
                "shard {rank} of {world}: the batch of {} must divide evenly among the ranks",
                cfg.batch_size
            )));
        }
        let fit: Vec<usize> = (0..self.len())
            .filter(|&i| self.images[i].h >= cfg.lr_patch && self.images[i].w >= cfg.lr_patch)
            .collect();
        if fit.is_empty() {
            return Err(DataError::Config(format!(
                "no image has an LR size of at least {0}x{0}; use a smaller lr_patch",
                cfg.lr_patch
            )));
        }
        let pool = build_pool(cfg.threads)?;
        let me = self.clone();
        let cfg2 = cfg.clone();
        let fit = Arc::new(fit);
        let inner = Prefetch::spawn(cfg.batches_per_epoch.saturating_sub(first), cfg.prefetch, pool, move |i| {
            Ok(me.make_patches(&fit, &cfg2, mix(mix(cfg2.seed, epoch), (first + i) as u64)))
        });
        Ok(SrBatches { inner })
    }

    fn make_patches(&self, fit: &[usize], cfg: &SrTrainConfig, seed: u64) -> (Vec<f32>, Vec<f32>, [i64; 2]) {
        let (p, s) = (cfg.lr_patch, self.scale);
        let hp = p * s;
        let (lr_n, hr_n) = (3 * p * p, 3 * hp * hp);
        let share = cfg.share();
        let mut lr = vec![0f32; share.len() * lr_n];
        let mut hr = vec![0f32; share.len() * hr_n];
        lr.par_chunks_mut(lr_n)
            .zip(hr.par_chunks_mut(hr_n))
            .enumerate()
            .for_each(|(k, (lo, ho))| {
                // sample k of this rank's share: sample `share.start + k` of the whole batch
                let mut rng = ChaCha8Rng::seed_from_u64(mix(seed, (share.start + k) as u64));
                let im = &self.images[fit[rng.random_range(0..fit.len())]];
                let y = rng.random_range(0..=im.h - p);
                let x = rng.random_range(0..=im.w - p);
                let (fh, fv, tr) = if cfg.augment {
                    (rng.random_bool(0.5), rng.random_bool(0.5), rng.random_bool(0.5))
                } else {
                    (false, false, false)
                };
                patch(&im.lr, im.h, im.w, y, x, p, fh, fv, tr, lo);
                patch(&im.hr, im.h * s, im.w * s, y * s, x * s, hp, fh, fv, tr, ho);
            });
        (lr, hr, [p as i64, hp as i64])
    }
}

/// Copies the `p×p` patch at (y, x) of a 3×h×w image into `out` as f32 /255, with optional
/// flips / transposition (applied identically to LR and HR, so pairs stay aligned).
#[allow(clippy::too_many_arguments)]
fn patch(src: &[u8], h: usize, w: usize, y: usize, x: usize, p: usize, fh: bool, fv: bool, tr: bool, out: &mut [f32]) {
    for c in 0..3 {
        for oy in 0..p {
            for ox in 0..p {
                let (mut a, mut b) = if tr { (ox, oy) } else { (oy, ox) };
                if fv {
                    a = p - 1 - a;
                }
                if fh {
                    b = p - 1 - b;
                }
                out[c * p * p + oy * p + ox] = src[c * h * w + (y + a) * w + (x + b)] as f32 / 255.0;
            }
        }
    }
}

fn to_tensor(px: &[u8], shape: [i64; 4]) -> tch::Tensor {
    let v: Vec<f32> = px.iter().map(|&b| b as f32 / 255.0).collect();
    tch::Tensor::from_slice(&v).view(shape)
}

fn load_pair(hr_path: &Path, lr: &LrSource, s: usize) -> Result<SrImage> {
    let hr_img = decode_rgb(hr_path)?;
    let (sw, sh) = (hr_img.width() as usize, hr_img.height() as usize);
    let (h, w) = (sh / s, sw / s);
    if h == 0 || w == 0 {
        return Err(DataError::format(hr_path, format!("HR image {sw}x{sh} is smaller than the scale {s}")));
    }
    let mut hr = rgb_to_chw(&hr_img);
    if (h * s, w * s) != (sh, sw) {
        hr = crop_tl(&hr, 3, sh, sw, h * s, w * s);
    }
    let name = stem(hr_path);
    let lr = match lr {
        LrSource::Bicubic => bicubic_down(&hr, 3, h * s, w * s, s),
        LrSource::Folder(dir) => {
            let cands = [
                dir.join(format!("{name}x{s}.png")),
                dir.join(format!("{name}.png")),
                dir.join(hr_path.file_name().unwrap_or_default()),
            ];
            let Some(lp) = cands.iter().find(|p| p.is_file()) else {
                return Err(DataError::NotFound {
                    path: cands[0].clone(),
                    what: format!("LR image for {} (also tried {})", hr_path.display(), cands[1].display()),
                });
            };
            let li = decode_rgb(lp)?;
            let (lw, lh) = (li.width() as usize, li.height() as usize);
            if lh < h || lw < w {
                return Err(DataError::format(
                    lp,
                    format!("LR image is {lw}x{lh} but HR {} ({sw}x{sh}) / {s} needs {w}x{h}", hr_path.display()),
                ));
            }
            let v = rgb_to_chw(&li);
            if (lh, lw) == (h, w) {
                v
            } else {
                crop_tl(&v, 3, lh, lw, h, w)
            }
        }
    };
    Ok(SrImage { name, hr, lr, h, w })
}

fn cubic(x: f64) -> f64 {
    let ax = x.abs();
    let (ax2, ax3) = (ax * ax, ax * ax * ax);
    if ax <= 1.0 {
        1.5 * ax3 - 2.5 * ax2 + 1.0
    } else if ax <= 2.0 {
        -0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0
    } else {
        0.0
    }
}

/// MATLAB `imresize` contributions for shrinking `in_len → out_len` (scale = out/in < 1):
/// per output index, (input index, weight) pairs, with symmetric boundary handling.
fn contributions(in_len: usize, out_len: usize, scale: f64) -> Vec<Vec<(usize, f64)>> {
    let kw = if scale < 1.0 { 4.0 / scale } else { 4.0 };
    let p = kw.ceil() as i64 + 2;
    let n2 = 2 * in_len as i64;
    (1..=out_len)
        .map(|x| {
            let u = x as f64 / scale + 0.5 * (1.0 - 1.0 / scale);
            let left = (u - kw / 2.0).floor() as i64;
            let mut ws: Vec<(usize, f64)> = (0..p)
                .map(|j| {
                    let ind = left + j;
                    let d = u - ind as f64;
                    let wt = if scale < 1.0 { scale * cubic(scale * d) } else { cubic(d) };
                    // aux = [0..n-1, n-1..0]; index (ind-1) mod 2n
                    let m = (ind - 1).rem_euclid(n2);
                    let src = if m < in_len as i64 { m } else { n2 - 1 - m };
                    (src as usize, wt)
                })
                .collect();
            let sum: f64 = ws.iter().map(|t| t.1).sum();
            for t in &mut ws {
                t.1 /= sum;
            }
            ws.retain(|t| t.1 != 0.0);
            ws
        })
        .collect()
}

fn round_u8(v: f64) -> u8 {
    (v.clamp(0.0, 255.0) + 0.5).floor() as u8
}

/// MATLAB-compatible `imresize(img, 1/s, 'bicubic')` of a `c × h × w` u8 CHW image with
/// `h`, `w` divisible by `s`: rows first, then columns, rounding to u8 after each pass.
pub fn bicubic_down(src: &[u8], c: usize, h: usize, w: usize, s: usize) -> Vec<u8> {
    let (oh, ow) = (h / s, w / s);
    let sc = 1.0 / s as f64;
    let ch = contributions(h, oh, sc);
    let cw = contributions(w, ow, sc);
    let mut tmp = vec![0u8; c * oh * w];
    for k in 0..c {
        for (oy, con) in ch.iter().enumerate() {
            for x in 0..w {
                let v: f64 = con.iter().map(|&(iy, wt)| wt * src[k * h * w + iy * w + x] as f64).sum();
                tmp[k * oh * w + oy * w + x] = round_u8(v);
            }
        }
    }
    let mut out = vec![0u8; c * oh * ow];
    for k in 0..c {
        for y in 0..oh {
            let row = &tmp[k * oh * w + y * w..][..w];
            for (ox, con) in cw.iter().enumerate() {
                let v: f64 = con.iter().map(|&(ix, wt)| wt * row[ix] as f64).sum();
                out[k * oh * ow + y * ow + ox] = round_u8(v);
            }
        }
    }
    out
}

/// Iterator over one epoch of training patches. Stops after the first error.
pub struct SrBatches {
    inner: Prefetch<(Vec<f32>, Vec<f32>, [i64; 2])>,
}

impl Iterator for SrBatches {
    type Item = Result<SrBatch>;
    fn next(&mut self) -> Option<Self::Item> {
        let r = self.inner.next_item()?;
        Some(r.map(|(lr, hr, [p, hp])| {
            let n = (lr.len() / (3 * (p * p) as usize)) as i64;
            SrBatch {
                lr: tch::Tensor::from_slice(&lr).view([n, 3, p, p]),
                hr: tch::Tensor::from_slice(&hr).view([n, 3, hp, hp]),
            }
        }))
    }
}
