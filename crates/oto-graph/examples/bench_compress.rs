//! Compression speed per zoo model, against load + save of the same model. Target: compress
//! within 2× of load + save for every zoo model.
//!
//! What each column measures (all in memory, no disk I/O; each the minimum over repeated runs —
//! at least 5 and until 0.3 s of that step have been spent, at most 200):
//! * `load+save`: `decode_model` (protobuf bytes → ModelProto) + `Graph::from_model` (IR and shape
//!   inference) + `to_model` + `encode_model` (→ bytes), i.e. what `oto compress` spends reading
//!   its input and writing its output, without the file system;
//! * `analyze`: `zig::analyze` (ZIG partition) of the loaded graph;
//! * `compress`: everything `oto compress` does after the analysis except the tract verification
//!   and the file write — `compress::compress` (zero-row detection, settling the kept rows,
//!   slicing, attribute/shape-constant rewrites, training → inference conversion, shape
//!   re-inference and checks, manifest with params and MACs before/after) followed by
//!   `to_model()` of the compressed graph (the ModelProto that is then encoded and written).
//!
//! The model compressed is the zoo model (paper-size configuration, random weights with random BN
//! statistics) with half of its prunable rows zeroed by magnitude (`compress::prune` at 0.5), the
//! input `oto compress` normally sees. `c/(l+s)` is the target ratio; `(a+c)/(l+s)` adds the analysis.
//!
//! `cargo run --release -p oto-graph --example bench_compress [MODEL...]`
use oto_graph::compress::{self, CompressOptions, Criterion};
use oto_graph::{zig, Graph};
use std::time::Instant;

/// Minimum wall time of `f` over at least 5 runs, repeated until 0.3 s have been spent (≤ 200).
fn best(f: &mut dyn FnMut()) -> f64 {
    let (mut best, mut spent, mut n) = (f64::INFINITY, 0.0, 0);
    while n < 5 || (spent < 0.3 && n < 200) {
        let t = Instant::now();
        f();
        let dt = t.elapsed().as_secs_f64();
        best = best.min(dt);
        spent += dt;
        n += 1;
    }
    best
}

fn main() {
    let only: Vec<String> = std::env::args().skip(1).collect();
    println!("{:20} {:>10} {:>10} {:>10} {:>10} {:>8} {:>11}", "model", "params", "load+save", "analyze", "compress", "c/(l+s)", "(a+c)/(l+s)");
    let mut worst: (f64, &str) = (0.0, "");
    for e in oto_zoo::list() {
        if !only.is_empty() && !only.iter().any(|o| o == e.name) {
            continue;
        }
        let cfg = oto_zoo::ZooConfig { randomize_stats: true, seed: 1, ..Default::default() };
        let m = oto_zoo::build(e.name, &cfg).unwrap();
        let g0 = Graph::from_model(m).unwrap();
        let a0 = zig::analyze(&g0);
        let (masked, _) = compress::prune(&g0, &a0, 0.5, Criterion::Magnitude).unwrap();
        let bytes = oto_onnx::encode_model(&masked.to_model());
        drop((g0, a0, masked));
        let ls = best(&mut || {
            let m = oto_onnx::decode_model(&bytes, "bench", None).unwrap();
            let g = Graph::from_model(m).unwrap();
            std::hint::black_box(oto_onnx::encode_model(&g.to_model()));
        });
        let g = Graph::from_model(oto_onnx::decode_model(&bytes, "bench", None).unwrap()).unwrap();
        let mut a = None;
        let an = best(&mut || a = Some(zig::analyze(&g)));
        let a = a.unwrap();
        let c = best(&mut || {
            let c = compress::compress(&g, &a, &CompressOptions::default()).unwrap();
            std::hint::black_box(c.graph.to_model());
        });
        println!(
            "{:20} {:>10} {:>9.2}ms {:>9.2}ms {:>9.2}ms {:>8.2} {:>11.2}",
            e.name,
            g.param_count(),
            ls * 1e3,
            an * 1e3,
            c * 1e3,
            c / ls,
            (an + c) / ls
        );
        if c / ls > worst.0 {
            worst = (c / ls, e.name);
        }
    }
    println!("worst c/(l+s): {:.2} ({})", worst.0, worst.1);
}
