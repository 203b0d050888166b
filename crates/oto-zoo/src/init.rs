//! Seeded random initialisation following PyTorch's defaults (Kaiming-normal fan-out convs as
//! in torchvision, uniform ±1/sqrt(fan_in) linears, BN at identity). `randomize_stats` makes
//! every BN/LN/bias parameter non-trivial so that pruning mistakes change the outputs.
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub struct Init {
    rng: ChaCha8Rng,
    pub randomize: bool,
}

impl Init {
    pub fn new(seed: u64, randomize: bool) -> Self {
        Init { rng: ChaCha8Rng::seed_from_u64(seed), randomize }
    }

    /// A SplitMix64 stream keyed by the ChaCha generator. Per-value work stays tiny because
    /// this crate usually runs unoptimised (debug tests build 100M+ parameter models).
    fn stream(&mut self) -> SplitMix {
        SplitMix(self.rng.next_u64())
    }

    pub fn normal(&mut self, n: usize, std: f32) -> Vec<f32> {
        let mut s = self.stream();
        let mut v = Vec::with_capacity(n + 1);
        while v.len() < n {
            // Box-Muller: two 24-bit uniforms from one draw give two normal samples.
            let z = s.next();
            let u1 = ((z >> 40) as f32 + 0.5) * (1.0 / 16_777_216.0);
            let u2 = ((z >> 8) & 0xFF_FFFF) as f32 * (1.0 / 16_777_216.0);
            let r = (-2.0 * u1.ln()).sqrt() * std;
            let (sin, cos) = (std::f32::consts::TAU * u2).sin_cos();
            v.push(r * cos);
            v.push(r * sin);
        }
        v.truncate(n);
        v
    }

    pub fn uniform(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        let mut s = self.stream();
        let scale = (hi - lo) * (1.0 / 16_777_216.0);
        (0..n).map(|_| lo + (s.next() >> 40) as f32 * scale).collect()
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

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::Init;
    #[test]
    fn normal_has_the_requested_moments() {
        let v = Init::new(1, false).normal(100_001, 2.0);
        assert_eq!(v.len(), 100_001);
        let mean = v.iter().sum::<f32>() / v.len() as f32;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / v.len() as f32;
        assert!(mean.abs() < 0.05 && (var.sqrt() - 2.0).abs() < 0.05, "mean {mean} std {}", var.sqrt());
        let u = Init::new(1, false).uniform(10_000, -1.0, 3.0);
        assert!(u.iter().all(|&x| (-1.0..3.0).contains(&x)));
    }
}
