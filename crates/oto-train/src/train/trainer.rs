//! The training loop: forward / loss / backward / optimizer step over one epoch, evaluation on
//! the test set, and the per-step learning-rate schedule. Used by [`super::run`] and usable on
//! its own with any [`Optimizer`].
use std::time::Instant;
use tch::{Kind, Tensor};

use super::checkpoint::Partial;
use super::config::TrainConfig;
use super::data::{RunData, TaskKind};
use super::metrics::EpochRecord;
use super::progress::Progress;
use super::schedule::LrSchedule;
use crate::exec::Executor;
use crate::dist::{GradReducer, ProcessGroup};
use crate::optim::{Optimizer, Param};
use crate::TrainError;

/// Test-set metrics.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EvalResult {
    pub loss: f64,
    /// Percent (classification).
    pub top1: Option<f64>,
    pub top5: Option<f64>,
    /// dB on the Y channel (super-resolution).
    pub psnr: Option<f64>,
    pub samples: usize,
}

impl EvalResult {
    /// Top-1 (%) or PSNR (dB).
    pub fn headline(&self) -> f64 {
        self.top1.or(self.psnr).unwrap_or(f64::NAN)
    }
    pub fn describe(&self) -> String {
        match (self.top1, self.psnr) {
            (Some(a), _) => format!("top-1 {a:.2}%, top-5 {:.2}%, loss {:.4}", self.top5.unwrap_or(f64::NAN), self.loss),
            (_, Some(p)) => format!("PSNR {p:.3} dB (Y), L1 {:.5}", self.loss),
            _ => format!("loss {:.4}", self.loss),
        }
    }
}

/// Cross-entropy (with optional label smoothing) on logits `[N, K]`.
pub fn cross_entropy(logits: &Tensor, labels: &Tensor, smoothing: f64) -> Tensor {
    let logp = logits.log_softmax(-1, Kind::Float);
    let nll = -logp.gather(1, &labels.unsqueeze(1), false).squeeze_dim(1);
    let nll = nll.mean(Kind::Float);
    if smoothing > 0.0 {
        let uniform = -logp.mean_dim(-1, false, Kind::Float).mean(Kind::Float);
        nll * (1.0 - smoothing) + uniform * smoothing
    } else {
        nll
    }
}

/// Number of rows whose label is among the top-`k` logits.
pub fn topk_correct(logits: &Tensor, labels: &Tensor, k: i64) -> i64 {
    let k = k.min(logits.size()[1]);
    let (_, idx) = logits.topk(k, -1, true, true);
    idx.eq_tensor(&labels.unsqueeze(1)).any_dim(1, false).sum(Kind::Int64).int64_value(&[])
}

/// PSNR (dB) on the Y channel (ITU-R BT.601, as in the SR literature), `sr`/`hr` `[1,3,H,W]` in
/// [0,1], `shave` pixels removed at every border; the output is clamped and rounded to 8 bits.
pub fn psnr_y(sr: &Tensor, hr: &Tensor, shave: i64) -> f64 {
    let q = |t: &Tensor| (t.clamp(0.0, 1.0) * 255.0).round() / 255.0;
    let y = |t: &Tensor| {
        let t = q(t);
        let w = Tensor::from_slice(&[65.481f32, 128.553, 24.966]).to_device(t.device()).view([1, 3, 1, 1]);
        (t * w).sum_dim_intlist(1, false, Kind::Float) + 16.0
    };
    let (a, b) = (y(sr), y(hr));
    let s = a.size();
    let (h, w) = (s[1], s[2]);
    let crop = |t: &Tensor| {
        if h > 2 * shave && w > 2 * shave {
            t.narrow(1, shave, h - 2 * shave).narrow(2, shave, w - 2 * shave)
        } else {
            t.shallow_clone()
        }
    };
    let mse = (crop(&a) - crop(&b)).square().mean(Kind::Double).double_value(&[]) / (255.0 * 255.0);
    if mse <= 0.0 {
        return 100.0;
    }
    10.0 * (1.0 / mse).log10()
}

