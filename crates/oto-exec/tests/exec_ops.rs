//! Executor forward (eval mode) against onnxruntime, op by op, on small hand-built graphs.
#![allow(clippy::vec_init_then_push)]
mod exec_common;
use exec_common::*;
use oto_onnx::attr::{a_float, a_int, a_ints, a_string, a_tensor, node};
use oto_onnx::AttributeProto;
use tch::{Device, Kind, Tensor};

const TOL: f64 = 1e-4;

fn un(op: &str, attrs: Vec<AttributeProto>) -> Case {
    case(&format!("un_{op}_{}", attrs.len()))
        .opset(if op == "Gelu" { 20 } else { 17 })
        .input("x", &[2, 3, 4, 5])
        .node(node(op, "n", &["x"], &["y"], attrs))
        .output("y")
        .build()
}

fn bin(op: &str, a: &[i64], b: &[i64]) -> Case {
    case(&format!("bin_{op}_{}_{}", a.len(), b.len()))
        .input("a", a)
        .input("b", b)
        .node(node(op, "n", &["a", "b"], &["y"], vec![]))
        .output("y")
        .build()
}

#[test]
fn activations_and_elementwise() {
    let mut cs = vec![];
    for op in ["Relu", "Sigmoid", "Tanh", "Erf", "Neg", "Exp", "Abs", "Softplus", "HardSwish", "Gelu", "Elu", "Selu"] {
        cs.push(un(op, vec![]));
    }
    cs.push(un("LeakyRelu", vec![a_float("alpha", 0.2)]));
    cs.push(un("LeakyRelu", vec![]));
    cs.push(un("Elu", vec![a_float("alpha", 0.5)]));
    cs.push(un("Selu", vec![a_float("alpha", 1.5), a_float("gamma", 1.1)]));
    cs.push(un("HardSigmoid", vec![]));
    cs.push(un("HardSigmoid", vec![a_float("alpha", 1.0 / 6.0)]));
    cs.push(un("Softmax", vec![]));
    cs.push(un("Softmax", vec![a_int("axis", 1)]));
    cs.push(un("LogSoftmax", vec![a_int("axis", 2)]));
    cs.push(case("gelu_tanh").opset(20).input("x", &[2, 7]).node(node("Gelu", "n", &["x"], &["y"], vec![a_string("approximate", "tanh")])).output("y").build());
    cs.push(case("softmax_legacy").opset(11).input("x", &[2, 3, 4]).node(node("Softmax", "n", &["x"], &["y"], vec![a_int("axis", 1)])).output("y").build());
    // Positive-domain unary ops.
    for op in ["Sqrt", "Log", "Reciprocal"] {
        cs.push(
            case(&format!("pos_{op}"))
                .input("x", &[3, 4])
                .node(node("Abs", "a", &["x"], &["ax"], vec![]))
                .init_f("one", &[], &[0.5])
                .node(node("Add", "b", &["ax", "one"], &["p"], vec![]))
                .node(node(op, "n", &["p"], &["y"], vec![]))
                .output("y")
                .build(),
        );
    }
    cs.push(case("prelu").input("x", &[2, 3, 4, 4]).init("s", &[3, 1, 1]).node(node("PRelu", "n", &["x", "s"], &["y"], vec![])).output("y").build());
    cs.push(
        case("clip_relu6")
            .input("x", &[2, 3, 4])
            .init_f("lo", &[], &[0.0])
            .init_f("hi", &[], &[0.5])
            .node(node("Clip", "n", &["x", "lo", "hi"], &["y"], vec![]))
            .output("y")
            .build(),
    );
    cs.push(case("clip_min_only").input("x", &[2, 3]).init_f("lo", &[], &[-0.2]).node(node("Clip", "n", &["x", "lo"], &["y"], vec![])).output("y").build());
    cs.push(case("clip_opset6").opset(6).input("x", &[2, 3]).node(node("Clip", "n", &["x"], &["y"], vec![a_float("min", -0.1), a_float("max", 0.3)])).output("y").build());
    for op in ["Add", "Sub", "Mul", "Div", "Max", "Min"] {
        cs.push(bin(op, &[2, 3, 4], &[3, 1]));
        cs.push(bin(op, &[4], &[2, 3, 4]));
    }
    cs.push(
        case("pow_scalar")
            .input("x", &[2, 5])
            .init_f("e", &[], &[2.0])
            .node(node("Pow", "n", &["x", "e"], &["y"], vec![]))
            .output("y")
            .build(),
    );
    cs.push(
        case("pow_tensor")
            .input("x", &[2, 5])
            .node(node("Abs", "a", &["x"], &["ax"], vec![]))
            .init("e", &[5])
            .node(node("Pow", "n", &["ax", "e"], &["y"], vec![]))
            .output("y")
            .build(),
    );
    cs.push(
        case("variadic_sum_mean")
            .input("a", &[2, 3])
            .input("b", &[3])
            .input("c", &[2, 1])
            .node(node("Sum", "s", &["a", "b", "c"], &["y"], vec![]))
            .node(node("Mean", "m", &["a", "b", "c"], &["z"], vec![]))
            .node(node("Max", "mx", &["a", "b", "c"], &["w"], vec![]))
            .output("y")
            .output("z")
            .output("w")
            .build(),
    );
    cs.push(
        case("where_cmp")
            .input("a", &[2, 3])
            .input("b", &[2, 3])
            .node(node("Less", "l", &["a", "b"], &["c1"], vec![]))
            .node(node("Greater", "g", &["a", "b"], &["c2"], vec![]))
            .node(node("Equal", "e", &["a", "a"], &["c3"], vec![]))
            .node(node("Where", "w", &["c1", "a", "b"], &["y"], vec![]))
            .node(node("Where", "w2", &["c2", "a", "b"], &["z"], vec![]))
            .node(node("Cast", "cast", &["c3"], &["c3f"], vec![a_int("to", 1)]))
            .output("y")
            .output("z")
            .output("c3f")
            .build(),
    );
    check_cases(cs, TOL);
}

