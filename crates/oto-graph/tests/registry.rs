//! The op registry: typed ops parsed once at load with checked attributes; slice rules that
//! cannot cut make their rows unprunable at analysis (soundness by construction); the
//! structural check refuses a broken graph, naming the node and the two shapes.
mod common;
use common::*;
use oto_graph::compress::{self, CompressOptions, Removal};
use oto_graph::ops::conv::AutoPad;
use oto_graph::ops::elementwise::BinaryKind;
use oto_graph::{zig, Graph, Op};

/// x → conv(8) → relu → conv(4) → head, with `extra` nodes between relu and the second conv.
fn chain() -> Net {
    let mut n = Net::new();
    n.input("x", &[N, 3, 8, 8]);
    let c1 = n.conv("c1", "x", 3, 8, 3, 1);
    n.un("Relu", "r1", &c1);
    n
}

#[test]
fn nodes_are_parsed_once_into_typed_ops_with_spec_defaults() {
    let mut n = chain();
    let c2 = n.conv("c2", "r1", 8, 4, 3, 1);
    n.head("fc", &c2, 4, 10);
    n.output("fc");
    let g = n.graph();
    let conv = g.nodes.iter().find(|x| x.name == "c1").unwrap();
    let Op::Conv(c) = &conv.op else { panic!("{:?}", conv.op) };
    assert_eq!((c.group, c.transpose, c.auto_pad, c.strides.clone()), (1, false, AutoPad::NotSet, None));
    let gemm = g.nodes.iter().find(|x| x.name == "fc").unwrap();
    let Op::Gemm(m) = &gemm.op else { panic!() };
    assert!(m.trans_b && !m.trans_a && m.alpha == 1.0 && m.beta == 1.0);
    let relu = g.nodes.iter().find(|x| x.name == "r1").unwrap();
    assert!(matches!(&relu.op, Op::Unary(u) if u.zero_preserving()));
}

#[test]
fn bad_attributes_are_refused_at_load_naming_node_attribute_and_opset() {
    for (attr, msg) in [
        (a_ints("strides", &[0, 1]), "'strides' entries must be >= 1 and <= 2^31 (sizes), got 0"),
        (a_ints("dilations", &[1, -2]), "'dilations' entries must be >= 1 and <= 2^31 (sizes), got -2"),
        (a_int("group", 0), "'group' must be >= 1 and <= 2^31 (a size), got 0"),
        (a_int("strides", 2), "'strides' must be of type INTS, got INT"),
        (a_string("auto_pad", "SAME"), "'auto_pad' must be one of"),
    ] {
        let mut n = Net::new();
        n.input("x", &[N, 3, 8, 8]);
        let w = n.w("w", &[4, 3, 3, 3]);
        n.node("Conv", "bad_conv", &["x", &w], &["y"], vec![attr]);
        n.output("y");
        let e = Graph::from_model(n.model()).expect_err("must refuse").to_string();
        assert!(e.contains("node 'bad_conv' (Conv, opset 17)") && e.contains(msg), "{e}");
    }
}

#[test]
fn unknown_ops_are_typed_unknown_and_make_their_rows_unprunable() {
    let mut n = chain();
    n.node("MyOp", "custom", &["r1"], &["m"], vec![]);
    n.nodes.last_mut().unwrap().domain = Some("com.example".into());
    n.declare("m", &[N, 8, 8, 8]);
    let c2 = n.conv("c2", "m", 8, 4, 3, 1);
    n.head("fc", &c2, 4, 10);
    n.output("fc");
    let g = n.graph();
    let node = g.nodes.iter().find(|x| x.name == "custom").unwrap();
    assert!(matches!(&node.op, Op::Unknown(u) if u.domain == "com.example" && u.op_type == "MyOp"));
    let c = n.analyze();
    let gid = c.group("c1.w");
    assert!(!c.prunable(gid) && c.reasons(gid).iter().any(|r| r == "unknown_op:com.example:MyOp"), "{}", c.dump());
    assert!(c.prunable(c.group("c2.w")), "{}", c.dump());
}

