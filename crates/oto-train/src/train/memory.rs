//! The memory a run needs, estimated before anything is allocated (issue 25): parameters and
//! their gradients, the optimizer's state, and the activations one training step keeps for the
//! backward pass at the batch size. A run that cannot fit in the memory the system has available
//! (a CUDA run: the device's free memory) is refused with the numbers; the run line states the
//! estimate.
use crate::TrainError;
use oto_graph::{Dim, Graph, ValueId};

/// Bytes of one run's peak, by part (4-byte floats).
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    /// Parameters and their gradients.
    pub params: u64,
    /// Optimizer state (momentum, Adam moments, the pruner's per-row buffers).
    pub optimizer: u64,
    /// Every node output at the batch size, and its gradient.
    pub activations: u64,
    pub batch: usize,
}

impl Estimate {
    pub fn total(&self) -> u64 {
        self.params + self.optimizer + self.activations
    }
    /// One line for the run log.
    pub fn describe(&self) -> String {
        format!("memory estimate {} ({})", gib(self.total()), self.parts())
    }
    fn parts(&self) -> String {
        format!(
            "parameters + gradients {}, optimizer state {}, activations at batch {} {}",
            gib(self.params),
            gib(self.optimizer),
            self.batch,
            gib(self.activations)
        )
    }
}

fn gib(b: u64) -> String {
    format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64)
}

/// Elements of a value at `batch`: a symbolic leading axis counts `batch`, another symbolic
/// dim 1 (so the estimate errs low and never refuses a run that fits).
fn elements(shape: &[Dim], batch: usize) -> u64 {
    oto_graph::ir::elements(shape, batch as u64, 1)
}

/// The estimate for `graph` with `trainable` parameters at `batch`; `state_per_param` = the
/// optimizer's buffers per parameter (SGD with momentum 1, Adam 2, plus the pruner's one).
pub fn estimate(graph: &Graph, trainable: &[ValueId], batch: usize, state_per_param: u64) -> Estimate {
    let numel = |v: ValueId| graph.values[v].shape.as_deref().map_or(0, |s| elements(s, batch));
    let n_params: u64 = trainable.iter().map(|&v| numel(v)).sum();
    let activations: u64 = graph.nodes.iter().flat_map(|n| n.outputs.iter().flatten()).map(|&v| numel(v)).fold(0u64, u64::saturating_add);
    Estimate { params: 2 * 4 * n_params, optimizer: 4 * n_params * state_per_param, activations: activations.saturating_mul(2 * 4), batch }
}

/// `MemAvailable` of `/proc/meminfo` in bytes (Linux; `None` where it cannot be read).
pub fn available_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    line.split_whitespace().nth(1)?.parse::<u64>().ok().map(|kb| kb * 1024)
}

/// Free memory of CUDA device `index` in bytes, as `nvidia-smi` reports it (`None` when it
/// cannot be asked: no driver tools, another vendor). libtorch's own allocator cache is free
/// for the run too, so this errs low only by what other processes hold.
pub fn cuda_free_bytes(index: usize) -> Option<u64> {
    let o = std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=memory.free", "--format=csv,noheader,nounits", "-i", &index.to_string()])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    parse_mib(&String::from_utf8_lossy(&o.stdout))
}

/// `nvidia-smi`'s free memory (MiB, one line) in bytes.
fn parse_mib(text: &str) -> Option<u64> {
    text.lines().next()?.trim().parse::<u64>().ok().map(|mib| mib << 20)
}

/// Refuses a run whose estimate exceeds `available` bytes, with the numbers and what to change.
pub fn check(e: &Estimate, available: Option<u64>) -> Result<(), TrainError> {
    match available {
        Some(a) if e.total() > a => Err(TrainError::Config(format!(
            "the run needs about {} of memory ({}) but {} are available: lower --batch-size (activations grow with it) or use a machine with more memory",
            gib(e.total()),
            e.parts(),
            gib(a)
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_counts_parameters_state_and_activations_at_the_batch() {
        let cfg = oto_zoo::ZooConfig::default();
        let g = Graph::from_model(oto_zoo::build("fmnist_vgg", &cfg).unwrap()).unwrap();
        let an = oto_graph::zig::analyze(&g);
        let n_params: u64 = an.trainable.iter().map(|&v| g.values[v].shape.as_deref().map_or(0, |s| elements(s, 1))).sum();
        let e1 = estimate(&g, &an.trainable, 1, 2);
        let e64 = estimate(&g, &an.trainable, 64, 2);
        assert_eq!((e1.params, e1.optimizer), (8 * n_params, 8 * n_params));
        assert_eq!(e64.params, e1.params, "parameters do not grow with the batch");
        assert_eq!(e64.activations, 64 * e1.activations, "activations do");
        assert!(check(&e64, Some(e64.total())).is_ok());
        let err = check(&e64, Some(e64.total() - 1)).unwrap_err().to_string();
        assert!(err.contains("--batch-size") && err.contains("available"), "{err}");
        assert!(check(&e64, None).is_ok(), "no figure, no refusal");
        assert_eq!(parse_mib("80991\n"), Some(80991 << 20));
        assert_eq!(parse_mib("[N/A]\n"), None);
        assert_eq!(parse_mib(""), None);
    }
}