#[test]
fn conv_family() {
    let mut cs = vec![];
    let conv = |name: &str, x: &[i64], w: &[i64], bias: bool, attrs: Vec<AttributeProto>| {
        let mut b = case(name).input("x", x).init("w", w);
        let mut ins = vec!["x", "w"];
        if bias {
            b = b.init("b", &[w[0]]);
            ins.push("b");
        }
        b.node(node("Conv", "conv", &ins, &["y"], attrs)).output("y").build()
    };
    cs.push(conv("conv2d_basic", &[2, 3, 8, 8], &[4, 3, 3, 3], true, vec![a_ints("pads", &[1, 1, 1, 1])]));
    cs.push(conv("conv2d_stride_dil", &[2, 3, 9, 9], &[4, 3, 3, 3], false, vec![a_ints("strides", &[2, 2]), a_ints("dilations", &[2, 2]), a_ints("pads", &[2, 2, 2, 2])]));
    cs.push(conv("conv2d_groups", &[2, 4, 6, 6], &[8, 2, 3, 3], true, vec![a_int("group", 2), a_ints("pads", &[1, 1, 1, 1])]));
    cs.push(conv("conv2d_depthwise", &[2, 4, 6, 6], &[4, 1, 3, 3], true, vec![a_int("group", 4), a_ints("pads", &[1, 1, 1, 1])]));
    cs.push(conv("conv2d_asym", &[2, 3, 7, 7], &[4, 3, 3, 3], true, vec![a_ints("pads", &[0, 1, 2, 1]), a_ints("strides", &[2, 1])]));
    cs.push(conv("conv2d_same_upper", &[2, 3, 7, 8], &[4, 3, 4, 3], true, vec![a_string("auto_pad", "SAME_UPPER"), a_ints("strides", &[2, 2])]));
    cs.push(conv("conv2d_same_lower", &[2, 3, 7, 8], &[4, 3, 4, 4], true, vec![a_string("auto_pad", "SAME_LOWER")]));
    cs.push(conv("conv2d_valid", &[2, 3, 7, 8], &[4, 3, 3, 3], false, vec![a_string("auto_pad", "VALID")]));
    cs.push(conv("conv1d", &[2, 3, 10], &[4, 3, 3], true, vec![a_ints("pads", &[1, 2]), a_ints("strides", &[2])]));
    cs.push(conv("conv3d", &[1, 2, 5, 6, 6], &[3, 2, 3, 3, 3], true, vec![a_ints("pads", &[1, 1, 1, 1, 1, 1])]));
    let convt = |name: &str, x: &[i64], w: &[i64], attrs: Vec<AttributeProto>| {
        let group = attrs.iter().find(|a| a.name.as_deref() == Some("group")).and_then(|a| a.i).unwrap_or(1);
        case(name)
            .input("x", x)
            .init("w", w)
            .init("b", &[w[1] * group])
            .node(node("ConvTranspose", "ct", &["x", "w", "b"], &["y"], attrs))
            .output("y")
            .build()
    };
    cs.push(convt("convt_basic", &[2, 4, 5, 5], &[4, 3, 3, 3], vec![a_ints("strides", &[2, 2]), a_ints("pads", &[1, 1, 1, 1])]));
    cs.push(convt("convt_outpad", &[2, 4, 5, 5], &[4, 3, 3, 3], vec![a_ints("strides", &[2, 2]), a_ints("pads", &[1, 1, 1, 1]), a_ints("output_padding", &[1, 1])]));
    cs.push(convt("convt_k4s2", &[2, 4, 5, 6], &[4, 2, 4, 4], vec![a_ints("strides", &[2, 2]), a_ints("pads", &[1, 1, 1, 1])]));
    cs.push(convt("convt_asym", &[2, 4, 5, 5], &[4, 3, 3, 3], vec![a_ints("strides", &[2, 2]), a_ints("pads", &[0, 1, 1, 0])]));
    cs.push(convt("convt_outshape_upper", &[2, 4, 5, 5], &[4, 3, 3, 3], vec![a_ints("strides", &[2, 2]), a_ints("output_shape", &[10, 10]), a_string("auto_pad", "SAME_UPPER")]));
    cs.push(convt("convt_same_lower", &[2, 4, 5, 5], &[4, 3, 3, 3], vec![a_ints("strides", &[2, 2]), a_string("auto_pad", "SAME_LOWER")]));
    cs.push(convt("convt_outshape", &[2, 4, 5, 5], &[4, 3, 3, 3], vec![a_ints("strides", &[2, 2]), a_ints("output_shape", &[10, 10])]));
    cs.push(convt("convt_groups", &[2, 4, 5, 5], &[4, 2, 3, 3], vec![a_int("group", 2), a_ints("pads", &[1, 1, 1, 1])]));
    cs.push(convt("convt_1d_dil", &[2, 3, 7], &[3, 2, 3], vec![a_ints("dilations", &[2]), a_ints("strides", &[3])]));
    // Gemm variants and MatMul.
    let gemm = |name: &str, a: &[i64], b: &[i64], c: Option<&[i64]>, attrs: Vec<AttributeProto>| {
        let mut bld = case(name).input("a", a).init("b", b);
        let mut ins = vec!["a", "b"];
        if let Some(c) = c {
            bld = bld.init("c", c);
            ins.push("c");
        }
        bld.node(node("Gemm", "g", &ins, &["y"], attrs)).output("y").build()
    };
    cs.push(gemm("gemm_linear", &[3, 5], &[4, 5], Some(&[4]), vec![a_int("transB", 1)]));
    cs.push(gemm("gemm_plain", &[3, 5], &[5, 4], Some(&[3, 4]), vec![]));
    cs.push(gemm("gemm_ta_alpha_beta", &[5, 3], &[4, 5], Some(&[1, 4]), vec![a_int("transA", 1), a_int("transB", 1), a_float("alpha", 0.5), a_float("beta", 2.0)]));
    cs.push(gemm("gemm_noc", &[3, 5], &[5, 4], None, vec![a_float("alpha", 1.5)]));
    cs.push(case("matmul_3d").input("a", &[2, 3, 5]).init("b", &[5, 4]).node(node("MatMul", "m", &["a", "b"], &["y"], vec![])).output("y").build());
    cs.push(case("matmul_batched").input("a", &[2, 3, 5]).input("b", &[2, 5, 4]).node(node("MatMul", "m", &["a", "b"], &["y"], vec![])).output("y").build());
    check_cases(cs, TOL);
}

