//! Data-parallel training through libtorch's own distributed engine, c10d (issue 26): a process
//! group over a TCPStore rendezvous (rank 0 hosts it) with Gloo on CPU tensors, bound through the
//! thin C interface in `cxx/c10d.cpp` (compiled by `build.rs` against the linked libtorch). No
//! transport of oto's own: every byte between ranks goes through c10d.
//!
//! [`ProcessGroup::from_env`] joins the group that torchrun (or a scheduler) describes with
//! `RANK`, `WORLD_SIZE`, `MASTER_ADDR` and `MASTER_PORT`; [`GradReducer`] is c10d's DDP reducer:
//! during each backward pass, autograd hooks allreduce the gradients in buckets (1 MB first, then
//! ~25 MB) as soon as a bucket is ready, overlapped with the rest of the backward pass, and leave
//! their mean over the ranks in `.grad`; [`ProcessGroup::allreduce_sum_autograd`] is a sum over
//! the ranks that autograd differentiates (synchronised BatchNorm).
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::time::Duration;
use tch::{Kind, Tensor};

use crate::TrainError;

#[repr(C)]
struct RawPg {
    _opaque: [u8; 0],
}
#[repr(C)]
struct RawReducer {
    _opaque: [u8; 0],
}

extern "C" {
    fn oto_pg_new(addr: *const c_char, port: c_int, rank: c_int, world: c_int, timeout_ms: c_int, nccl: c_int, err: *mut c_char, len: usize) -> *mut RawPg;
    fn oto_pg_has_nccl() -> c_int;
    fn oto_pg_allreduce_sum(g: *mut RawPg, ts: *mut *mut c_void, n: usize, err: *mut c_char, len: usize) -> c_int;
    fn oto_pg_broadcast(g: *mut RawPg, ts: *mut *mut c_void, n: usize, root: c_int, err: *mut c_char, len: usize) -> c_int;
    fn oto_pg_barrier(g: *mut RawPg, err: *mut c_char, len: usize) -> c_int;
    fn oto_pg_free(g: *mut RawPg);
    fn oto_reducer_new(g: *mut RawPg, ps: *mut *mut c_void, n: usize, bucket_bytes: i64, err: *mut c_char, len: usize) -> *mut RawReducer;
    fn oto_reducer_prepare(r: *mut RawReducer, err: *mut c_char, len: usize) -> c_int;
    fn oto_reducer_free(r: *mut RawReducer);
    fn oto_pg_allreduce_sum_autograd(g: *mut RawPg, x: *mut c_void, out: *mut *mut c_void, err: *mut c_char, len: usize) -> c_int;
}

/// Bytes of one gradient bucket (one allreduce), as PyTorch's DDP default.
pub const BUCKET_BYTES: usize = 25 << 20;

/// The collective backend of a [`ProcessGroup`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Gloo: CPU tensors.
    Gloo,
    /// NCCL: CUDA tensors (a build with the `cuda` feature, against the CUDA torch wheel).
    Nccl,
}

impl Backend {
    /// The backend's name as users know it.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Gloo => "Gloo",
            Backend::Nccl => "NCCL",
        }
    }

    /// Whether this build can make NCCL groups.
    pub fn nccl_available() -> bool {
        // SAFETY: a constant query
        unsafe { oto_pg_has_nccl() != 0 }
    }
}

/// A c10d process group of `world` ranks, this process being `rank`.
pub struct ProcessGroup {
    raw: *mut RawPg,
    rank: usize,
    world: usize,
    backend: Backend,
    /// Time spent in collectives so far (ns), and their count.
    comm_ns: std::sync::atomic::AtomicU64,
    calls: std::sync::atomic::AtomicU64,
}

// c10d's process group is used from one thread at a time here; it may move between threads.
unsafe impl Send for ProcessGroup {}

/// A failed collective as a distributed-training error; `buf` holds the shim's NUL-terminated
/// message.
fn dist_err(what: &str, buf: &[u8]) -> TrainError {
    let msg = CStr::from_bytes_until_nul(buf).map(|c| c.to_string_lossy().into_owned()).unwrap_or_default();
    dist_error(what, &msg)
}

