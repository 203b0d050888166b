//! Mutation fuzzer over loading, analysis and construction (issue 25), on stable Rust.
//!
//!     cargo run --release -p oto-graph --example fuzz -- [--execs N] [--seed S] [--out DIR] [MODEL.onnx ...]
//!
//! Seeds: every zoo model at width ×0.25 plus the ONNX files given (real exports). Each
//! execution mutates one seed — bytes (flips, cuts, splices of its encoding) or structure (a
//! node's op type, inputs, attributes; an initializer's dims, type or data; opsets and input
//! shapes of the parsed model) — then decodes, loads, analyses and, when that succeeds,
//! constructs the compressed model with a random half of the prunable rows removed. Any panic
//! is a crash: its input is written to DIR (default `target/fuzz-crashes`) to become a
//! regression test. Prints executions, crashes, slow inputs (> 1 s) and the slowest one.
//! `--replay FILE...` runs saved inputs again (with the panic message).
use oto_graph::compress::{compress, CompressOptions, Removal};
use oto_graph::{zig, Graph};
use oto_onnx::pb::{ModelProto, TensorProto};
use std::alloc::{GlobalAlloc, Layout, System};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicI32, AtomicPtr, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// An execution may hold at most this much memory: an input that makes oto allocate more is a
/// crash too (on a real machine, an abort or the OOM killer), saved before the process aborts.
const MEMORY_CAP: usize = 2 << 30;

/// The system allocator, counting live bytes; past [`MEMORY_CAP`] it writes the input being
/// executed to the pre-opened crash file (no allocation on that path) and aborts.
struct Capped;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static INPUT: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static INPUT_LEN: AtomicUsize = AtomicUsize::new(0);
static OOM_FD: AtomicI32 = AtomicI32::new(-1);

unsafe impl GlobalAlloc for Capped {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if LIVE.fetch_add(l.size(), Ordering::Relaxed) + l.size() > MEMORY_CAP {
            over_cap(l.size());
        }
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if new > l.size() && LIVE.fetch_add(new - l.size(), Ordering::Relaxed) + new - l.size() > MEMORY_CAP {
            over_cap(new);
        }
        if new < l.size() {
            LIVE.fetch_sub(l.size() - new, Ordering::Relaxed);
        }
        System.realloc(p, l, new)
    }
}

#[cold]
fn over_cap(size: usize) -> ! {
    use std::io::Write;
    use std::os::fd::FromRawFd;
    let (p, n, fd) = (INPUT.load(Ordering::Relaxed), INPUT_LEN.load(Ordering::Relaxed), OOM_FD.load(Ordering::Relaxed));
    if !p.is_null() && fd >= 0 {
        // SAFETY: `p..p+n` is the input slice `main` keeps alive during the execution; the fd is
        // the crash file opened before fuzzing (ManuallyDrop: never closed here)
        let mut f = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
        let _ = f.write_all(unsafe { std::slice::from_raw_parts(p, n) });
        let _ = f.sync_all();
    }
    let _ = std::io::stderr().write_all(b"CRASH: an execution went past the 2 GiB memory cap; its input is saved as oom.onnx\n");
    let _ = size;
    std::process::abort()
}

#[global_allocator]
static ALLOC: Capped = Capped;

/// xorshift64*: fast and seedable, enough to pick mutations.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    /// A value shape code tends to trip on: 0, ±1, small, 2^31, 2^62, i64 extremes, or random.
    fn interesting(&mut self) -> i64 {
        const V: [i64; 12] = [0, 1, -1, 2, 3, 7, 1 << 31, -(1 << 31), 1 << 62, i64::MAX, i64::MIN, 1_000_000];
        if self.below(4) == 0 {
            self.next() as i64
        } else {
            V[self.below(V.len())]
        }
    }
}

/// Seeds larger than this are skipped (see `main`).
const MAX_SEED_BYTES: usize = 2 << 20;

const OPS: [&str; 24] = [
    "Conv", "Relu", "Add", "Mul", "Concat", "Reshape", "Transpose", "Gemm", "MatMul", "BatchNormalization", "Split", "Slice",
    "Gather", "Flatten", "GlobalAveragePool", "MaxPool", "Resize", "Softmax", "LayerNormalization", "Expand", "Pad", "Squeeze",
    "ReduceMean", "Frobnicate",
];

