//! Baseline directions (SGD with momentum/dampening/Nesterov, Adam, AdamW) and the dense
//! optimizers built on them ([`Sgd`], [`Adam`], [`AdamW`]) with PyTorch semantics.
//!
//! The same per-tensor [`Direction`] engine is used by DHSPG (spec §3.3); DHSPG's only difference
//! is the Adam moment initialisation of the original (`m = g`, `v = g²`, [`AdamInit::Original`]).

use super::{OptimStats, Optimizer, Param};
use crate::OptimError;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// Baseline variant (spec §3.3, §3.10 `variant`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    #[default]
    Sgd,
    Adam,
    #[serde(rename = "adamw")]
    AdamW,
}

impl Variant {
    /// The original's per-variant baseline defaults (`optimizer/hyperparameter.py`, spec §3.10),
    /// shared by [`super::DhspgConfig::for_variant`] and [`super::HessoConfig::for_variant`].
    pub fn defaults(self) -> VariantDefaults {
        let (lr, first_momentum, second_momentum, weight_decay) = match self {
            Variant::Sgd => (0.1, 0.0, 0.0, 0.0),
            Variant::Adam => (1e-3, 0.9, 0.999, 0.0),
            Variant::AdamW => (1e-3, 0.9, 0.999, 1e-2),
        };
        VariantDefaults { lr, first_momentum, second_momentum, weight_decay }
    }
}

/// See [`Variant::defaults`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VariantDefaults {
    pub lr: f64,
    /// SGD momentum μ or Adam β1.
    pub first_momentum: f64,
    /// Adam β2.
    pub second_momentum: f64,
    pub weight_decay: f64,
}

/// Adam moment initialisation on a tensor's first step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AdamInit {
    /// PyTorch: `m = 0, v = 0` then the usual update (first step ≈ `sign(g)`).
    #[default]
    Standard,
    /// OTOv2's `dhspg.py`: `m = g, v = g²` on first use (first step ≈ 0.32·sign(g)).
    Original,
}

/// Hyper-parameters of a baseline direction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DirectionConfig {
    pub variant: Variant,
    /// SGD momentum μ or Adam β1.
    pub momentum: f64,
    /// Adam β2.
    pub beta2: f64,
    /// SGD dampening.
    pub dampening: f64,
    /// SGD Nesterov momentum (PyTorch semantics: `d = g + μ·b`).
    pub nesterov: bool,
    /// Coupled L2 (`g += wd·x`) for SGD/Adam, decoupled (`x -= lr·wd·x`) for AdamW.
    pub weight_decay: f64,
    /// Adam denominator ε.
    pub adam_eps: f64,
    pub adam_init: AdamInit,
}

impl Default for DirectionConfig {
    fn default() -> Self {
        DirectionConfig {
            variant: Variant::Sgd,
            momentum: 0.0,
            beta2: 0.999,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0,
            adam_eps: 1e-8,
            adam_init: AdamInit::Standard,
        }
    }
}

/// Per-tensor state of the baseline direction (buffers on the tensor's device).
#[derive(Debug, Default)]
pub struct Direction {
    pub cfg: DirectionConfig,
    /// SGD momentum buffer, or Adam first moment.
    buf: Vec<Option<Tensor>>,
    /// Adam second moment.
    sq: Vec<Option<Tensor>>,
    /// Steps taken per tensor (Adam bias correction).
    steps: Vec<i64>,
}

impl Direction {
    pub fn new(cfg: DirectionConfig, n: usize) -> Self {
        Direction { cfg, buf: (0..n).map(|_| None).collect(), sq: (0..n).map(|_| None).collect(), steps: vec![0; n] }
    }

    /// True when the variant applies weight decay at update time (AdamW) instead of to the gradient.
    pub fn decoupled(&self) -> bool {
        self.cfg.variant == Variant::AdamW
    }