/// `y.view(N, C, -1)` with N (symbolic) and C read back from a shape (Shape → Gather →
/// Concat). Read from y itself, C follows the cut at run time and the target stays computed;
/// read from another value (whose channels are other rows), the known piece is pinned to the
/// kept count. Both stay prunable and compress exactly.
#[test]
fn a_computed_reshape_target_follows_its_own_shape_or_is_pinned_in_its_known_piece() {
    for own in [true, false] {
        let mut n = chain();
        n.conv("c9", "x", 3, 8, 3, 1);
        n.node("Shape", "shape", &["r1"], &["s"], vec![]);
        n.node("Shape", "shape9", &["c9"], &["s9"], vec![]);
        let i0 = n.i("i0", &[0]);
        let i1 = n.i("i1", &[1]);
        let m1 = n.i("m1", &[-1]);
        n.node("Gather", "g0", &["s", &i0], &["d0"], vec![a_int("axis", 0)]);
        n.node("Gather", "g1", &[if own { "s" } else { "s9" }, &i1], &["d1"], vec![a_int("axis", 0)]);
        n.node("Concat", "cat", &["d0", "d1", &m1], &["target"], vec![a_int("axis", 0)]);
        n.node("Reshape", "view", &["r1", "target"], &["v"], vec![]);
        n.node("ReduceSum", "sum", &["v"], &["out"], vec![a_ints("axes", &[2]), a_int("keepdims", 0)]);
        n.node("ReduceSum", "sum9", &["c9"], &["out9"], vec![a_ints("axes", &[1, 2, 3]), a_int("keepdims", 0)]);
        let w = n.w("fc.w", &[8, 10]);
        n.node("MatMul", "fc", &["out", &w], &["y"], vec![]);
        n.output("y");
        n.output("out9");
        let c = n.analyze();
        let gid = c.group("c1.w");
        assert!(c.prunable(gid), "{}", c.dump());
        // three of c1's channels go: construction succeeds and the result re-loads
        let (g, a) = (c.g, c.a);
        let rows = a.groups[gid].rows.iter().copied().take(3).collect();
        let out = compress::compress(&g, &a, &CompressOptions { removal: Removal::Rows(rows) }).unwrap();
        let small = oto_graph::check::structural(&out.graph.to_model(), &g).unwrap();
        let t = small.id("target").unwrap();
        let v = small.value(small.id("v").unwrap());
        assert!(small.init(t).is_none() && v.dim(1).is_some_and(|c| c < 8), "{:?}", v.shape);
        let cat = small.nodes.iter().find(|x| x.name == "cat").unwrap();
        assert_eq!(small.init(cat.input(1).unwrap()).is_some(), !own, "the C piece is pinned only when read elsewhere");
    }
}

/// The same target written as a constant: prunable, and the constant is rewritten.
#[test]
fn a_constant_reshape_target_is_rewritten() {
    let mut n = chain();
    let t = n.i("target", &[0, 8, -1]);
    n.node("Reshape", "view", &["r1", &t], &["v"], vec![]);
    n.node("ReduceSum", "sum", &["v"], &["out"], vec![a_ints("axes", &[2]), a_int("keepdims", 0)]);
    let w = n.w("fc.w", &[8, 10]);
    n.node("MatMul", "fc", &["out", &w], &["y"], vec![]);
    n.output("y");
    let g = n.graph();
    let a = zig::analyze(&g);
    let gid = a.rows.iter().find(|r| r.prunable()).map(|r| r.group).expect("a prunable group");
    let rows: std::collections::BTreeSet<usize> = a.groups[gid].rows.iter().copied().take(3).collect();
    let out = compress::compress(&g, &a, &CompressOptions { removal: Removal::Rows(rows) }).unwrap();
    let small = oto_graph::check::structural(&out.graph.to_model(), &g).unwrap();
    let t = small.id("target").or_else(|| small.id("target_oto")).unwrap();
    assert_eq!(small.const_i64(t).unwrap(), vec![0, 5, -1]);
}

