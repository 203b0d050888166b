//! Finds libtorch and bakes an rpath to `<libtorch>/lib` into every binary of this crate
//! (tests, examples, bins), so nothing needs LD_LIBRARY_PATH at run time.
//!
//! It also hands the directory to dependents (`links = "oto_libtorch"`: their build scripts read
//! `DEP_OTO_LIBTORCH_LIBDIR`, and `DEP_OTO_LIBTORCH_CUDA` when the `cuda` feature is on), so
//! `oto-cli` bakes the same rpath without repeating this search.
//!
//! Search order: `$LIBTORCH` (set by the user, or by the workspace `.cargo/config.toml`
//! `[env]` table, which points at `.venv/libtorch`, a symlink made by `scripts/setup.sh`),
//! then `<workspace>/.venv/libtorch`, then `<workspace>/.venv/lib/python3*/site-packages/torch`.
use std::path::{Path, PathBuf};

fn candidates(workspace: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(p) = std::env::var("LIBTORCH") {
        if !p.is_empty() {
            out.push(PathBuf::from(p));
        }
    }
    let venv = workspace.join(".venv");
    out.push(venv.join("libtorch"));
    if let Ok(rd) = std::fs::read_dir(venv.join("lib")) {
        let mut pys: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("python3"))
            })
            .collect();
        pys.sort();
        for py in pys {
            out.push(py.join("site-packages").join("torch"));
        }
    }
    out
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or(manifest.clone());
    let found = candidates(&workspace)
        .into_iter()
        .find(|p| p.join("lib").is_dir());
    match found {
        Some(dir) => {
            // Canonicalise so the rpath survives the symlink being re-made elsewhere.
            let dir = dir.canonicalize().unwrap_or(dir);
            let lib = dir.join("lib");
            println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
            println!("cargo:libdir={}", lib.display());
            if std::env::var_os("CARGO_FEATURE_CUDA").is_some() {
                println!("cargo:cuda=1");
                println!("cargo:rustc-link-search=native={}", lib.display());
                println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
                println!("cargo:rustc-link-arg=-ltorch_cuda");
                println!("cargo:rustc-link-arg=-Wl,--as-needed");
            }
        }
        None => {
            println!(
                "cargo:warning=oto-train: libtorch not found (looked at $LIBTORCH, {}/.venv/libtorch, \
                 {}/.venv/lib/python3*/site-packages/torch). Run scripts/setup.sh first.",
                workspace.display(),
                workspace.display()
            );
        }
    }
}
