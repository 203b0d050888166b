//! oto-verify runs zoo models in tract, finds differences and rejects broken models.
use oto_verify::{compare, input_specs, median_latency, random_inputs, run, Runner};

fn model(name: &str, seed: u64) -> oto_onnx::ModelProto {
    oto_zoo::build(name, &oto_zoo::ZooConfig { seed, randomize_stats: true, ..Default::default() }).unwrap()
}

#[test]
fn same_model_has_zero_difference() {
    let m = model("fmnist_vgg", 1);
    let specs = input_specs(&m, 2).unwrap();
    assert_eq!(specs[0].shape, vec![2, 1, 28, 28]);
    let c = compare(&m, &m, 2, 3).unwrap();
    assert_eq!(c.max_abs(), 0.0);
    assert!(c.passes(0.0));
    assert_eq!(c.outputs[0].shape_reference, vec![2, 10]);
    assert!(c.outputs[0].max_ref > 0.0);
}

#[test]
fn different_weights_are_detected() {
    let (a, b) = (model("demonet", 1), model("demonet", 2));
    let c = compare(&a, &b, 2, 3).unwrap();
    assert!(c.max_rel() > 1e-2, "{c:?}");
    assert!(!c.passes(1e-4));
}

#[test]
fn run_and_latency() {
    let m = model("fmnist_resnet", 1);
    let specs = input_specs(&m, 1).unwrap();
    let x = random_inputs(&specs, 0).unwrap();
    let y1 = run(&m, &x).unwrap();
    let y2 = Runner::new(&m, &specs).unwrap().run(&x).unwrap();
    assert_eq!(y1, y2);
    assert_eq!(y1[0].shape, vec![1, 10]);
    assert!(median_latency(&m, 1, 3).unwrap().as_nanos() > 0);
}

#[test]
fn broken_model_is_an_error_not_a_panic() {
    let mut m = model("fmnist_vgg", 1);
    // drop the first initializer: a dangling input
    m.graph.as_mut().unwrap().initializer.remove(0);
    let specs = input_specs(&m, 1).unwrap();
    assert!(Runner::new(&m, &specs).is_err());
}

/// The one prove step: a training-mode export (BatchNormalization with `training_mode = 1` and
/// running-statistics outputs) is compressed and compared in inference form; the numeric proof
/// catches an impossible tolerance; `numeric: false` still runs the structural check.
#[test]
fn prove_compares_in_inference_form_and_checks_structure() {
    use oto_graph::compress::{self, CompressOptions, Criterion};
    use oto_verify::{prove, ProveOptions};
    let mut m = model("fmnist_vgg", 4);
    let gp = m.graph.as_mut().unwrap();
    let mut bns = 0;
    for n in gp.node.iter_mut().filter(|n| n.op_type.as_deref() == Some("BatchNormalization")) {
        oto_onnx::attr::set(n, oto_onnx::attr::a_int("training_mode", 1));
        let base = n.output[0].clone();
        n.output.extend([format!("{base}_running_mean"), format!("{base}_running_var")]);
        bns += 1;
    }
    assert!(bns > 0);
    let g = oto_graph::Graph::from_model(m).unwrap();
    let a = oto_graph::zig::analyze(&g);
    let (masked, sel) = compress::prune(&g, &a, 0.5, Criterion::Random { seed: 3 }).unwrap();
    assert!(!sel.rows.is_empty());
    let p = prove(&masked, &a, &CompressOptions::default(), &ProveOptions::default()).unwrap();
    assert!(!p.compressed.removed_rows.is_empty());
    let cmp = p.comparison.as_ref().unwrap();
    assert!(cmp.passes(1e-4) && cmp.shapes_match(), "{cmp:?}");
    // both models are inference graphs: one output per BatchNormalization, no training_mode
    for graph in [&p.reference, &oto_graph::Graph::from_model(p.model.clone()).unwrap()] {
        for n in graph.nodes.iter().filter(|n| n.op_type == "BatchNormalization") {
            let oto_graph::Op::Norm(bn) = &n.op else { panic!() };
            assert!(!bn.training_mode && n.outputs.len() == 1, "{}", n.name);
        }
    }
    let e = prove(&masked, &a, &CompressOptions::default(), &ProveOptions { tolerance: -1.0, ..Default::default() }).unwrap_err();
    assert!(format!("{e:#}").contains("differs from the full model"), "{e:#}");
    let p = prove(&masked, &a, &CompressOptions::default(), &ProveOptions { numeric: false, ..Default::default() }).unwrap();
    assert!(p.comparison.is_none());
}