#[test]
fn normalization_and_pooling() {
    let mut cs = vec![];
    let c = 4;
    let var: Vec<f32> = (0..c).map(|i| 0.5 + i as f32 * 0.3).collect();
    cs.push(
        case("batchnorm")
            .input("x", &[2, 4, 5, 5])
            .init("s", &[4])
            .init("b", &[4])
            .init("m", &[4])
            .init_f("v", &[4], &var)
            .node(node("BatchNormalization", "bn", &["x", "s", "b", "m", "v"], &["y"], vec![a_float("epsilon", 1e-3)]))
            .output("y")
            .build(),
    );
    cs.push(
        case("layernorm")
            .input("x", &[2, 3, 8])
            .init("s", &[8])
            .init("b", &[8])
            .node(node("LayerNormalization", "ln", &["x", "s", "b"], &["y"], vec![a_int("axis", -1)]))
            .output("y")
            .build(),
    );
    cs.push(
        case("layernorm_axis1")
            .input("x", &[2, 3, 4])
            .init("s", &[3, 4])
            .node(node("LayerNormalization", "ln", &["x", "s"], &["y"], vec![a_int("axis", 1), a_float("epsilon", 1e-3)]))
            .output("y")
            .build(),
    );
    cs.push(
        case("groupnorm_18")
            .opset(18)
            .input("x", &[2, 6, 4, 4])
            .init("s", &[3])
            .init("b", &[3])
            .node(node("GroupNormalization", "gn", &["x", "s", "b"], &["y"], vec![a_int("num_groups", 3)]))
            .output("y")
            .build(),
    );
    cs.push(
        case("groupnorm_21")
            .opset(21)
            .input("x", &[2, 6, 4, 4])
            .init("s", &[6])
            .init("b", &[6])
            .node(node("GroupNormalization", "gn", &["x", "s", "b"], &["y"], vec![a_int("num_groups", 2)]))
            .output("y")
            .build(),
    );
    cs.push(
        case("instancenorm")
            .input("x", &[2, 3, 5, 5])
            .init("s", &[3])
            .init("b", &[3])
            .node(node("InstanceNormalization", "in", &["x", "s", "b"], &["y"], vec![]))
            .output("y")
            .build(),
    );
    let pool = |name: &str, op: &str, x: &[i64], attrs: Vec<AttributeProto>| {
        case(name).input("x", x).node(node(op, "p", &["x"], &["y"], attrs)).output("y").build()
    };
    cs.push(pool("maxpool_basic", "MaxPool", &[2, 3, 8, 8], vec![a_ints("kernel_shape", &[2, 2]), a_ints("strides", &[2, 2])]));
    cs.push(pool("maxpool_pad", "MaxPool", &[2, 3, 7, 7], vec![a_ints("kernel_shape", &[3, 3]), a_ints("strides", &[2, 2]), a_ints("pads", &[1, 1, 1, 1])]));
    cs.push(pool("maxpool_ceil", "MaxPool", &[2, 3, 8, 8], vec![a_ints("kernel_shape", &[3, 3]), a_ints("strides", &[2, 2]), a_int("ceil_mode", 1)]));
    cs.push(pool("maxpool_asym", "MaxPool", &[2, 3, 7, 7], vec![a_ints("kernel_shape", &[3, 3]), a_ints("strides", &[2, 2]), a_ints("pads", &[0, 0, 1, 1])]));
    cs.push(pool("maxpool_dil", "MaxPool", &[2, 3, 9, 9], vec![a_ints("kernel_shape", &[2, 2]), a_ints("dilations", &[2, 2])]));
    cs.push(pool("maxpool_same", "MaxPool", &[2, 3, 7, 7], vec![a_ints("kernel_shape", &[3, 3]), a_ints("strides", &[2, 2]), a_string("auto_pad", "SAME_UPPER")]));
    cs.push(pool("maxpool_1d", "MaxPool", &[2, 3, 9], vec![a_ints("kernel_shape", &[3]), a_ints("strides", &[2])]));
    cs.push(pool("avgpool_basic", "AveragePool", &[2, 3, 8, 8], vec![a_ints("kernel_shape", &[2, 2]), a_ints("strides", &[2, 2])]));
    cs.push(pool("avgpool_pad_excl", "AveragePool", &[2, 3, 7, 7], vec![a_ints("kernel_shape", &[3, 3]), a_ints("strides", &[2, 2]), a_ints("pads", &[1, 1, 1, 1])]));
    cs.push(pool("avgpool_pad_incl", "AveragePool", &[2, 3, 7, 7], vec![a_ints("kernel_shape", &[3, 3]), a_ints("strides", &[2, 2]), a_ints("pads", &[1, 1, 1, 1]), a_int("count_include_pad", 1)]));
    cs.push(pool("avgpool_ceil", "AveragePool", &[2, 3, 8, 8], vec![a_ints("kernel_shape", &[3, 3]), a_ints("strides", &[2, 2]), a_int("ceil_mode", 1)]));
    cs.push(pool("avgpool_asym_excl", "AveragePool", &[2, 3, 6, 6], vec![a_ints("kernel_shape", &[3, 3]), a_ints("strides", &[1, 1]), a_ints("pads", &[0, 1, 2, 0])]));
    cs.push(pool("avgpool_asym_incl", "AveragePool", &[2, 3, 6, 6], vec![a_ints("kernel_shape", &[3, 3]), a_ints("strides", &[2, 2]), a_ints("pads", &[0, 1, 1, 0]), a_int("count_include_pad", 1)]));
    cs.push(pool("gap", "GlobalAveragePool", &[2, 3, 5, 6], vec![]));
    cs.push(pool("gmp", "GlobalMaxPool", &[2, 3, 5, 6], vec![]));
    cs.push(pool("avgpool_3d", "AveragePool", &[1, 2, 4, 4, 4], vec![a_ints("kernel_shape", &[2, 2, 2]), a_ints("strides", &[2, 2, 2])]));
    for (op, opset) in [("ReduceMean", 17), ("ReduceSum", 17), ("ReduceMax", 17)] {
        cs.push(case(&format!("{op}_attr")).opset(opset).input("x", &[2, 3, 4]).node(node(op, "r", &["x"], &["y"], if op == "ReduceSum" { vec![a_int("keepdims", 0)] } else { vec![a_ints("axes", &[1, -1]), a_int("keepdims", 0)] })).output("y").build());
    }
    cs.push(case("ReduceSum_input").input("x", &[2, 3, 4]).init_i("ax", &[1]).node(node("ReduceSum", "r", &["x", "ax"], &["y"], vec![])).output("y").build());
    cs.push(case("ReduceMean_18").opset(18).input("x", &[2, 3, 4]).init_i("ax", &[0, 2]).node(node("ReduceMean", "r", &["x", "ax"], &["y"], vec![])).output("y").build());
    cs.push(case("ReduceMax_18_all").opset(18).input("x", &[2, 3, 4]).node(node("ReduceMax", "r", &["x"], &["y"], vec![a_int("keepdims", 0)])).output("y").build());
    check_cases(cs, TOL);
}

