//! Speed of the ZIG analysis against parsing, per zoo model and on synthetic 10,000+-node graphs.
//!
//!     cargo run --release -p oto-graph --example bench_analyze [-- --quick] [--only=NAME] [--profile=SECS] [MODEL.onnx ...]
//!
//! parse = protobuf decode + IR build + shape inference (`decode_model` + `Graph::from_model`);
//! analysis = `zig::analyze`; report = `Report::new` (the JSON report's data). Times are the
//! minimum over repetitions: parse and analysis are timed interleaved, at least 5 rounds and until
//! 1 s has passed (`--quick`: 3 rounds / 0.1 s), so sub-millisecond graphs get hundreds of rounds;
//! the `xN` column is the number of rounds. The target is analysis <= parse.
//! `--profile=SECS` only runs the analysis in a loop, for `perf record`.
use oto_graph::zig::{self, report::Report};
use oto_graph::Graph;
use oto_onnx::attr::{a_int, a_ints, node};
use oto_onnx::pb::{GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, ValueInfoProto};
use std::time::{Duration, Instant};

fn vi(name: &str, dims: &[i64]) -> ValueInfoProto {
    let shape: Vec<oto_graph::Dim> = dims.iter().map(|&d| if d < 0 { oto_graph::Dim::Sym("N".into()) } else { oto_graph::Dim::Known(d) }).collect();
    oto_graph::value_info(name, 1, &shape)
}

struct Gen {
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    k: usize,
}