/// A `ConstantOfShape` without `value` (float32 0 by the spec; the dynamo exporter's
/// `new_zeros`, e.g. Swin's shift mask) is written out explicitly at load: tract would type it
/// float64 and refuse the model, so the proof could not run.
#[test]
fn an_implicit_constant_of_shape_value_is_made_explicit_so_tract_runs_it() {
    use oto_onnx::attr::node;
    let mut m = model("fmnist_vgg", 1);
    let gp = m.graph.as_mut().unwrap();
    let out = gp.output[0].name.clone().unwrap();
    gp.initializer.push(oto_onnx::tensor::i64_tensor("cos_shape", &[2], &[1, 10]));
    gp.initializer.push(oto_onnx::tensor::i64_tensor("sc_idx", &[1, 1], &[0]));
    gp.initializer.push(oto_onnx::tensor::f32_tensor("sc_upd", &[1, 10], &[1.0; 10]));
    gp.node.push(node("ConstantOfShape", "zeros", &["cos_shape"], &["zeros"], vec![]));
    gp.node.push(node("ScatterND", "mask", &["zeros", "sc_idx", "sc_upd"], &["mask"], vec![]));
    gp.node.push(node("MatMul", "mm", &["mask", "sq"], &["mm"], vec![]));
    gp.initializer.push(oto_onnx::tensor::f32_tensor("sq", &[10, 10], &[0.5; 100]));
    gp.node.push(node("Add", "plus_zeros", &[&out, "mm"], &["y_plus"], vec![]));
    gp.output[0].name = Some("y_plus".into());
    let specs = input_specs(&m, 1).unwrap();
    let x = random_inputs(&specs, 0).unwrap();
    assert!(run(&m, &x).is_err(), "tract typed the implicit default: this workaround may go");
    let g = oto_graph::Graph::from_model(m).unwrap();
    let y = run(&g.to_model(), &x).unwrap();
    assert_eq!(y[0].shape, vec![1, 10]);
}

/// A float16 graph input (a model exported in half precision at its interface) is fed too.
#[test]
fn float16_inputs_are_fed() {
    use oto_onnx::attr::{a_int, node};
    let mut m = model("fmnist_vgg", 1);
    let gp = m.graph.as_mut().unwrap();
    let x = gp.input[0].name.clone().unwrap();
    let mut x16 = gp.input[0].clone();
    x16.name = Some("x16".into());
    if let Some(oto_onnx::pb::type_proto::Value::TensorType(tt)) = x16.r#type.as_mut().and_then(|t| t.value.as_mut()) {
        tt.elem_type = Some(oto_onnx::tensor::FLOAT16);
    }
    gp.input[0] = x16;
    gp.node.insert(0, node("Cast", "to_f32", &["x16"], &[&x], vec![a_int("to", oto_onnx::tensor::FLOAT as i64)]));
    let specs = input_specs(&m, 2).unwrap();
    assert_eq!(specs[0].elem_type, oto_onnx::tensor::FLOAT16);
    let c = compare(&m, &m, 2, 1).unwrap();
    assert!(c.passes(0.0) && c.outputs[0].max_ref > 0.0, "{c:?}");
}