#[test]
fn the_structural_check_refuses_a_broken_graph_naming_the_node_and_the_shapes() {
    let mut n = chain();
    let c2 = n.conv("c2", "r1", 8, 4, 3, 1);
    n.bin("Add", "skip", &c2, "r1"); // 4 channels + 8 channels
    n.output("skip");
    let e = Graph::from_model(n.model()).expect_err("an Add of [N,4,8,8] and [N,8,8,8]").to_string();
    assert!(e.contains("'skip' (Add)"), "{e}");
    // a declared shape that contradicts the computed one
    let mut n = chain();
    n.declare("r1", &[N, 6, 8, 8]);
    let c2 = n.conv("c2", "r1", 8, 4, 3, 1);
    n.output(&c2);
    let reference = {
        let mut m = chain();
        let c2 = m.conv("c2", "r1", 8, 4, 3, 1);
        m.output(&c2);
        m.graph()
    };
    let e = oto_graph::check::structural(&n.model(), &reference).expect_err("declared [N,6,8,8]").to_string();
    assert!(e.contains("'r1' (Relu)") && e.contains("declared [N, 6, 8, 8] but computes [N, 8, 8, 8]"), "{e}");
    // outputs must keep the reference's shapes
    let mut n = chain();
    let c2 = n.conv("c2", "r1", 8, 3, 3, 1);
    n.output(&c2);
    let e = oto_graph::check::structural(&n.model(), &reference).expect_err("3 vs 4 channels").to_string();
    assert!(e.contains("graph output 'c2' has shape [N, 3, 8, 8] but the reference has [N, 4, 8, 8]"), "{e}");
}

#[test]
fn binary_kinds_are_typed() {
    let mut n = chain();
    n.bin("Sub", "d", "r1", "r1");
    n.output("d");
    let g = n.graph();
    assert!(g.nodes.iter().any(|x| matches!(&x.op, Op::Binary(b) if b.kind == BinaryKind::Sub)));
}

/// LRN (the worked example of docs/architecture.md): typed with the spec's defaults, shape kept,
/// the channels it normalises across are unprunable, the next stem stays prunable.
#[test]
fn lrn_is_typed_and_keeps_the_channels_it_normalises_across() {
    let mut n = chain();
    n.node("LRN", "lrn", &["r1"], &["l"], vec![a_int("size", 5)]);
    let c2 = n.conv("c2", "l", 8, 4, 3, 1);
    n.head("fc", &c2, 4, 10);
    n.output("fc");
    let g = n.graph();
    let node = g.nodes.iter().find(|x| x.name == "lrn").unwrap();
    let Op::Lrn(l) = &node.op else { panic!("{:?}", node.op) };
    assert_eq!((l.size, l.alpha, l.beta, l.bias), (5, 1e-4, 0.75, 1.0));
    assert_eq!(g.static_shape(g.id("l").unwrap()), None); // symbolic batch
    assert_eq!(g.shape(g.id("l").unwrap()).map(|s| s.len()), Some(4));
    let c = n.analyze();
    let gid = c.group("c1.w");
    assert!(!c.prunable(gid) && c.reasons(gid).iter().any(|r| r == "lrn_over_channels"), "{}", c.dump());
    assert!(c.prunable(c.group("c2.w")), "{}", c.dump());
    let mut bad = chain();
    bad.node("LRN", "lrn", &["r1"], &["l"], vec![]);
    bad.output("l");
    let e = Graph::from_model(bad.model()).expect_err("size is required").to_string();
    assert!(e.contains("attribute 'size' is required"), "{e}");
}

/// Before opset 7 a 1-D PRelu slope of size C is per channel (axis 1): an accessory of the
/// channel rows, not of the last (spatial) axis.
#[test]
fn opset6_prelu_slope_is_per_channel() {
    let mut n = chain();
    n.opset = 6;
    let s = n.w("slope", &[8]);
    n.node("PRelu", "p", &["r1", &s], &["pr"], vec![]);
    let c2 = n.conv("c2", "pr", 8, 4, 3, 1);
    n.head("fc", &c2, 4, 10);
    n.output("fc");
    let c = n.analyze();
    c.expect(&[
        exp(&["c1.w", "c1.b", "slope"], 8, None),
        exp(&["c2.w", "c2.b"], 4, None),
        exp(&["fc.w", "fc.b"], 10, Some("reaches_output")),
    ]);
}

/// A rule that cannot follow its input's channels (TopK's values: the op is index-only to oto)
/// leaves its output without ids: the driver's safety net makes the input's rows unprunable
/// (`not_followed:TopK`) instead of a group that loses its consumer (MaxViT before: a Conv
/// group whose depthwise consumer was never attached, so construction wrote a broken Conv).
#[test]
fn an_output_a_rule_cannot_follow_makes_its_input_rows_unprunable() {
    let mut n = chain();
    let k = n.i("k", &[4]);
    n.node("TopK", "topk", &["r1", &k], &["tv", "ti"], vec![a_int("axis", 3)]);
    n.declare("tv", &[N, 8, 8, 4]);
    let c2 = n.conv("c2", "tv", 8, 4, 3, 1);
    n.head("fc", &c2, 4, 10);
    n.output("fc");
    let c = n.analyze();
    let gid = c.group("c1.w");
    assert!(!c.prunable(gid) && c.reasons(gid).iter().any(|r| r == "not_followed:TopK"), "{}", c.dump());
    assert!(c.prunable(c.group("c2.w")), "{}", c.dump());
}

