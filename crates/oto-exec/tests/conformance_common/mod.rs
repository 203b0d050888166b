//! Helpers of `onnx_conformance.rs`: finding ONNX's own backend test cases (shipped in the onnx
//! wheel of the project venv), reading their `TensorProto` files, and comparing outputs.
#![allow(dead_code)]
use oto_graph::ops::{Attrs, Op};
use oto_onnx::pb::{type_proto, ModelProto, TensorProto};
use oto_exec::supports;
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

/// The suites used (under `onnx/backend/test/data`); `real` needs downloads, `node` is per-op.
pub const SUITES: &[&str] = &["pytorch-converted", "pytorch-operator", "simple", "light"];

/// `$OTO_ONNX_BACKEND_DATA`, else `.venv/lib/python3.*/site-packages/onnx/backend/test/data`.
pub fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("OTO_ONNX_BACKEND_DATA") {
        let d = PathBuf::from(d);
        assert!(d.is_dir(), "OTO_ONNX_BACKEND_DATA={} is not a directory", d.display());
        return d;
    }
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/lib");
    let mut found: Vec<PathBuf> = sorted_entries(&lib)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("python3.")))
        .map(|p| p.join("site-packages/onnx/backend/test/data"))
        .filter(|p| p.is_dir())
        .collect();
    found.pop().unwrap_or_else(|| {
        panic!(
            "ONNX backend test data not found under {}/python3.*/site-packages/onnx/backend/test/data \
             (run scripts/setup.sh to create .venv with onnx, or set OTO_ONNX_BACKEND_DATA=DIR)",
            lib.display()
        )
    })
}

/// One backend test case on disk.
pub struct CaseFiles {
    /// `suite/name`.
    pub name: String,
    pub model: PathBuf,
    /// `input_K.pb`, in order; empty for `light` models (inputs are generated, see [`light_input`]).
    pub inputs: Vec<PathBuf>,
    pub outputs: Vec<PathBuf>,
    /// A `light/*.onnx` model: inputs are ONNX's dummy data, expected outputs `<model>_output_K.pb`.
    pub light: bool,
}

/// `prefix0, prefix1, ...` files that exist in `dir`.
fn numbered(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    (0..).map(|k| dir.join(format!("{prefix}{k}.pb"))).take_while(|p| p.exists()).collect()
}

fn sorted_entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|rd| rd.flatten().map(|e| e.path()).collect()).unwrap_or_default();
    v.sort();
    v
}

/// Every case of [`SUITES`], sorted by suite then name.
pub fn list_cases(root: &Path) -> Vec<CaseFiles> {
    let mut cases = vec![];
    for suite in SUITES {
        for p in sorted_entries(&root.join(suite)) {
            let stem = p.file_stem().unwrap_or_default().to_string_lossy().into_owned();
            if p.join("model.onnx").is_file() {
                let ds = p.join("test_data_set_0");
                cases.push(CaseFiles {
                    name: format!("{suite}/{stem}"),
                    model: p.join("model.onnx"),
                    inputs: numbered(&ds, "input_"),
                    outputs: numbered(&ds, "output_"),
                    light: false,
                });
            } else if p.extension().is_some_and(|e| e == "onnx") {
                let dir = p.parent().unwrap();
                cases.push(CaseFiles {
                    name: format!("{suite}/{stem}"),
                    model: p.clone(),
                    inputs: vec![],
                    outputs: numbered(dir, &format!("{stem}_output_")),
                    light: true,
                });
            }
        }
    }
    cases
}

/// Ops of `model` the executor does not claim (`domain:op` outside the default domain), sorted.
pub fn unclaimed_ops(model: &ModelProto) -> Vec<String> {
    let opset = model.opset_import.iter().find(|o| o.domain.as_deref().unwrap_or("") == "").and_then(|o| o.version).unwrap_or(1);
    let mut ops: Vec<String> = model
        .graph
        .iter()
        .flat_map(|g| &g.node)
        .filter_map(|n| {
            let (dom, op) = (n.domain.as_deref().unwrap_or(""), n.op_type.as_deref().unwrap_or(""));
            let a = Attrs { proto: n, name: n.name.as_deref().unwrap_or(""), op_type: op, domain: dom, opset };
            match dom {
                "" | "ai.onnx" if Op::parse(&a).is_ok_and(|t| supports(&t)) => None,
                "" | "ai.onnx" => Some(op.to_string()),
                _ => Some(format!("{dom}:{op}")),
            }
        })
        .collect();
    ops.sort();
    ops.dedup();
    ops
}

