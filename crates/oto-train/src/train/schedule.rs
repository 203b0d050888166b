//! Learning-rate schedules, evaluated per step so that warm-up is smooth and resume is exact
//! (the rate is a pure function of the step index).
use super::config::{ScheduleKind, TrainConfig};

#[derive(Clone, Debug, PartialEq)]
pub struct LrSchedule {
    pub base: f64,
    pub kind: ScheduleKind,
    pub epochs: usize,
    pub steps_per_epoch: usize,
    pub warmup_epochs: f64,
    pub step_size: usize,
    pub milestones: Vec<usize>,
    pub gamma: f64,
    pub min_lr: f64,
}

impl LrSchedule {
    pub fn from_config(c: &TrainConfig, steps_per_epoch: usize) -> Self {
        LrSchedule {
            base: c.lr(),
            kind: c.schedule,
            epochs: c.epochs,
            steps_per_epoch: steps_per_epoch.max(1),
            warmup_epochs: c.warmup_epochs,
            step_size: c.step_size,
            milestones: c.milestones.clone(),
            gamma: c.gamma,
            min_lr: c.min_lr,
        }
    }

    /// Learning rate of global step `step` (0-based).
    pub fn lr_at(&self, step: usize) -> f64 {
        let spe = self.steps_per_epoch as f64;
        let e = step as f64 / spe; // fractional epoch at the start of the step
        let warm = self.warmup_epochs;
        if warm > 0.0 && e < warm {
            return self.base * ((step + 1) as f64 / (warm * spe)).min(1.0);
        }
        let epoch = step / self.steps_per_epoch;
        match self.kind {
            ScheduleKind::Constant => self.base,
            ScheduleKind::Step => {
                let k = if self.milestones.is_empty() {
                    epoch / self.step_size.max(1)
                } else {
                    self.milestones.iter().filter(|&&m| epoch >= m).count()
                };
                self.base * self.gamma.powi(k as i32)
            }
            ScheduleKind::Cosine => {
                let span = (self.epochs as f64 - warm).max(1e-9);
                let t = ((e - warm) / span).clamp(0.0, 1.0);
                self.min_lr + 0.5 * (self.base - self.min_lr) * (1.0 + (std::f64::consts::PI * t).cos())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn sched(kind: ScheduleKind, warm: f64) -> LrSchedule {
        LrSchedule {
            base: 0.1,
            kind,
            epochs: 10,
            steps_per_epoch: 10,
            warmup_epochs: warm,
            step_size: 3,
            milestones: vec![],
            gamma: 0.1,
            min_lr: 0.0,
        }
    }
    #[test]
    fn step_and_cosine() {
        let s = sched(ScheduleKind::Step, 0.0);
        assert_eq!(s.lr_at(0), 0.1);
        assert!((s.lr_at(30) - 0.01).abs() < 1e-12);
        assert!((s.lr_at(65) - 0.001).abs() < 1e-12);
        let c = sched(ScheduleKind::Cosine, 0.0);
        assert_eq!(c.lr_at(0), 0.1);
        assert!((c.lr_at(50) - 0.05).abs() < 1e-12);
        assert!(c.lr_at(99) < 0.001);
        let w = sched(ScheduleKind::Cosine, 1.0);
        assert!((w.lr_at(0) - 0.01).abs() < 1e-12);
        assert!((w.lr_at(9) - 0.1).abs() < 1e-12);
        assert!(w.lr_at(10) <= 0.1);
        let mut m = sched(ScheduleKind::Step, 0.0);
        m.milestones = vec![5, 8];
        assert!((m.lr_at(49) - 0.1).abs() < 1e-12);
        assert!((m.lr_at(50) - 0.01).abs() < 1e-12);
        assert!((m.lr_at(80) - 0.001).abs() < 1e-12);
    }
}