/// Einsum (MaxViT's attention) is typed: its output shape is inferred, so the ops after it
/// keep their ranks and the convolutions behind it stay prunable; its own operands are not.
#[test]
fn einsum_is_shape_inferred_and_its_operands_unprunable() {
    let mut n = chain();
    n.node("Einsum", "att", &["r1", "r1"], &["e"], vec![a_string("equation", "b c h w, b c h v -> b c h w")]);
    n.un("Relu", "r2", "e");
    let c2 = n.conv("c2", "r2", 8, 4, 3, 1);
    n.un("Relu", "r3", &c2);
    let c3 = n.conv("c3", "r3", 4, 4, 3, 1);
    n.head("fc", &c3, 4, 10);
    n.output("fc");
    let g = n.graph();
    let e = g.id("e").unwrap();
    assert_eq!(g.value(e).rank(), Some(4));
    assert_eq!(g.value(e).dim(1), Some(8));
    let c = n.analyze();
    assert!(c.reasons(c.group("c1.w")).iter().any(|r| r == "einsum"), "{}", c.dump());
    assert!(c.prunable(c.group("c2.w")), "{}", c.dump());
}

/// The dynamo exporter de-duplicates equal initializers: at random init two layers' BatchNorms
/// read one all-ones and one all-zeros tensor (as scale, bias, mean and var). Each use gets its
/// own copy at load, so the two layers' channels stay separate groups (densenet121: 120 groups
/// from either exporter, not 75); a random (tied) weight stays shared.
#[test]
fn constant_filled_initializers_shared_by_an_exporter_do_not_tie_layers() {
    let mut n = chain();
    let ones = n.f("ones", &[8], &[1.0; 8]);
    let zeros = n.f("zeros", &[8], &[0.0; 8]);
    n.node("BatchNormalization", "bn1", &["r1", &ones, &zeros, &zeros, &ones], &["b1"], vec![]);
    let c2 = n.conv("c2", "b1", 8, 8, 3, 1);
    n.node("BatchNormalization", "bn2", &[&c2, &ones, &zeros, &zeros, &ones], &["b2"], vec![]);
    n.un("Relu", "r2", "b2");
    let c3 = n.conv("c3", "r2", 8, 4, 3, 1);
    n.head("fc", &c3, 4, 10);
    n.output("fc");
    let g = n.graph();
    assert_eq!(g.initializer_ids().iter().filter(|&&v| g.values[v].name.starts_with("ones")).count(), 4);
    let c = n.analyze();
    let (g1, g2) = (c.group("c1.w"), c.group("c2.w"));
    assert!(g1 != g2 && c.prunable(g1) && c.prunable(g2), "{}", c.dump());
}

/// Opset 18 `Split(num_outputs = 2)` (the dynamo exporter's `x.chunk(2, dim=1)`) on channels:
/// construction writes explicit sizes and drops `num_outputs`, and the typed op follows (the
/// halves keep unequal counts; ShuffleNetV2 from the dynamo exporter).
#[test]
fn an_opset18_even_split_becomes_explicit_sizes() {
    let mut n = chain();
    n.opset = 18;
    n.node("Split", "split", &["r1"], &["s0", "s1"], vec![a_int("axis", 1), a_int("num_outputs", 2)]);
    let c2 = n.conv("c2", "s0", 4, 4, 3, 1);
    let c3 = n.conv("c3", "s1", 4, 4, 3, 1);
    n.bin("Add", "sum", &c2, &c3);
    n.head("fc", "sum", 4, 10);
    n.output("fc");
    let c = n.analyze();
    let gid = c.group("c1.w");
    assert!(c.prunable(gid) && c.rows(gid) == 8, "{}", c.dump());
    let (g, a) = (c.g, c.a);
    // remove c1's first channel only: the two halves now keep different counts
    let first = a.groups[gid].rows[0];
    let rows: std::collections::BTreeSet<usize> = [first].into_iter().collect();
    let out = compress::compress(&g, &a, &CompressOptions { removal: Removal::Rows(rows) }).unwrap();
    let small = oto_graph::check::structural(&out.graph.to_model(), &g).unwrap();
    let sp = small.nodes.iter().find(|x| x.name == "split").unwrap();
    assert!(sp.proto.attribute.iter().all(|a| a.name.as_deref() != Some("num_outputs")));
    let sizes = small.const_i64(sp.input(1).expect("explicit sizes")).unwrap();
    assert_eq!(sizes.iter().sum::<i64>(), 7, "{sizes:?}");
}

