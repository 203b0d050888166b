//! Building the training and test streams of a run from its configuration.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::config::{DatasetKind, TrainConfig};
use crate::datasets::{
    self, Augment, CifarLabel, DataError, DataLoader, Dataset, FolderTransform, ImageFolder, LoaderConfig,
    Normalize, Spaced, SrDataset, SrTrainConfig, TextFolder,
};
use crate::TrainError;

/// What the network computes, which fixes the loss and the metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskKind {
    /// Cross-entropy; top-1 / top-5 accuracy.
    Classification,
    /// L1 loss; PSNR on the Y channel (border of `scale` pixels shaved).
    SuperResolution { scale: usize },
}

/// How batches are fitted to the model's declared input ([`RunData::fit_to`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fit {
    /// Images resized bilinearly to the model's `[H, W]`.
    Resize([i64; 2]),
    /// Token sequences cut, or padded with token 0, to the model's length.
    Tokens(i64),
}

/// The data of a run.
pub enum RunData {
    /// `shape`: `[C, H, W]` of an image, `[1, 1, L]` of a token sequence (`tokens`).
    Classification {
        train: DataLoader,
        test: DataLoader,
        num_classes: usize,
        shape: [usize; 3],
        tokens: bool,
        fit: Option<Fit>,
    },
    SuperResolution { train: Arc<SrDataset>, train_cfg: SrTrainConfig, test: Arc<SrDataset> },
}

impl RunData {
    pub fn task(&self) -> TaskKind {
        match self {
            RunData::Classification { .. } => TaskKind::Classification,
            RunData::SuperResolution { test, .. } => TaskKind::SuperResolution { scale: test.scale() },
        }
    }
    /// Data-parallel training: this rank reads its share of every training batch (each of
    /// `world` ranks a contiguous `batch / world` of it); the batch size must divide evenly.
    pub fn shard(&mut self, rank: usize, world: usize, batch: usize) -> Result<(), TrainError> {
        if world <= 1 {
            return Ok(());
        }
        if batch % world != 0 {
            return Err(TrainError::Config(format!(
                "--batch-size {batch} (the global batch) does not divide among {world} ranks; give a multiple of {world}"
            )));
        }
        match self {
            RunData::Classification { train, .. } => {
                train.set_shard(rank, world);
                Ok(())
            }
            RunData::SuperResolution { train_cfg, .. } => {
                train_cfg.shard = (rank, world);
                Ok(())
            }
        }
    }
    /// Training steps per epoch (after `max_train_batches`).
    pub fn steps_per_epoch(&self, max_batches: usize) -> usize {
        let n = match self {
            RunData::Classification { train, .. } => train.batches_per_epoch(),
            RunData::SuperResolution { train_cfg, .. } => train_cfg.batches_per_epoch,
        };
        if max_batches > 0 {
            n.min(max_batches)
        } else {
            n
        }
    }
    /// Fits the data to the model's declared input: images `[N, C, H, W]` need equal channels,
    /// another known side resizes every batch (bilinear) to it; token ids `[N, T]` (an int64
    /// input) need a text dataset, another known `T` cuts or pads every sequence to it. Returns a
    /// note for the log when it fits.
    pub fn fit_to(&mut self, input: &[oto_graph::Dim], int_input: bool) -> Result<Option<String>, TrainError> {
        let RunData::Classification { shape: [c, h, w], tokens, fit, .. } = self else { return Ok(None) };
        let known = |i: usize| input.get(i).and_then(|d| d.known());
        let model = oto_graph::ir::fmt_shape(input);
        if int_input || *tokens {
            if !(int_input && *tokens && input.len() == 2) {
                let (what, fix) = match *tokens {
                    true => (format!("text documents (token ids [N, {w}])"), "a model with an int64 input of token ids [N, T]"),
                    false => (format!("images [N, {c}, {h}, {w}]"), "--dataset text for a model of token ids"),
                };
                return Err(TrainError::Config(format!(
                    "the model's input is {model}{} but the dataset gives {what}; use {fix}",
                    if int_input { " of integers" } else { "" }
                )));
            }
            return Ok(match known(1) {
                Some(t) if t != *w as i64 => {
                    *fit = Some(Fit::Tokens(t));
                    Some(format!("documents are read as {w} byte tokens and cut or padded to the model's {t}"))
                }
                _ => None,
            });
        }
        if input.len() != 4 || known(1).is_some_and(|mc| mc != *c as i64) {
            return Err(TrainError::Config(format!("the model's input is {model} but the dataset's images are [N, {c}, {h}, {w}]")));
        }
        match (known(2), known(3)) {
            (Some(mh), Some(mw)) if (mh, mw) != (*h as i64, *w as i64) => {
                *fit = Some(Fit::Resize([mh, mw]));
                Ok(Some(format!("images are resized from {h}×{w} to the model's {mh}×{mw} (bilinear)")))
            }
            _ => Ok(None),
        }
    }

