//! Conformance against ONNX's own backend test cases (the `pytorch-converted`,
//! `pytorch-operator`, `simple` and `light` suites shipped in the onnx wheel of the project venv;
//! `OTO_ONNX_BACKEND_DATA=DIR` points elsewhere).
//!
//! A case is *claimed* when every node is in the default ONNX domain with an op in
//! [`oto_exec::supports`]; others are skipped and listed with the ops they lack. For
//! claimed cases:
//! * shape inference: with the shapes declared for graph outputs and `value_info` removed, and
//!   the inputs' shapes taken from the data where the declaration is not fully known, every
//!   graph output's shape inferred by oto-graph must be fully known and equal the expected dims;
//! * values: the executor (CPU, f32, eval mode) must reproduce every expected output with equal
//!   shape, floats within `|a−b| ≤ 1e-4·max(1, |b|)`, integers and bools exactly.
//!
//! Failures are allowed only for the cases in [`KNOWN_FAILURES`]; a listed case that passes
//! fails the test too, so the list stays honest. `cargo test -p oto-exec --test
//! onnx_conformance -- --nocapture` prints one line per case and a summary.
mod conformance_common;
use conformance_common::*;
use oto_graph::{Dim, Graph};
use oto_exec::Executor;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use tch::{Device, Tensor};

const TOL: f64 = 1e-4;
/// The four suites hold 149 cases (onnx 1.23).
const MIN_CASES: usize = 100;
/// Passing cases observed when this test was written (pinned so regressions show).
const MIN_PASSED: usize = 128;

/// Claimed cases that are known to fail: (case `suite/name`, one-line reason).
const KNOWN_FAILURES: &[(&str, &str)] = &[
    ("simple/test_expand_shape_model1", EXPAND_DATA),
    ("simple/test_expand_shape_model2", EXPAND_DATA),
    ("simple/test_expand_shape_model3", EXPAND_DATA),
    ("simple/test_expand_shape_model4", EXPAND_DATA),
];
/// The target shape is a graph input, so the output shape is data-dependent (values pass).
const EXPAND_DATA: &str = "shape: Expand's target shape is runtime input data, output shape not inferable";

enum Outcome {
    Pass,
    Skip(Vec<String>),
    /// Shape-inference mismatch (with the value result appended when that failed too).
    Shape(String),
    Value(String),
    Error(String),
    Panic(String),
}

/// The case's input tensors, in graph-input order.
fn case_inputs(c: &CaseFiles, g: &Graph) -> Result<Vec<Tensor>, String> {
    if c.light {
        return Ok(g
            .inputs
            .iter()
            .map(|&id| {
                let dims: Vec<Option<i64>> = g.value(id).shape.iter().flatten().map(|d| d.known()).collect();
                light_input(&dims)
            })
            .collect());
    }
    if c.inputs.len() != g.inputs.len() {
        return Err(format!("{} input files for {} graph inputs", c.inputs.len(), g.inputs.len()));
    }
    c.inputs.iter().map(|p| read_tensor(p).and_then(|t| to_tch(&t))).collect()
}