#[test]
fn shape_and_data_movement() {
    let mut cs = vec![];
    // Symbolic batch: Shape → Gather → Unsqueeze → Concat → Reshape.
    cs.push(
        case("reshape_dynamic")
            .input_decl("x", &[3, 4, 2, 2], &[-1, 4, 2, 2])
            .node(node("Shape", "sh", &["x"], &["s"], vec![]))
            .init_i_scalar("zero", 0)
            .node(node("Gather", "ga", &["s", "zero"], &["n"], vec![a_int("axis", 0)]))
            .init_i("ax0", &[0])
            .node(node("Unsqueeze", "un", &["n", "ax0"], &["n1"], vec![]))
            .init_i("rest", &[-1])
            .node(node("Concat", "cat", &["n1", "rest"], &["target"], vec![a_int("axis", 0)]))
            .node(node("Reshape", "rs", &["x", "target"], &["y"], vec![]))
            .output("y")
            .build(),
    );
    cs.push(case("reshape_zero").input("x", &[2, 3, 4]).init_i("t", &[0, -1]).node(node("Reshape", "rs", &["x", "t"], &["y"], vec![])).output("y").build());
    cs.push(case("flatten").input("x", &[2, 3, 4, 5]).node(node("Flatten", "f", &["x"], &["y"], vec![a_int("axis", 2)])).output("y").build());
    cs.push(case("transpose").input("x", &[2, 3, 4]).node(node("Transpose", "t", &["x"], &["y"], vec![a_ints("perm", &[2, 0, 1])])).node(node("Transpose", "t2", &["x"], &["z"], vec![])).output("y").output("z").build());
    cs.push(
        case("squeeze_unsqueeze_13")
            .input("x", &[2, 1, 4, 1])
            .init_i("a", &[1, -1])
            .node(node("Squeeze", "s", &["x", "a"], &["y"], vec![]))
            .init_i("b", &[0, 3])
            .node(node("Unsqueeze", "u", &["y", "b"], &["z"], vec![]))
            .output("z")
            .build(),
    );
    cs.push(
        case("squeeze_unsqueeze_11")
            .opset(11)
            .input("x", &[2, 1, 4, 1])
            .node(node("Squeeze", "s", &["x"], &["y"], vec![a_ints("axes", &[1])]))
            .node(node("Unsqueeze", "u", &["y"], &["z"], vec![a_ints("axes", &[-1])]))
            .output("z")
            .build(),
    );
    cs.push(
        case("concat_split")
            .input("a", &[2, 3, 4])
            .input("b", &[2, 5, 4])
            .node(node("Concat", "c", &["a", "b"], &["c"], vec![a_int("axis", 1)]))
            .init_i("sp", &[2, 6])
            .node(node("Split", "s", &["c", "sp"], &["y1", "y2"], vec![a_int("axis", 1)]))
            .output("y1")
            .output("y2")
            .build(),
    );
    cs.push(case("split_equal").input("x", &[2, 6]).node(node("Split", "s", &["x"], &["y1", "y2", "y3"], vec![a_int("axis", 1)])).output("y1").output("y2").output("y3").build());
    cs.push(case("split_attr_11").opset(11).input("x", &[5, 2]).node(node("Split", "s", &["x"], &["y1", "y2"], vec![a_ints("split", &[1, 4])])).output("y1").output("y2").build());
    cs.push(case("split_num_outputs").opset(18).input("x", &[2, 7]).node(node("Split", "s", &["x"], &["y1", "y2", "y3"], vec![a_int("axis", 1), a_int("num_outputs", 3)])).output("y1").output("y2").output("y3").build());
    let slice = |name: &str, starts: &[i64], ends: &[i64], axes: Option<&[i64]>, steps: Option<&[i64]>| {
        let mut b = case(name).input("x", &[4, 6, 5]).init_i("st", starts).init_i("en", ends);
        let mut ins = vec!["x", "st", "en"];
        if let Some(a) = axes {
            b = b.init_i("ax", a);
            ins.push("ax");
        }
        if let Some(s) = steps {
            if axes.is_none() {
                ins.push("");
            }
            b = b.init_i("sp", s);
            ins.push("sp");
        }
        b.node(node("Slice", "sl", &ins, &["y"], vec![])).output("y").build()
    };
    cs.push(slice("slice_basic", &[1, 0], &[3, 4], None, None));
    cs.push(slice("slice_neg_large", &[-3, 1], &[i64::MAX, -1], Some(&[1, 2]), None));
    cs.push(slice("slice_steps", &[0, 1], &[100, 6], Some(&[0, 1]), Some(&[2, 3])));
    cs.push(slice("slice_neg_step", &[-1, 4], &[i64::MIN, 0], Some(&[1, 2]), Some(&[-1, -2])));
    cs.push(slice("slice_neg_step2", &[3], &[-100], Some(&[0]), Some(&[-2])));
    cs.push(case("slice_opset9").opset(9).input("x", &[4, 6]).node(node("Slice", "sl", &["x"], &["y"], vec![a_ints("starts", &[1]), a_ints("ends", &[-1]), a_ints("axes", &[1])])).output("y").build());
    cs.push(
        case("expand_tile")
            .input("x", &[3, 1])
            .init_i("shape", &[2, 1, 4])
            .node(node("Expand", "e", &["x", "shape"], &["y"], vec![]))
            .init_i("reps", &[2, 3])
            .node(node("Tile", "t", &["x", "reps"], &["z"], vec![]))
            .output("y")
            .output("z")
            .build(),
    );
    cs.push(
        case("cast_like")
            .input("x", &[2, 3])
            .init_i("like", &[0])
            .node(node("CastLike", "c", &["x", "like"], &["y"], vec![]))
            .output_t("y", 7)
            .build(),
    );
    cs.push(
        case("shape_size_cast")
            .input("x", &[2, 3, 4])
            .node(node("Shape", "s", &["x"], &["s"], vec![a_int("start", 1)]))
            .node(node("Size", "z", &["x"], &["n"], vec![]))
            .node(node("Cast", "c", &["s"], &["sf"], vec![a_int("to", 1)]))
            .node(node("Cast", "c2", &["n"], &["nf"], vec![a_int("to", 1)]))
            .output_t("s", 7)
            .output("sf")
            .output("nf")
            .build(),
    );
    cs.push(
        case("constant_of_shape_range")
            .input("x", &[2, 3])
            .node(node("Shape", "s", &["x"], &["s"], vec![]))
            .node(node("ConstantOfShape", "c", &["s"], &["k"], vec![a_tensor("value", oto_onnx::tensor::f32_tensor("v", &[1], &[1.5]))]))
            .node(node("Add", "a", &["x", "k"], &["y"], vec![]))
            .init_f("r0", &[], &[0.5])
            .init_f("r1", &[], &[3.5])
            .init_f("rd", &[], &[1.0])
            .node(node("Range", "r", &["r0", "r1", "rd"], &["rg"], vec![]))
            .node(node("Mul", "m", &["y", "rg"], &["z"], vec![]))
            .output("z")
            .build(),
    );
    cs.push(
        case("constant_identity")
            .input("x", &[2, 3])
            .node(node("Constant", "k", &[], &["k"], vec![a_tensor("value", oto_onnx::tensor::f32_tensor("v", &[3], &[1.0, 2.0, 3.0]))]))
            .node(node("Mul", "m", &["x", "k"], &["y"], vec![]))
            .node(node("Identity", "i", &["y"], &["z"], vec![]))
            .output("z")
            .build(),
    );
    let pad = |name: &str, mode: &str, pads: &[i64], axes: Option<&[i64]>| {
        let mut b = case(name).input("x", &[2, 3, 5, 5]).init_i("p", pads).init_f("v", &[], &[0.7]);
        let mut ins = vec!["x", "p", "v"];
        if let Some(a) = axes {
            b = b.opset(18).init_i("a", a);
            ins.push("a");
        }
        b.node(node("Pad", "pad", &ins, &["y"], vec![a_string("mode", mode)])).output("y").build()
    };
    cs.push(pad("pad_constant", "constant", &[0, 1, 1, 2, 0, 0, 2, 1], None));
    cs.push(pad("pad_negative", "constant", &[0, 0, -1, 1, 0, 0, 1, -2], None));
    cs.push(pad("pad_reflect", "reflect", &[0, 0, 1, 2, 0, 0, 2, 1], None));
    cs.push(pad("pad_edge", "edge", &[0, 0, 1, 2, 0, 0, 2, 1], None));
    cs.push(pad("pad_axes", "constant", &[1, 2, 3, 0], Some(&[1, -1])));
    cs.push(case("pad_opset2").opset(2).input("x", &[2, 3]).node(node("Pad", "p", &["x"], &["y"], vec![a_ints("pads", &[1, 0, 0, 2]), a_float("value", 0.5)])).output("y").build());
    cs.push(case("depth_to_space_dcr").input("x", &[2, 8, 3, 4]).node(node("DepthToSpace", "d", &["x"], &["y"], vec![a_int("blocksize", 2)])).output("y").build());
    cs.push(case("depth_to_space_crd").input("x", &[2, 8, 3, 4]).node(node("DepthToSpace", "d", &["x"], &["y"], vec![a_int("blocksize", 2), a_string("mode", "CRD")])).output("y").build());
    cs.push(case("space_to_depth").input("x", &[2, 3, 4, 6]).node(node("SpaceToDepth", "d", &["x"], &["y"], vec![a_int("blocksize", 2)])).output("y").build());
    cs.push(case("dropout_eval").input("x", &[2, 3]).init_f("r", &[], &[0.3]).node(node("Dropout", "d", &["x", "r"], &["y"], vec![])).output("y").build());
    check_cases(cs, TOL);
}