    /// A batch at the model's input (see [`RunData::fit_to`]).
    pub fn fit_images(&self, x: tch::Tensor) -> Result<tch::Tensor, TrainError> {
        match self {
            RunData::Classification { fit: Some(Fit::Resize([h, w])), .. } => {
                Ok(x.f_upsample_bilinear2d([*h, *w], false, None, None)?)
            }
            RunData::Classification { fit: Some(Fit::Tokens(t)), .. } => {
                let l = x.size()[1];
                Ok(if *t <= l { x.f_narrow(1, 0, *t)? } else { x.f_constant_pad_nd([0, *t - l])? })
            }
            _ => Ok(x),
        }
    }

    /// One zero sample as the model takes it (classification): a `[1, C, H, W]` image or
    /// `[1, T]` token ids, fitted ([`RunData::fit_images`]); `None` for super-resolution.
    pub fn example_input(&self, device: tch::Device) -> Result<Option<tch::Tensor>, TrainError> {
        let RunData::Classification { shape: [c, h, w], tokens, .. } = self else { return Ok(None) };
        let x = match tokens {
            true => tch::Tensor::zeros([1, *w as i64], (tch::Kind::Int64, device)),
            false => tch::Tensor::zeros([1, *c as i64, *h as i64, *w as i64], (tch::Kind::Float, device)),
        };
        Ok(Some(self.fit_images(x)?))
    }
    pub fn num_classes(&self) -> Option<usize> {
        match self {
            RunData::Classification { num_classes, .. } => Some(*num_classes),
            RunData::SuperResolution { .. } => None,
        }
    }
    pub fn train_len(&self) -> usize {
        match self {
            RunData::Classification { train, .. } => train.dataset().len(),
            RunData::SuperResolution { train, .. } => train.len(),
        }
    }
    pub fn test_len(&self) -> usize {
        match self {
            RunData::Classification { test, .. } => test.dataset().len(),
            RunData::SuperResolution { test, .. } => test.len(),
        }
    }
}

fn require_dir(p: &Path, what: &str) -> Result<(), TrainError> {
    if p.is_file() {
        return Err(TrainError::Config(format!(
            "--data {}: is a file; pass the {what} folder that holds the dataset's files",
            p.display()
        )));
    }
    if !p.is_dir() {
        return Err(TrainError::Data(DataError::NotFound {
            path: p.into(),
            what: format!("the {what} folder does not exist; pass the dataset folder with --data DIR"),
        }));
    }
    Ok(())
}

/// The dataset folder: `--data`, or `<datasets root>/<usual name>` when that exists.
fn data_dir(c: &TrainConfig) -> Result<PathBuf, TrainError> {
    if let Some(d) = &c.data {
        require_dir(d, "dataset")?;
        return Ok(d.clone());
    }
    let guess = match c.dataset {
        DatasetKind::Cifar10 => "cifar-10",
        DatasetKind::Cifar100 => "cifar-100",
        DatasetKind::Svhn => "svhn",
        DatasetKind::Mnist => "mnist",
        DatasetKind::Imagefolder => "tiny-imagenet-10",
        DatasetKind::Sr => "super-resolution",
        DatasetKind::FashionMnist => "fashion-mnist",
        DatasetKind::Text => "text",
    };
    let p = datasets::datasets_root().join(guess);
    if p.is_dir() {
        Ok(p)
    } else {
        Err(TrainError::Config(format!(
            "dataset {} needs --data DIR (nothing at {})",
            c.dataset.name(),
            p.display()
        )))
    }
}

