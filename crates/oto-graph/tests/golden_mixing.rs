//! Golden partitions, part 3: zero propagation, channel-mixing ops and the reasons that make a
//! group unprunable.
mod common;
use common::*;
use oto_graph::zig::AnalyzeOptions;

/// conv(3 → 4) → `act` sub-graph → conv(4 → 4) → head.
fn act_net(build: impl FnOnce(&mut Net, &str) -> String) -> Net {
    let mut n = Net::new();
    n.input("x", &[N, 3, 8, 8]);
    let c1 = n.conv("c1", "x", 3, 4, 3, 1);
    let y = build(&mut n, &c1);
    let c2 = n.conv("c2", &y, 4, 4, 3, 1);
    n.head("fc", &c2, 4, 2);
    n.output("fc");
    n
}

#[test]
fn clip_relu6_is_prunable() {
    let c = act_net(|n, x| {
        let lo = n.f("lo", &[], &[0.0]);
        let hi = n.f("hi", &[], &[6.0]);
        n.node("Clip", "relu6", &[x, &lo, &hi], &["relu6"], vec![]);
        "relu6".into()
    })
    .analyze();
    c.expect(&[exp(&["c1.w"], 4, None), exp(&["c2.w"], 4, None)]);
}

#[test]
fn clip_away_from_zero_is_not() {
    let c = act_net(|n, x| {
        let lo = n.f("lo", &[], &[1.0]);
        let hi = n.f("hi", &[], &[6.0]);
        n.node("Clip", "clip", &[x, &lo, &hi], &["clip"], vec![]);
        "clip".into()
    })
    .analyze();
    c.expect(&[exp(&["c1.w"], 4, Some("not_zero_preserving:clip")), exp(&["c2.w"], 4, None)]);
}

/// GELU, Erf form: x · 0.5 · (1 + Erf(x / √2)).
#[test]
fn erf_gelu_is_prunable() {
    let c = act_net(|n, x| {
        let s2 = n.f("sqrt2", &[], &[std::f32::consts::SQRT_2]);
        let one = n.f("one", &[], &[1.0]);
        let half = n.f("half", &[], &[0.5]);
        let d = n.bin("Div", "g_div", x, &s2);
        let e = n.un("Erf", "g_erf", &d);
        let a = n.bin("Add", "g_add", &e, &one);
        let m = n.bin("Mul", "g_mul", x, &a);
        n.bin("Mul", "g_half", &m, &half)
    })
    .analyze();
    c.expect(&[exp(&["c1.w"], 4, None), exp(&["c2.w"], 4, None)]);
}

/// SiLU = x · Sigmoid(x): Mul keeps the zero.
#[test]
fn silu_is_prunable() {
    let c = act_net(|n, x| {
        let s = n.un("Sigmoid", "sig", x);
        n.bin("Mul", "silu", x, &s)
    })
    .analyze();
    c.expect(&[exp(&["c1.w"], 4, None), exp(&["c2.w"], 4, None)]);
}

/// A bare Sigmoid before a conv: Sigmoid(0) = 0.5 reaches the conv.
#[test]
fn bare_sigmoid_is_not() {
    let c = act_net(|n, x| n.un("Sigmoid", "sig", x)).analyze();
    c.expect(&[exp(&["c1.w"], 4, Some("not_zero_preserving:sig")), exp(&["c2.w"], 4, None)]);
}

/// Transpose to NHWC → LayerNorm over the last (channel) axis → back.
#[test]
fn layernorm_over_channels() {
    let c = act_net(|n, x| {
        n.node("Transpose", "to_nhwc", &[x], &["nhwc"], vec![a_ints("perm", &[0, 2, 3, 1])]);
        let s = n.w("ln.scale", &[4]);
        let b = n.w("ln.bias", &[4]);
        n.node("LayerNormalization", "ln", &["nhwc", &s, &b], &["ln"], vec![a_int("axis", -1)]);
        n.node("Transpose", "to_nchw", &["ln"], &["nchw"], vec![a_ints("perm", &[0, 3, 1, 2])]);
        "nchw".into()
    })
    .analyze();
    c.expect(&[exp(&["c1.w", "ln.scale"], 4, Some("layernorm_over_channels")), exp(&["c2.w"], 4, None)]);
}

/// LayerNorm over a non-channel axis (the width) is a pass-through of the channel space.
#[test]
fn layernorm_over_width_is_passthrough() {
    let c = act_net(|n, x| {
        n.node("LayerNormalization", "ln", &[x], &["ln"], vec![a_int("axis", -1)]);
        "ln".into()
    })
    .analyze();
    c.expect(&[exp(&["c1.w"], 4, None), exp(&["c2.w"], 4, None)]);
}