/// [`dist_err`] from a message: its first line, and when it says a connection was lost, what to
/// do about it.
fn dist_error(what: &str, msg: &str) -> TrainError {
    let msg = msg.lines().next().unwrap_or("failed");
    let lost = ["Connection closed", "Connection reset", "Broken pipe", "Timed out", "timed out"].iter().any(|k| msg.contains(k));
    let hint = if lost { " — another rank stopped or lost its connection; the last checkpoint in --out is kept: continue with --resume" } else { "" };
    TrainError::Distributed(format!("{what}: {msg}{hint}"))
}

impl ProcessGroup {
    /// Joins the Gloo group through the TCPStore at `addr:port` (hosted by rank 0); waits at
    /// most `timeout` for the others, and each collective at most as long.
    pub fn new(addr: &str, port: u16, rank: usize, world: usize, timeout: Duration) -> Result<Self, TrainError> {
        Self::with_backend(addr, port, rank, world, timeout, Backend::Gloo)
    }

    /// [`ProcessGroup::new`] with the given backend.
    pub fn with_backend(addr: &str, port: u16, rank: usize, world: usize, timeout: Duration, backend: Backend) -> Result<Self, TrainError> {
        if world == 0 || rank >= world {
            return Err(TrainError::Distributed(format!("rank {rank} of a world of {world}: the rank must be below the world size")));
        }
        let c_addr = CString::new(addr).map_err(|_| TrainError::Distributed(format!("MASTER_ADDR '{addr}' holds a NUL byte")))?;
        let mut err = vec![0u8; 1024];
        let ms = timeout.as_millis().min(i32::MAX as u128) as c_int;
        // SAFETY: the strings outlive the call; `err` is writable for its length
        let nccl = c_int::from(backend == Backend::Nccl);
        let raw = unsafe { oto_pg_new(c_addr.as_ptr(), c_int::from(port), rank as c_int, world as c_int, ms, nccl, err.as_mut_ptr().cast(), err.len()) };
        if raw.is_null() {
            return Err(dist_err(&format!("rank {rank} of {world} could not join the group at {addr}:{port}"), &err));
        }
        Ok(ProcessGroup { raw, rank, world, backend, comm_ns: 0.into(), calls: 0.into() })
    }

