//! `oto train`, `oto eval` and `oto` alone hand over to `oto-train`, the libtorch half of the CLI,
//! found next to the running `oto`. Keeping libtorch out of `oto` itself means the graph
//! subcommands start in milliseconds (libtorch's operator registry costs ~0.5 s per process) and
//! work on machines without libtorch.
use anyhow::{bail, Result};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Everything after the subcommand, passed on untouched (`--help` included).
#[derive(clap::Args, Debug, Default)]
#[command(disable_help_flag = true)]
pub struct Args {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, value_name = "ARGS")]
    pub args: Vec<OsString>,
}

/// The `oto-train` executable next to this one, if installed.
pub fn trainer_exe() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let p = exe.with_file_name(format!("oto-train{}", std::env::consts::EXE_SUFFIX));
    p.is_file().then_some(p)
}

/// Runs `oto-train [sub] ARGS...` in place of this process, or says how to get `oto-train`.
pub fn run(sub: Option<&str>, a: Args) -> Result<()> {
    let Some(exe) = trainer_exe() else {
        bail!(
            "`oto {}` needs the training binary `oto-train` (libtorch) next to `oto`; build both with \
             `bash scripts/setup.sh && cargo build --release -p oto-cli` (default features)",
            sub.unwrap_or("")
        );
    };
    exec(&exe, sub, &a.args)
}

/// Replaces this process by `exe [sub] args...` (its exit status becomes ours).
pub fn exec(exe: &Path, sub: Option<&str>, args: &[OsString]) -> Result<()> {
    let mut cmd = std::process::Command::new(exe);
    cmd.args(sub).args(args);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let e = cmd.exec(); // only returns on failure
        bail!("could not run {}: {e}", exe.display());
    }
    #[cfg(not(unix))]
    {
        let status = cmd.status().map_err(|e| anyhow::anyhow!("could not run {}: {e}", exe.display()))?;
        std::process::exit(status.code().unwrap_or(1));
    }
}