/// The decomposed LayerNorm: x − ReduceMean(x, channels), … .
#[test]
fn decomposed_layernorm() {
    let c = act_net(|n, x| {
        n.node("ReduceMean", "mu", &[x], &["mu"], vec![a_ints("axes", &[1]), a_int("keepdims", 1)]);
        let d = n.bin("Sub", "xc", x, "mu");
        let sq = n.bin("Mul", "sq", &d, &d);
        n.node("ReduceMean", "var", &[&sq], &["var"], vec![a_ints("axes", &[1]), a_int("keepdims", 1)]);
        let eps = n.f("eps", &[], &[1e-5]);
        let ve = n.bin("Add", "ve", "var", &eps);
        let sd = n.un("Sqrt", "sd", &ve);
        n.bin("Div", "ln", &d, &sd)
    })
    .analyze();
    c.expect(&[exp(&["c1.w"], 4, Some("layernorm_over_channels")), exp(&["c2.w"], 4, None)]);
}

/// GroupNormalization (opset 18, per-group scale/bias): rows are whole GN groups.
#[test]
fn group_norm_rows_are_gn_groups() {
    let mut n = Net::new();
    n.opset = 18;
    n.input("x", &[N, 3, 8, 8]);
    let c1 = n.conv("c1", "x", 3, 8, 3, 1);
    let s = n.w("gn.scale", &[2]);
    let b = n.w("gn.bias", &[2]);
    n.node("GroupNormalization", "gn", &[&c1, &s, &b], &["gn"], vec![a_int("num_groups", 2)]);
    let r = n.un("Relu", "r", "gn");
    let c2 = n.conv("c2", &r, 8, 4, 3, 1);
    n.head("fc", &c2, 4, 2);
    n.output("fc");
    let c = n.analyze();
    c.expect(&[exp(&["c1.w", "gn.scale", "gn.bias"], 2, None), exp(&["c2.w"], 4, None)]);
    let (view, rows) = c.index_rows(c.group("c1.w"), "c1.w", oto_graph::zig::MemberKind::Producer);
    assert_eq!((view.as_str(), rows[1].clone()), ("block", vec![4, 5, 6, 7]));
}

/// A graph input added into the residual stream: those channels are tied to the input.
#[test]
fn graph_input_in_residual() {
    let mut n = Net::new();
    n.input("x", &[N, 4, 8, 8]);
    let c1 = n.conv("c1", "x", 4, 4, 3, 1);
    let s = n.bin("Add", "add", &c1, "x");
    let c2 = n.conv("c2", &s, 4, 4, 3, 1);
    n.head("fc", &c2, 4, 2);
    n.output("fc");
    let c = n.analyze();
    c.expect(&[exp(&["c1.w"], 4, Some("graph_input")), exp(&["c2.w"], 4, None)]);
}

/// Single-head self-attention on [N, T, C] plus an MLP: a Q dim and the same K dim are one row
/// (a zero row of either removes its term of q·kᵀ), a V dim is a row with the output
/// projection's input column; the MLP hidden group stays prunable.
#[test]
fn matmul_attention() {
    let mut n = Net::new();
    n.input("x", &[N, 5, 8]);
    let wi = n.w("emb.w", &[8, 8]);
    n.node("MatMul", "emb", &["x", &wi], &["h"], vec![]);
    for p in ["q", "k", "v"] {
        let w = n.w(&format!("{p}.w"), &[8, 8]);
        n.node("MatMul", p, &["h", &w], &[p], vec![]);
    }
    n.node("Transpose", "kt", &["k"], &["kt"], vec![a_ints("perm", &[0, 2, 1])]);
    n.node("MatMul", "scores", &["q", "kt"], &["scores"], vec![]);
    n.node("Softmax", "attn", &["scores"], &["attn"], vec![a_int("axis", -1)]);
    n.node("MatMul", "ctx", &["attn", "v"], &["ctx"], vec![]);
    let wo = n.w("o.w", &[8, 8]);
    n.node("MatMul", "o", &["ctx", &wo], &["o"], vec![]);
    let w1 = n.w("fc1.w", &[8, 16]);
    n.node("MatMul", "fc1", &["o", &w1], &["fc1"], vec![]);
    let r = n.un("Relu", "act", "fc1");
    let w2 = n.w("fc2.w", &[16, 8]);
    n.node("MatMul", "fc2", &[&r, &w2], &["fc2"], vec![]);
    n.node("ReduceMean", "pool", &["fc2"], &["pool"], vec![a_ints("axes", &[1]), a_int("keepdims", 0)]);
    let wh = n.w("head.w", &[8, 3]);
    n.node("MatMul", "head", &["pool", &wh], &["head"], vec![]);
    n.output("head");
    let c = n.analyze();
    c.expect(&[
        exp(&["q.w", "k.w"], 8, None),
        exp(&["v.w"], 8, None),
        exp(&["o.w"], 8, None),
        exp(&["fc1.w"], 16, None),
        exp(&["head.w"], 3, Some("reaches_output")),
    ]);
}

