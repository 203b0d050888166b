//! ImageNet-style class folders: `root/<class>/<image>.{jpg,jpeg,png}`; class index = position
//! of the folder name in sorted order. Also the Tiny-ImageNet validation layout
//! (`val_annotations.txt`: `<file>\t<wnid>\t…`). Images are decoded lazily (in loader threads),
//! always converted to RGB (grayscale JPEGs exist in Tiny-ImageNet), then resized / centre-cropped.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use image::imageops::FilterType;

use super::error::{DataError, Result};
use super::{sorted_entries, Dataset, Sample};

/// Decode-time geometry: resize so the shorter side is `resize`, then centre-crop to `crop` (H, W).
/// Random crops / flips belong to [`super::Augment`] in the loader.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FolderTransform {
    pub resize: Option<u32>,
    pub crop: Option<(u32, u32)>,
}

impl FolderTransform {
    /// Keep the decoded size (all images must already be one size to be batched).
    pub fn none() -> Self {
        Self::default()
    }
    /// ImageNet evaluation: shorter side 256, centre 224×224.
    pub fn imagenet_eval() -> Self {
        FolderTransform { resize: Some(256), crop: Some((224, 224)) }
    }
    /// Exact size (resize shorter side to max(h,w), then centre crop h×w).
    pub fn fixed(h: u32, w: u32) -> Self {
        FolderTransform { resize: Some(h.max(w)), crop: Some((h, w)) }
    }
}

/// The sorted subfolder names of `root` (class folders); an error naming the `expected` layout
/// when there are none.
pub(crate) fn class_folders(root: &Path, expected: &str) -> Result<Vec<String>> {
    let classes: Vec<String> = sorted_entries(root)?.into_iter().filter(|p| p.is_dir()).map(|p| name_of(&p)).collect();
    if classes.is_empty() {
        return Err(DataError::NotFound { path: root.into(), what: format!("no class subfolders (expected {expected})") });
    }
    Ok(classes)
}

/// The files of the class folders under `root` that `keep`, each with its class index in
/// `classes`, in sorted order; a subfolder that is not one of `classes` is an error.
pub(crate) fn labelled_files(root: &Path, classes: &[String], keep: fn(&Path) -> bool) -> Result<Vec<(PathBuf, i64)>> {
    let index: HashMap<&str, i64> = classes.iter().enumerate().map(|(i, c)| (c.as_str(), i as i64)).collect();
    let mut items = Vec::new();
    for dir in sorted_entries(root)?.into_iter().filter(|p| p.is_dir()) {
        let name = name_of(&dir);
        let Some(&label) = index.get(name.as_str()) else {
            return Err(DataError::format(&dir, format!("class folder '{name}' is not one of the {} known classes", classes.len())));
        };
        for f in sorted_entries(&dir)? {
            if f.is_file() && keep(&f) {
                items.push((f, label));
            }
        }
    }
    Ok(items)
}

/// A labelled list of image files.
#[derive(Debug, Clone)]
pub struct ImageFolder {
    items: Vec<(PathBuf, i64)>,
    classes: Vec<String>,
    transform: FolderTransform,
}

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .is_some_and(|e| matches!(e.as_str(), "jpg" | "jpeg" | "png"))
}

