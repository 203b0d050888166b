//! Structural checks on every zoo model at its default and one alternative shape: unique
//! names, every initializer used, topological order, declared input/output shapes; plus the
//! error paths (unknown names, unusable inputs) and seed determinism.
use oto_onnx::pb::{tensor_shape_proto::dimension::Value, type_proto, ModelProto, ValueInfoProto};
use oto_zoo::{build, list, Task, ZooConfig, ZooError};
use std::collections::HashSet;

fn dims(v: &ValueInfoProto) -> Vec<String> {
    let Some(type_proto::Value::TensorType(t)) = v.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        panic!("not a tensor type")
    };
    t.shape.as_ref().unwrap().dim.iter().map(|d| match d.value.as_ref().unwrap() {
        Value::DimValue(x) => x.to_string(),
        Value::DimParam(p) => p.clone(),
    }).collect()
}

fn check_graph(name: &str, m: &ModelProto, input: [usize; 3], output: &[i64]) {
    let g = m.graph.as_ref().unwrap();
    assert_eq!(m.opset_import[0].version, Some(17));
    let mut known: HashSet<String> = HashSet::new();
    let mut inits = HashSet::new();
    for t in &g.initializer {
        let n = t.name.clone().unwrap();
        assert!(inits.insert(n.clone()), "{name}: duplicate initializer {n}");
        known.insert(n);
    }
    assert_eq!(g.input.len(), 1);
    assert_eq!(dims(&g.input[0]), ["N".to_string(), input[0].to_string(), input[1].to_string(), input[2].to_string()]);
    known.insert("input".into());
    let (mut node_names, mut used) = (HashSet::new(), HashSet::new());
    for n in &g.node {
        let nn = n.name.clone().unwrap();
        assert!(node_names.insert(nn.clone()), "{name}: duplicate node name {nn}");
        for i in n.input.iter().filter(|i| !i.is_empty()) {
            assert!(known.contains(i), "{name}: node {nn} reads {i} before it is produced");
            used.insert(i.clone());
        }
        for o in &n.output {
            assert!(known.insert(o.clone()), "{name}: value {o} produced twice");
        }
    }
    for i in &inits {
        assert!(used.contains(i), "{name}: initializer {i} is unused");
    }
    let out = &g.output[0];
    assert!(known.contains(out.name.as_ref().unwrap()), "{name}: output not produced");
    let want: Vec<String> = output.iter().map(|&d| if d < 0 { "N".into() } else { d.to_string() }).collect();
    assert_eq!(dims(out), want, "{name}: declared output shape");
}

/// A different shape (and width, classes, randomized stats) that every model must accept.
fn alternative(e: &oto_zoo::ZooEntry) -> ZooConfig {
    let shape = match (e.task, e.input_shape) {
        (Task::SuperResolution { .. }, _) => [1, 24, 40],
        (_, [1, ..]) => [3, 32, 32],
        (_, [_, 224, _]) => [3, 64, 64],
        _ => [3, 48, 40],
    };
    ZooConfig { input_shape: Some(shape), num_classes: Some(7), seed: 3, randomize_stats: true, width_mult: Some(0.5), depth: None }
}

#[test]
fn every_model_builds_at_default_and_alternative_shapes() {
    let mut names = HashSet::new();
    for e in list() {
        assert!(names.insert(e.name), "duplicate model name {}", e.name);
        for cfg in [ZooConfig::default(), alternative(e)] {
            let m = build(e.name, &cfg).unwrap_or_else(|err| panic!("{}: {err}", e.name));
            let input = cfg.input_shape.unwrap_or(e.input_shape);
            check_graph(e.name, &m, input, &e.output_shape(&cfg, -1));
        }
    }
}

