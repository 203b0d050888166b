//! The malformed-model corpus (issue 25): well over 100 broken or hostile ONNX files, generated
//! here at test time from one small valid model, each run through `oto analyze`, `oto prune`
//! and `oto compress` under a 1 GiB address-space limit. Every command must exit non-zero (or,
//! for `analyze` on a graph it can read, report it), within 2 s, with an error that names the
//! problem on its first line, no panic, no abort, and no output file left behind.
use oto_onnx::attr::{a_float, a_int, a_ints, a_string, node};
use oto_onnx::pb::{
    tensor_proto::DataLocation, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto,
    ValueInfoProto,
};
use oto_onnx::tensor::{f32_tensor, i64_tensor, FLOAT};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// x[N,3,8,8] → Conv 3→4 → BatchNormalization → Relu → Conv 4→4 → Relu → GlobalAveragePool →
/// Flatten → Gemm 4→2: small, valid, with one prunable group (c1's channels).
fn valid() -> ModelProto {
    let w = |name: &str, dims: &[i64]| {
        let n: i64 = dims.iter().product();
        f32_tensor(name, dims, &(0..n).map(|i| 0.05 + (i % 7) as f32 * 0.03).collect::<Vec<_>>())
    };
    let conv = |name: &str, x: &str, wt: &str, b: &str, y: &str| {
        node("Conv", name, &[x, wt, b], &[y], vec![a_ints("kernel_shape", &[3, 3]), a_ints("pads", &[1, 1, 1, 1]), a_ints("strides", &[1, 1])])
    };
    let graph = GraphProto {
        name: Some("malformed_base".into()),
        node: vec![
            conv("c1", "x", "c1.w", "c1.b", "y1"),
            node("BatchNormalization", "bn", &["y1", "bn.s", "bn.b", "bn.m", "bn.v"], &["y2"], vec![a_float("epsilon", 1e-5)]),
            node("Relu", "r1", &["y2"], &["y3"], vec![]),
            conv("c2", "y3", "c2.w", "c2.b", "y4"),
            node("Relu", "r2", &["y4"], &["y5"], vec![]),
            node("GlobalAveragePool", "gap", &["y5"], &["y6"], vec![]),
            node("Flatten", "flat", &["y6"], &["y7"], vec![a_int("axis", 1)]),
            node("Gemm", "fc", &["y7", "fc.w", "fc.b"], &["logits"], vec![a_int("transB", 1)]),
        ],
        initializer: vec![
            w("c1.w", &[4, 3, 3, 3]),
            w("c1.b", &[4]),
            w("bn.s", &[4]),
            w("bn.b", &[4]),
            w("bn.m", &[4]),
            f32_tensor("bn.v", &[4], &[1.0; 4]),
            w("c2.w", &[4, 4, 3, 3]),
            w("c2.b", &[4]),
            w("fc.w", &[2, 4]),
            w("fc.b", &[2]),
        ],
        input: vec![input("x", &[None, Some(3), Some(8), Some(8)], FLOAT)],
        output: vec![ValueInfoProto { name: Some("logits".into()), ..Default::default() }],
        ..Default::default()
    };
    ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(17) }],
        graph: Some(graph),
        ..Default::default()
    }
}

/// A tensor graph input; `None` dims are the symbolic batch `N`.
fn input(name: &str, dims: &[Option<i64>], elem: i32) -> ValueInfoProto {
    use oto_onnx::pb::{tensor_shape_proto::dimension::Value as D, tensor_shape_proto::Dimension, type_proto, TensorShapeProto, TypeProto};
    let dim = |d: &Option<i64>| Dimension { value: Some(d.map_or(D::DimParam("N".into()), D::DimValue)), ..Default::default() };
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(elem),
                shape: Some(TensorShapeProto { dim: dims.iter().map(dim).collect() }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn g(m: &mut ModelProto) -> &mut GraphProto {
    m.graph.as_mut().unwrap()
}
fn nd<'a>(m: &'a mut ModelProto, name: &str) -> &'a mut NodeProto {
    g(m).node.iter_mut().find(|n| n.name.as_deref() == Some(name)).unwrap()
}
fn init<'a>(m: &'a mut ModelProto, name: &str) -> &'a mut TensorProto {
    g(m).initializer.iter_mut().find(|t| t.name.as_deref() == Some(name)).unwrap()
}
fn set_attr(m: &mut ModelProto, node: &str, a: oto_onnx::AttributeProto) {
    oto_onnx::attr::set(nd(m, node), a);
}