fn name_of(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

impl ImageFolder {
    /// Class folders under `root`; classes = sorted subfolder names.
    pub fn open(root: &Path, transform: FolderTransform) -> Result<Self> {
        let classes = class_folders(root, "root/<class>/<image>.jpg")?;
        Self::open_with_classes(root, &classes, transform)
    }

    /// Class folders under `root`, with class indices taken from `classes` (e.g. the training
    /// set's list, so a validation folder uses the same indices). Every subfolder must be listed.
    pub fn open_with_classes(root: &Path, classes: &[String], transform: FolderTransform) -> Result<Self> {
        let items = labelled_files(root, classes, is_image)?;
        if items.is_empty() {
            return Err(DataError::NotFound {
                path: root.into(),
                what: "no .jpg/.jpeg/.png images in the class folders".into(),
            });
        }
        let mut counts = vec![0usize; classes.len()];
        items.iter().for_each(|(_, l)| counts[*l as usize] += 1);
        if let Some(c) = (0..classes.len()).find(|&c| counts[c] == 0 && root.join(&classes[c]).is_dir()) {
            let dir = root.join(&classes[c]);
            return Err(DataError::format(&dir, format!("class folder '{}' is empty (no .jpg/.jpeg/.png image): remove it or add its images", classes[c])));
        }
        check_headers(&items)?;
        Ok(ImageFolder { items, classes: classes.to_vec(), transform })
    }

    /// Tiny-ImageNet validation layout: `annotations` lines `<file>\t<wnid>[\t…]`; each file is
    /// looked up as `images_dir/<file>` (original layout `val/images/`) or
    /// `images_dir/<wnid>/<file>` (already sorted into class folders). Labels index `classes`.
    pub fn from_annotations(
        images_dir: &Path,
        annotations: &Path,
        classes: &[String],
        transform: FolderTransform,
    ) -> Result<Self> {
        let text = std::fs::read_to_string(annotations).map_err(|e| DataError::io(annotations, e))?;
        let index: HashMap<&str, i64> =
            classes.iter().enumerate().map(|(i, c)| (c.as_str(), i as i64)).collect();
        let mut items = Vec::new();
        for (ln, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let mut f = line.split_whitespace();
            let (Some(file), Some(wnid)) = (f.next(), f.next()) else {
                return Err(DataError::format(
                    annotations,
                    format!("line {}: expected '<file> <class> …', got {line:?}", ln + 1),
                ));
            };
            let Some(&label) = index.get(wnid) else {
                return Err(DataError::format(
                    annotations,
                    format!("line {}: class '{wnid}' is not one of the {} known classes", ln + 1, classes.len()),
                ));
            };
            let flat = images_dir.join(file);
            let nested = images_dir.join(wnid).join(file);
            let p = if flat.is_file() {
                flat
            } else if nested.is_file() {
                nested
            } else {
                return Err(DataError::NotFound {
                    path: flat,
                    what: format!("listed in {} line {} (also not at {})", annotations.display(), ln + 1, nested.display()),
                });
            };
            items.push((p, label));
        }
        if items.is_empty() {
            return Err(DataError::format(annotations, "no annotation lines"));
        }
        check_headers(&items)?;
        Ok(ImageFolder { items, classes: classes.to_vec(), transform })
    }

    /// Class names from a `wnids.txt`-style file (one per line), sorted.
    pub fn read_class_list(path: &Path) -> Result<Vec<String>> {
        let text = std::fs::read_to_string(path).map_err(|e| DataError::io(path, e))?;
        let mut v: Vec<String> =
            text.lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
        v.sort();
        v.dedup();
        if v.is_empty() {
            return Err(DataError::format(path, "empty class list"));
        }
        Ok(v)
    }

    pub fn classes(&self) -> &[String] {
        &self.classes
    }
    pub fn items(&self) -> &[(PathBuf, i64)] {
        &self.items
    }
    pub fn transform(&self) -> &FolderTransform {
        &self.transform
    }
}

/// Decodes an image file to RGB8 (any supported format, detected by content).
/// Reads every image's header, in parallel: a file that is no image of a known format is named
/// before training, not hours into it (one cut short after its header is found when decoded).
fn check_headers(items: &[(PathBuf, i64)]) -> Result<()> {
    use rayon::prelude::*;
    items.par_iter().try_for_each(|(path, _)| {
        let rd = image::ImageReader::open(path)
            .map_err(|e| DataError::io(path, e))?
            .with_guessed_format()
            .map_err(|e| DataError::io(path, e))?;
        rd.into_dimensions().map(|_| ()).map_err(|e| DataError::Image { path: path.clone(), msg: format!("not a readable image: {e}") })
    })
}

pub(crate) fn decode_rgb(path: &Path) -> Result<image::RgbImage> {
    let err = |m: String| DataError::Image { path: path.into(), msg: m };
    let rd = image::ImageReader::open(path)
        .map_err(|e| DataError::io(path, e))?
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?;
    Ok(rd.decode().map_err(|e| err(e.to_string()))?.to_rgb8())
}

pub(crate) fn rgb_to_chw(img: &image::RgbImage) -> Vec<u8> {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut out = vec![0u8; 3 * h * w];
    for (i, px) in img.as_raw().chunks_exact(3).enumerate() {
        out[i] = px[0];
        out[h * w + i] = px[1];
        out[2 * h * w + i] = px[2];
    }
    out
}

fn apply_transform(path: &Path, mut img: image::RgbImage, t: &FolderTransform) -> Result<image::RgbImage> {
    if let Some(s) = t.resize {
        let (w, h) = (img.width(), img.height());
        let (nw, nh) = if w <= h {
            (s, ((h as u64 * s as u64 + w as u64 / 2) / w as u64).max(1) as u32)
        } else {
            (((w as u64 * s as u64 + h as u64 / 2) / h as u64).max(1) as u32, s)
        };
        if (nw, nh) != (w, h) {
            img = image::imageops::resize(&img, nw, nh, FilterType::Triangle);
        }
    }
    if let Some((ch, cw)) = t.crop {
        let (w, h) = (img.width(), img.height());
        if ch > h || cw > w {
            return Err(DataError::Config(format!(
                "{}: image is {w}x{h} (after resize), smaller than the crop {cw}x{ch}; set a larger resize",
                path.display()
            )));
        }
        img = image::imageops::crop_imm(&img, (w - cw) / 2, (h - ch) / 2, cw, ch).to_image();
    }
    Ok(img)
}

impl Dataset for ImageFolder {
    fn len(&self) -> usize {
        self.items.len()
    }
    fn get(&self, index: usize) -> Result<Sample> {
        let (path, label) = self.items.get(index).ok_or_else(|| {
            DataError::Config(format!("sample index {index} out of range ({} samples)", self.items.len()))
        })?;
        let img = apply_transform(path, decode_rgb(path)?, &self.transform)?;
        Ok(Sample {
            channels: 3,
            height: img.height() as usize,
            width: img.width() as usize,
            pixels: rgb_to_chw(&img),
            label: *label,
        })
    }
    fn num_classes(&self) -> usize {
        self.classes.len()
    }
    fn class_names(&self) -> Option<&[String]> {
        Some(&self.classes)
    }
}