/// Declared input shapes that are not fully known become the data's shapes.
fn fix_input_shapes(g: &mut Graph, inputs: &[Tensor]) -> Result<(), String> {
    for (k, t) in inputs.iter().enumerate() {
        let v = g.value(g.inputs[k]);
        let known = v.shape.as_ref().is_some_and(|s| s.iter().all(|d| d.known().is_some()));
        if !known {
            let name = v.name.clone();
            let dims = t.size().into_iter().map(Dim::Known).collect();
            g.set_input_shape(&name, dims).map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

/// Inferred output shapes against the expected dims; `None` when all agree.
fn check_shapes(g: &Graph, expected: &[oto_onnx::TensorProto]) -> Option<String> {
    let mut bad = vec![];
    for (&id, want) in g.outputs.iter().zip(expected) {
        let v = g.value(id);
        let dims: Option<Vec<i64>> = v.shape.as_ref().and_then(|s| s.iter().map(|d| d.known()).collect());
        match dims {
            Some(d) if d == want.dims => {}
            Some(d) => bad.push(format!("output '{}' inferred {d:?}, expected {:?}", v.name, want.dims)),
            None => {
                let shown = v.shape.as_ref().map_or("unknown".to_string(), |s| oto_graph::ir::fmt_shape(s));
                bad.push(format!("output '{}' inferred {shown} (not fully known), expected {:?}", v.name, want.dims));
            }
        }
    }
    (!bad.is_empty()).then(|| bad.join("; "))
}

/// Executor outputs against the expected tensors; `None` when all agree.
fn check_values(got: &[Tensor], expected: &[oto_onnx::TensorProto], names: &[String]) -> Option<String> {
    let bad: Vec<String> = got
        .iter()
        .zip(expected)
        .zip(names)
        .filter_map(|((a, b), n)| compare(a, b, TOL).err().map(|e| format!("output '{n}': {e}")))
        .collect();
    (!bad.is_empty()).then(|| bad.join("; "))
}

fn run_case(c: &CaseFiles) -> Outcome {
    let mut model = match oto_onnx::load_model(&c.model) {
        Ok(m) => m,
        Err(e) => return Outcome::Error(format!("load: {e}")),
    };
    let unclaimed = unclaimed_ops(&model);
    if !unclaimed.is_empty() {
        return Outcome::Skip(unclaimed);
    }
    strip_declared_shapes(&mut model);
    let mut g = match Graph::from_model_unchecked(model) {
        Ok(g) => g,
        Err(e) => return Outcome::Error(format!("oto-graph load: {e}")),
    };
    let prepared = case_inputs(c, &g).and_then(|inputs| {
        fix_input_shapes(&mut g, &inputs)?;
        g.infer_shapes().map_err(|e| format!("shape inference: {e}"))?;
        let expected = c.outputs.iter().map(|p| read_tensor(p)).collect::<Result<Vec<_>, _>>()?;
        if expected.len() != g.outputs.len() {
            return Err(format!("{} expected outputs for {} graph outputs", expected.len(), g.outputs.len()));
        }
        Ok((inputs, expected))
    });
    let (inputs, expected) = match prepared {
        Ok(x) => x,
        Err(e) => return Outcome::Error(first_line(e)),
    };
    let shape_err = check_shapes(&g, &expected);
    let names: Vec<String> = g.outputs.iter().map(|&o| g.value(o).name.clone()).collect();
    let value_err = match Executor::new(&g, &[], Device::Cpu) {
        Err(e) => Err(first_line(format!("compile: {e}"))),
        Ok(ex) => match ex.forward(&inputs, false) {
            Err(e) => Err(first_line(format!("forward: {e}"))),
            Ok(out) if out.len() != expected.len() => {
                Err(format!("{} outputs, expected {}", out.len(), expected.len()))
            }
            Ok(out) => Ok(check_values(&out, &expected, &names)),
        },
    };
    match (shape_err, value_err) {
        (None, Ok(None)) => Outcome::Pass,
        (Some(s), Ok(None)) => Outcome::Shape(s),
        (Some(s), Ok(Some(v))) => Outcome::Shape(format!("{s} | value: {v}")),
        (Some(s), Err(e)) => Outcome::Shape(format!("{s} | error: {e}")),
        (None, Ok(Some(v))) => Outcome::Value(v),
        (None, Err(e)) => Outcome::Error(e),
    }
}

/// The first line of an error (libtorch errors carry a C++ backtrace after it).
fn first_line(s: String) -> String {
    match s.split_once('\n') {
        Some((head, _)) => head.to_string(),
        None => s,
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
}

#[test]
fn onnx_backend_conformance() {
    tch::set_num_threads(2);
    let root = data_dir();
    let cases = list_cases(&root);
    println!("ONNX backend test data: {}", root.display());
    let (mut passed, mut skipped) = (vec![], 0usize);
    let mut blocked: BTreeMap<String, usize> = BTreeMap::new();
    let mut failed: Vec<(String, String)> = vec![];
    let mut panicked: Vec<String> = vec![];
    for c in &cases {
        let t0 = std::time::Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| run_case(c)))
            .unwrap_or_else(|p| Outcome::Panic(first_line(panic_message(&*p))));
        let ms = t0.elapsed().as_millis();
        let time = if ms >= 500 { format!(" ({ms} ms)") } else { String::new() };
        let line = match &outcome {
            Outcome::Pass => "PASS".to_string(),
            Outcome::Skip(ops) => format!("SKIP (ops: {})", ops.join(", ")),
            Outcome::Shape(e) => format!("FAIL shape: {e}"),
            Outcome::Value(e) => format!("FAIL value: {e}"),
            Outcome::Error(e) => format!("FAIL error: {e}"),
            Outcome::Panic(e) => format!("FAIL error: panicked: {e}"),
        };
        let known = if KNOWN_FAILURES.iter().any(|(k, _)| *k == c.name) { " [known failure]" } else { "" };
        println!("{:<58} {line}{known}{time}", c.name);
        match outcome {
            Outcome::Pass => passed.push(c.name.clone()),
            Outcome::Skip(ops) => {
                skipped += 1;
                for op in ops {
                    *blocked.entry(op).or_default() += 1;
                }
            }
            Outcome::Panic(_) => {
                panicked.push(c.name.clone());
                failed.push((c.name.clone(), line));
            }
            _ => failed.push((c.name.clone(), line)),
        }
    }
    let ops: Vec<String> = blocked.iter().map(|(op, n)| format!("{op} ({n})")).collect();
    println!("skipped ops (cases blocked): {}", ops.join(", "));
    println!("conformance: {} cases, {} passed, {skipped} skipped, {} failed", cases.len(), passed.len(), failed.len());
    check_outcome(cases.len(), &passed, &failed, &panicked);
}

/// The assertions, all problems reported together.
fn check_outcome(n_cases: usize, passed: &[String], failed: &[(String, String)], panicked: &[String]) {
    let known = |name: &str| KNOWN_FAILURES.iter().any(|(k, _)| *k == name);
    let mut problems = vec![];
    if n_cases < MIN_CASES {
        problems.push(format!("only {n_cases} cases found (expected at least {MIN_CASES}): incomplete onnx install?"));
    }
    for name in panicked {
        problems.push(format!("{name}: panicked (a panic is never an allowed failure)"));
    }
    for (name, why) in failed.iter().filter(|(n, _)| !known(n)) {
        problems.push(format!("{name}: {why}"));
    }
    for (name, reason) in KNOWN_FAILURES {
        if passed.iter().any(|p| p == name) {
            problems.push(format!("{name} passes now: remove it from KNOWN_FAILURES ({reason})"));
        } else if !failed.iter().any(|(n, _)| n == name) {
            problems.push(format!("{name} is in KNOWN_FAILURES but was not a failing claimed case"));
        }
    }
    if passed.len() < MIN_PASSED {
        problems.push(format!("{} cases passed, at least {MIN_PASSED} did before", passed.len()));
    }
    assert!(problems.is_empty(), "{} conformance problem(s):\n{}", problems.len(), problems.join("\n"));
}
