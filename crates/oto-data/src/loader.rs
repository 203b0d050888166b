//! Batching: per-epoch shuffling, per-sample augmentation, parallel decode on a rayon pool, and
//! a bounded queue of ready batches filled by a background thread (so decoding overlaps training).
//! Results are deterministic for a given (seed, epoch), whatever the number of threads.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::thread::JoinHandle;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::augment::{to_f32, Augment, Normalize};
use super::error::{DataError, Result};
use super::Dataset;

/// One batch: `images` f32 [N,C,H,W] (normalised) — or, from a [`LoaderConfig::tokens`] loader,
/// int64 token ids [N, L] — and `labels` i64 [N].
#[derive(Debug)]
pub struct Batch {
    pub images: tch::Tensor,
    pub labels: tch::Tensor,
}

#[derive(Debug, Clone)]
pub struct LoaderConfig {
    pub batch_size: usize,
    pub shuffle: bool,
    /// Drop the last incomplete batch.
    pub drop_last: bool,
    pub seed: u64,
    pub augment: Augment,
    /// `None` = only scale to [0,1].
    pub normalize: Option<Normalize>,
    /// Ready batches buffered ahead of the consumer (at least 1).
    pub prefetch: usize,
    /// Decode threads; 0 = all cores.
    pub threads: usize,
    /// The samples are token sequences ([`crate::TextFolder`]): batches are int64 `[N, L]` ids,
    /// neither scaled nor normalised nor augmented.
    pub tokens: bool,
    /// Data-parallel training: `(rank, world)` — this rank's share of every batch (the batch's
    /// k-th contiguous part of `world`), each sample as in the unsharded batch (same order and
    /// augmentation), so `world` ranks together see what one process would.
    pub shard: Option<(usize, usize)>,
}

impl LoaderConfig {
    /// Training: shuffled, last partial batch dropped, no augmentation (set `augment`).
    pub fn train(batch_size: usize) -> Self {
        LoaderConfig {
            batch_size,
            shuffle: true,
            drop_last: true,
            seed: 0,
            augment: Augment::none(),
            normalize: None,
            prefetch: 4,
            threads: 0,
            tokens: false,
            shard: None,
        }
    }
    /// Evaluation: in order, every sample, no augmentation.
    pub fn eval(batch_size: usize) -> Self {
        LoaderConfig { shuffle: false, drop_last: false, ..Self::train(batch_size) }
    }
    pub fn with_augment(mut self, a: Augment) -> Self {
        self.augment = a;
        self
    }
    pub fn with_normalize(mut self, n: Normalize) -> Self {
        self.normalize = Some(n);
        self
    }
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    pub fn with_threads(mut self, t: usize) -> Self {
        self.threads = t;
        self
    }
    /// This rank's share of every batch (see [`LoaderConfig::shard`]).
    pub fn with_shard(mut self, rank: usize, world: usize) -> Self {
        self.shard = (world > 1).then_some((rank, world));
        self
    }
    /// Batches of token ids (see [`LoaderConfig::tokens`]); clears augmentation and normalisation.
    pub fn with_tokens(mut self) -> Self {
        self.tokens = true;
        self.augment = Augment::none();
        self.normalize = None;
        self
    }
}

pub(crate) fn mix(a: u64, b: u64) -> u64 {
    // splitmix64 of a combined word
    let mut z = a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(0x632B_E59B_D9B4_E019);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub(crate) fn build_pool(threads: usize) -> Result<Arc<rayon::ThreadPool>> {
    let n = if threads == 0 {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    } else {
        threads
    };
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("oto-data-{i}"))
        .build()
        .map(Arc::new)
        .map_err(|e| DataError::Worker(format!("cannot start decode threads: {e}")))
}

/// Background producer of `n` items computed by `make(i)` on `pool`, at most `depth` ahead.
/// Stops after the first error (which is delivered). Dropping it stops the producer.
pub(crate) struct Prefetch<T: Send + 'static> {
    rx: Option<Receiver<Result<T>>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
    remaining: usize,
}

impl<T: Send + 'static> Prefetch<T> {
    pub(crate) fn spawn<F>(n: usize, depth: usize, pool: Arc<rayon::ThreadPool>, make: F) -> Self
    where
        F: Fn(usize) -> Result<T> + Send + Sync + 'static,
    {
        let (tx, rx) = sync_channel(depth.max(1));
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let handle = std::thread::Builder::new()
            .name("oto-prefetch".into())
            .spawn(move || {
                for i in 0..n {
                    if stop2.load(Ordering::Relaxed) {
                        break;
                    }
                    let r = pool.install(|| make(i));
                    let failed = r.is_err();
                    if tx.send(r).is_err() || failed {
                        break;
                    }
                }
            })
            .ok();
        Prefetch { rx: Some(rx), stop, handle, remaining: n }
    }

    pub(crate) fn next_item(&mut self) -> Option<Result<T>> {
        if self.remaining == 0 {
            return None;
        }
        let rx = self.rx.as_ref()?;
        match rx.recv() {
            Ok(r) => {
                self.remaining = if r.is_err() { 0 } else { self.remaining - 1 };
                Some(r)
            }
            Err(_) => {
                self.remaining = 0;
                Some(Err(DataError::Worker(
                    "the prefetch thread ended early (did a decode panic?)".into(),
                )))
            }
        }
    }
    pub(crate) fn remaining(&self) -> usize {
        self.remaining
    }
}

impl<T: Send + 'static> Drop for Prefetch<T> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.rx.take(); // unblocks a producer waiting in send()
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Streams batches of a [`Dataset`].
pub struct DataLoader {
    ds: Arc<dyn Dataset>,
    cfg: LoaderConfig,
    pool: Arc<rayon::ThreadPool>,
}

