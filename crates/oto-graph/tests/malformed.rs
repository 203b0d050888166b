//! Malformed inputs: every one is a clear error (asserted on its message) or a reasoned
//! unprunable group — never a panic. Plus a fuzz-style proptest and ONNX round trips.
mod common;
use common::*;
use oto_graph::{zig, Graph};
use oto_onnx::pb::{tensor_proto::DataLocation, ModelProto, StringStringEntryProto};
use proptest::prelude::*;
use std::path::Path;

/// decode + build + analyse; the first error's message.
fn load_err(bytes: &[u8], base: Option<&Path>) -> Option<String> {
    let m = match oto_onnx::decode_model(bytes, "model.onnx", base) {
        Ok(m) => m,
        Err(e) => return Some(e.to_string()),
    };
    match Graph::from_model(m) {
        Ok(g) => {
            let _ = zig::analyze(&g);
            None
        }
        Err(e) => Some(e.to_string()),
    }
}

fn small_model() -> ModelProto {
    let mut n = Net::new();
    n.input("x", &[N, 3, 8, 8]);
    let c1 = n.conv("c1", "x", 3, 4, 3, 1);
    let b = n.bn("bn", &c1, 4);
    let r = n.un("Relu", "r", &b);
    n.head("fc", &r, 4, 2);
    n.output("fc");
    n.model()
}

#[test]
fn empty_file() {
    let e = load_err(&[], None).unwrap();
    assert!(e.contains("is empty") && e.contains("ONNX"), "{e}");
}

#[test]
fn truncated_protobuf() {
    let bytes = oto_onnx::encode_model(&small_model());
    for cut in [bytes.len() / 3, bytes.len() / 2, bytes.len() - 7] {
        let e = load_err(&bytes[..cut], None).unwrap_or_else(|| panic!("cut at {cut} loaded"));
        assert!(e.contains("not a valid ONNX model") || e.contains("truncated") || e.contains("no node produces"), "{e}");
    }
}

#[test]
fn not_onnx() {
    let text = b"# just a text file\nhello world, this is not a model\n";
    let e = load_err(text, None).unwrap();
    assert!(e.contains("ONNX"), "{e}");
    let random: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let e = load_err(&random, None).unwrap();
    assert!(e.contains("ONNX"), "{e}");
}

#[test]
fn cycle() {
    let mut n = Net::new();
    n.input("x", &[N, 4]);
    n.bin("Add", "a", "x", "b");
    n.un("Relu", "b", "a");
    n.output("b");
    let e = Graph::from_model(n.model()).unwrap_err().to_string();
    assert!(e.contains("cycle") && e.contains("acyclic"), "{e}");
}

#[test]
fn dangling_input() {
    let mut n = Net::new();
    n.input("x", &[N, 4]);
    n.bin("Add", "a", "x", "nowhere");
    n.output("a");
    let e = Graph::from_model(n.model()).unwrap_err().to_string();
    assert!(e.contains("'nowhere'") && e.contains("no node produces"), "{e}");
}

#[test]
fn missing_initializer() {
    let mut m = small_model();
    m.graph.as_mut().unwrap().initializer.retain(|t| t.name.as_deref() != Some("c1.w"));
    let e = Graph::from_model(m).unwrap_err().to_string();
    assert!(e.contains("'c1.w'") && e.contains("missing initializer"), "{e}");
}

#[test]
fn missing_graph_output() {
    let mut n = Net::new();
    n.input("x", &[N, 4]);
    n.un("Relu", "a", "x");
    n.output("not_there");
    let e = Graph::from_model(n.model()).unwrap_err().to_string();
    assert!(e.contains("'not_there'"), "{e}");
}

/// Conv weight of rank 3 on a rank-4 input: a shape error naming the node.
#[test]
fn conv_rank_mismatch() {
    let mut n = Net::new();
    n.input("x", &[N, 3, 8, 8]);
    let w = n.w("c1.w", &[4, 3, 3]);
    n.node("Conv", "c1", &["x", &w], &["c1"], vec![]);
    n.output("c1");
    match Graph::from_model(n.model()) {
        Err(e) => {
            let e = e.to_string();
            assert!(e.contains("'c1'") && e.contains("Conv"), "{e}");
        }
        Ok(g) => {
            // if shape inference lets it through, the analysis must still give a reason
            let a = zig::analyze(&g);
            assert!(a.rows.iter().all(|r| !r.prunable()), "rank-mismatched conv must not be prunable");
        }
    }
}

