//! `oto train --nproc N`: N local ranks of data-parallel training, as `torchrun --nproc-per-node N`
//! would start them: the same command line again in N processes, each told its place by
//! torchrun's variables (`RANK`, `LOCAL_RANK`, `WORLD_SIZE`, `MASTER_ADDR`, `MASTER_PORT`, a free
//! port on 127.0.0.1), which `oto_train::dist::ProcessGroup::from_env` reads. When one rank
//! fails, the others are stopped and the error names it; rank 0's last checkpoint stays for
//! `--resume`.
use anyhow::{bail, Context, Result};
use std::ffi::OsString;
use std::process::{Child, Command};
use std::time::Duration;

/// The command line without `--nproc N` / `--nproc=N`.
fn without_nproc(args: impl Iterator<Item = OsString>) -> Vec<OsString> {
    let mut out = vec![];
    let mut skip = false;
    for a in args {
        if std::mem::take(&mut skip) {
            continue;
        }
        match a.to_str() {
            Some("--nproc") => skip = true,
            Some(s) if s.starts_with("--nproc=") => {}
            _ => out.push(a),
        }
    }
    out
}

pub fn run(n: usize, threads: usize) -> Result<()> {
    let exe = std::env::current_exe().context("locating the oto-train binary")?;
    let mut args = without_nproc(std::env::args_os().skip(1));
    if threads == 0 {
        // the cores shared among the ranks (libtorch would give each all of them)
        let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
        args.extend(["--threads".into(), (cores / n).max(1).to_string().into()]);
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).context("finding a free port")?.port();
    let mut ranks: Vec<Child> = Vec::with_capacity(n);
    for r in 0..n {
        let child = Command::new(&exe)
            .args(&args)
            .env("RANK", r.to_string())
            .env("LOCAL_RANK", r.to_string())
            .env("WORLD_SIZE", n.to_string())
            .env("MASTER_ADDR", "127.0.0.1")
            .env("MASTER_PORT", port.to_string())
            .spawn();
        match child {
            Ok(c) => ranks.push(c),
            Err(e) => {
                stop(&mut ranks);
                bail!("could not start rank {r} of {n} ({}): {e}", exe.display());
            }
        }
    }
    let mut done = vec![false; n];
    while done.iter().any(|d| !d) {
        for r in 0..n {
            if done[r] {
                continue;
            }
            if let Some(status) = ranks[r].try_wait().context("waiting for the ranks")? {
                done[r] = true;
                if !status.success() {
                    // the others notice within moments (their collectives fail): say who went first
                    std::thread::sleep(Duration::from_millis(500));
                    let mut failed = vec![(r, status)];
                    for (k, c) in ranks.iter_mut().enumerate().filter(|(k, _)| *k != r && !done[*k]) {
                        if let Ok(Some(s)) = c.try_wait() {
                            failed.push((k, s));
                        }
                    }
                    stop(&mut ranks);
                    failed.sort_by_key(|(k, s)| (s.code().is_some(), *k)); // a rank killed by a signal first
                    let (k, s) = failed[0];
                    bail!("rank {k} of {n} failed ({s}); the other ranks were stopped (rank 0's last checkpoint in --out is kept: continue with --resume)");
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn stop(ranks: &mut [Child]) {
    for c in ranks.iter_mut() {
        let _ = c.kill();
        let _ = c.wait();
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn nproc_is_taken_out_of_the_command_line() {
        let a = |v: &[&str]| v.iter().map(|s| s.into()).collect::<Vec<std::ffi::OsString>>();
        assert_eq!(super::without_nproc(a(&["train", "--nproc", "2", "--epochs", "1"]).into_iter()), a(&["train", "--epochs", "1"]));
        assert_eq!(super::without_nproc(a(&["train", "--nproc=4", "m.onnx"]).into_iter()), a(&["train", "m.onnx"]));
    }
}