/// The evaluation split of a class-folder dataset: `<d>/val` or `<d>/test`.
fn split_dir(d: &Path) -> Result<PathBuf, TrainError> {
    ["val", "test"]
        .iter()
        .map(|n| d.join(n))
        .find(|p| p.is_dir())
        .ok_or_else(|| TrainError::Config(format!("{}: no val/ or test/ folder next to train/", d.display())))
}

/// Loads the datasets of `c` and makes the loaders.
pub fn load(c: &TrainConfig) -> Result<RunData, TrainError> {
    load_splits(c, true)
}

/// Like [`load`] for evaluation only: the training split is not read (the test set stands in
/// for it, so evaluating a CIFAR model does not decode the 50k training images).
pub fn load_test(c: &TrainConfig) -> Result<RunData, TrainError> {
    load_splits(c, false)
}

/// (train, test) for the loaders; without a training split the test set stands in for it, shared
/// (not copied).
fn split<T: Dataset + 'static>(tr: Option<T>, te: T) -> (Arc<dyn Dataset>, Arc<dyn Dataset>) {
    let te: Arc<dyn Dataset> = Arc::new(te);
    (tr.map_or_else(|| te.clone(), |t| Arc::new(t) as Arc<dyn Dataset>), te)
}

/// The input normalisation of an image classification run: `mean` / `std` from the configuration,
/// else the dataset's usual values (`None` for super-resolution, which feeds pixels on [0, 1],
/// and for text, which feeds token ids).
pub fn normalization(c: &TrainConfig) -> Option<Normalize> {
    let d = match c.dataset {
        DatasetKind::FashionMnist => Normalize::fashion_mnist(),
        DatasetKind::Mnist => Normalize::mnist(),
        DatasetKind::Cifar10 => Normalize::cifar10(),
        DatasetKind::Cifar100 => Normalize::cifar100(),
        DatasetKind::Svhn => Normalize::svhn(),
        DatasetKind::Imagefolder => Normalize::imagenet(),
        DatasetKind::Sr | DatasetKind::Text => return None,
    };
    Some(Normalize { mean: c.mean.clone().unwrap_or(d.mean), std: c.std.clone().unwrap_or(d.std) })
}