/// One structural mutation of `m`; returns what it did.
fn mutate_structure(m: &mut ModelProto, r: &mut Rng) -> String {
    let Some(g) = m.graph.as_mut() else { return "no graph".into() };
    let names: Vec<String> = g.node.iter().flat_map(|n| n.output.clone()).chain(g.initializer.iter().filter_map(|t| t.name.clone())).collect();
    let nn = g.node.len();
    match r.below(12) {
        0 if nn > 0 => {
            let i = r.below(nn);
            g.node[i].op_type = Some(OPS[r.below(OPS.len())].into());
            format!("node {i} op type")
        }
        1 if nn > 0 && !names.is_empty() => {
            let i = r.below(nn);
            let n = &mut g.node[i];
            let name = names[r.below(names.len())].clone();
            if n.input.is_empty() || r.below(4) == 0 {
                n.input.push(name);
            } else {
                let k = r.below(n.input.len());
                n.input[k] = name;
            }
            format!("node {i} input rewired")
        }
        2 if nn > 0 => {
            let i = r.below(nn);
            let n = &mut g.node[i];
            if n.attribute.is_empty() {
                n.attribute.push(oto_onnx::attr::a_int("axis", r.interesting()));
            } else {
                let k = r.below(n.attribute.len());
                let a = &mut n.attribute[k];
                let v = r.interesting();
                if a.i.is_some() {
                    a.i = Some(v);
                } else if !a.ints.is_empty() {
                    let j = r.below(a.ints.len());
                    a.ints[j] = v;
                } else if a.f.is_some() {
                    a.f = Some(v as f32);
                } else {
                    a.r#type = Some(r.below(14) as i32);
                }
            }
            format!("node {i} attribute")
        }
        3 if nn > 0 => {
            let i = r.below(nn);
            g.node.remove(i);
            format!("node {i} removed")
        }
        4 if nn > 0 => {
            let i = r.below(nn);
            let n = g.node[i].clone();
            g.node.insert(r.below(nn), n);
            format!("node {i} duplicated")
        }
        5 | 6 if !g.initializer.is_empty() => {
            let i = r.below(g.initializer.len());
            let t = &mut g.initializer[i];
            if t.dims.is_empty() || r.below(3) == 0 {
                t.dims.push(r.interesting());
            } else {
                let k = r.below(t.dims.len());
                t.dims[k] = r.interesting();
            }
            format!("initializer {i} dims")
        }
        7 if !g.initializer.is_empty() => {
            let i = r.below(g.initializer.len());
            mutate_tensor_data(&mut g.initializer[i], r);
            format!("initializer {i} data")
        }
        8 => {
            let v = if r.below(2) == 0 { r.interesting() } else { 1 + r.below(25) as i64 };
            if let Some(o) = m.opset_import.first_mut() {
                o.version = Some(v);
            }
            format!("opset {v}")
        }
        9 if !g.input.is_empty() => {
            use oto_onnx::pb::{tensor_shape_proto::dimension::Value as D, type_proto::Value as T};
            let i = r.below(g.input.len());
            if let Some(T::TensorType(tt)) = g.input[i].r#type.as_mut().and_then(|t| t.value.as_mut()) {
                if let Some(s) = tt.shape.as_mut().filter(|s| !s.dim.is_empty()) {
                    let k = r.below(s.dim.len());
                    s.dim[k].value = Some(D::DimValue(r.interesting()));
                } else {
                    tt.elem_type = Some(r.below(20) as i32);
                }
            }
            format!("input {i} shape")
        }
        10 if !g.output.is_empty() => {
            let i = r.below(g.output.len());
            g.output[i].name = names.get(r.below(names.len().max(1))).cloned();
            format!("output {i} renamed")
        }
        _ if !g.initializer.is_empty() => {
            let i = r.below(g.initializer.len());
            g.initializer[i].data_type = Some(r.below(22) as i32);
            format!("initializer {i} type")
        }
        _ => "nothing".into(),
    }
}