    /// The direction `d` for tensor `i` with value `x` and gradient `g` (no `lr` applied).
    /// Must run under `no_grad`.
    pub fn direction(&mut self, i: usize, x: &Tensor, g: &Tensor) -> Tensor {
        let c = &self.cfg;
        self.steps[i] += 1;
        let t = self.steps[i];
        let g = if c.weight_decay != 0.0 && c.variant != Variant::AdamW { g + x * c.weight_decay } else { g.shallow_clone() };
        match c.variant {
            Variant::Sgd => {
                if c.momentum != 0.0 || c.dampening != 0.0 {
                    let b = match &mut self.buf[i] {
                        Some(b) => {
                            let _ = b.g_mul_scalar_(c.momentum);
                            let _ = b.g_add_(&(&g * (1.0 - c.dampening)));
                            b.shallow_clone()
                        }
                        slot @ None => {
                            let b = g.detach().copy();
                            *slot = Some(b.shallow_clone());
                            b
                        }
                    };
                    if c.nesterov {
                        g + b * c.momentum
                    } else {
                        b
                    }
                } else {
                    g
                }
            }
            Variant::Adam | Variant::AdamW => {
                let (b1, b2) = (c.momentum, c.beta2);
                let first = self.buf[i].is_none();
                if first {
                    match c.adam_init {
                        AdamInit::Original => {
                            self.buf[i] = Some(g.detach().copy());
                            self.sq[i] = Some(&g * &g);
                        }
                        AdamInit::Standard => {
                            self.buf[i] = Some(g.zeros_like());
                            self.sq[i] = Some(g.zeros_like());
                        }
                    }
                }
                let m = self.buf[i].as_mut().unwrap();
                let v = self.sq[i].as_mut().unwrap();
                if !(first && c.adam_init == AdamInit::Original) {
                    let _ = m.g_mul_scalar_(b1);
                    let _ = m.g_add_(&(&g * (1.0 - b1)));
                    let _ = v.g_mul_scalar_(b2);
                    let _ = v.g_add_(&(&g * &g * (1.0 - b2)));
                }
                let bc1 = 1.0 - b1.powi(t as i32);
                let bc2 = 1.0 - b2.powi(t as i32);
                let denom = (&*v / bc2).sqrt() + c.adam_eps;
                (&*m / bc1) / denom
            }
        }
    }

    /// Named state tensors of `params` (moments, step counters, per tensor name) and the learning
    /// rate under `"lr"`: the part every optimizer's checkpoint shares.
    pub fn state(&self, params: &[Param], lr: f64) -> Vec<(String, Tensor)> {
        let mut out = vec![];
        let (a, b) = self.state_keys();
        for (i, p) in params.iter().enumerate() {
            let n = &p.name;
            if let Some(t) = &self.buf[i] {
                out.push((format!("{n}.{a}"), t.copy()));
            }
            if let Some(t) = &self.sq[i] {
                out.push((format!("{n}.{b}"), t.copy()));
            }
            out.push((format!("{n}.step"), Tensor::from(self.steps[i])));
        }
        out.push(("lr".into(), Tensor::from(lr).to_kind(Kind::Double)));
        out
    }

    /// Restores what [`Direction::state`] wrote (tensors go to each parameter's device and kind);
    /// returns the saved learning rate, if the state has one.
    pub fn load_state(&mut self, params: &[Param], state: &[(String, Tensor)]) -> Result<Option<f64>, OptimError> {
        let (a, b) = self.state_keys();
        let find = |k: String| state.iter().find(|(n, _)| *n == k).map(|(_, t)| t);
        for (i, p) in params.iter().enumerate() {
            let (n, like) = (&p.name, &p.tensor);
            let (dev, kind) = (like.device(), like.kind());
            self.buf[i] = find(format!("{n}.{a}")).map(|t| t.to_device(dev).to_kind(kind).copy());
            self.sq[i] = if b.is_empty() { None } else { find(format!("{n}.{b}")).map(|t| t.to_device(dev).to_kind(kind).copy()) };
            self.steps[i] = find(format!("{n}.step")).map_or(0, |t| t.int64_value(&[]));
            if let Some(t) = &self.buf[i] {
                if t.size() != like.size() {
                    return Err(OptimError::Checkpoint {
                        path: n.clone(),
                        reason: format!("optimizer state shape {:?} does not match the parameter {:?}", t.size(), like.size()),
                    });
                }
            }
        }
        Ok(find("lr".into()).map(|t| t.double_value(&[])))
    }

    /// Key suffixes of the first and second moment buffers (PyTorch's names).
    fn state_keys(&self) -> (&'static str, &'static str) {
        match self.cfg.variant {
            Variant::Sgd => ("momentum_buffer", ""),
            _ => ("exp_avg", "exp_avg_sq"),
        }
    }
}

