//! Shared helpers of the executor tests: hand-built ONNX graphs and the onnxruntime reference
//! (one Python process per test, see tests/py/ort_run.py).
#![allow(dead_code)]
use oto_graph::Graph;
use oto_onnx::pb::{
    tensor_shape_proto::{dimension, Dimension},
    type_proto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TypeProto,
    ValueInfoProto,
};
use oto_exec::Executor;
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// A declared dimension: `-1` becomes the symbolic batch `N`.
pub fn vi(name: &str, elem: i32, shape: Option<&[i64]>) -> ValueInfoProto {
    let shape = shape.map(|s| TensorShapeProto {
        dim: s
            .iter()
            .map(|&d| Dimension {
                value: Some(if d < 0 { dimension::Value::DimParam("N".into()) } else { dimension::Value::DimValue(d) }),
                ..Default::default()
            })
            .collect(),
    });
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor { elem_type: Some(elem), shape })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// One hand-built test model with its input data.
pub struct Case {
    pub name: String,
    pub model: ModelProto,
    pub data: Vec<Tensor>,
}

pub struct CaseBuilder {
    name: String,
    opset: i64,
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
    data: Vec<Tensor>,
    seed: i64,
}

pub fn case(name: &str) -> CaseBuilder {
    CaseBuilder {
        name: name.into(),
        opset: 17,
        nodes: vec![],
        inits: vec![],
        inputs: vec![],
        outputs: vec![],
        data: vec![],
        seed: name.bytes().map(|b| b as i64).sum(),
    }
}

pub fn randn(shape: &[i64], seed: i64) -> Tensor {
    tch::manual_seed(seed);
    Tensor::randn(shape, (Kind::Float, Device::Cpu))
}

impl CaseBuilder {
    pub fn opset(mut self, v: i64) -> Self {
        self.opset = v;
        self
    }
    /// A float input with random data; `decl` overrides the declared shape (-1 = batch `N`).
    pub fn input(mut self, name: &str, shape: &[i64]) -> Self {
        self.seed += 1;
        self.data.push(randn(shape, self.seed));
        self.inputs.push(vi(name, 1, Some(shape)));
        self
    }
    pub fn input_decl(mut self, name: &str, shape: &[i64], decl: &[i64]) -> Self {
        self.seed += 1;
        self.data.push(randn(shape, self.seed));
        self.inputs.push(vi(name, 1, Some(decl)));
        self
    }
    pub fn input_data(mut self, name: &str, t: Tensor, elem: i32) -> Self {
        self.inputs.push(vi(name, elem, Some(&t.size())));
        self.data.push(t);
        self
    }
    /// A random float initializer.
    pub fn init(mut self, name: &str, shape: &[i64]) -> Self {
        self.seed += 1;
        let t = randn(shape, self.seed);
        let v = Vec::<f32>::try_from(t.flatten(0, -1)).unwrap();
        self.inits.push(oto_onnx::tensor::f32_tensor(name, shape, &v));
        self
    }
    /// A float initializer with given data (e.g. positive variances).
    pub fn init_f(mut self, name: &str, shape: &[i64], v: &[f32]) -> Self {
        self.inits.push(oto_onnx::tensor::f32_tensor(name, shape, v));
        self
    }
    pub fn init_i(mut self, name: &str, v: &[i64]) -> Self {
        self.inits.push(oto_onnx::tensor::i64_tensor(name, &[v.len() as i64], v));
        self
    }
    /// An int64 initializer of the given shape.
    pub fn init_i2(mut self, name: &str, dims: &[i64], v: &[i64]) -> Self {
        self.inits.push(oto_onnx::tensor::i64_tensor(name, dims, v));
        self
    }
    pub fn init_i_scalar(mut self, name: &str, v: i64) -> Self {
        self.inits.push(oto_onnx::tensor::i64_tensor(name, &[], &[v]));
        self
    }
    pub fn node(mut self, n: NodeProto) -> Self {
        self.nodes.push(n);
        self
    }
    pub fn output(mut self, name: &str) -> Self {
        self.outputs.push(vi(name, 1, None));
        self
    }
    pub fn output_t(mut self, name: &str, elem: i32) -> Self {
        self.outputs.push(vi(name, elem, None));
        self
    }
    pub fn build(self) -> Case {
        let graph = GraphProto {
            name: Some(self.name.clone()),
            node: self.nodes,
            initializer: self.inits,
            input: self.inputs,
            output: self.outputs,
            ..Default::default()
        };
        let model = ModelProto {
            ir_version: Some(if self.opset >= 21 { 10 } else { 8 }),
            producer_name: Some("oto-test".into()),
            opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(self.opset) }],
            graph: Some(graph),
            ..Default::default()
        };
        Case { name: self.name, model, data: self.data }
    }
}