/// GroupNorm(1) as PyTorch exports it (Reshape [N, 1, -1] → InstanceNormalization → Reshape
/// back) leaves a stream whose ids vary over channels and space; a per-channel branch added to
/// it (PoolFormer's `x + fc2(...)`) is tied to every position it reaches, not dropped: its rows
/// join the stream's group (construction used to cut them alone and write a broken Add).
#[test]
fn a_per_channel_branch_added_to_a_spatially_varying_stream_is_tied_to_it() {
    let mut n = chain();
    let (t1, ones, zeros) = (n.i("t1", &[0, 1, -1]), n.f("in_s", &[1], &[1.0]), n.f("in_b", &[1], &[0.0]));
    n.node("Reshape", "gn_flat", &["r1", &t1], &["gf"], vec![]);
    n.node("InstanceNormalization", "gn", &["gf", &ones, &zeros], &["gn"], vec![]);
    n.node("Shape", "gn_shape", &["r1"], &["gs"], vec![]);
    n.node("Reshape", "gn_back", &["gn", "gs"], &["stream"], vec![]);
    let c2 = n.conv("c2", "stream", 8, 8, 3, 1);
    n.bin("Add", "res", "stream", &c2);
    n.head("fc", "res", 8, 10);
    n.output("fc");
    let c = n.analyze();
    let (g1, g2) = (c.group("c1.w"), c.group("c2.w"));
    assert!(g1 == g2 && !c.prunable(g2), "{}", c.dump());
    // nothing prunable is left that construction could not cut
    let (g, a) = (c.g, c.a);
    let rows = a.rows.iter().filter(|r| r.prunable()).map(|r| r.id).collect();
    let out = compress::compress(&g, &a, &CompressOptions { removal: Removal::Rows(rows) }).unwrap();
    oto_graph::check::structural(&out.graph.to_model(), &g).unwrap();
}

/// The dynamo exporter without its optimiser writes a bias-free conv's bias as
/// `Expand(CastLike(0, x), Expand(Shape(w)[0:1], [1]))`: folded at load into an initializer, so
/// the conv's rows keep a bias member construction can slice. A hostile Expand (10^24 elements)
/// is left alone, never allocated.
#[test]
fn constant_tensors_computed_at_run_time_are_folded_at_load() {
    let mut n = Net::new();
    n.input("x", &[N, 3, 8, 8]);
    let w = n.w("c1.w", &[8, 3, 3, 3]);
    let (one, huge) = (n.i("one", &[1]), n.i("huge", &[1_000_000, 1_000_000]));
    n.node("Constant", "zero", &[], &["zero"], vec![oto_onnx::attr::a_tensor("value", oto_onnx::tensor::f32_tensor("", &[], &[0.0]))]);
    n.node("CastLike", "zero_like", &["zero", "x"], &["zl"], vec![]);
    n.node("Shape", "w_shape", &[&w], &["ws"], vec![a_int("start", 0), a_int("end", 1)]);
    n.node("Expand", "bias_shape", &["ws", &one], &["bs"], vec![]);
    n.node("Expand", "bias", &["zl", "bs"], &["b"], vec![]);
    n.node("Expand", "hostile", &["zl", &huge], &["hz"], vec![]);
    n.node("Conv", "c1", &["x", &w, "b"], &["c1"], vec![a_ints("pads", &[1, 1, 1, 1])]);
    n.un("Relu", "r1", "c1");
    let c2 = n.conv("c2", "r1", 8, 4, 3, 1);
    n.head("fc", &c2, 4, 10);
    n.output("fc");
    let g = n.graph();
    let b = g.id("b").unwrap();
    assert!(g.values[b].is_initializer && g.static_shape(b) == Some(vec![8]), "{:?}", g.values[b].shape);
    assert!(g.nodes.iter().any(|x| x.name == "hostile"), "the hostile Expand stays a node");
    let c = n.analyze();
    let gid = c.group("c1.w");
    assert!(c.prunable(gid) && c.groups_of("b") == vec![gid], "{}", c.dump());
}