/// Gathers (Gather, GatherElements, GatherND with negative indices) and Einsum.
#[test]
fn gathers_and_einsum() {
    let mut cs = vec![];
    cs.push(case("gather_axis1").input("x", &[3, 5, 2]).init_i("i", &[4, 0, -1]).node(node("Gather", "g", &["x", "i"], &["y"], vec![a_int("axis", 1)])).output("y").build());
    cs.push(case("gather_elements").input("x", &[3, 4]).init_i2("i", &[3, 2], &[3, -1, 0, 2, -4, 1]).node(node("GatherElements", "g", &["x", "i"], &["y"], vec![a_int("axis", 1)])).output("y").build());
    cs.push(
        case("einsum_attention")
            .input("q", &[2, 3, 4, 5])
            .input("k", &[2, 3, 6, 5])
            .node(node("Einsum", "e", &["q", "k"], &["y"], vec![oto_onnx::attr::a_string("equation", "b h i d, b h j d -> b h i j")]))
            .output("y")
            .build(),
    );
    cs.push(case("gather_nd").input("x", &[3, 4, 2]).init_i2("i", &[2, 2, 2], &[0, 1, 2, -1, 1, 0, 0, 3]).node(node("GatherND", "g", &["x", "i"], &["y"], vec![])).output("y").build());
    cs.push(case("gather_scalar").input("x", &[3, 5]).init_i_scalar("i", -2).node(node("Gather", "g", &["x", "i"], &["y"], vec![])).output("y").build());
    check_cases(cs, TOL);
}