/// A fixed-batch export (input [1, …], `x.view(x.size(0), -1)` folded into the target
/// `[1, -1]`) made batch-free: the target's batch entry is rewritten, the interface declares
/// `N`, and the per-sample proof holds at batch 2; without the rewrite the proof fails.
#[test]
fn a_fixed_batch_export_is_made_batch_free_and_proven_per_sample() {
    use oto_onnx::pb::tensor_shape_proto::dimension;
    let mut m = model("fmnist_vgg", 3);
    let gp = m.graph.as_mut().unwrap();
    let fl = gp.node.iter().position(|n| n.op_type.as_deref() == Some("Flatten")).expect("a Flatten");
    gp.initializer.push(oto_onnx::tensor::i64_tensor("flat_target", &[2], &[1, -1]));
    let n = &mut gp.node[fl];
    n.op_type = Some("Reshape".into());
    n.attribute.clear();
    n.input.push("flat_target".into());
    for vi in gp.input.iter_mut().chain(gp.output.iter_mut()) {
        if let Some(oto_onnx::pb::type_proto::Value::TensorType(tt)) = vi.r#type.as_mut().and_then(|t| t.value.as_mut()) {
            tt.shape.as_mut().unwrap().dim[0].value = Some(dimension::Value::DimValue(1));
        }
    }
    gp.value_info.clear();
    let g = oto_graph::Graph::from_model(m.clone()).unwrap();
    let (h, rw) = oto_graph::batch::symbolic_batch(&g).unwrap().expect("a fixed batch");
    assert_eq!(rw.exported, 1);
    assert_eq!(rw.rewrites.len(), 1, "{:?}", rw.rewrites);
    let free = h.to_model();
    let specs = input_specs(&free, 5).unwrap();
    assert_eq!(specs[0].shape[0], 5, "the batch is symbolic in the written model");
    let rel = oto_verify::batch_equivalence(&m, &free, 1).unwrap();
    assert!(rel < 1e-5, "{rel}");
    // the exported model itself cannot take a batch of 2
    assert!(oto_verify::batch_equivalence(&m, &m, 1).is_err());
}

/// A model whose own outputs are NaN (a NaN weight) is refused with a message about the model,
/// not blamed on oto.
#[test]
fn a_model_with_nan_outputs_is_refused_as_such() {
    let mut m = model("fmnist_vgg", 1);
    let gp = m.graph.as_mut().unwrap();
    let t = gp.initializer.iter_mut().rev().find(|t| oto_onnx::tensor::is_float(t) && t.dims.len() == 1).unwrap(); // the classifier's bias
    let (d, mut v) = (t.dims.clone(), oto_onnx::tensor::to_f32(t).unwrap());
    v[0] = f32::NAN;
    oto_onnx::tensor::set_f32(t, &d, &v);
    let e = compare(&m, &m, 2, 1).unwrap_err();
    assert!(format!("{e:#}").contains("not finite"), "{e:#}");
}

/// An op outside the registry that tract cannot run: the proof's error names it and says how
/// to go on (--no-verify keeps the structural check).
#[test]
fn a_proof_tract_cannot_run_names_the_unknown_ops() {
    use oto_onnx::attr::node;
    let mut m = model("fmnist_vgg", 1);
    let gp = m.graph.as_mut().unwrap();
    let out = gp.output[0].name.clone().unwrap();
    let mut custom = node("MyScale", "custom", &[&out], &["y_custom"], vec![]);
    custom.domain = Some("com.example".into());
    gp.node.push(custom);
    let mut decl = gp.output[0].clone();
    decl.name = Some("y_custom".into());
    gp.output[0] = decl;
    let g = oto_graph::Graph::from_model(m).unwrap();
    let a = oto_graph::zig::analyze(&g);
    let e = oto_verify::prove(&g, &a, &Default::default(), &Default::default()).unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.contains("com.example:MyScale") && msg.contains("--no-verify"), "{msg}");
}