fn load_splits(c: &TrainConfig, with_train: bool) -> Result<RunData, TrainError> {
    let bs = c.batch_size;
    let ebs = c.eval_batch_size;
    let seed = c.seed;
    let threads = c.data_threads;
    let mk = |train: Arc<dyn Dataset>, test: Arc<dyn Dataset>, aug: Augment| -> Result<RunData, TrainError> {
        let test: Arc<dyn Dataset> = if c.test_samples > 0 { Arc::new(Spaced::new(test, c.test_samples)) } else { test };
        let s0 = test.get(0)?;
        let shape = [s0.channels, s0.height, s0.width];
        let num_classes = train.num_classes();
        let aug = if c.augment { aug } else { Augment::none() };
        let (mut train_cfg, mut test_cfg) = (LoaderConfig::train(bs).with_augment(aug), LoaderConfig::eval(ebs));
        let tokens = c.dataset == DatasetKind::Text;
        match normalization(c) {
            _ if tokens => (train_cfg, test_cfg) = (train_cfg.with_tokens(), test_cfg.with_tokens()),
            Some(norm) => (train_cfg, test_cfg) = (train_cfg.with_normalize(norm.clone()), test_cfg.with_normalize(norm)),
            None => {}
        }
        let train = DataLoader::new(train, train_cfg.with_seed(seed).with_threads(threads))?;
        let test = DataLoader::new(test, test_cfg.with_threads(threads))?;
        Ok(RunData::Classification { train, test, num_classes, shape, tokens, fit: None })
    };
    let flip = Augment { pad: 0, crop: None, random_crop: false, hflip: true };
    match c.dataset {
        DatasetKind::FashionMnist => {
            let (tr, te) = match &c.data {
                None => (with_train.then(|| datasets::fashion_mnist_mini(true)).transpose()?, datasets::fashion_mnist_mini(false)?),
                Some(d) => {
                    require_dir(d, "Fashion-MNIST")?;
                    let ten_classes = |mut s: datasets::InMemory| {
                        s.num_classes = 10;
                        s
                    };
                    let tr = if with_train { Some(ten_classes(datasets::load_mnist_dir(d, true)?)) } else { None };
                    (tr, ten_classes(datasets::load_mnist_dir(d, false)?))
                }
            };
            let (tr, te) = split(tr, te);
            mk(tr, te, flip)
        }
        DatasetKind::Mnist => {
            let d = data_dir(c)?;
            let ten_classes = |mut s: datasets::InMemory| {
                s.num_classes = 10;
                s
            };
            let tr = if with_train { Some(ten_classes(datasets::load_mnist_dir(&d, true)?)) } else { None };
            let (tr, te) = split(tr, ten_classes(datasets::load_mnist_dir(&d, false)?));
            mk(tr, te, Augment::pad_crop(2))
        }
        DatasetKind::Cifar10 => {
            let d = data_dir(c)?;
            let tr = if with_train { Some(datasets::load_cifar10_dir(&d, true)?) } else { None };
            let (tr, te) = split(tr, datasets::load_cifar10_dir(&d, false)?);
            mk(tr, te, Augment::cifar())
        }
        DatasetKind::Cifar100 => {
            let d = data_dir(c)?;
            let tr = if with_train { Some(datasets::load_cifar100_dir(&d, true, CifarLabel::Fine)?) } else { None };
            let (tr, te) = split(tr, datasets::load_cifar100_dir(&d, false, CifarLabel::Fine)?);
            mk(tr, te, Augment::cifar())
        }
        DatasetKind::Svhn => {
            let d = data_dir(c)?;
            let tr = if with_train { Some(datasets::load_svhn_mat(&d.join("train_32x32.mat"))?) } else { None };
            let (tr, te) = split(tr, datasets::load_svhn_mat(&d.join("test_32x32.mat"))?);
            mk(tr, te, Augment::pad_crop(2))
        }
        DatasetKind::Imagefolder => {
            let d = data_dir(c)?;
            let t = FolderTransform::fixed(c.image_size, c.image_size);
            let tr = ImageFolder::open(&d.join("train"), t.clone())?;
            let classes = tr.classes().to_vec();
            let val = split_dir(&d)?;
            let ann = [val.join("val_annotations.txt"), d.join("val_annotations.txt")].into_iter().find(|p| p.is_file());
            let te = match ann {
                Some(a) => {
                    let imgs = if val.join("images").is_dir() { val.join("images") } else { val.clone() };
                    ImageFolder::from_annotations(&imgs, &a, &classes, t)?
                }
                None => ImageFolder::open_with_classes(&val, &classes, t)?,
            };
            let aug = Augment { pad: c.image_size as usize / 8, crop: None, random_crop: true, hflip: true };
            mk(Arc::new(tr), Arc::new(te), aug)
        }
        DatasetKind::Text => {
            let d = data_dir(c)?;
            let tr = TextFolder::open(&d.join("train"), c.seq_len)?;
            let te = TextFolder::open_with_classes(&split_dir(&d)?, tr.classes(), c.seq_len)?;
            let tr = if with_train { Arc::new(tr) as Arc<dyn Dataset> } else { Arc::new(te.clone()) };
            mk(tr, Arc::new(te), Augment::none())
        }
        DatasetKind::Sr => {
            let d = data_dir(c)?;
            let test = Arc::new(SrDataset::open_set(&d, &c.sr_test_set, c.sr_scale)?);
            let train = if with_train { Arc::new(SrDataset::open_set(&d, &c.sr_train_set, c.sr_scale)?) } else { test.clone() };
            let mut train_cfg = SrTrainConfig::new(c.sr_patch, bs, c.sr_batches_per_epoch);
            train_cfg.augment = c.augment;
            train_cfg.seed = seed;
            train_cfg.threads = threads;
            Ok(RunData::SuperResolution { train, train_cfg, test })
        }
    }
}
