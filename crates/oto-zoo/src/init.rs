//! Seeded random initialisation following PyTorch's defaults (Kaiming-normal fan-out convs as
//! in torchvision, uniform ±1/sqrt(fan_in) linears, BN at identity). `randomize_stats` makes
//! every BN/LN/bias parameter non-trivial so that pruning mistakes change the outputs.
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub struct Init {
    rng: ChaCha8Rng,
    pub randomize: bool,
}

impl Init {
    pub fn new(seed: u64, randomize: bool) -> Self {
        Init { rng: ChaCha8Rng::seed_from_u64(seed), randomize }
    }

    pub fn normal(&mut self, n: usize, std: f32) -> Vec<f32> {
        let mut v = Vec::with_capacity(n);
        while v.len() < n {
            // Box-Muller gives two samples per draw.
            let u1: f32 = self.rng.random::<f32>().max(1e-12);
            let u2: f32 = self.rng.random::<f32>();
            let r = (-2.0 * u1.ln()).sqrt() * std;
            let t = std::f32::consts::TAU * u2;
            v.push(r * t.cos());
            if v.len() < n {
                v.push(r * t.sin());
            }
        }
        v
    }

    pub fn uniform(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| lo + (hi - lo) * self.rng.random::<f32>()).collect()
    }

    /// Conv / transposed-conv weight: Kaiming normal, mode fan_out, ReLU gain.
    pub fn conv_weight(&mut self, n: usize, fan_out: usize) -> Vec<f32> {
        self.normal(n, (2.0 / fan_out.max(1) as f32).sqrt())
    }

    /// Linear weight: uniform ±1/sqrt(fan_in).
    pub fn linear_weight(&mut self, n: usize, fan_in: usize) -> Vec<f32> {
        let b = 1.0 / (fan_in.max(1) as f32).sqrt();
        self.uniform(n, -b, b)
    }

    /// Bias: uniform ±1/sqrt(fan_in) (PyTorch default), wider when randomizing.
    pub fn bias(&mut self, n: usize, fan_in: usize) -> Vec<f32> {
        let b = if self.randomize { 0.5 } else { 1.0 / (fan_in.max(1) as f32).sqrt() };
        self.uniform(n, -b, b)
    }

    /// Norm scale: ones, or U(0.5, 1.5).
    pub fn gamma(&mut self, n: usize) -> Vec<f32> {
        if self.randomize { self.uniform(n, 0.5, 1.5) } else { vec![1.0; n] }
    }

    /// Norm shift / running mean: zeros, or U(-0.5, 0.5).
    pub fn beta(&mut self, n: usize) -> Vec<f32> {
        if self.randomize { self.uniform(n, -0.5, 0.5) } else { vec![0.0; n] }
    }

    /// BN running variance: ones, or U(0.5, 2).
    pub fn var(&mut self, n: usize) -> Vec<f32> {
        if self.randomize { self.uniform(n, 0.5, 2.0) } else { vec![1.0; n] }
    }
}
