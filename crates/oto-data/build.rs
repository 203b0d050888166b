//! Bakes an rpath to libtorch's `lib/` into this crate's test binaries, so `cargo test` needs no
//! LD_LIBRARY_PATH; the search is shared in `build_support/libtorch.rs`.
include!("../../build_support/libtorch.rs");

fn main() {
    libtorch_rpath();
}