impl Gen {
    fn w(&mut self, name: &str, dims: &[i64]) -> String {
        let n: i64 = dims.iter().product();
        let data: Vec<f32> = (0..n).map(|i| ((i * 7919 + self.k as i64) % 97) as f32 * 0.01 - 0.4).collect();
        self.inits.push(oto_onnx::tensor::f32_tensor(name, dims, &data));
        name.into()
    }
    fn op(&mut self, op: &str, ins: &[&str], attrs: Vec<oto_onnx::AttributeProto>) -> String {
        self.k += 1;
        let name = format!("{}_{}", op.to_lowercase(), self.k);
        self.nodes.push(node(op, &name, ins, &[&name], attrs));
        name
    }
    fn conv(&mut self, x: &str, cin: i64, m: i64, k: i64) -> String {
        let w = self.w(&format!("conv{}.w", self.k), &[m, cin, k, k]);
        self.op("Conv", &[x, &w], vec![a_ints("pads", &[k / 2; 4])])
    }
    fn bn(&mut self, x: &str, c: i64) -> String {
        let names: Vec<String> = ["scale", "bias", "mean", "var"].iter().map(|p| format!("bn{}.{p}", self.k)).collect();
        for n in &names {
            self.w(n, &[c]);
        }
        let ins: Vec<&str> = std::iter::once(x).chain(names.iter().map(|s| s.as_str())).collect();
        self.op("BatchNormalization", &ins, vec![])
    }
    fn finish(mut self, x: &str, c: i64, name: &str) -> ModelProto {
        let p = self.op("GlobalAveragePool", &[x], vec![]);
        let f = self.op("Flatten", &[&p], vec![a_int("axis", 1)]);
        let w = self.w("fc.w", &[10, c]);
        let mut fc = node("Gemm", "fc", &[&f, &w], &["logits"], vec![a_int("transB", 1)]);
        fc.name = Some("fc".into());
        self.nodes.push(fc);
        ModelProto {
            ir_version: Some(8),
            opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(17) }],
            graph: Some(GraphProto {
                name: Some(name.into()),
                node: self.nodes,
                initializer: self.inits,
                input: vec![vi("input", &[-1, 3, 8, 8])],
                output: vec![vi("logits", &[-1, 10])],
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

/// `blocks` residual blocks conv → BN → ReLU → Add (4 nodes each).
fn residual_chain(blocks: usize, c: i64) -> ModelProto {
    let mut g = Gen { nodes: vec![], inits: vec![], k: 0 };
    let mut x = g.conv("input", 3, c, 3);
    for _ in 0..blocks {
        let y = g.conv(&x, c, c, 3);
        let y = g.bn(&y, c);
        let y = g.op("Relu", &[&y], vec![]);
        x = g.op("Add", &[&x, &y], vec![]);
    }
    g.finish(&x, c, "residual_chain")
}

/// DenseNet-like: `blocks` dense blocks of `layers` BN → ReLU → conv(growth) → Concat, each
/// followed by a BN → ReLU → 1×1 transition back to `c` channels.
fn dense_chain(blocks: usize, layers: usize, c: i64, growth: i64) -> ModelProto {
    let mut g = Gen { nodes: vec![], inits: vec![], k: 0 };
    let mut x = g.conv("input", 3, c, 3);
    for _ in 0..blocks {
        let mut ch = c;
        for _ in 0..layers {
            let y = g.bn(&x, ch);
            let y = g.op("Relu", &[&y], vec![]);
            let y = g.conv(&y, ch, growth, 3);
            x = g.op("Concat", &[&x, &y], vec![a_int("axis", 1)]);
            ch += growth;
        }
        let y = g.bn(&x, ch);
        let y = g.op("Relu", &[&y], vec![]);
        x = g.conv(&y, ch, c, 1);
    }
    g.finish(&x, c, "dense_chain")
}

/// Minimum time of `parse` and `analyze`, measured interleaved (so both see the same machine
/// load) over at least `min_reps` rounds and until `budget` has passed (sub-millisecond graphs get
/// hundreds of rounds, the minimum of which is stable), at most `max_reps` rounds. Dropping the
/// results is not timed.
fn min_interleaved<A, B>(cfg: &Cfg, mut fa: impl FnMut() -> A, mut fb: impl FnMut() -> B) -> (Duration, Duration, usize) {
    let (mut ta, mut tb) = (Duration::MAX, Duration::MAX);
    let start = Instant::now();
    let mut rounds = 0;
    while rounds < cfg.max_reps && (rounds < cfg.min_reps || start.elapsed() < cfg.budget) {
        let t = Instant::now();
        let a = fa();
        ta = ta.min(t.elapsed());
        drop(a);
        let t = Instant::now();
        let b = fb();
        tb = tb.min(t.elapsed());
        drop(b);
        rounds += 1;
    }
    (ta, tb, rounds)
}

fn min_time<T>(reps: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..reps {
        let t = Instant::now();
        let v = f();
        best = best.min(t.elapsed());
        last = Some(v);
    }
    (best, last.unwrap())
}

struct Cfg {
    min_reps: usize,
    max_reps: usize,
    budget: Duration,
    /// `--profile=SECS`: only run the analysis in a loop (for `perf record`).
    profile: Option<f64>,
}

fn bench(name: &str, bytes: &[u8], cfg: &Cfg) {
    let parse = || {
        let m = oto_onnx::decode_model(bytes, name, None).expect("decode");
        Graph::from_model(m).expect("load")
    };
    let g = parse();
    if let Some(secs) = cfg.profile {
        let t = Instant::now();
        let mut n = 0;
        while t.elapsed().as_secs_f64() < secs {
            std::hint::black_box(zig::analyze(&g));
            n += 1;
        }
        println!("{name}: {n} analyses in {secs} s");
        return;
    }
    let a = zig::analyze(&g);
    let (t_parse, t_an, rounds) = min_interleaved(cfg, parse, || zig::analyze(&g));
    let reps = cfg.min_reps.min(5);
    let (t_rep, r) = min_time(reps, || Report::new(&g, &a, name));
    let (t_json, json_len) = min_time(reps, || r.to_json().len());
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{:22} {:>6} nodes {:>6} members {:>8} slots {:>8.1} MB | parse {:>8.3} ms | analysis {:>8.3} ms | ratio {:>5.2} | x{:<4} | report {:>7.2} ms json {:>7.2} ms ({:.1} MB) | groups {:>5} rows {:>6}",
        name,
        g.nodes.len(),
        a.members.len(),
        a.members.iter().map(|m| m.map.len()).sum::<usize>(),
        bytes.len() as f64 / 1e6,
        ms(t_parse),
        ms(t_an),
        ms(t_an) / ms(t_parse),
        rounds,
        ms(t_rep),
        ms(t_json),
        json_len as f64 / 1e6,
        a.groups.len(),
        a.rows.len()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let only: Option<String> = args.iter().find_map(|a| a.strip_prefix("--only=").map(String::from));
    let want = |name: &str| only.as_deref().is_none_or(|o| name.contains(o));
    let files: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let profile: Option<f64> = args.iter().find_map(|a| a.strip_prefix("--profile=").and_then(|v| v.parse().ok()));
    let cfg = if quick {
        Cfg { min_reps: 3, max_reps: 200, budget: Duration::from_millis(100), profile }
    } else {
        Cfg { min_reps: 5, max_reps: 2000, budget: Duration::from_millis(1000), profile }
    };
    if !files.is_empty() {
        for f in files {
            let bytes = std::fs::read(f).unwrap_or_else(|e| panic!("{f}: {e}"));
            bench(f, &bytes, &cfg);
        }
        return;
    }
    for e in oto_zoo::list() {
        if !want(e.name) || (quick && !matches!(e.name, "fmnist_resnet" | "densenet121" | "tiny_transformer")) {
            continue;
        }
        let m = oto_zoo::build(e.name, &Default::default()).expect("zoo");
        bench(e.name, &oto_onnx::encode_model(&m), &cfg);
    }
    let blocks = if quick { 500 } else { 2600 };
    if want("synthetic_residual") {
        bench("synthetic_residual", &oto_onnx::encode_model(&residual_chain(blocks, 16)), &cfg);
    }
    let blocks = if quick { 60 } else { 300 };
    if want("synthetic_dense") {
        bench("synthetic_dense", &oto_onnx::encode_model(&dense_chain(blocks, 8, 16, 8)), &cfg);
    }
}
