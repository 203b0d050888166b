//! Data-parallel training from the command line (issue 26): `oto train --nproc 2` trains on two
//! local ranks (c10d, Gloo) and rank 0 alone writes the outputs; ranks started torchrun-style
//! (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT) of which one is killed make the other stop
//! within seconds with one error line saying so, leaving no torn file.
#![cfg(feature = "train")]
#[path = "../../oto-train/tests/common_dist/mod.rs"]
mod common_dist;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const QUICK: &[&str] = &["train", "--model", "zoo:fmnist_resnet", "--max-train-batches", "6", "--progress", "plain"];

#[test]
fn nproc_2_trains_compresses_and_writes_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = Command::new(env!("CARGO_BIN_EXE_oto"))
        .args(QUICK)
        .args(["--epochs", "2", "--batch-size", "32", "--target-sparsity", "0.5", "--nproc", "2", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{text}");
    assert!(text.contains("data-parallel: 2 ranks (c10d, Gloo), 16 samples of each batch of 32 per rank, BatchNorm per rank"), "{text}");
    assert_eq!(text.matches("outputs in").count(), 1, "only rank 0 reports: {text}");
    assert!(text.contains("compressed: removed 112 of 224 prunable rows") && text.contains("verified"), "{text}");
    for f in ["full.onnx", "compressed.onnx", "manifest.json", "metrics.jsonl", "checkpoint.ot"] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    // --sync-bn: BatchNorm over the global batch; the run compresses and proves the same way
    let o = Command::new(env!("CARGO_BIN_EXE_oto"))
        .args(QUICK)
        .args(["--epochs", "1", "--batch-size", "32", "--target-sparsity", "0.5", "--nproc", "2", "--sync-bn", "--out"])
        .arg(dir.path().join("sync"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && text.contains("BatchNorm synchronised") && text.contains("verified"), "{text}");
    // an odd global batch does not divide among 2 ranks
    let o = Command::new(env!("CARGO_BIN_EXE_oto")).args(QUICK).args(["--epochs", "1", "--batch-size", "33", "--nproc", "2", "--out"]).arg(dir.path().join("odd")).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("does not divide among 2 ranks") && err.contains("rank 0 of 2 failed"), "{err}");
}

#[test]
fn a_killed_rank_stops_the_others_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let port = common_dist::free_port();
    let rank = |r: usize| {
        Command::new(env!("CARGO_BIN_EXE_oto"))
            .args(QUICK)
            .args(["--epochs", "200", "--batch-size", "32", "--threads", "1", "--out"])
            .arg(&out)
            .env("RANK", r.to_string())
            .env("WORLD_SIZE", "2")
            .env("MASTER_ADDR", "127.0.0.1")
            .env("MASTER_PORT", port.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (r0, mut r1) = (rank(0), rank(1));
    // once rank 0 has finished an epoch (its metrics exist), kill rank 1
    let t0 = Instant::now();
    while !out.join("metrics.jsonl").is_file() {
        assert!(t0.elapsed() < Duration::from_secs(120), "no epoch finished");
        std::thread::sleep(Duration::from_millis(20));
    }
    r1.kill().unwrap();
    let killed = Instant::now();
    let o = r0.wait_with_output().unwrap();
    let waited = killed.elapsed();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(errors[0].contains("rank 0 of 2") && errors[0].contains("another rank stopped"), "{err}");
    assert!(waited < Duration::from_secs(30), "rank 0 took {waited:?} to notice");
    let names: Vec<String> = std::fs::read_dir(&out).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert!(!names.iter().any(|n| n.contains(".tmp") || n == "full.onnx"), "{names:?}");
    assert!(names.contains(&"checkpoint.ot".to_string()), "rank 0's last checkpoint is kept: {names:?}");
}

/// The children of process `pid` and the `RANK` each was given.
fn ranks_of(pid: u32) -> Vec<(u32, String)> {
    let mut out = vec![];
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
        // pid (comm) state ppid ...: the fields after the last ')'
        let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)).and_then(|s| s.parse::<u32>().ok());
        if ppid != Some(pid) {
            continue;
        }
        let env = std::fs::read(format!("/proc/{p}/environ")).unwrap_or_default();
        if let Some(r) = env.split(|&b| b == 0).filter_map(|kv| std::str::from_utf8(kv).ok()).find_map(|kv| kv.strip_prefix("RANK=")) {
            out.push((p, r.to_string()));
        }
    }
    out
}

#[test]
fn the_launcher_names_the_rank_that_died_and_stops_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let launcher = Command::new(env!("CARGO_BIN_EXE_oto"))
        .args(QUICK)
        .args(["--epochs", "200", "--batch-size", "32", "--nproc", "2", "--out"])
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while !out.join("metrics.jsonl").is_file() {
        assert!(t0.elapsed() < Duration::from_secs(120), "no epoch finished");
        std::thread::sleep(Duration::from_millis(20));
    }
    let ranks = ranks_of(launcher.id());
    assert_eq!(ranks.len(), 2, "{ranks:?}");
    let (victim, _) = ranks.iter().find(|(_, r)| r == "1").unwrap();
    assert!(Command::new("kill").args(["-9", &victim.to_string()]).status().unwrap().success());
    let o = launcher.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("rank 1 of 2 failed (signal: 9") && err.contains("the other ranks were stopped"), "{err}");
    for (p, _) in ranks {
        assert!(!std::path::Path::new(&format!("/proc/{p}/stat")).exists() || std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap().contains(") Z"), "rank process {p} still runs");
    }
}