/// Evaluates `exec` (inference mode) on the test set of `data`.
pub fn evaluate(exec: &Executor, data: &RunData) -> Result<EvalResult, TrainError> {
    tch::no_grad(|| match data {
        RunData::Classification { test, .. } => {
            let (mut loss, mut c1, mut c5, mut n) = (0.0f64, 0i64, 0i64, 0usize);
            for b in test.epoch(0) {
                let b = b?;
                let labels = b.labels.to_device(exec.device());
                let out = exec.forward(&[data.fit_images(b.images)?], false)?;
                let logits = out.into_iter().next().ok_or_else(|| TrainError::Config("the model has no output".into()))?;
                let bs = labels.size()[0] as usize;
                check_logits(&logits, bs)?;
                loss += cross_entropy(&logits, &labels, 0.0).double_value(&[]) * bs as f64;
                c1 += topk_correct(&logits, &labels, 1);
                c5 += topk_correct(&logits, &labels, 5);
                n += bs;
            }
            let nf = n.max(1) as f64;
            Ok(EvalResult {
                loss: loss / nf,
                top1: Some(100.0 * c1 as f64 / nf),
                top5: Some(100.0 * c5 as f64 / nf),
                psnr: None,
                samples: n,
            })
        }
        RunData::SuperResolution { test, .. } => {
            let (mut loss, mut psnr, mut n) = (0.0, 0.0, 0usize);
            let shave = test.scale() as i64;
            for b in test.test_batches() {
                let hr = b.hr.to_device(exec.device());
                let out = exec.forward(&[b.lr], false)?;
                let sr = out.into_iter().next().ok_or_else(|| TrainError::Config("the model has no output".into()))?;
                if sr.size() != hr.size() {
                    return Err(TrainError::Config(format!(
                        "the model outputs {:?} for a test image whose HR size is {:?}; check --sr-scale",
                        sr.size(),
                        hr.size()
                    )));
                }
                loss += (&sr - &hr).abs().mean(Kind::Float).double_value(&[]);
                psnr += psnr_y(&sr, &hr, shave);
                n += 1;
            }
            let nf = n.max(1) as f64;
            Ok(EvalResult { loss: loss / nf, top1: None, top5: None, psnr: Some(psnr / nf), samples: n })
        }
    })
}

fn check_logits(logits: &Tensor, bs: usize) -> Result<(), TrainError> {
    let s = logits.size();
    if s.len() != 2 || s[0] as usize != bs {
        return Err(TrainError::Config(format!(
            "a classification model must output [N, classes] logits, got {s:?} for a batch of {bs}"
        )));
    }
    Ok(())
}

/// Clips the global L2 norm of the gradients to `max`.
fn clip_grad_norm(params: &[Param], max: f64) {
    tch::no_grad(|| {
        let grads: Vec<Tensor> = params.iter().map(|p| p.tensor.grad()).filter(|g| g.defined()).collect();
        if grads.is_empty() {
            return;
        }
        let total: f64 = grads.iter().map(|g| g.square().sum(Kind::Double).double_value(&[])).sum::<f64>().sqrt();
        if total > max {
            let s = max / (total + 1e-6);
            for mut g in grads {
                let _ = g.f_mul_scalar_(s);
            }
        }
    });
}

/// With `--skip-nonfinite`, this many bad steps in a row still stop the run (it is broken,
/// not unlucky).
const MAX_SKIPPED_IN_A_ROW: usize = 10;

/// The first parameter whose gradient holds a NaN or an infinity: one f64 sum per gradient and
/// one sync (a NaN or ±Inf anywhere makes the total non-finite); the name only then.
fn nonfinite_grad(params: &[Param]) -> Option<String> {
    tch::no_grad(|| {
        let sums: Vec<Tensor> = params.iter().map(|p| p.tensor.grad()).filter(|g| g.defined()).map(|g| g.sum(Kind::Double)).collect();
        if sums.is_empty() || Tensor::stack(&sums, 0).sum(Kind::Double).double_value(&[]).is_finite() {
            return None;
        }
        params.iter().find(|p| {
            let g = p.tensor.grad();
            g.defined() && !g.sum(Kind::Double).double_value(&[]).is_finite()
        })
        .map(|p| p.name.clone())
    })
}

fn zero_grads(params: &mut [Param]) {
    for p in params.iter_mut() {
        let mut g = p.tensor.grad();
        if g.defined() {
            let _ = tch::no_grad(|| g.f_zero_());
        }
    }
}

/// What is called after every step with the optimizer, the epoch so far and the global step
/// count: where a run writes its checkpoints within an epoch.
pub type StepHook<'a> = dyn FnMut(&dyn Optimizer, &Partial, usize) -> Result<(), TrainError> + 'a;