#[test]
fn resize_modes() {
    let mut cs = vec![];
    let resize = |name: &str, x: &[i64], scales: Option<&[f32]>, sizes: Option<&[i64]>, attrs: Vec<AttributeProto>| {
        let mut b = case(name).input("x", x);
        let mut ins = vec!["x", ""];
        match scales {
            Some(s) => {
                b = b.init_f("sc", &[s.len() as i64], s);
                ins.push("sc");
            }
            None => ins.push(""),
        }
        if let Some(s) = sizes {
            b = b.init_i("sz", s);
            ins.push("sz");
        }
        b.node(node("Resize", "r", &ins, &["y"], attrs)).output("y").build()
    };
    let s = |mode: &str, coord: &str| vec![a_string("mode", mode), a_string("coordinate_transformation_mode", coord)];
    cs.push(resize("nearest_asym_floor", &[2, 3, 4, 5], Some(&[1.0, 1.0, 2.0, 2.0]), None, vec![a_string("mode", "nearest"), a_string("coordinate_transformation_mode", "asymmetric"), a_string("nearest_mode", "floor")]));
    cs.push(resize("nearest_default", &[2, 3, 4, 5], Some(&[1.0, 1.0, 2.0, 3.0]), None, vec![a_string("mode", "nearest")]));
    cs.push(resize("nearest_half_frac", &[2, 3, 4, 5], Some(&[1.0, 1.0, 1.5, 0.6]), None, vec![a_string("mode", "nearest")]));
    cs.push(resize("nearest_ceil_tfhp", &[2, 3, 4, 5], None, Some(&[2, 3, 7, 3]), vec![a_string("mode", "nearest"), a_string("coordinate_transformation_mode", "tf_half_pixel_for_nn"), a_string("nearest_mode", "ceil")]));
    cs.push(resize("nearest_align", &[2, 3, 4, 5], None, Some(&[2, 3, 7, 9]), vec![a_string("mode", "nearest"), a_string("coordinate_transformation_mode", "align_corners"), a_string("nearest_mode", "round_prefer_ceil")]));
    cs.push(resize("linear_half_pixel", &[2, 3, 4, 5], Some(&[1.0, 1.0, 2.0, 2.0]), None, s("linear", "half_pixel")));
    cs.push(resize("linear_half_pixel_sizes", &[2, 3, 4, 5], None, Some(&[2, 3, 7, 3]), s("linear", "half_pixel")));
    cs.push(resize("linear_align", &[2, 3, 4, 5], None, Some(&[2, 3, 7, 9]), s("linear", "align_corners")));
    cs.push(resize("linear_pytorch_hp", &[2, 3, 4, 5], None, Some(&[2, 3, 1, 9]), s("linear", "pytorch_half_pixel")));
    cs.push(resize("linear_asym", &[2, 3, 4, 5], Some(&[1.0, 1.0, 2.0, 1.5]), None, s("linear", "asymmetric")));
    cs.push(resize("linear_1d", &[2, 3, 5], Some(&[1.0, 1.0, 2.0]), None, s("linear", "half_pixel")));
    cs.push(resize("linear_3d", &[1, 2, 3, 4, 4], Some(&[1.0, 1.0, 2.0, 2.0, 2.0]), None, s("linear", "align_corners")));
    cs.push(
        case("resize_axes_18")
            .opset(18)
            .input("x", &[2, 3, 4, 5])
            .init_i("sz", &[8, 10])
            .node(node("Resize", "r", &["x", "", "", "sz"], &["y"], vec![a_string("mode", "linear"), a_ints("axes", &[2, 3])]))
            .output("y")
            .build(),
    );
    cs.push(
        case("upsample_9")
            .opset(9)
            .input("x", &[2, 3, 4, 5])
            .init_f("sc", &[4], &[1.0, 1.0, 2.0, 2.0])
            .node(node("Upsample", "u", &["x", "sc"], &["y"], vec![a_string("mode", "nearest")]))
            .output("y")
            .build(),
    );
    cs.push(
        case("upsample_9_linear")
            .opset(9)
            .input("x", &[2, 3, 4, 5])
            .init_f("sc", &[4], &[1.0, 1.0, 2.0, 2.0])
            .node(node("Upsample", "u", &["x", "sc"], &["y"], vec![a_string("mode", "linear")]))
            .output("y")
            .build(),
    );
    check_cases(cs, TOL);
}