/// One corpus entry: the files of a case (the model `m.onnx` and any side files).
struct Case {
    name: String,
    bytes: Vec<u8>,
    /// Files beside the model: (relative name, contents); a `None` content is a symlink target
    /// given in `link`.
    side: Vec<(String, Vec<u8>)>,
    links: Vec<(String, String)>,
    /// What every command's error must say (empty: anything that names a problem).
    expect: &'static str,
}

fn case(name: impl Into<String>, m: &ModelProto) -> Case {
    Case { name: name.into(), bytes: oto_onnx::encode_model(m), side: vec![], links: vec![], expect: "" }
}
fn raw(name: impl Into<String>, bytes: Vec<u8>) -> Case {
    Case { name: name.into(), bytes, side: vec![], links: vec![], expect: "" }
}
fn mutate(name: &str, f: impl FnOnce(&mut ModelProto)) -> Case {
    let mut m = valid();
    f(&mut m);
    case(name, &m)
}

/// Byte-level damage: empty, text, random bytes, truncations, flipped wire types.
fn byte_cases() -> Vec<Case> {
    let good = oto_onnx::encode_model(&valid());
    let mut v = vec![raw("empty file", vec![]), raw("text file", b"# not a model\nhello\n".to_vec())];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for len in [1usize, 7, 64, 700, 4096] {
        let bytes = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        v.push(raw(format!("{len} random bytes"), bytes));
    }
    for k in 1..=12 {
        v.push(raw(format!("truncated at {k}/13"), good[..good.len() * k / 13].to_vec()));
    }
    // the first bytes are field tags: ir_version (0), graph (2), its length (3), the graph's first field (4 or 5)
    for at in [0usize, 2, 3, 5] {
        let mut b = good.clone();
        b[at] = (b[at] & !7) | 3; // wire type 3 (start group, deprecated) where a field was
        v.push(raw(format!("wrong wire type at byte {at}"), b));
    }
    v
}