#[test]
fn pytorch_like_parameter_names() {
    let names = |model: &str| -> Vec<String> {
        let m = build(model, &ZooConfig::default()).unwrap();
        m.graph.unwrap().initializer.iter().map(|t| t.name.clone().unwrap()).collect()
    };
    let r = names("resnet20");
    for n in ["conv1.weight", "layer1.0.conv1.weight", "layer1.0.bn1.running_mean", "layer2.0.shortcut.0.weight", "linear.bias"] {
        assert!(r.contains(&n.to_string()), "resnet20 lacks {n}");
    }
    assert!(names("resnet50").contains(&"layer4.2.bn3.running_var".to_string()));
    assert!(names("densenet_bc").contains(&"features.denseblock3.denselayer6.conv2.weight".to_string()));
}

#[test]
fn seeded_init_is_deterministic_and_seed_dependent() {
    let cfg = ZooConfig { seed: 5, ..Default::default() };
    let a = build("demonet", &cfg).unwrap();
    assert_eq!(a, build("demonet", &cfg).unwrap());
    assert_ne!(a, build("demonet", &ZooConfig { seed: 6, ..cfg.clone() }).unwrap());
}

#[test]
fn randomize_stats_makes_bn_non_trivial() {
    let cfg = ZooConfig { randomize_stats: true, ..Default::default() };
    let m = build("resnet20", &cfg).unwrap();
    let g = m.graph.unwrap();
    let t = g.initializer.iter().find(|t| t.name.as_deref() == Some("bn1.running_var")).unwrap();
    let v = oto_onnx::tensor::to_f32(t).unwrap();
    assert!(v.iter().any(|&x| x != 1.0));
}

#[test]
fn errors_are_clear() {
    let e = build("resnet9000", &ZooConfig::default()).unwrap_err();
    assert!(matches!(e, ZooError::UnknownModel { .. }));
    assert!(e.to_string().contains("resnet20") && e.to_string().contains("carn_x2"));

    let small = |model: &str, shape: [usize; 3]| build(model, &ZooConfig { input_shape: Some(shape), ..Default::default() });
    let e = small("vgg16_bn", [3, 8, 8]).unwrap_err();
    assert!(matches!(e, ZooError::BadInput { .. }), "{e}");
    assert!(e.to_string().contains("spatial size"), "{e}");
    assert!(small("stacked_unets", [3, 30, 30]).unwrap_err().to_string().contains("divisible by 4"));
    assert!(small("convnext_tiny", [3, 8, 8]).is_err());
    assert!(small("resnet50", [3, 0, 32]).is_err());
    for model in list().iter().map(|e| e.name) {
        // Tiny inputs either work or give an error, never a panic.
        let _ = small(model, [1, 1, 1]);
    }
    // Oversized models are refused before any allocation.
    let huge = ZooConfig { width_mult: Some(16.0), input_shape: Some([3, 8192, 8192]), ..Default::default() };
    assert!(build("vgg16_bn_imagenet", &huge).unwrap_err().to_string().contains("parameters"));
    let bad = |cfg: ZooConfig| build("resnet20", &cfg).unwrap_err();
    assert!(matches!(bad(ZooConfig { width_mult: Some(0.0), ..Default::default() }), ZooError::BadConfig { .. }));
    assert!(matches!(bad(ZooConfig { num_classes: Some(0), ..Default::default() }), ZooError::BadConfig { .. }));
    let e = build("densenet_bc", &ZooConfig { depth: Some(41), ..Default::default() }).unwrap_err();
    assert!(e.to_string().contains("6n+4"), "{e}");
    assert!(build("densenet_bc", &ZooConfig { depth: Some(100), ..Default::default() }).is_ok());
}

#[test]
fn imagenet_nets_work_on_cifar_sized_inputs() {
    for name in ["densenet121", "resnet18", "resnet50", "mobilenet_v2", "convnext_tiny", "vgg16_bn"] {
        let cfg = ZooConfig { input_shape: Some([3, 32, 32]), width_mult: Some(0.25), ..Default::default() };
        let m = build(name, &cfg).unwrap_or_else(|e| panic!("{e}"));
        let e = list().iter().find(|e| e.name == name).unwrap();
        check_graph(name, &m, [3, 32, 32], &e.output_shape(&cfg, -1));
    }
}