/// Shared body of the dense optimizers.
#[derive(Debug)]
pub struct Dense {
    pub params: Vec<Param>,
    pub lr: f64,
    pub dir: Direction,
}

impl Dense {
    fn new(params: Vec<Param>, lr: f64, cfg: DirectionConfig) -> Self {
        let n = params.len();
        Dense { params, lr, dir: Direction::new(cfg, n) }
    }
    fn step(&mut self) -> Result<(), OptimError> {
        let _g = tch::no_grad_guard();
        let decoupled = self.dir.decoupled();
        let wd = self.dir.cfg.weight_decay;
        for (i, p) in self.params.iter_mut().enumerate() {
            let g = p.tensor.grad();
            if !g.defined() {
                continue;
            }
            let d = self.dir.direction(i, &p.tensor, &g);
            if decoupled && wd != 0.0 {
                let _ = p.tensor.g_mul_scalar_(1.0 - self.lr * wd);
            }
            let _ = p.tensor.g_sub_(&(d * self.lr));
        }
        Ok(())
    }
    fn state(&self) -> Vec<(String, Tensor)> {
        self.dir.state(&self.params, self.lr)
    }
    fn load_state(&mut self, state: &[(String, Tensor)]) -> Result<(), OptimError> {
        if let Some(lr) = self.dir.load_state(&self.params, state)? {
            self.lr = lr;
        }
        Ok(())
    }
}

macro_rules! dense_optimizer {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug)]
        pub struct $name(pub Dense);
        impl Optimizer for $name {
            fn step(&mut self) -> Result<(), OptimError> {
                self.0.step()
            }
            fn lr(&self) -> f64 {
                self.0.lr
            }
            fn set_lr(&mut self, lr: f64) {
                self.0.lr = lr;
            }
            fn stats(&self) -> OptimStats {
                OptimStats { stage: Some("dense".into()), ..Default::default() }
            }
            fn state(&self) -> Vec<(String, Tensor)> {
                self.0.state()
            }
            fn load_state(&mut self, state: &[(String, Tensor)]) -> Result<(), OptimError> {
                self.0.load_state(state)
            }
        }
    };
}

dense_optimizer!(Sgd, "`torch.optim.SGD`: momentum, dampening, Nesterov, coupled weight decay.");
dense_optimizer!(Adam, "`torch.optim.Adam` (no amsgrad): coupled weight decay.");
dense_optimizer!(AdamW, "`torch.optim.AdamW`: decoupled weight decay.");

/// `torch.optim.SGD` hyper-parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SgdConfig {
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig { lr: 0.1, momentum: 0.0, dampening: 0.0, nesterov: false, weight_decay: 0.0 }
    }
}

/// `torch.optim.Adam` / `AdamW` hyper-parameters (`weight_decay` default 0 for Adam, 1e-2 for AdamW).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdamConfig {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 }
    }
}

impl Sgd {
    pub fn new(params: Vec<Param>, c: &SgdConfig) -> Result<Self, OptimError> {
        if c.nesterov && (c.momentum <= 0.0 || c.dampening != 0.0) {
            return Err(OptimError::Config("Nesterov momentum requires momentum > 0 and dampening = 0".into()));
        }
        let d = DirectionConfig {
            variant: Variant::Sgd,
            momentum: c.momentum,
            dampening: c.dampening,
            nesterov: c.nesterov,
            weight_decay: c.weight_decay,
            ..Default::default()
        };
        Ok(Sgd(Dense::new(params, c.lr, d)))
    }
}

fn adam_dir(variant: Variant, c: &AdamConfig) -> DirectionConfig {
    DirectionConfig {
        variant,
        momentum: c.beta1,
        beta2: c.beta2,
        weight_decay: c.weight_decay,
        adam_eps: c.eps,
        adam_init: AdamInit::Standard,
        ..Default::default()
    }
}

impl Adam {
    pub fn new(params: Vec<Param>, c: &AdamConfig) -> Result<Self, OptimError> {
        Ok(Adam(Dense::new(params, c.lr, adam_dir(Variant::Adam, c))))
    }
}

impl AdamW {
    /// `weight_decay` is the decoupled decay (PyTorch's AdamW default is 1e-2; pass it explicitly).
    pub fn new(params: Vec<Param>, c: &AdamConfig) -> Result<Self, OptimError> {
        Ok(AdamW(Dense::new(params, c.lr, adam_dir(Variant::AdamW, c))))
    }
}
