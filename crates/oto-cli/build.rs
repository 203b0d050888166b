//! With feature `train`: bakes an rpath to libtorch's `lib/` into `oto-train` (and the tests), so
//! nothing needs LD_LIBRARY_PATH at run time. oto-train's build script finds libtorch and hands
//! the directory over as `DEP_OTO_LIBTORCH_LIBDIR` (its `links = "oto_libtorch"` key).
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DEP_OTO_LIBTORCH_LIBDIR");
    if std::env::var_os("CARGO_FEATURE_TRAIN").is_none() {
        return;
    }
    let Some(lib) = std::env::var_os("DEP_OTO_LIBTORCH_LIBDIR") else {
        return; // oto-train already warned that libtorch was not found
    };
    let lib = std::path::PathBuf::from(lib);
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    if std::env::var_os("DEP_OTO_LIBTORCH_CUDA").is_some() {
        // keep libtorch_cuda although no symbol of it is referenced directly (--as-needed)
        println!("cargo:rustc-link-search=native={}", lib.display());
        for a in ["-Wl,--no-as-needed", "-ltorch_cuda", "-Wl,--as-needed"] {
            println!("cargo:rustc-link-arg-bin=oto-train={a}");
        }
    }
}
