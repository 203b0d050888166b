//! Bakes an rpath to libtorch's `lib/` into every binary of this crate (tests, examples), so
//! nothing needs LD_LIBRARY_PATH at run time; the search is shared with oto-data, oto-exec and
//! oto-optim in `build_support/libtorch.rs` (it says where libtorch is looked for).
//!
//! It also hands the directory to dependents (`links = "oto_libtorch"`: their build scripts read
//! `DEP_OTO_LIBTORCH_LIBDIR`, and `DEP_OTO_LIBTORCH_CUDA` when the `cuda` feature is on), so
//! `oto-cli` bakes the same rpath without repeating this search.
include!("../../build_support/libtorch.rs");

fn main() {
    if let Some(lib) = libtorch_rpath() {
        println!("cargo:libdir={}", lib.display());
        if std::env::var_os("CARGO_FEATURE_CUDA").is_some() {
            println!("cargo:cuda=1");
        }
    }
}
