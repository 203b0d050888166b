//! Bakes an rpath to libtorch's `lib/` into every binary of this crate (tests, examples), so
//! nothing needs LD_LIBRARY_PATH at run time; the search is shared with oto-data, oto-exec and
//! oto-optim in `build_support/libtorch.rs` (it says where libtorch is looked for).
//!
//! It also hands the directory to dependents (`links = "oto_libtorch"`: their build scripts read
//! `DEP_OTO_LIBTORCH_LIBDIR`, and `DEP_OTO_LIBTORCH_CUDA` when the `cuda` feature is on), so
//! `oto-cli` bakes the same rpath without repeating this search.
//!
//! And it compiles `cxx/c10d.cpp`, the thin C interface to libtorch's c10d (distributed
//! training, `src/dist.rs`), against the same libtorch's headers and the gloo headers in
//! `third_party/gloo` (the wheel ships c10d's headers but not gloo's). With the `cuda` feature
//! it also binds ProcessGroupNCCL (OTO_NCCL), whose headers need the CUDA runtime's and NCCL's:
//! the CUDA wheel's `nvidia/cu13/include` and `nvidia/nccl/include` beside `torch/`.
include!("../../build_support/libtorch.rs");

fn main() {
    let Some(lib) = libtorch_rpath() else { return };
    println!("cargo:libdir={}", lib.display());
    if std::env::var_os("CARGO_FEATURE_CUDA").is_some() {
        println!("cargo:cuda=1");
    }
    println!("cargo:rerun-if-changed=cxx/c10d.cpp");
    let root = lib.parent().expect("libtorch/lib has a parent");
    let include = root.join("include");
    let mut build = cc::Build::new();
    if std::env::var_os("CARGO_FEATURE_CUDA").is_some() {
        let nvidia = root.parent().expect("torch/ has a parent").join("nvidia");
        for dir in ["cu13/include", "nccl/include"] {
            let d = nvidia.join(dir);
            assert!(d.is_dir(), "the cuda feature needs {} (the CUDA torch wheel: OTO_TORCH=cuda bash scripts/setup.sh)", d.display());
            build.include(d);
        }
        build.define("USE_C10D_NCCL", None).define("OTO_NCCL", None);
        println!("cargo:rustc-link-lib=dylib=c10_cuda");
    }
    build
        .cpp(true)
        .file("cxx/c10d.cpp")
        .std("c++17")
        .include(&include)
        .include(include.join("torch/csrc/api/include"))
        .include("../../third_party/gloo/include")
        .define("_GLIBCXX_USE_CXX11_ABI", "1")
        .define("USE_C10D_GLOO", None)
        .define("USE_DISTRIBUTED", None)
        .flag_if_supported("-w") // libtorch's headers are not ours to warn about
        .opt_level(1)
        .compile("oto_c10d");
    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
    println!("cargo:rustc-link-lib=dylib=c10");
}
