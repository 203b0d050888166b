//! Datasets in their real on-disk formats, streamed as `tch::Tensor` batches.
//!
//! * [`idx`]: IDX files (MNIST / Fashion-MNIST), raw or gzipped.
//! * [`cifar`]: CIFAR-10 / CIFAR-100 binary batches.
//! * [`mat`] + [`svhn`]: a minimal MAT v5 reader and SVHN cropped digits (`*_32x32.mat`).
//! * [`folder`]: ImageNet-style class folders of JPEG/PNG (and the Tiny-ImageNet val layout).
//! * [`text`]: text classification in class folders of `.txt` documents, as byte tokens.
//! * [`sr`]: super-resolution HR/LR pairs (LR from a folder, or MATLAB-style bicubic ×2/×3/×4).
//! * [`loader`]: shuffling, augmentation (pad + random crop, horizontal flip), normalisation,
//!   parallel decode on a rayon pool and a bounded prefetch queue of ready batches.
//!
//! Everything that reads files returns [`DataError`] naming the file; nothing panics on bad input.
use std::path::{Path, PathBuf};

pub mod augment;
pub mod cifar;
pub mod error;
pub mod folder;
pub mod idx;
pub mod loader;
pub mod mat;
pub mod sr;
pub mod svhn;
pub mod text;

pub use augment::{Augment, Normalize};
pub use cifar::{load_cifar10, load_cifar100, load_cifar10_dir, load_cifar100_dir, CifarLabel};
pub use error::{DataError, Result};
pub use folder::{FolderTransform, ImageFolder};
pub use idx::{fashion_mnist_mini, load_idx, load_mnist_dir, read_idx, IdxArray};
pub use loader::{Batch, Batches, DataLoader, LoaderConfig};
pub use mat::{read_mat, MatArray, MatClass, MatData};
pub use sr::{bicubic_down, LrSource, SrBatch, SrBatches, SrDataset, SrImage, SrTrainConfig};
pub use svhn::load_svhn_mat;
pub use text::{TextFolder, BYTE_VOCAB};

/// `n` samples of a dataset, evenly spaced over it (sample `i` is `inner[i·len/n]`), so that a
/// class-sorted test folder keeps every class: quick evaluations on part of a test set.
pub struct Spaced {
    inner: std::sync::Arc<dyn Dataset>,
    n: usize,
}

impl Spaced {
    /// At most `n` samples of `inner` (all of it when `n` is 0 or not smaller).
    pub fn new(inner: std::sync::Arc<dyn Dataset>, n: usize) -> Spaced {
        let n = if n == 0 { inner.len() } else { n.min(inner.len()) };
        Spaced { inner, n }
    }
}

impl Dataset for Spaced {
    fn len(&self) -> usize {
        self.n
    }
    fn get(&self, index: usize) -> Result<Sample> {
        if index >= self.n {
            return Err(DataError::Config(format!("sample index {index} out of range ({} samples)", self.n)));
        }
        self.inner.get(index * self.inner.len() / self.n)
    }
    fn num_classes(&self) -> usize {
        self.inner.num_classes()
    }
    fn class_names(&self) -> Option<&[String]> {
        self.inner.class_names()
    }
}

/// One decoded image: `u8` pixels in CHW order, plus its class label.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub pixels: Vec<u8>,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub label: i64,
}

/// A labelled image dataset with random access (decoding may happen in `get`, which is
/// called from loader worker threads).
pub trait Dataset: Send + Sync {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Decodes sample `index` (`index < len()`).
    fn get(&self, index: usize) -> Result<Sample>;
    fn num_classes(&self) -> usize;
    fn class_names(&self) -> Option<&[String]> {
        None
    }
}

/// Dense in-memory `u8` images of one size (IDX, CIFAR, SVHN): `pixels` is N·C·H·W, CHW per image.
#[derive(Debug, Clone, PartialEq)]
pub struct InMemory {
    pub pixels: Vec<u8>,
    pub labels: Vec<i64>,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub num_classes: usize,
    pub class_names: Option<Vec<String>>,
}

impl InMemory {
    pub fn image_len(&self) -> usize {
        self.channels * self.height * self.width
    }
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// CHW pixels of image `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let n = self.image_len();
        &self.pixels[i * n..(i + 1) * n]
    }
    /// The images at `indices`, in that order.
    pub fn subset(&self, indices: &[usize]) -> Result<InMemory> {
        let mut pixels = Vec::with_capacity(indices.len() * self.image_len());
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            if i >= self.len() {
                return Err(DataError::Config(format!(
                    "subset index {i} out of range for a dataset of {} images",
                    self.len()
                )));
            }
            pixels.extend_from_slice(self.image(i));
            labels.push(self.labels[i]);
        }
        Ok(InMemory {
            pixels,
            labels,
            ..self.clone_meta()
        })
    }
    fn clone_meta(&self) -> InMemory {
        InMemory {
            pixels: Vec::new(),
            labels: Vec::new(),
            channels: self.channels,
            height: self.height,
            width: self.width,
            num_classes: self.num_classes,
            class_names: self.class_names.clone(),
        }
    }
    /// Count of images per class (length `num_classes`).
    pub fn class_counts(&self) -> Vec<usize> {
        let mut c = vec![0usize; self.num_classes];
        for &l in &self.labels {
            if (l as usize) < c.len() {
                c[l as usize] += 1;
            }
        }
        c
    }
    /// The whole set as tensors: images `u8` [N,C,H,W], labels `i64` [N] (no scaling).
    pub fn to_tensors(&self) -> (tch::Tensor, tch::Tensor) {
        let n = self.len() as i64;
        let images = tch::Tensor::from_slice(&self.pixels).view([
            n,
            self.channels as i64,
            self.height as i64,
            self.width as i64,
        ]);
        (images, tch::Tensor::from_slice(&self.labels))
    }
}

impl Dataset for InMemory {
    fn len(&self) -> usize {
        self.labels.len()
    }
    fn get(&self, index: usize) -> Result<Sample> {
        if index >= self.len() {
            return Err(DataError::Config(format!(
                "sample index {index} out of range ({} samples)",
                self.len()
            )));
        }
        Ok(Sample {
            pixels: self.image(index).to_vec(),
            channels: self.channels,
            height: self.height,
            width: self.width,
            label: self.labels[index],
        })
    }
    fn num_classes(&self) -> usize {
        self.num_classes
    }
    fn class_names(&self) -> Option<&[String]> {
        self.class_names.as_deref()
    }
}

/// Root of the real datasets: `$OTO_DATASETS` if set, else `<workspace>/../shared/datasets`.
pub fn datasets_root() -> PathBuf {
    if let Some(p) = std::env::var_os("OTO_DATASETS") {
        return PathBuf::from(p);
    }
    workspace_root().join("..").join("shared").join("datasets")
}

/// The workspace root (two levels above this crate's manifest, fixed at compile time).
pub fn workspace_root() -> PathBuf {
    let m = Path::new(env!("CARGO_MANIFEST_DIR"));
    m.parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| m.to_path_buf())
}

/// Lists a directory's entries, sorted by file name; errors name the directory.
pub(crate) fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut v = Vec::new();
    for e in rd {
        let e = e.map_err(|e| DataError::io(dir, e))?;
        v.push(e.path());
    }
    v.sort();
    Ok(v)
}
