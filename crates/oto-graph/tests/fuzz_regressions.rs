//! Every input the fuzzer (`scripts/fuzz.sh`, `examples/fuzz.rs`) ever crashed on, replayed:
//! decoding, loading, analysis and construction (with several row choices) return, with a
//! result or an error, and never panic. Add a crash by copying its saved input from
//! `target/fuzz-crashes/` into `tests/fuzz_regressions/`.
use oto_graph::compress::{compress, CompressOptions, Removal};
use oto_graph::{zig, Graph};

#[test]
fn saved_fuzz_crashes_never_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_regressions");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        let bytes = std::fs::read(&p).unwrap();
        let Ok(m) = oto_onnx::decode_model(&bytes, "crash.onnx", None) else { continue };
        n += 1;
        let Ok(g) = Graph::from_model(m) else { continue };
        let an = zig::analyze(&g);
        let prunable: Vec<usize> = (0..an.rows.len()).filter(|&r| an.rows[r].prunable()).collect();
        for k in 1..=3 {
            let rows = prunable.iter().copied().filter(|r| r % k == 0).collect();
            let _ = compress(&g, &an, &CompressOptions { removal: Removal::Rows(rows) });
        }
    }
    assert!(n >= 8, "only {n} saved inputs decode");
}