#[test]
fn unknown_op_and_bad_input_are_clear_errors() {
    let c = case("unknown")
        .input("x", &[2, 3])
        .node(node("Relu", "r", &["x"], &["h"], vec![]))
        .node(node("FancyOp", "my_fancy_node", &["h"], &["y"], vec![]))
        .output("y")
        .build();
    let g = oto_graph::Graph::from_model(c.model).unwrap();
    let err = oto_exec::Executor::new(&g, &[], Device::Cpu).err().expect("unknown op must fail at new");
    let msg = err.to_string();
    assert!(msg.contains("FancyOp") && msg.contains("my_fancy_node"), "{msg}");

    let c = case("badshape")
        .input_decl("x", &[2, 3, 8, 8], &[-1, 3, 8, 8])
        .init("w", &[4, 3, 3, 3])
        .node(node("Conv", "conv1", &["x", "w"], &["y"], vec![]))
        .output("y")
        .build();
    let g = oto_graph::Graph::from_model(c.model).unwrap();
    let ex = oto_exec::Executor::new(&g, &[], Device::Cpu).unwrap();
    // Batch is symbolic: any batch works.
    ex.forward(&[Tensor::zeros([5, 3, 8, 8], (Kind::Float, Device::Cpu))], false).unwrap();
    let msg = ex.forward(&[Tensor::zeros([2, 4, 8, 8], (Kind::Float, Device::Cpu))], false).unwrap_err().to_string();
    assert!(msg.contains("'x'") && msg.contains("[?, 3, 8, 8]") && msg.contains("[2, 4, 8, 8]"), "{msg}");
    let msg = ex.forward(&[], false).unwrap_err().to_string();
    assert!(msg.contains("1 input"), "{msg}");

    // A run-time failure inside an op names the node.
    let c = case("badrt")
        .input("x", &[2, 6])
        .init_i("t", &[4, 4])
        .node(node("Reshape", "bad_reshape", &["x", "t"], &["y"], vec![]))
        .output("y")
        .build();
    let g = oto_graph::Graph::from_model_unchecked(c.model).unwrap();
    let ex = oto_exec::Executor::new(&g, &[], Device::Cpu).unwrap();
    let msg = ex.forward(&[Tensor::zeros([2, 6], (Kind::Float, Device::Cpu))], false).unwrap_err().to_string();
    assert!(msg.contains("bad_reshape") && msg.contains("Reshape"), "{msg}");
}