/// Drops the shapes the model declares for graph outputs and intermediate values (element
/// types stay), so that the shapes checked are oto's inference, not the file's declarations.
pub fn strip_declared_shapes(model: &mut ModelProto) {
    let Some(g) = model.graph.as_mut() else { return };
    g.value_info.clear();
    for vi in g.output.iter_mut() {
        if let Some(type_proto::Value::TensorType(tt)) = vi.r#type.as_mut().and_then(|t| t.value.as_mut()) {
            tt.shape = None;
        }
    }
}

/// A serialized `TensorProto` file. oto-exec has no direct `prost` dependency, so the bytes are
/// framed as `ModelProto { graph: GraphProto { initializer: [t], output: [{}] } }` and decoded
/// with `oto_onnx::decode_model` (protobuf: a length-delimited field is tag, length, bytes).
pub fn read_tensor(path: &Path) -> Result<TensorProto, String> {
    fn field(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let mut n = body.len();
        while n >= 0x80 {
            out.push((n as u8) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
        out.extend_from_slice(body);
        out
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    // GraphProto.initializer = 5, GraphProto.output = 12, ModelProto.graph = 7 (wire type 2).
    let mut graph = field(5 << 3 | 2, &bytes);
    graph.extend(field(12 << 3 | 2, &[]));
    let model = oto_onnx::decode_model(&field(7 << 3 | 2, &graph), &path.display().to_string(), None)
        .map_err(|e| e.to_string())?;
    model.graph.and_then(|g| g.initializer.into_iter().next()).ok_or_else(|| format!("{}: no tensor", path.display()))
}

/// A `TensorProto` as a tch tensor: float kinds as Float, integers as Int64, bool as Bool.
pub fn to_tch(t: &TensorProto) -> Result<Tensor, String> {
    let dims = t.dims.clone();
    if oto_onnx::tensor::is_float(t) {
        let v = oto_onnx::tensor::to_f32(t).map_err(|e| e.to_string())?;
        return Ok(Tensor::from_slice(&v).reshape(&dims));
    }
    let v = oto_onnx::tensor::to_i64(t).map_err(|e| e.to_string())?;
    let x = Tensor::from_slice(&v).reshape(&dims);
    Ok(if t.data_type == Some(oto_onnx::tensor::BOOL) { x.to_kind(Kind::Bool) } else { x })
}

/// The dummy input ONNX's backend runner feeds `light` models (`generate_dummy_data(random=False)`):
/// float32 `arange(n).reshape(shape) / n`, symbolic dimensions taken as 1.
pub fn light_input(dims: &[Option<i64>]) -> Tensor {
    let shape: Vec<i64> = dims.iter().map(|d| d.unwrap_or(1)).collect();
    let n: i64 = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|i| (i as f64 / n as f64) as f32).collect();
    Tensor::from_slice(&v).reshape(&shape)
}

/// `got` against the expected tensor: equal shapes; floats within `|a−b| ≤ tol·max(1, |b|)`
/// element-wise (NaN matches NaN); integers and bools exactly.
pub fn compare(got: &Tensor, want: &TensorProto, tol: f64) -> Result<(), String> {
    if got.size() != want.dims {
        return Err(format!("shape {:?}, expected {:?}", got.size(), want.dims));
    }
    let float = oto_onnx::tensor::is_float(want);
    if !float && got.is_floating_point() {
        return Err(format!("got a {:?} tensor, expected integer data type {:?}", got.kind(), want.data_type));
    }
    let expected: Vec<f64> = if float {
        oto_onnx::tensor::to_f32(want).map_err(|e| e.to_string())?.into_iter().map(f64::from).collect()
    } else {
        oto_onnx::tensor::to_i64(want).map_err(|e| e.to_string())?.into_iter().map(|x| x as f64).collect()
    };
    let actual = Vec::<f64>::try_from(got.to_kind(Kind::Double).reshape([-1])).map_err(|e| e.to_string())?;
    let (mut worst, mut n_bad): (Option<(usize, f64)>, usize) = (None, 0);
    for (i, (&a, &b)) in actual.iter().zip(&expected).enumerate() {
        let bad = if float {
            let err = (a - b).abs() / b.abs().max(1.0);
            (a.is_nan() != b.is_nan() || err > tol).then_some(if err.is_nan() { f64::INFINITY } else { err })
        } else {
            (a != b).then_some(f64::INFINITY)
        };
        if let Some(e) = bad {
            n_bad += 1;
            if worst.is_none_or(|(_, w)| e > w) {
                worst = Some((i, e));
            }
        }
    }
    match worst {
        None => Ok(()),
        Some((i, e)) => {
            Err(format!(
                "{n_bad}/{} elements differ; worst at flat index {i}: got {}, expected {} (rel err {e:.3e})",
                actual.len(),
                actual[i],
                expected[i]
            ))
        }
    }
}