/// The seed of libtorch's generator (dropout etc.) for global step `step`: a step is a pure
/// function of (weights, optimizer state, seed, step), which makes --resume exact at any step.
fn step_seed(seed: u64, step: usize) -> i64 {
    (seed.wrapping_mul(1_000_003).wrapping_add(step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 1) as i64
}

/// How an epoch runs besides its model and data: where it resumes (a checkpoint written within
/// it), what is called after each step, and the process group whose ranks it trains with.
pub struct EpochOptions<'a, 'b> {
    pub resume: Option<Partial>,
    pub after_step: &'a mut StepHook<'b>,
    /// Data-parallel training: gradients are averaged over the group's ranks before each
    /// update, and the loss and accuracy sums are the group's.
    pub group: Option<&'a ProcessGroup>,
    /// The group's DDP reducer over the model's parameters (`None`: gradients averaged after
    /// the backward pass, `--no-overlap`); built once for the run.
    pub reducer: Option<&'a GradReducer>,
}

/// The backward pass; in data-parallel training the gradients end averaged over the ranks:
/// during the pass by c10d's DDP reducer when there is one, else after it (`--no-overlap`).
fn backward(loss: &Tensor, reducer: Option<&GradReducer>, group: Option<&ProcessGroup>, tensors: &[Tensor]) -> Result<(), TrainError> {
    match (reducer, group) {
        (Some(r), _) => {
            r.prepare()?;
            loss.f_backward().map_err(|e| r.backward_error(e))
        }
        (None, g) => {
            loss.f_backward()?;
            g.map_or(Ok(()), |g| g.average_gradients(tensors))
        }
    }
}

/// The training loss of one batch and, for classification, its correct top-1 count:
/// cross-entropy (with `smoothing`) of the logits, or the L1 distance of the super-resolved
/// images to the HR patches.
fn task_loss(task: TaskKind, y: &Tensor, target: &Tensor, smoothing: f64) -> Result<(Tensor, i64), TrainError> {
    match task {
        TaskKind::Classification => {
            check_logits(y, target.size()[0] as usize)?;
            let correct = tch::no_grad(|| topk_correct(y, target, 1));
            Ok((cross_entropy(y, target, smoothing), correct))
        }
        TaskKind::SuperResolution { .. } => {
            if y.size() != target.size() {
                return Err(TrainError::Config(format!(
                    "the model outputs {:?} but the HR patches are {:?}; check --sr-scale",
                    y.size(),
                    target.size()
                )));
            }
            Ok(((y - target).abs().mean(Kind::Float), 0))
        }
    }
}

/// The sums of one batch (loss × samples, correct, samples) over the group's ranks (the
/// tensor on `device`: NCCL reduces CUDA tensors only).
fn global_sums(g: &ProcessGroup, device: tch::Device, loss_sum: f64, correct: i64, seen: usize) -> Result<(f64, i64, usize), TrainError> {
    let mut t = [Tensor::from_slice(&[loss_sum, correct as f64, seen as f64]).to_device(device)];
    g.allreduce_sum(&mut t)?;
    let v = Vec::<f64>::try_from(&t[0].to_device(tch::Device::Cpu)).map_err(TrainError::Torch)?;
    Ok((v[0], v[1] as i64, v[2] as usize))
}

/// One training epoch (`epoch` 0-based), from the start or from where `o.resume` left it.
/// Returns the epoch's record (without test metrics).
#[allow(clippy::too_many_arguments)]
pub fn train_epoch(
    exec: &Executor,
    opt: &mut dyn Optimizer,
    data: &RunData,
    cfg: &TrainConfig,
    sched: &LrSchedule,
    epoch: usize,
    step: &mut usize,
    progress: &mut Progress,
    o: EpochOptions,
) -> Result<EpochRecord, TrainError> {
    let EpochOptions { resume, after_step, group, reducer } = o;
    let mut params = exec.params();
    let tensors: Vec<Tensor> = params.iter().map(|p| p.tensor.shallow_clone()).collect();
    // --sync-bn: BatchNorm's batch statistics summed over the ranks (differentiably)
    let sync = group.filter(|_| cfg.sync_bn).map(|g| move |t: &Tensor| g.allreduce_sum_autograd(t).map_err(|e| e.to_string()));
    let rank_sum = sync.as_ref().map(|f| f as &oto_exec::RankSum);
    let steps = data.steps_per_epoch(cfg.max_train_batches);
    progress.start_epoch(epoch + 1, cfg.epochs, steps);
    let t0 = Instant::now();
    let mut part = resume.unwrap_or_default();
    let (first, secs0) = (part.batches, part.seconds);
    let lr0 = opt.lr();
    let mut consecutive_bad = 0usize;
    let mut run_step = |i: usize, x: Tensor, target: Tensor, progress: &mut Progress| -> Result<(), TrainError> {
        tch::manual_seed(step_seed(cfg.seed, *step));
        let lr = sched.lr_at(*step);
        opt.set_lr(lr);
        let out = exec.forward_in(&[x], true, rank_sum)?;
        let y = out.into_iter().next().ok_or_else(|| TrainError::Config("the model has no output".into()))?;
        let target = target.to_device(exec.device());
        let bs = target.size()[0] as usize;
        let (loss, correct) = task_loss(data.task(), &y, &target, cfg.label_smoothing)?;
        let lv = loss.double_value(&[]);
        // the batch over all ranks (data-parallel): every rank then takes the same decisions
        let (loss_sum, correct, seen) = match group {
            Some(g) => global_sums(g, exec.device(), lv * bs as f64, correct, bs)?,
            None => (lv * bs as f64, correct, bs),
        };
        let lv = if group.is_some() { loss_sum / seen as f64 } else { lv };
        zero_grads(&mut params);
        let bad = if lv.is_finite() {
            backward(&loss, reducer, group, &tensors)?;
            nonfinite_grad(&params).map(|param| TrainError::NonFiniteGradient { param, loss: lv, epoch: epoch + 1, step: *step + 1 })
        } else {
            Some(TrainError::NonFiniteLoss { value: lv, epoch: epoch + 1, step: *step + 1 })
        };
        match bad {
            Some(e) if !cfg.skip_nonfinite || consecutive_bad >= MAX_SKIPPED_IN_A_ROW => return Err(e),
            Some(e) => {
                // --skip-nonfinite: no update from this batch (the schedule still moves on)
                zero_grads(&mut params);
                consecutive_bad += 1;
                part.skipped += 1;
                progress.line(&format!("skipped: {e}"));
            }
            None => {
                consecutive_bad = 0;
                if cfg.grad_clip > 0.0 {
                    clip_grad_norm(&params, cfg.grad_clip);
                }
                opt.step()?;
                if let Some(e) = opt.stats().event {
                    progress.line(&format!("{} {e}", cfg.pruner.name())); // DHSPG partition / deadline, HESSO periods
                }
                part.loss_sum += loss_sum;
                part.seen += seen;
                part.correct += correct;
            }
        }
        *step += 1;
        part.batches = i + 1;
        part.lr = lr;
        part.seconds = secs0 + t0.elapsed().as_secs_f64();
        let el = t0.elapsed().as_secs_f64().max(1e-9);
        let (loss_sum, correct, seen) = (part.loss_sum, part.correct, part.seen);
        progress.step(i + 1, steps, || {
            let mut m = format!("loss {:.4}", loss_sum / seen as f64);
            if data.task() == TaskKind::Classification {
                m += &format!(" acc {:.1}%", 100.0 * correct as f64 / seen as f64);
            }
            m + &format!(" {:.0}/s", bs as f64 * (i + 1 - first) as f64 / el)
        });
        if i + 1 < steps {
            after_step(&*opt, &part, *step)?;
        }
        Ok(())
    };
    match data {
        RunData::Classification { train, .. } => {
            for (i, b) in train.epoch_from(epoch as u64, first).take(steps.saturating_sub(first)).enumerate() {
                let b = b?;
                run_step(first + i, data.fit_images(b.images)?, b.labels, progress)?;
            }
        }
        RunData::SuperResolution { train, train_cfg, .. } => {
            for (i, b) in train.train_batches_from(train_cfg, epoch as u64, first)?.take(steps.saturating_sub(first)).enumerate() {
                let b = b?;
                run_step(first + i, b.lr, b.hr, progress)?;
            }
        }
    }
    let (loss_sum, correct, seen) = (part.loss_sum, part.correct, part.seen);
    let lr = if part.batches > 0 { part.lr } else { lr0 };
    // The last gradients are not needed any more (frees memory before evaluation).
    zero_grads(&mut params);
    progress.end_epoch();
    let secs = secs0 + t0.elapsed().as_secs_f64();
    Ok(EpochRecord {
        epoch: epoch + 1,
        step: *step,
        lr,
        train_loss: loss_sum / seen.max(1) as f64,
        train_acc: (data.task() == TaskKind::Classification).then(|| 100.0 * correct as f64 / seen.max(1) as f64),
        train_seconds: secs,
        samples_per_second: seen as f64 / secs.max(1e-9),
        skipped_steps: part.skipped,
        ..Default::default()
    })
}