/// An unknown op is not an error: its channels get a reason, the rest stays prunable.
#[test]
fn unknown_op_is_reasoned() {
    let mut n = Net::new();
    n.input("x", &[N, 3, 8, 8]);
    let c1 = n.conv("c1", "x", 3, 4, 3, 1);
    n.node("MyCustomOp", "custom", &[&c1], &["custom"], vec![]);
    let c2 = n.conv("c2", "custom", 4, 4, 3, 1);
    let c3 = n.conv("c3", &c2, 4, 4, 3, 1);
    n.head("fc", &c3, 4, 2);
    n.output("fc");
    let c = n.analyze();
    c.expect(&[exp(&["c1.w"], 4, Some("unknown_op:MyCustomOp")), exp(&["c2.w"], 4, None)]);
}

/// Moves every initializer's data into `file` (external data) and returns the model.
fn externalise(mut m: ModelProto, dir: &Path, file: &str) -> ModelProto {
    let mut blob = vec![];
    for t in m.graph.as_mut().unwrap().initializer.iter_mut() {
        let raw = t.raw_data.take().unwrap();
        let kv = |k: &str, v: String| StringStringEntryProto { key: Some(k.into()), value: Some(v) };
        t.external_data = vec![kv("location", file.into()), kv("offset", blob.len().to_string()), kv("length", raw.len().to_string())];
        t.data_location = Some(DataLocation::External as i32);
        blob.extend(raw);
    }
    std::fs::write(dir.join(file), blob).unwrap();
    m
}

#[test]
fn missing_external_data_file() {
    let dir = tempfile::tempdir().unwrap();
    let m = externalise(small_model(), dir.path(), "weights.data");
    let p = dir.path().join("model.onnx");
    oto_onnx::save_model(&m, &p).unwrap();
    assert!(Graph::load(&p).is_ok());
    std::fs::remove_file(dir.path().join("weights.data")).unwrap();
    let e = Graph::load(&p).unwrap_err().to_string();
    assert!(e.contains("weights.data") && e.contains("keep the .data file next to the model"), "{e}");
}

#[test]
fn roundtrip_external_data() {
    let dir = tempfile::tempdir().unwrap();
    let orig = oto_zoo::build("fmnist_resnet", &oto_zoo::ZooConfig { randomize_stats: true, ..Default::default() }).unwrap();
    let m = externalise(orig.clone(), dir.path(), "w.bin");
    let p = dir.path().join("ext.onnx");
    oto_onnx::save_model(&m, &p).unwrap();
    let g = Graph::load(&p).unwrap();
    let back = g.to_model();
    let p2 = dir.path().join("inline.onnx");
    oto_onnx::save_model(&back, &p2).unwrap();
    let re = oto_onnx::load_model(&p2).unwrap();
    let (a, b) = (orig.graph.as_ref().unwrap(), re.graph.as_ref().unwrap());
    assert_eq!(a.initializer.len(), b.initializer.len());
    for (x, y) in a.initializer.iter().zip(&b.initializer) {
        assert_eq!(x.name, y.name);
        assert_eq!(x.dims, y.dims);
        assert_eq!(oto_onnx::tensor::to_f32(x).unwrap(), oto_onnx::tensor::to_f32(y).unwrap(), "{:?}", x.name);
    }
    assert_eq!(a.node, b.node);
}

#[test]
fn roundtrip_zoo_models_bytes() {
    for name in ["fmnist_resnet", "demonet", "resnet20_a", "densenet_bc", "shufflenet_style", "tiny_transformer", "carn_mini", "mobilenet_v2", "stacked_unets"] {
        let m = oto_zoo::build(name, &oto_zoo::ZooConfig { input_shape: None, ..Default::default() }).unwrap();
        let bytes = oto_onnx::encode_model(&m);
        let g = Graph::from_model(oto_onnx::decode_model(&bytes, name, None).unwrap()).unwrap();
        let again = oto_onnx::encode_model(&g.to_model());
        assert!(again == bytes, "{name}: load + save changes the encoded model ({} vs {} bytes)", again.len(), bytes.len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: fuzz_cases(), failure_persistence: None, .. ProptestConfig::default() })]

    /// Random bytes never panic.
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = load_err(&bytes, None);
    }

    /// A valid model with a few bytes changed, or cut, never panics.
    #[test]
    fn mutated_model_never_panics(edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6), cut in any::<prop::sample::Index>(), do_cut in any::<bool>()) {
        let mut bytes = oto_onnx::encode_model(&small_model());
        for (i, b) in edits {
            let i = i.index(bytes.len());
            bytes[i] = b;
        }
        if do_cut {
            let c = cut.index(bytes.len());
            bytes.truncate(c);
        }
        let _ = load_err(&bytes, None);
    }
}

/// 64 cases by default; `OTO_FUZZ_CASES=20000` for a longer run.
fn fuzz_cases() -> u32 {
    std::env::var("OTO_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)
}