fn mutate_tensor_data(t: &mut TensorProto, r: &mut Rng) {
    match (&mut t.raw_data, r.below(3)) {
        (Some(raw), 0) => {
            let mut v = raw.to_vec();
            v.truncate(r.below(v.len() + 1));
            *raw = v.into();
        }
        (Some(raw), 1) if !raw.is_empty() => {
            let mut v = raw.to_vec();
            let i = r.below(v.len() / 4) * 4;
            if i + 4 <= v.len() {
                let x = [f32::NAN, f32::INFINITY, -0.0, f32::MAX, 1e-45][r.below(5)];
                v[i..i + 4].copy_from_slice(&x.to_le_bytes());
            }
            *raw = v.into();
        }
        _ => {
            t.raw_data = None;
            t.float_data = (0..r.below(8)).map(|i| i as f32).collect();
            t.int64_data = (0..r.below(8)).map(|_| r.interesting()).collect();
        }
    }
}

/// Byte mutations of an encoding: flips, a cut, or a splice.
fn mutate_bytes(b: &mut Vec<u8>, r: &mut Rng) -> String {
    match r.below(4) {
        0 => {
            let n = 1 + r.below(8);
            for _ in 0..n {
                let i = r.below(b.len());
                if let Some(x) = b.get_mut(i) {
                    *x = r.next() as u8;
                }
            }
            format!("{n} bytes changed")
        }
        1 => {
            let c = r.below(b.len() + 1);
            b.truncate(c);
            format!("cut at {c}")
        }
        2 => {
            let (i, j) = (r.below(b.len()), r.below(b.len()));
            let (lo, hi) = (i.min(j), i.max(j).min(i.min(j) + 64));
            let chunk = b[lo..hi].to_vec();
            let at = r.below(b.len());
            b.splice(at..at, chunk);
            "splice".into()
        }
        _ => {
            // a varint length field blown up: the first byte with the high bit clear after a tag
            let i = r.below(b.len());
            if let Some(x) = b.get_mut(i) {
                *x |= 0x80;
            }
            format!("byte {i} continued")
        }
    }
}

