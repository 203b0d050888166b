//! Compression speed per zoo model: `compress` (and analysis + compress) versus load + save of the
//! same model. Target: compression within 2× of load + save.
//!
//! `cargo run --release -p oto-graph --example bench_compress [MODEL...]`
use oto_graph::compress::{self, CompressOptions, Criterion};
use oto_graph::{zig, Graph};
use std::time::Instant;

fn main() {
    let only: Vec<String> = std::env::args().skip(1).collect();
    println!("{:20} {:>10} {:>10} {:>10} {:>10} {:>8} {:>8}", "model", "params", "load+save", "analyze", "compress", "c/(l+s)", "(a+c)/(l+s)");
    for e in oto_zoo::list() {
        if !only.is_empty() && !only.iter().any(|o| o == e.name) {
            continue;
        }
        let cfg = oto_zoo::ZooConfig { randomize_stats: true, seed: 1, ..Default::default() };
        let m = oto_zoo::build(e.name, &cfg).unwrap();
        // a masked model (half the rows zeroed) is what compress normally sees
        let g0 = Graph::from_model(m).unwrap();
        let a0 = zig::analyze(&g0);
        let (masked, _) = compress::prune(&g0, &a0, 0.5, Criterion::Magnitude).unwrap();
        let bytes = oto_onnx::encode_model(&masked.to_model());
        let best = |f: &mut dyn FnMut()| {
            (0..3)
                .map(|_| {
                    let t = Instant::now();
                    f();
                    t.elapsed().as_secs_f64()
                })
                .fold(f64::INFINITY, f64::min)
        };
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
            std::hint::black_box(compress::compress(&g, &a, &CompressOptions::default()).unwrap());
        });
        println!(
            "{:20} {:>10} {:>9.1}ms {:>9.1}ms {:>9.1}ms {:>8.2} {:>8.2}",
            e.name,
            g.param_count(),
            ls * 1e3,
            an * 1e3,
            c * 1e3,
            c / ls,
            (an + c) / ls
        );
    }
}