/// Support is decided from the typed op: ops without a kernel (another domain, a registry op
/// the engine lacks) fail with `UnsupportedOp`, attribute variants it lacks with `Op`.
#[test]
fn unsupported_ops_and_variants_fail_at_new() {
    use oto_exec::{supports, unsupported_ops, ExecError};
    let one = |name: &str, n: oto_onnx::NodeProto| {
        let c = case(name).input("x", &[1, 2, 4, 4]).node(n).output("y").build();
        oto_graph::Graph::from_model_unchecked(c.model).unwrap()
    };
    let mut custom = node("FancyOp", "fancy", &["x"], &["y"], vec![]);
    custom.domain = Some("com.example".into());
    let cases = [
        (one("custom", custom), "com.example:FancyOp"),
        (one("hardmax", node("Hardmax", "hm", &["x"], &["y"], vec![])), "Hardmax"),
        (one("lppool", node("LpPool", "lp", &["x"], &["y"], vec![a_ints("kernel_shape", &[2, 2])])), "LpPool"),
        (one("round", node("Round", "rd", &["x"], &["y"], vec![])), "Round"),
    ];
    for (g, op) in &cases {
        assert_eq!(unsupported_ops(g), vec![op.to_string()]);
        match oto_exec::Executor::new(g, &[], Device::Cpu).err().expect("must fail at new") {
            ExecError::UnsupportedOp { op: got, .. } => assert_eq!(&got, op),
            e => panic!("{op}: {e}"),
        }
    }
    let variants = [
        one("storage", node("MaxPool", "mp", &["x"], &["y"], vec![a_ints("kernel_shape", &[2, 2]), a_int("storage_order", 1)])),
        oto_graph::Graph::from_model(
            case("cubic")
                .input("x", &[1, 2, 4, 4])
                .init_f("sc", &[4], &[1.0, 1.0, 2.0, 2.0])
                .node(node("Resize", "rs", &["x", "", "sc"], &["y"], vec![a_string("mode", "cubic")]))
                .output("y")
                .build()
                .model,
        )
        .unwrap(),
    ];
    for g in &variants {
        assert!(g.nodes.iter().all(|n| supports(&n.op)) && unsupported_ops(g).is_empty());
        let e = oto_exec::Executor::new(g, &[], Device::Cpu).err().expect("must fail at new");
        assert!(matches!(e, ExecError::Op { .. }) && e.to_string().contains("not supported"), "{e}");
    }
}