/// decode + load + analyse + construct with a random half of the prunable rows removed.
fn execute(bytes: &[u8], r: &mut Rng) {
    let Ok(m) = oto_onnx::decode_model(bytes, "fuzz.onnx", None) else { return };
    let Ok(g) = Graph::from_model(m) else { return };
    let an = zig::analyze(&g);
    let rows: std::collections::BTreeSet<usize> =
        an.rows.iter().enumerate().filter(|(_, row)| row.prunable()).map(|(i, _)| i).filter(|_| r.below(2) == 0).collect();
    let _ = compress(&g, &an, &CompressOptions { removal: Removal::Rows(rows) });
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let execs: u64 = flag("--execs").and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let mut r = Rng(flag("--seed").and_then(|v| v.parse().ok()).unwrap_or(0x9e37_79b9_7f4a_7c15) | 1);
    let out = std::path::PathBuf::from(flag("--out").unwrap_or("target/fuzz-crashes".into()));
    let skip: Vec<&String> = ["--execs", "--seed", "--out"].iter().filter_map(|f| args.iter().position(|a| a == f)).flat_map(|i| [&args[i], &args[i + 1]]).collect();
    if args.first().is_some_and(|a| a == "--replay") {
        // each saved input again, with the panic message, under a few row choices
        let mut failed = 0;
        for p in &args[1..] {
            let bytes = std::fs::read(p).expect("reading a saved input");
            for k in 1..=8u64 {
                if std::panic::catch_unwind(AssertUnwindSafe(|| execute(&bytes, &mut Rng(k)))).is_err() {
                    failed += 1;
                    println!("{p}: panics (row choice {k})");
                    break;
                }
            }
        }
        println!("replayed {} inputs: {failed} panic", args.len() - 1);
        std::process::exit(i32::from(failed > 0));
    }
    let mut seeds: Vec<(String, ModelProto)> = vec![];
    let cfg = oto_zoo::ZooConfig { width_mult: Some(0.25), randomize_stats: true, input_shape: None, ..Default::default() };
    for e in oto_zoo::list() {
        if let Ok(m) = oto_zoo::build(e.name, &cfg) {
            seeds.push((e.name.to_string(), m));
        }
    }
    for p in args.iter().filter(|a| !skip.contains(a)) {
        match oto_onnx::load_model(std::path::Path::new(p)) {
            Ok(m) => seeds.push((p.clone(), m)),
            Err(e) => eprintln!("skipping seed {p}: {e}"),
        }
    }
    // small seeds keep an execution around a millisecond: a seed's structure, not its weights,
    // is what the mutations explore
    seeds.retain(|(name, m)| {
        let size = oto_onnx::encode_model(m).len();
        if size > MAX_SEED_BYTES {
            eprintln!("skipping seed {name}: {size} bytes (> {MAX_SEED_BYTES})");
        }
        size <= MAX_SEED_BYTES
    });
    let encoded: Vec<Vec<u8>> = seeds.iter().map(|(_, m)| oto_onnx::encode_model(m)).collect();
    std::panic::set_hook(Box::new(|_| {})); // crashes are counted and saved, not printed
    let _ = std::fs::create_dir_all(&out);
    if let Ok(f) = std::fs::File::create(out.join("oom.onnx")) {
        use std::os::fd::IntoRawFd;
        OOM_FD.store(f.into_raw_fd(), Ordering::Relaxed);
    }
    let (mut crashes, mut slow, mut slowest) = (0u64, 0u64, (Duration::ZERO, String::new()));
    let start = Instant::now();
    for i in 0..execs {
        let s = r.below(seeds.len());
        let mutated = std::panic::catch_unwind(AssertUnwindSafe(|| {
            if r.below(2) == 0 {
                let mut m = seeds[s].1.clone();
                let mut what = vec![];
                for _ in 0..1 + r.below(3) {
                    what.push(mutate_structure(&mut m, &mut r));
                }
                (oto_onnx::encode_model(&m), what.join(", "))
            } else {
                let mut b = encoded[s].clone();
                let w = mutate_bytes(&mut b, &mut r);
                (b, w)
            }
        }));
        let Ok((bytes, what)) = mutated else {
            eprintln!("fuzzer bug: a mutation of seed {} panicked at execution {i}", seeds[s].0);
            std::process::exit(2);
        };
        let what = format!("{} / {what}", seeds[s].0);
        let mut rr = Rng(r.next() | 1);
        INPUT.store(bytes.as_ptr() as *mut u8, Ordering::Relaxed);
        INPUT_LEN.store(bytes.len(), Ordering::Relaxed);
        let t = Instant::now();
        let ok = std::panic::catch_unwind(AssertUnwindSafe(|| execute(&bytes, &mut rr))).is_ok();
        INPUT.store(std::ptr::null_mut(), Ordering::Relaxed);
        let took = t.elapsed();
        if took > slowest.0 {
            slowest = (took, what.clone());
            let _ = std::fs::write(out.join("slowest.onnx"), &bytes); // to replay with --replay
        }
        if took > Duration::from_secs(1) {
            slow += 1;
        }
        if !ok {
            crashes += 1;
            let _ = std::fs::create_dir_all(&out);
            let path = out.join(format!("crash-{i}.onnx"));
            let _ = std::fs::write(&path, &bytes);
            println!("CRASH at execution {i} ({what}): saved {}", path.display());
        }
        if (i + 1) % 100_000 == 0 {
            println!("{} executions, {crashes} crashes, {:.0} s", i + 1, start.elapsed().as_secs_f64());
        }
    }
    println!(
        "fuzz: {execs} executions over {} seeds in {:.0} s ({:.0}/s); crashes {crashes}; slow (> 1 s) {slow}; slowest {:.1} ms ({}; saved as slowest.onnx)",
        seeds.len(),
        start.elapsed().as_secs_f64(),
        execs as f64 / start.elapsed().as_secs_f64(),
        slowest.0.as_secs_f64() * 1e3,
        slowest.1
    );
    if crashes > 0 {
        std::process::exit(1);
    }
}