struct HostBatch {
    data: Vec<f32>,
    labels: Vec<i64>,
    shape: [i64; 4],
    /// `data` holds token ids (exact in f32): the batch is int64 `[shape[0], shape[1]]`.
    tokens: bool,
}

impl DataLoader {
    pub fn new(ds: Arc<dyn Dataset>, cfg: LoaderConfig) -> Result<Self> {
        if cfg.batch_size == 0 {
            return Err(DataError::Config("batch_size must be at least 1".into()));
        }
        if ds.is_empty() {
            return Err(DataError::Config("the dataset is empty".into()));
        }
        let pool = build_pool(cfg.threads)?;
        Ok(DataLoader { ds, cfg, pool })
    }
    pub fn dataset(&self) -> &Arc<dyn Dataset> {
        &self.ds
    }
    pub fn config(&self) -> &LoaderConfig {
        &self.cfg
    }
    /// From now on, this rank's share of every batch ([`LoaderConfig::shard`]).
    pub fn set_shard(&mut self, rank: usize, world: usize) {
        self.cfg.shard = (world > 1).then_some((rank, world));
    }
    pub fn batches_per_epoch(&self) -> usize {
        let (n, b) = (self.ds.len(), self.cfg.batch_size);
        if self.cfg.drop_last {
            n / b
        } else {
            n.div_ceil(b)
        }
    }
    /// Sample order of an epoch (a permutation when shuffling).
    pub fn order(&self, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.ds.len()).collect();
        if self.cfg.shuffle {
            order.shuffle(&mut ChaCha8Rng::seed_from_u64(mix(self.cfg.seed, epoch)));
        }
        order
    }
    /// The batches of one epoch, produced in the background.
    pub fn epoch(&self, epoch: u64) -> Batches {
        self.epoch_from(epoch, 0)
    }
    /// The batches of one epoch from batch `first` on (a run resumed within an epoch): each
    /// batch is a function of (seed, epoch, its index) alone, so they equal the full epoch's.
    pub fn epoch_from(&self, epoch: u64, first: usize) -> Batches {
        let order = Arc::new(self.order(epoch));
        let nb = self.batches_per_epoch().saturating_sub(first);
        let ds = self.ds.clone();
        let cfg = self.cfg.clone();
        let epoch_seed = mix(cfg.seed, epoch ^ 0xA5A5_0000);
        let inner = Prefetch::spawn(nb, cfg.prefetch, self.pool.clone(), move |i| {
            let bi = first + i;
            let lo = bi * cfg.batch_size;
            let hi = (lo + cfg.batch_size).min(order.len());
            let (lo, hi) = match cfg.shard {
                Some((rank, world)) => (lo + (hi - lo) * rank / world, lo + (hi - lo) * (rank + 1) / world),
                None => (lo, hi),
            };
            make_batch(&*ds, &order[lo..hi], lo, epoch_seed, &cfg)
        });
        Batches { inner }
    }
}

fn make_batch(
    ds: &dyn Dataset,
    idx: &[usize],
    first_pos: usize,
    epoch_seed: u64,
    cfg: &LoaderConfig,
) -> Result<HostBatch> {
    let samples: Vec<_> = idx
        .par_iter()
        .enumerate()
        .map(|(k, &i)| {
            let mut s = ds.get(i)?;
            if !cfg.augment.is_identity() {
                let mut rng = ChaCha8Rng::seed_from_u64(mix(epoch_seed, (first_pos + k) as u64));
                cfg.augment.apply(&mut s, &mut rng)?;
            }
            Ok(s)
        })
        .collect::<Result<Vec<_>>>()?;
    let s0 = &samples[0];
    let (c, h, w) = (s0.channels, s0.height, s0.width);
    if let Some(s) = samples.iter().find(|s| (s.channels, s.height, s.width) != (c, h, w)) {
        return Err(DataError::Config(format!(
            "images of different sizes in one batch ({c}x{h}x{w} and {}x{}x{}); set a resize/crop \
             (FolderTransform) so that all images have one size",
            s.channels, s.height, s.width
        )));
    }
    if cfg.tokens {
        return Ok(HostBatch {
            data: samples.iter().flat_map(|s| s.pixels.iter().map(|&b| b as f32)).collect(),
            labels: samples.iter().map(|s| s.label).collect(),
            shape: [samples.len() as i64, (c * h * w) as i64, 1, 1],
            tokens: true,
        });
    }
    let (mean, std) = match &cfg.normalize {
        Some(n) => n.for_channels(c)?,
        None => (vec![0.0; c], vec![1.0; c]),
    };
    let per = c * h * w;
    let mut data = vec![0f32; samples.len() * per];
    data.par_chunks_mut(per)
        .zip(samples.par_iter())
        .for_each(|(d, s)| to_f32(&s.pixels, c, &mean, &std, d));
    Ok(HostBatch {
        data,
        labels: samples.iter().map(|s| s.label).collect(),
        shape: [samples.len() as i64, c as i64, h as i64, w as i64],
        tokens: false,
    })
}

/// Iterator over the batches of one epoch. Stops after the first error.
pub struct Batches {
    inner: Prefetch<HostBatch>,
}

impl Iterator for Batches {
    type Item = Result<Batch>;
    fn next(&mut self) -> Option<Self::Item> {
        let hb = self.inner.next_item()?;
        Some(hb.map(|hb| {
            let x = tch::Tensor::from_slice(&hb.data);
            let images = match hb.tokens {
                true => x.view([hb.shape[0], hb.shape[1]]).to_kind(tch::Kind::Int64),
                false => x.view(hb.shape),
            };
            Batch { images, labels: tch::Tensor::from_slice(&hb.labels) }
        }))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.inner.remaining()))
    }
}