/// An unknown op makes the channels it touches unprunable; the other groups stay prunable. Its
/// output shape comes from `value_info` (without it, everything downstream has unknown shapes).
#[test]
fn unknown_op() {
    let mut n = Net::new();
    n.input("x", &[N, 3, 8, 8]);
    let c1 = n.conv("c1", "x", 3, 4, 3, 1);
    n.node("Foo", "foo", &[&c1], &["foo"], vec![]);
    n.declare("foo", &[N, 4, 8, 8]);
    let c2 = n.conv("c2", "foo", 4, 4, 3, 1);
    let c3 = n.conv("c3", &c2, 4, 6, 3, 1);
    n.head("fc", &c3, 6, 2);
    n.output("fc");
    let c = n.analyze();
    c.expect(&[exp(&["c1.w"], 4, Some("unknown_op:Foo")), exp(&["c2.w"], 4, None), exp(&["c3.w"], 6, None)]);
}

/// A group whose channels are a graph output.
#[test]
fn reaches_output() {
    let mut n = Net::new();
    n.input("x", &[N, 3, 8, 8]);
    let c1 = n.conv("c1", "x", 3, 4, 3, 1);
    let r = n.un("Relu", "r", &c1);
    let c2 = n.conv("c2", &r, 4, 5, 3, 1);
    n.output(&c2);
    let c = n.analyze();
    c.expect(&[exp(&["c1.w"], 4, None), exp(&["c2.w"], 5, Some("reaches_output"))]);
}

/// `--keep` by node name, initializer name and op type.
#[test]
fn user_keep() {
    let net = act_net(|n, x| n.un("Relu", "r", x));
    for k in ["c1", "c1.w"] {
        let c = net.analyze_with(&AnalyzeOptions { keep: vec![k.into()] });
        c.expect(&[exp(&["c1.w"], 4, Some("user")), exp(&["c2.w"], 4, None)]);
    }
    let c = net.analyze_with(&AnalyzeOptions { keep: vec!["Conv".into()] });
    c.expect(&[exp(&["c1.w"], 4, Some("user")), exp(&["c2.w"], 4, Some("user"))]);
}

/// An unknown op whose output shape is unknown: no panic, its consumers still analyse (the
/// shapeless region is unprunable).
#[test]
fn unknown_op_without_shape() {
    let mut n = Net::new();
    n.input("x", &[N, 3, 8, 8]);
    let c1 = n.conv("c1", "x", 3, 4, 3, 1);
    n.node("Foo", "foo", &[&c1], &["foo"], vec![]);
    let c2 = n.conv("c2", "foo", 4, 4, 3, 1);
    let c3 = n.conv("c3", &c2, 4, 6, 3, 1);
    n.head("fc", &c3, 6, 2);
    n.output("fc");
    let c = n.analyze();
    c.expect(&[exp(&["c1.w"], 4, Some("unknown_op:Foo")), exp(&["c2.w"], 4, None)]);
}

/// A Gemm fed by a value whose shape an unknown op left unknown (Foo → … → Flatten → Gemm): the
/// Gemm reports `unknown_rank` for its input, not `gemm_transA` (it has no transA).
#[test]
fn gemm_after_shapeless_op_reports_unknown_rank() {
    let mut n = Net::new();
    n.input("x", &[N, 3, 8, 8]);
    let c1 = n.conv("c1", "x", 3, 4, 3, 1);
    n.node("Foo", "foo", &[&c1], &["foo"], vec![]);
    let c2 = n.conv("c2", "foo", 4, 4, 3, 1);
    n.head("fc", &c2, 4, 2);
    n.output("fc");
    let c = n.analyze();
    let all = c.all_reasons();
    assert!(all.iter().any(|r| r == "unknown_rank"), "{all:?}\n{}", c.dump());
    assert!(!all.iter().any(|r| r == "gemm_transA"), "{all:?}\n{}", c.dump());
    // the Flatten without shapes and the Gemm consuming it: one group, both reasons
    let gr = c.a.groups.iter().find(|g| g.reasons.iter().any(|r| r == "unknown_rank")).unwrap();
    assert_eq!(gr.reasons, vec!["dynamic_spatial", "unknown_rank"], "{}", c.dump());
    c.expect(&[exp(&["c1.w"], 4, Some("unknown_op:Foo")), exp(&["fc.w"], 2, Some("reaches_output"))]);
}
