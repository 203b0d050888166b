//! Kill -9 and resume (issue 25): a DHSPG run checkpointing after every step is killed with
//! SIGKILL at random moments (within epochs, during checkpoint writes, during the final
//! compression), resumed each time with `--resume`, and must end with the same weights, group
//! masks (compressed model and manifest) and metrics as an uninterrupted run, bit for bit on
//! the CPU; no temporary file may be left behind.
#![cfg(feature = "train")]
use std::path::Path;
use std::process::{Command, Stdio};

const ARGS: &[&str] = &[
    "train", "--model", "zoo:fmnist_resnet", "--epochs", "3", "--batch-size", "32", "--max-train-batches", "8", "--threads", "1",
    "--target-sparsity", "0.5", "--checkpoint-every", "1", "--progress", "plain",
];

fn oto(out: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_oto"));
    c.args(ARGS).arg("--out").arg(out);
    c
}

/// metrics.jsonl without the wall-time fields.
fn metrics(dir: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join("metrics.jsonl")).unwrap();
    text.lines()
        .map(|l| {
            let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
            let o = v.as_object_mut().unwrap();
            o.remove("train_seconds");
            o.remove("samples_per_second");
            v
        })
        .collect()
}

fn weights(p: &Path) -> Vec<(String, Vec<f32>)> {
    let g = oto_graph::Graph::load(p).unwrap();
    let mut v: Vec<(String, Vec<f32>)> = g
        .values
        .iter()
        .filter_map(|v| v.init.as_ref().and_then(|t| oto_onnx::tensor::to_f32(t).ok()).map(|d| (v.name.clone(), d)))
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// A checkpoint is being written: its temporary file is there.
fn writing(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|d| d.flatten().any(|e| e.file_name().to_string_lossy().starts_with(".checkpoint.ot.tmp")))
}

/// Waits for the moment of kill `k` (or for the run to end): early in the start-up; during the
/// n-th checkpoint write (random n); a random moment after the n-th write (mostly within a
/// step, sometimes in an evaluation); while the outputs are written (compression, proof).
fn kill_when(k: usize, rng: &mut u64, dir: &Path, child: &mut std::process::Child) -> String {
    let ms = |x: f64| std::time::Duration::from_secs_f64(x / 1000.0);
    if k == 0 {
        let t = 500.0 * next(rng);
        std::thread::sleep(ms(t));
        return format!("at {t:.0} ms");
    }
    if k == 6 {
        while child.try_wait().unwrap().is_none() && !dir.join("full.onnx").is_file() {
            std::thread::sleep(ms(0.1));
        }
        let t = 300.0 * next(rng);
        std::thread::sleep(ms(t));
        return format!("{t:.0} ms after full.onnx appeared");
    }
    let n = 1 + (6.0 * next(rng)) as usize;
    let (mut seen, mut was) = (0, false);
    while child.try_wait().unwrap().is_none() {
        let now = writing(dir);
        if now && !was {
            seen += 1;
            if seen == n && k % 2 == 1 {
                return format!("during checkpoint write {n}");
            }
        }
        was = now;
        if seen == n && !now {
            let t = 60.0 * next(rng);
            std::thread::sleep(ms(t));
            return format!("{t:.0} ms after checkpoint write {n}");
        }
        std::thread::sleep(ms(0.05));
    }
    "(the run had ended)".into()
}

/// A small xorshift: the kill moments differ from run to run (printed, to replay a failure).
fn next(state: &mut u64) -> f64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    (*state >> 11) as f64 / (1u64 << 53) as f64
}

#[test]
fn sigkill_at_random_moments_then_resume_equals_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    let o = oto(&a).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let mut rng = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    let kills = 7;
    let (mut within, mut torn, mut log) = (0, 0, String::new());
    for k in 0..=kills {
        let resume = b.join("checkpoint.ot").is_file();
        let mut cmd = oto(&b);
        if resume {
            cmd.arg("--resume");
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        if k < kills {
            let what = kill_when(k, &mut rng, &b, &mut child);
            log += &format!("kill {k} {what}; ");
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap(); // SIGKILL
            }
        }
        let o = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
        within += text.matches("within epoch").count();
        if k == kills {
            assert!(o.status.success(), "{log}\n{text}");
        }
        torn += std::fs::read_dir(&b).map_or(0, |d| d.flatten().filter(|e| e.file_name().to_string_lossy().contains(".tmp")).count());
    }
    eprintln!("{log}: {within} resume(s) within an epoch, {torn} kill(s) during a write");
    assert!(torn >= 1 && within >= 1, "no kill during a checkpoint write or no resume within an epoch: {log}");

    let (wa, wb) = (weights(&a.join("full.onnx")), weights(&b.join("full.onnx")));
    assert_eq!(wa.len(), wb.len());
    for ((na, da), (nb, db)) in wa.iter().zip(&wb) {
        assert_eq!(na, nb);
        assert!(da == db, "tensor {na} differs after kill and resume ({log})");
    }
    for f in ["compressed.onnx", "manifest.json"] {
        assert!(std::fs::read(a.join(f)).unwrap() == std::fs::read(b.join(f)).unwrap(), "{f} differs ({log})");
    }
    assert_eq!(metrics(&a), metrics(&b), "metrics differ ({log})");
    let left: Vec<String> = std::fs::read_dir(&b)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}