    /// The group that torchrun-style variables describe (`RANK`, `WORLD_SIZE`, `MASTER_ADDR`,
    /// default 127.0.0.1, `MASTER_PORT`, default 29500); `None` without `WORLD_SIZE` or with 1.
    pub fn from_env(timeout: Duration, backend: Backend) -> Result<Option<Self>, TrainError> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let num = |k: &str, v: String| v.parse::<usize>().map_err(|_| TrainError::Distributed(format!("{k}={v} is not a number")));
        let Some(world) = var("WORLD_SIZE").map(|v| num("WORLD_SIZE", v)).transpose()? else { return Ok(None) };
        if world <= 1 {
            return Ok(None);
        }
        let rank = num("RANK", var("RANK").ok_or_else(|| TrainError::Distributed("WORLD_SIZE is set but RANK is not".into()))?)?;
        let addr = var("MASTER_ADDR").unwrap_or_else(|| "127.0.0.1".into());
        let port = var("MASTER_PORT").map(|v| num("MASTER_PORT", v)).transpose()?.unwrap_or(29500);
        let port = u16::try_from(port).map_err(|_| TrainError::Distributed(format!("MASTER_PORT={port} is not a port")))?;
        ProcessGroup::with_backend(&addr, port, rank, world, timeout, backend).map(Some)
    }

    pub fn rank(&self) -> usize {
        self.rank
    }
    pub fn world(&self) -> usize {
        self.world
    }
    pub fn backend(&self) -> Backend {
        self.backend
    }
    /// `LOCAL_RANK` (torchrun, `--nproc`), else the rank: which GPU of its node a rank uses.
    pub fn local_rank(&self) -> usize {
        std::env::var("LOCAL_RANK").ok().and_then(|v| v.parse().ok()).unwrap_or(self.rank)
    }
    /// Seconds spent in collectives so far (waiting for the slowest rank included), and how
    /// many there were.
    pub fn comm_time(&self) -> (f64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.comm_ns.load(Relaxed) as f64 * 1e-9, self.calls.load(Relaxed))
    }

    fn call(&self, what: &str, ts: &mut [Tensor], f: impl FnOnce(*mut *mut c_void, usize, *mut c_char, usize) -> c_int) -> Result<(), TrainError> {
        let mut ptrs: Vec<*mut c_void> = ts.iter_mut().map(|t| t.as_mut_ptr().cast()).collect();
        let mut err = vec![0u8; 1024];
        let t = std::time::Instant::now();
        let rc = f(ptrs.as_mut_ptr(), ptrs.len(), err.as_mut_ptr().cast(), err.len());
        self.comm_ns.fetch_add(t.elapsed().as_nanos() as u64, std::sync::atomic::Ordering::Relaxed);
        self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match rc {
            0 => Ok(()),
            _ => Err(dist_err(&format!("{what} on rank {} of {}", self.rank, self.world), &err)),
        }
    }

    /// Sums each tensor over the ranks, in place.
    pub fn allreduce_sum(&self, ts: &mut [Tensor]) -> Result<(), TrainError> {
        // SAFETY: `raw` is a live group; the pointers are tch tensors (`at::Tensor*`) alive for the call
        self.call("allreduce", ts, |p, n, e, l| unsafe { oto_pg_allreduce_sum(self.raw, p, n, e, l) })
    }

    /// Copies rank `root`'s tensors to every rank, in place.
    pub fn broadcast(&self, ts: &mut [Tensor], root: usize) -> Result<(), TrainError> {
        // SAFETY: as in `allreduce_sum`
        self.call("broadcast", ts, |p, n, e, l| unsafe { oto_pg_broadcast(self.raw, p, n, root as c_int, e, l) })
    }

    /// Waits until every rank has reached it.
    pub fn barrier(&self) -> Result<(), TrainError> {
        self.call("barrier", &mut [], |_, _, e, l| unsafe { oto_pg_barrier(self.raw, e, l) })
    }

    /// Replaces each gradient of `tensors` by its mean over the ranks after the backward pass
    /// (`--no-overlap`; [`GradReducer`] does it during the pass): gradients are packed into
    /// buckets of about [`BUCKET_BYTES`] (float32), each summed by one allreduce, divided by the
    /// world size and copied back. Tensors without a gradient are skipped (the same on every
    /// rank: they hold the same model).
    pub fn average_gradients(&self, tensors: &[Tensor]) -> Result<(), TrainError> {
        let grads: Vec<Tensor> = tensors.iter().map(|t| t.grad()).filter(|g| g.defined()).collect();
        let mut start = 0;
        while start < grads.len() {
            let (mut end, mut bytes) = (start, 0usize);
            while end < grads.len() && (end == start || bytes + 4 * grads[end].numel() <= BUCKET_BYTES) {
                bytes += 4 * grads[end].numel();
                end += 1;
            }
            let flat: Vec<Tensor> = grads[start..end].iter().map(|g| g.detach().to_kind(Kind::Float).flatten(0, -1)).collect();
            let mut bucket = [Tensor::cat(&flat, 0)];
            self.allreduce_sum(&mut bucket)?;
            let mean = &bucket[0] / self.world as f64;
            let mut offset = 0;
            for g in &grads[start..end] {
                let n = g.numel() as i64;
                let part = mean.narrow(0, offset, n).view_as(g).to_kind(g.kind());
                tch::no_grad(|| g.shallow_clone().copy_(&part));
                offset += n;
            }
            start = end;
        }
        Ok(())
    }

    /// c10d's DDP reducer over `params` (leaf tensors requiring grad, the same list on every
    /// rank): see [`GradReducer`].
    pub fn reducer(&self, params: &[Tensor]) -> Result<GradReducer, TrainError> {
        let mut ptrs: Vec<*mut c_void> = params.iter().map(|t| t.as_ptr() as *mut c_void).collect();
        let mut err = vec![0u8; 1024];
        // SAFETY: `raw` is live; the pointers are tch tensors alive for the call (c10d keeps its own references)
        let raw = unsafe { oto_reducer_new(self.raw, ptrs.as_mut_ptr(), ptrs.len(), BUCKET_BYTES as i64, err.as_mut_ptr().cast(), err.len()) };
        if raw.is_null() {
            return Err(dist_err(&format!("gradient reducer on rank {} of {}", self.rank, self.world), &err));
        }
        Ok(GradReducer { raw, rank: self.rank, world: self.world })
    }

    /// The sum of `x` over the ranks, as a tensor autograd differentiates: the backward pass
    /// sums the incoming gradients over the ranks in turn (so a statistic computed from it, e.g.
    /// a synchronised BatchNorm's batch mean, gets the gradient of the whole global batch).
    /// Every rank must call it at the same point, and run the backward pass.
    pub fn allreduce_sum_autograd(&self, x: &Tensor) -> Result<Tensor, TrainError> {
        let mut out: *mut c_void = std::ptr::null_mut();
        let mut err = vec![0u8; 1024];
        let t = std::time::Instant::now();
        // SAFETY: `raw` and `x` are live; on success `out` is a new `at::Tensor*` that tch takes over
        let rc = unsafe { oto_pg_allreduce_sum_autograd(self.raw, x.as_ptr() as *mut c_void, &mut out, err.as_mut_ptr().cast(), err.len()) };
        self.comm_ns.fetch_add(t.elapsed().as_nanos() as u64, std::sync::atomic::Ordering::Relaxed);
        self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if rc != 0 || out.is_null() {
            return Err(dist_err(&format!("allreduce on rank {} of {}", self.rank, self.world), &err));
        }
        // SAFETY: `out` was allocated by the shim as an `at::Tensor*`, owned by the returned Tensor
        Ok(unsafe { Tensor::from_ptr(out.cast()) })
    }
}