pub fn python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let py = std::env::var_os("OTO_PYTHON").map(PathBuf::from).unwrap_or_else(|| root.join(".venv/bin/python"));
    assert!(
        py.exists(),
        "Python with onnxruntime not found at {} (set OTO_PYTHON or run scripts/setup.sh to create .venv)",
        py.display()
    );
    py
}

/// Runs every case through onnxruntime in one Python process; returns the outputs per case
/// (an `Err` with onnxruntime's message when it rejected the model).
pub fn ort_outputs(dir: &Path, cases: &[(String, &ModelProto, Vec<Tensor>)]) -> Vec<Result<Vec<Tensor>, String>> {
    for (name, model, data) in cases {
        oto_onnx::save_model(model, &dir.join(format!("{name}.onnx"))).unwrap();
        for (i, t) in data.iter().enumerate() {
            t.write_npy(dir.join(format!("{name}.in{i}.npy"))).unwrap();
        }
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/ort_run.py");
    let out = std::process::Command::new(python()).arg(&script).arg(dir).output().expect("cannot run python");
    assert!(
        out.status.success(),
        "tests/py/ort_run.py failed (run scripts/setup.sh to install onnxruntime into .venv):\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    cases
        .iter()
        .map(|(name, _, _)| {
            let err = dir.join(format!("{name}.err"));
            if err.exists() {
                return Err(std::fs::read_to_string(err).unwrap());
            }
            let mut outs = vec![];
            for j in 0.. {
                let p = dir.join(format!("{name}.out{j}.npy"));
                if !p.exists() {
                    break;
                }
                outs.push(Tensor::read_npy(p).unwrap());
            }
            Ok(outs)
        })
        .collect()
}

/// max |a−b| / max(1, max |b|); also checks shapes.
pub fn rel_err(a: &Tensor, b: &Tensor) -> Result<f64, String> {
    // numpy 0-d arrays read back as [1].
    let scalar = |t: &Tensor| t.numel() == 1 && t.dim() <= 1;
    if a.size() != b.size() && !(scalar(a) && scalar(b)) {
        return Err(format!("shape {:?} vs reference {:?}", a.size(), b.size()));
    }
    if a.numel() == 0 {
        return Ok(0.0);
    }
    let a = a.to_device(Device::Cpu).to_kind(Kind::Double).reshape([-1]);
    let b = b.to_device(Device::Cpu).to_kind(Kind::Double).reshape([-1]);
    let diff = (&a - &b).abs().max().double_value(&[]);
    let mag = b.abs().max().double_value(&[]).max(1.0);
    Ok(diff / mag)
}

/// Loads the case model, runs the executor in eval mode (CPU, f32).
pub fn run_exec(model: &ModelProto, data: &[Tensor]) -> Result<Vec<Tensor>, String> {
    let g = Graph::from_model(model.clone()).map_err(|e| format!("graph: {e}"))?;
    let ex = Executor::new(&g, &[], Device::Cpu).map_err(|e| e.to_string())?;
    ex.forward(data, false).map_err(|e| e.to_string())
}

/// Compares executor and onnxruntime outputs for all cases; panics listing every failure.
pub fn check_cases(cases: Vec<Case>, tol: f64) {
    let dir = tempfile::tempdir().unwrap();
    let list: Vec<(String, &ModelProto, Vec<Tensor>)> =
        cases.iter().map(|c| (c.name.clone(), &c.model, c.data.iter().map(|t| t.shallow_clone()).collect())).collect();
    let refs = ort_outputs(dir.path(), &list);
    let mut failures = vec![];
    for (c, r) in cases.iter().zip(refs) {
        let r = match r {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{}: onnxruntime rejected the test model: {e}", c.name));
                continue;
            }
        };
        match run_exec(&c.model, &c.data) {
            Err(e) => failures.push(format!("{}: executor: {e}", c.name)),
            Ok(outs) => {
                if outs.len() != r.len() {
                    failures.push(format!("{}: {} outputs vs {} from onnxruntime", c.name, outs.len(), r.len()));
                    continue;
                }
                for (j, (a, b)) in outs.iter().zip(&r).enumerate() {
                    match rel_err(a, b) {
                        Ok(e) if e <= tol => println!("{:32} out{j} rel err {e:.2e}", c.name),
                        Ok(e) => failures.push(format!("{}: output {j} rel err {e:.3e} > {tol:e}", c.name)),
                        Err(e) => failures.push(format!("{}: output {j}: {e}", c.name)),
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} case(s) failed:\n{}", failures.len(), failures.join("\n"));
}