/// Broken graph structure: names, cycles, duplicates, empty parts, opsets.
fn structure_cases() -> Vec<Case> {
    let mut v = vec![];
    for (n, i) in [("c1", 0), ("bn", 0), ("c2", 1), ("fc", 0), ("fc", 2)] {
        v.push(mutate(&format!("{n} input {i} names no tensor"), |m| nd(m, n).input[i] = "nowhere".into()));
    }
    v.push(mutate("cycle through c1", |m| nd(m, "c1").input[0] = "y5".into()));
    v.push(mutate("self loop", |m| nd(m, "r1").input[0] = "y3".into()));
    v.push(mutate("duplicate node output", |m| nd(m, "r2").output[0] = "y3".into()));
    v.push(mutate("duplicate graph output", |m| {
        let o = g(m).output[0].clone();
        g(m).output.push(o);
    }));
    v.push(mutate("graph output names no tensor", |m| g(m).output[0].name = Some("ghost".into())));
    v.push(mutate("no outputs", |m| g(m).output.clear()));
    v.push(mutate("no nodes", |m| g(m).node.clear()));
    v.push(mutate("no inputs", |m| g(m).input.clear()));
    v.push(mutate("no graph", |m| m.graph = None));
    v.push(mutate("empty graph", |m| m.graph = Some(GraphProto::default())));
    v.push(mutate("duplicate initializer", |m| {
        let t = init(m, "c2.b").clone();
        g(m).initializer.push(t);
    }));
    v.push(mutate("input shadows an initializer of another shape", |m| g(m).input.push(input("c1.b", &[Some(9)], FLOAT))));
    v.push(mutate("node without op type", |m| nd(m, "r1").op_type = None));
    v.push(mutate("node with empty op type", |m| nd(m, "r1").op_type = Some(String::new())));
    for op in ["Frobnicate", "Conv2D", "relu"] {
        v.push(mutate(&format!("unknown op {op}"), |m| nd(m, "r1").op_type = Some(op.into())));
    }
    for (name, ops) in [("opset 1", vec![Some(1)]), ("opset 99", vec![Some(99)]), ("opset 0", vec![Some(0)]), ("negative opset", vec![Some(-5)])] {
        v.push(mutate(name, |m| m.opset_import = ops.iter().map(|&version| OperatorSetIdProto { domain: Some(String::new()), version }).collect()));
    }
    v.push(mutate("no opset import", |m| m.opset_import.clear()));
    v.push(mutate("opset without version", |m| m.opset_import[0].version = None));
    v.push(mutate("ir version 0", |m| m.ir_version = Some(0)));
    v.push(mutate("ir version 1000", |m| m.ir_version = Some(1000)));
    v.push(mutate("If with subgraphs", |m| {
        let branch = GraphProto { name: Some("b".into()), ..Default::default() };
        let mut n = node("If", "r1", &["y2"], &["y3"], vec![]);
        n.attribute.push(oto_onnx::AttributeProto { name: Some("then_branch".into()), g: Some(branch.clone()), r#type: Some(5), ..Default::default() });
        n.attribute.push(oto_onnx::AttributeProto { name: Some("else_branch".into()), g: Some(branch), r#type: Some(5), ..Default::default() });
        *nd(m, "r1") = n;
    }));
    v.push(mutate("Loop", |m| *nd(m, "r1") = node("Loop", "r1", &["", "", "y2"], &["y3"], vec![])));
    v.push(mutate("a node with 300 outputs", |m| nd(m, "r1").output = (0..300).map(|i| format!("o{i}")).collect()));
    v.push(mutate("50,000-node chain without outputs", |m| {
        let nodes = &mut g(m).node;
        for i in 0..50_000 {
            let x = if i == 0 { "logits".to_string() } else { format!("z{}", i - 1) };
            nodes.push(node("Relu", &format!("z{i}"), &[&x], &[&format!("z{i}")], vec![]));
        }
        g(m).output.clear();
    }));
    v
}

/// Bad weights and shapes.
fn tensor_cases() -> Vec<Case> {
    let mut v = vec![];
    for t in ["c1.w", "c1.b", "bn.s", "c2.w", "fc.w"] {
        v.push(mutate(&format!("{t} data shorter than its dims"), |m| {
            let x = init(m, t);
            let n = x.raw_data.as_ref().map_or(0, |d| d.len());
            x.raw_data = Some(vec![0u8; n / 2].into());
        }));
        v.push(mutate(&format!("{t} data longer than its dims"), |m| {
            let x = init(m, t);
            let n = x.raw_data.as_ref().map_or(0, |d| d.len());
            x.raw_data = Some(vec![0u8; n * 2 + 4].into());
        }));
        v.push(mutate(&format!("{t} negative dim"), |m| init(m, t).dims[0] = -4));
        v.push(mutate(&format!("{t} NaN weight"), |m| set_value(init(m, t), f32::NAN)));
        v.push(mutate(&format!("{t} Inf weight"), |m| set_value(init(m, t), f32::INFINITY)));
        v.push(mutate(&format!("{t} as a string tensor"), |m| {
            let x = init(m, t);
            x.data_type = Some(8);
            x.raw_data = None;
            x.string_data = vec![b"hi".to_vec().into()];
        }));
    }
    v.push(mutate("c1.w zero dim", |m| {
        let x = init(m, "c1.w");
        x.dims[0] = 0;
        x.raw_data = Some(vec![].into());
    }));
    v.push(mutate("c1.w 10^12 elements declared", |m| init(m, "c1.w").dims = vec![1_000_000, 1_000_000, 1, 1]));
    v.push(mutate("dims overflow i64 product", |m| init(m, "c1.w").dims = vec![i64::MAX, i64::MAX, 4, 4]));
    v.push(mutate("conv weight of rank 2", |m| {
        let x = init(m, "c1.w");
        x.dims = vec![4, 27];
    }));
    v.push(mutate("conv weight of rank 5", |m| init(m, "c1.w").dims = vec![4, 3, 3, 3, 1]));
    v.push(mutate("conv weight channels disagree", |m| init(m, "c2.w").dims = vec![4, 2, 3, 6]));
    v.push(mutate("bn params of the wrong length", |m| *init(m, "bn.s") = f32_tensor("bn.s", &[3], &[1.0; 3])));
    v.push(mutate("gemm weight disagrees", |m| *init(m, "fc.w") = f32_tensor("fc.w", &[2, 5], &[0.1; 10])));
    v.push(mutate("float16 weight", |m| {
        let x = init(m, "c1.b");
        x.data_type = Some(10);
        x.raw_data = Some(vec![0u8; 8].into());
    }));
    v.push(mutate("bfloat16 weight", |m| {
        let x = init(m, "c1.b");
        x.data_type = Some(16);
        x.raw_data = Some(vec![0u8; 8].into());
    }));
    v.push(mutate("undefined data type", |m| init(m, "c1.b").data_type = Some(0)));
    v.push(mutate("data type 99", |m| init(m, "c1.b").data_type = Some(99)));
    v.push(mutate("initializer without a name", |m| init(m, "c1.b").name = None));
    v.push(mutate("int64 weight", |m| *init(m, "c1.b") = i64_tensor("c1.b", &[4], &[1, 2, 3, 4])));
    // graph inputs
    v.push(mutate("input 10^12 elements", |m| g(m).input[0] = input("x", &[None, Some(3), Some(1_000_000), Some(1_000_000)], FLOAT)));
    v.push(mutate("input negative dim", |m| g(m).input[0] = input("x", &[None, Some(3), Some(-8), Some(8)], FLOAT)));
    v.push(mutate("input zero dim", |m| g(m).input[0] = input("x", &[None, Some(0), Some(8), Some(8)], FLOAT)));
    v.push(mutate("input wrong channels", |m| g(m).input[0] = input("x", &[None, Some(5), Some(8), Some(8)], FLOAT)));
    v.push(mutate("input rank 2", |m| g(m).input[0] = input("x", &[None, Some(3)], FLOAT)));
    v.push(mutate("input without a shape", |m| {
        if let Some(oto_onnx::pb::type_proto::Value::TensorType(t)) = g(m).input[0].r#type.as_mut().and_then(|t| t.value.as_mut()) {
            t.shape = None;
        }
    }));
    v.push(mutate("input without a type", |m| g(m).input[0].r#type = None));
    v.push(mutate("string input", |m| g(m).input[0] = input("x", &[None, Some(3), Some(8), Some(8)], 8)));
    v.push(mutate("input dims overflow", |m| g(m).input[0] = input("x", &[Some(i64::MAX), Some(i64::MAX), Some(8), Some(8)], FLOAT)));
    v
}

/// Every element of `t` (raw little-endian f32) set to `x`.
fn set_value(t: &mut TensorProto, x: f32) {
    let n = t.raw_data.as_ref().map_or(0, |d| d.len() / 4);
    let mut data = oto_onnx::tensor::to_f32(t).unwrap_or(vec![0.0; n]);
    data[0] = x;
    oto_onnx::tensor::set_f32(t, &t.dims.clone(), &data);
}

/// Attributes missing, mistyped or out of range.
fn attribute_cases() -> Vec<Case> {
    let mut v = vec![];
    for (name, a) in [
        ("strides 0", a_ints("strides", &[0, 0])),
        ("strides negative", a_ints("strides", &[-1, 1])),
        ("strides of rank 3", a_ints("strides", &[1, 1, 1])),
        ("dilations 0", a_ints("dilations", &[0, 1])),
        ("pads 10^6", a_ints("pads", &[1_000_000, 1_000_000, 1_000_000, 1_000_000])),
        ("pads negative beyond the input", a_ints("pads", &[-9, -9, -9, -9])),
        ("pads of length 3", a_ints("pads", &[1, 1, 1])),
        ("kernel_shape disagrees", a_ints("kernel_shape", &[5, 5])),
        ("group 0", a_int("group", 0)),
        ("group not dividing", a_int("group", 3)),
        ("group huge", a_int("group", i64::MAX)),
        ("strides as a float", a_float("strides", 1.0)),
        ("strides as a string", a_string("strides", "1,1")),
        ("auto_pad unknown", a_string("auto_pad", "SOMETIMES")),
        ("dilations 2^62", a_ints("dilations", &[1 << 62, 1 << 62])),
    ] {
        v.push(mutate(&format!("c1 {name}"), |m| set_attr(m, "c1", a)));
    }
    v.push(mutate("flatten axis 9", |m| set_attr(m, "flat", a_int("axis", 9))));
    v.push(mutate("gemm transB 7", |m| set_attr(m, "fc", a_int("transB", 7))));
    v.push(mutate("gemm transB as a string", |m| set_attr(m, "fc", a_string("transB", "yes"))));
    v.push(mutate("bn epsilon as ints", |m| set_attr(m, "bn", a_ints("epsilon", &[1]))));
    v.push(mutate("bn epsilon NaN", |m| set_attr(m, "bn", a_float("epsilon", f32::NAN))));
    v.push(mutate("conv with one input", |m| nd(m, "c1").input.truncate(1)));
    v.push(mutate("conv with five inputs", |m| nd(m, "c1").input.extend(["c1.b".to_string(), "c1.b".to_string()])));
    v.push(mutate("bn with two inputs", |m| nd(m, "bn").input.truncate(2)));
    v.push(mutate("relu with no output", |m| nd(m, "r1").output.clear()));
    v.push(mutate("attribute without a name", |m| nd(m, "c1").attribute[0].name = None));
    v.push(mutate("Reshape to 2^62 x 2^62", |m| {
        g(m).initializer.push(i64_tensor("big", &[2], &[1 << 62, 1 << 62]));
        *nd(m, "flat") = node("Reshape", "flat", &["y6", "big"], &["y7"], vec![]);
    }));
    v.push(mutate("Reshape to -1 x -1", |m| {
        g(m).initializer.push(i64_tensor("bad", &[2], &[-1, -1]));
        *nd(m, "flat") = node("Reshape", "flat", &["y6", "bad"], &["y7"], vec![]);
    }));
    v.push(mutate("Reshape with a float shape", |m| {
        g(m).initializer.push(f32_tensor("fshape", &[2], &[1.0, 4.0]));
        *nd(m, "flat") = node("Reshape", "flat", &["y6", "fshape"], &["y7"], vec![]);
    }));
    v.push(mutate("Expand to 10^12 elements", |m| {
        g(m).initializer.push(i64_tensor("huge", &[4], &[1, 4, 1_000_000, 1_000_000]));
        *nd(m, "gap") = node("Expand", "gap", &["y5", "huge"], &["y6"], vec![]);
    }));
    v
}

/// External data: missing, truncated, outside the folder, through symlinks, huge lengths.
fn external_cases() -> Vec<Case> {
    let w: Vec<u8> = oto_onnx::tensor::to_f32(init(&mut valid(), "c2.w")).unwrap().iter().flat_map(|x| x.to_le_bytes()).collect();
    let ext = |name: &str, location: &str, keys: &[(&str, &str)], side: Vec<(String, Vec<u8>)>, links: Vec<(String, String)>, expect| {
        let mut m = valid();
        let t = init(&mut m, "c2.w");
        t.raw_data = None;
        t.data_location = Some(DataLocation::External as i32);
        t.external_data = std::iter::once(("location", location))
            .chain(keys.iter().copied())
            .map(|(k, v)| StringStringEntryProto { key: Some(k.into()), value: Some(v.into()) })
            .collect();
        Case { name: name.into(), bytes: oto_onnx::encode_model(&m), side, links, expect }
    };
    let file = |n: &str, b: &[u8]| vec![(n.to_string(), b.to_vec())];
    vec![
        ext("external data missing", "w.bin", &[], vec![], vec![], "No such file"),
        ext("external data truncated", "w.bin", &[("length", &w.len().to_string())], file("w.bin", &w[..w.len() / 2]), vec![], "the file has 288 bytes"),
        ext("external data length 2^62", "w.bin", &[("length", "4611686018427387904")], file("w.bin", &w), vec![], "the file has 576 bytes"),
        ext("external data offset past the end", "w.bin", &[("offset", "100000")], file("w.bin", &w), vec![], "past the end"),
        ext("external data bad length value", "w.bin", &[("length", "lots")], file("w.bin", &w), vec![], "bad 'length' value"),
        ext("external data shorter than dims", "w.bin", &[], file("w.bin", &w[..w.len() - 4]), vec![], "need 576 bytes of FLOAT but the data has 572"),
        ext("external data with an empty location", "", &[], vec![], vec![], "the location is empty"),
        ext("external data ../ location", "../w.bin", &[], vec![], vec![], "inside the model's directory"),
        ext("external data absolute location", "/etc/passwd", &[], vec![], vec![], "inside the model's directory"),
        ext("external data symlink to /etc/passwd", "w.bin", &[], vec![], vec![("w.bin".into(), "/etc/passwd".into())], "outside the model's directory"),
        ext("external data symlink to /dev/zero", "w.bin", &[("length", "576")], vec![], vec![("w.bin".into(), "/dev/zero".into())], "outside the model's directory"),
        ext("external data symlink to a folder", "sub/passwd", &[], vec![], vec![("sub".into(), "/etc".into())], "outside the model's directory"),
        ext("external data is a folder", "w.bin", &[], vec![("w.bin/x".into(), vec![1])], vec![], "not a regular file"),
    ]
}

fn corpus() -> Vec<Case> {
    [byte_cases(), structure_cases(), tensor_cases(), attribute_cases(), external_cases()].into_iter().flatten().collect()
}

/// Runs `oto ARGS` under a 1 GiB address-space limit: (exit ok, first stderr line, elapsed).
fn oto(args: &[&str], dir: &Path) -> (Option<i32>, String, Duration) {
    let t = Instant::now();
    let out = Command::new("bash")
        .arg("-c")
        .arg("ulimit -v 1048576; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_oto"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    (out.status.code(), err, t.elapsed())
}

#[test]
fn the_valid_base_model_prunes_and_compresses() {
    let d = tempfile::tempdir().unwrap();
    oto_onnx::save_model(&valid(), &d.path().join("m.onnx")).unwrap();
    let (code, err, _) = oto(&["prune", "m.onnx", "--sparsity", "0.5", "--latency-runs", "0", "-o", "s.onnx"], d.path());
    assert_eq!(code, Some(0), "{err}");
    assert!(d.path().join("s.onnx").exists());
}

#[test]
fn every_malformed_model_is_refused_cleanly() {
    let cases = corpus();
    assert!(cases.len() >= 100, "the corpus has {} cases", cases.len());
    let mut failures = vec![];
    let mut slowest = (Duration::ZERO, String::new());
    for (i, c) in cases.iter().enumerate() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("m.onnx"), &c.bytes).unwrap();
        for (name, bytes) in &c.side {
            let p = d.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        }
        for (name, target) in &c.links {
            std::os::unix::fs::symlink(target, d.path().join(name)).unwrap();
        }
        let before: Vec<_> = std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        for args in [
            &["prune", "m.onnx", "--sparsity", "0.5", "--latency-runs", "0", "-o", "s.onnx", "--report", "r.json", "--manifest", "k.json"][..],
            &["compress", "m.onnx", "-o", "s.onnx", "--report", "r.json"][..],
            &["analyze", "m.onnx", "--json", "a.json"][..],
        ] {
            let (code, err, took) = oto(args, d.path());
            let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
            let first = errors.first().copied().unwrap_or("").to_string();
            if took > slowest.0 {
                slowest = (took, format!("{} / {}", c.name, args[0]));
            }
            let mut bad = vec![];
            if err.contains("panicked") || code.is_none() {
                bad.push(format!("crashed (exit {code:?})"));
            }
            if err.contains("bug in oto") {
                bad.push("blamed on oto".into());
            }
            if took > Duration::from_secs(2) {
                bad.push(format!("took {took:?}"));
            }
            // analyze may read a graph it can type (an unknown op becomes unprunable, with a reason)
            if code == Some(0) && args[0] != "analyze" {
                bad.push("accepted".into());
            }
            if !first.contains(c.expect) {
                bad.push(format!("the error does not say {:?}", c.expect));
            }
            if code != Some(0) && errors.len() != 1 {
                bad.push(format!("{} error lines", errors.len()));
            }
            let after: Vec<_> = std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
            let new: Vec<_> = after.iter().filter(|n| !before.contains(n)).cloned().collect();
            if code != Some(0) && !new.is_empty() {
                bad.push(format!("left {new:?}"));
            }
            for n in &new {
                let _ = std::fs::remove_file(d.path().join(n));
            }
            println!("{i:3} {:<48} {:<8} {:>6.0?} {}", c.name, args[0], took, first.chars().take(150).collect::<String>());
            if !bad.is_empty() {
                failures.push(format!("{} / {}: {} — {}", c.name, args[0], bad.join(", "), err.trim().chars().take(300).collect::<String>()));
            }
        }
    }
    println!("{} cases × 3 commands; slowest {:?} ({})", cases.len(), slowest.0, slowest.1);
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

/// Ops of another domain are opaque, never read as the default domain's op of the same name:
/// the groups they touch are unprunable with the reason in the report, and the rest still prunes.
#[test]
fn ops_of_other_domains_are_opaque() {
    for domain in ["com.example.secret", "ai.onnx.ml"] {
        let d = tempfile::tempdir().unwrap();
        let mut m = valid();
        nd(&mut m, "r1").domain = Some(domain.into());
        oto_onnx::save_model(&m, &d.path().join("m.onnx")).unwrap();
        let (code, err, _) = oto(&["analyze", "m.onnx", "--json", "a.json"], d.path());
        assert_eq!(code, Some(0), "{err}");
        let report = std::fs::read_to_string(d.path().join("a.json")).unwrap();
        assert!(report.contains(&format!("{domain}:Relu")), "the report names the opaque op");
        let json: serde_json::Value = serde_json::from_str(&report).unwrap();
        let groups = json["groups"].as_array().unwrap();
        let c1 = groups.iter().find(|g| g.to_string().contains("c1.w")).unwrap();
        assert_eq!(c1["prunable"], false, "c1 feeds the opaque op: {c1}");
    }
}