/// c10d's `Reducer`, the engine of PyTorch's DistributedDataParallel: it hooks every
/// parameter's gradient accumulator; once [`GradReducer::prepare`] has been called, the next
/// backward pass allreduces the gradients bucket by bucket while the rest of the backward pass
/// runs, and ends with each `.grad` holding its mean over the ranks. Bucket order is rebuilt after
/// the first step from the order gradients became ready, as DDP does.
pub struct GradReducer {
    raw: *mut RawReducer,
    rank: usize,
    world: usize,
}

impl GradReducer {
    /// Arms the reducer for the next backward pass (every rank, at the same point).
    pub fn prepare(&self) -> Result<(), TrainError> {
        let mut err = vec![0u8; 1024];
        // SAFETY: `raw` is a live reducer
        match unsafe { oto_reducer_prepare(self.raw, err.as_mut_ptr().cast(), err.len()) } {
            0 => Ok(()),
            _ => Err(dist_err(&format!("gradient reducer on rank {} of {}", self.rank, self.world), &err)),
        }
    }

    /// The error of a backward pass that failed while the reducer was armed (a collective
    /// failed inside it: another rank stopped), as a distributed-training error.
    pub fn backward_error(&self, e: tch::TchError) -> TrainError {
        dist_error(&format!("gradient allreduce on rank {} of {}", self.rank, self.world), &e.to_string())
    }
}

impl Drop for GradReducer {
    fn drop(&mut self) {
        // SAFETY: created by oto_reducer_new and freed once (removes its autograd hooks)
        unsafe { oto_reducer_free(self.raw) }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        // SAFETY: created by oto_pg_new and freed once
        unsafe { oto_pg_free(self.raw) }
    }
}
