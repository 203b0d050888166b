//! IDX files (MNIST, Fashion-MNIST): `00 00 <type> <ndim>`, big-endian u32 dims, data.
//! Gzipped files are detected by content (gzip magic), so `.gz` and raw files both work.
use std::path::{Path, PathBuf};

use super::error::{read_maybe_gz, DataError, Result};
use super::InMemory;

/// A decoded IDX array (only `u8` element type, 0x08, which all the image datasets use).
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Reads an IDX file of `u8` elements (raw or gzipped).
pub fn read_idx(path: &Path) -> Result<IdxArray> {
    let bytes = read_maybe_gz(path)?;
    parse_idx(path, &bytes)
}

fn parse_idx(path: &Path, b: &[u8]) -> Result<IdxArray> {
    if b.len() < 4 {
        return Err(DataError::Truncated {
            path: path.into(),
            expected: 4,
            found: b.len() as u64,
        });
    }
    if b[0] != 0 || b[1] != 0 {
        return Err(DataError::format(
            path,
            format!(
                "wrong magic number {:02x} {:02x} {:02x} {:02x}: an IDX file starts with 00 00 \
                 <type> <ndim> (is this really an MNIST-style idx file?)",
                b[0], b[1], b[2], b[3]
            ),
        ));
    }
    let ty = b[2];
    let ndim = b[3] as usize;
    if ty != 0x08 {
        return Err(DataError::Unsupported {
            path: path.into(),
            msg: format!("IDX element type 0x{ty:02x}; only unsigned byte (0x08) is supported"),
        });
    }
    if ndim == 0 || ndim > 4 {
        return Err(DataError::format(path, format!("IDX with {ndim} dimensions (expected 1..=4)")));
    }
    let header = 4 + 4 * ndim;
    if b.len() < header {
        return Err(DataError::Truncated {
            path: path.into(),
            expected: header as u64,
            found: b.len() as u64,
        });
    }
    let dims: Vec<usize> = (0..ndim)
        .map(|i| u32::from_be_bytes(b[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize)
        .collect();
    let n = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| DataError::format(path, format!("absurd dimensions {dims:?}")))?;
    let total = header as u64 + n as u64;
    if (b.len() as u64) < total {
        return Err(DataError::Truncated {
            path: path.into(),
            expected: total,
            found: b.len() as u64,
        });
    }
    if (b.len() as u64) > total {
        return Err(DataError::format(
            path,
            format!("{} trailing bytes after the {dims:?} array", b.len() as u64 - total),
        ));
    }
    Ok(IdxArray {
        dims,
        data: b[header..].to_vec(),
    })
}

/// Loads an image IDX file ([N,H,W] or [N,C,H,W]) and its label IDX file ([N]).
/// `num_classes` is max label + 1 (at least 1).
pub fn load_idx(images: &Path, labels: &Path) -> Result<InMemory> {
    let im = read_idx(images)?;
    let lb = read_idx(labels)?;
    let (c, h, w) = match im.dims.as_slice() {
        [_, h, w] => (1, *h, *w),
        [_, c, h, w] => (*c, *h, *w),
        d => {
            return Err(DataError::format(
                images,
                format!("image IDX has dims {d:?}; expected [N,H,W] or [N,C,H,W]"),
            ))
        }
    };
    if lb.dims.len() != 1 {
        return Err(DataError::format(
            labels,
            format!("label IDX has dims {:?}; expected [N]", lb.dims),
        ));
    }
    if lb.dims[0] != im.dims[0] {
        return Err(DataError::format(
            labels,
            format!(
                "{} labels but {} has {} images (mismatched pair of files?)",
                lb.dims[0],
                images.display(),
                im.dims[0]
            ),
        ));
    }
    let labels: Vec<i64> = lb.data.iter().map(|&l| l as i64).collect();
    let num_classes = labels.iter().copied().max().map_or(1, |m| m as usize + 1);
    Ok(InMemory {
        pixels: im.data,
        labels,
        channels: c,
        height: h,
        width: w,
        num_classes,
        class_names: None,
    })
}

fn find_either(dir: &Path, stem: &str) -> Result<PathBuf> {
    for name in [format!("{stem}.gz"), stem.to_string()] {
        let p = dir.join(&name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(DataError::NotFound {
        path: dir.join(stem),
        what: format!("neither {stem} nor {stem}.gz exists in this folder"),
    })
}

/// Loads an MNIST-layout folder: `train-images-idx3-ubyte[.gz]` + `train-labels-idx1-ubyte[.gz]`
/// (train) or `t10k-…` (test).
pub fn load_mnist_dir(dir: &Path, train: bool) -> Result<InMemory> {
    if !dir.is_dir() {
        return Err(DataError::NotFound {
            path: dir.into(),
            what: "dataset folder does not exist".into(),
        });
    }
    let p = if train { "train" } else { "t10k" };
    let images = find_either(dir, &format!("{p}-images-idx3-ubyte"))?;
    let labels = find_either(dir, &format!("{p}-labels-idx1-ubyte"))?;
    load_idx(&images, &labels)
}

/// The Fashion-MNIST class names, index = label.
pub const FASHION_MNIST_CLASSES: [&str; 10] = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
    "Ankle boot",
];

/// Folder of the bundled demo subset: `$OTO_DEMO_DATA` if set, else `<workspace>/data/fashion-mnist-mini`.
pub fn fashion_mnist_mini_dir() -> PathBuf {
    if let Some(p) = std::env::var_os("OTO_DEMO_DATA") {
        return PathBuf::from(p);
    }
    super::workspace_root().join("data").join("fashion-mnist-mini")
}

/// The bundled Fashion-MNIST subset (6,000 train / 1,000 test, class-balanced), the default
/// dataset of the main job.
pub fn fashion_mnist_mini(train: bool) -> Result<InMemory> {
    let mut d = load_mnist_dir(&fashion_mnist_mini_dir(), train)?;
    d.num_classes = 10;
    d.class_names = Some(FASHION_MNIST_CLASSES.iter().map(|s| s.to_string()).collect());
    Ok(d)
}
