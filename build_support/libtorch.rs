// Shared by the build scripts of the crates that link libtorch through `tch` (oto-data,
// oto-exec, oto-optim, oto-train): each does `include!("../../build_support/libtorch.rs")` and
// calls `libtorch_rpath()`.
//
// Finds libtorch and bakes an rpath to `<libtorch>/lib` into every binary of the calling crate
// (tests, examples, bins), so nothing needs LD_LIBRARY_PATH at run time. With the crate's `cuda`
// feature on (oto-exec and oto-train have one) it also keeps `libtorch_cuda` linked although no
// symbol of it is referenced directly (otherwise `--as-needed` drops it and CUDA silently reports
// unavailable).
//
// Search order: `$LIBTORCH` (set by the user, or by the workspace `.cargo/config.toml`
// `[env]` table, which points at `.venv/libtorch`, a symlink made by `scripts/setup.sh`),
// then `<workspace>/.venv/libtorch`, then `<workspace>/.venv/lib/python3*/site-packages/torch`.

fn libtorch_candidates(workspace: &std::path::Path) -> Vec<std::path::PathBuf> {
    use std::path::PathBuf;
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

/// Emits the rpath (and, with the `cuda` feature, the `libtorch_cuda` link) for the calling
/// crate's binaries; returns libtorch's `lib/` directory, or None (with a cargo warning naming
/// the places searched) when libtorch is not found.
fn libtorch_rpath() -> Option<std::path::PathBuf> {
    use std::path::{Path, PathBuf};
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../../build_support/libtorch.rs");
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or(manifest.clone());
    let found = libtorch_candidates(&workspace)
        .into_iter()
        .find(|p| p.join("lib").is_dir());
    let Some(dir) = found else {
        println!(
            "cargo:warning={}: libtorch not found (looked at $LIBTORCH, {}/.venv/libtorch, \
             {}/.venv/lib/python3*/site-packages/torch). Run scripts/setup.sh first.",
            std::env::var("CARGO_PKG_NAME").unwrap_or_default(),
            workspace.display(),
            workspace.display()
        );
        return None;
    };
    // Canonicalise so the rpath survives the symlink being re-made elsewhere.
    let dir = dir.canonicalize().unwrap_or(dir);
    let lib = dir.join("lib");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    if std::env::var_os("CARGO_FEATURE_CUDA").is_some() {
        println!("cargo:rustc-link-search=native={}", lib.display());
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
    Some(lib)
}
