//! Golden partitions, part 1: stems, accessories, joints and concats. Each test builds a tiny
//! graph and declares the expected groups beside it.
mod common;
use common::*;
use oto_graph::zig::MemberKind;

/// x → conv → BN → ReLU → conv → head: BN's γ/β join the conv's row, running stats are slice-only.
#[test]
fn conv_bn_relu_chain() {
    let mut n = Net::new();
    n.input("x", &[N, 3, 8, 8]);
    let c1 = n.conv("c1", "x", 3, 8, 3, 1);
    let b1 = n.bn("bn1", &c1, 8);
    let r = n.un("Relu", "relu1", &b1);
    let c2 = n.conv("c2", &r, 8, 4, 3, 1);
    n.head("fc", &c2, 4, 10);
    n.output("fc");
    let c = n.analyze();
    c.expect(&[
        exp(&["c1.w", "c1.b", "bn1.scale", "bn1.bias"], 8, None),
        exp(&["c2.w", "c2.b"], 4, None),
        exp(&["fc.w", "fc.b"], 10, Some("reaches_output")),
    ]);
    let g1 = c.group("c1.w");
    let (view, _) = c.index_rows(g1, "bn1.mean", MemberKind::SliceOnly);
    assert_eq!(view, "identity");
    let (view, rows) = c.index_rows(g1, "c2.w", MemberKind::Consumer);
    assert_eq!(view, "identity");
    assert_eq!(rows[5], vec![5]);
    // params outside any row: none are frozen
    assert!(c.report.frozen.is_empty());
    assert_eq!(c.report.summary.prunable_channels, 12);
}

/// conv → conv with nothing between: the producer is its own group, the consumer slices axis 1.
#[test]
fn conv_conv() {
    let mut n = Net::new();
    n.input("x", &[N, 3, 8, 8]);
    let c1 = n.conv("c1", "x", 3, 6, 3, 1);
    let c2 = n.conv("c2", &c1, 6, 5, 1, 1);
    n.head("fc", &c2, 5, 2);
    n.output("fc");
    let c = n.analyze();
    c.expect(&[exp(&["c1.w", "c1.b"], 6, None), exp(&["c2.w", "c2.b"], 5, None), exp(&["fc.w"], 2, Some("reaches_output"))]);
    let (_, rows) = c.index_rows(c.group("c1.w"), "c2.w", MemberKind::Consumer);
    assert_eq!(rows, (0..6).map(|i| vec![i]).collect::<Vec<_>>());
}

/// Two branches added: every branch's stems end in one group.
#[test]
fn residual_add() {
    let mut n = Net::new();
    n.input("x", &[N, 3, 8, 8]);
    let c1 = n.conv("c1", "x", 3, 8, 3, 1);
    let r1 = n.un("Relu", "r1", &c1);
    let c2 = n.conv("c2", &r1, 8, 8, 3, 1);
    let b2 = n.bn("bn2", &c2, 8);
    let c3 = n.conv("c3", &r1, 8, 8, 1, 1);
    let b3 = n.bn("bn3", &c3, 8);
    let s = n.bin("Add", "add", &b2, &b3);
    let r = n.un("Relu", "r2", &s);
    // identity residual on top: r + conv(r)
    let c4 = n.conv("c4", &r, 8, 8, 3, 1);
    let s2 = n.bin("Add", "add2", &r, &c4);
    n.head("fc", &s2, 8, 3);
    n.output("fc");
    let c = n.analyze();
    c.expect(&[
        exp(&["c1.w"], 8, None),
        exp(&["c2.w", "bn2.scale", "c3.w", "bn3.bias", "c4.w", "c4.b"], 8, None),
        exp(&["fc.w"], 3, Some("reaches_output")),
    ]);
}

/// Squeeze-and-excitation: the excitation conv (2 → 8) joins the main 8-channel group through the
/// Mul; the squeeze conv is its own group; Sigmoid (f(0) = 0.5) is fine because it is multiplied.
#[test]
fn se_block_mul() {
    let mut n = Net::new();
    n.input("x", &[N, 3, 8, 8]);
    let c1 = n.conv("c1", "x", 3, 8, 3, 1);
    let b1 = n.bn("bn1", &c1, 8);
    let x1 = n.un("Relu", "r1", &b1);
    let p = n.un("GlobalAveragePool", "se_pool", &x1);
    let sq = n.conv("se_sq", &p, 8, 2, 1, 1);
    let sr = n.un("Relu", "se_relu", &sq);
    let ex = n.conv("se_ex", &sr, 2, 8, 1, 1);
    let sg = n.un("Sigmoid", "se_sig", &ex);
    let m = n.bin("Mul", "se_mul", &x1, &sg);
    let c2 = n.conv("c2", &m, 8, 4, 3, 1);
    n.head("fc", &c2, 4, 10);
    n.output("fc");
    let c = n.analyze();
    c.expect(&[
        exp(&["c1.w", "bn1.scale", "se_ex.w", "se_ex.b"], 8, None),
        exp(&["se_sq.w", "se_sq.b"], 2, None),
        exp(&["c2.w"], 4, None),
    ]);
}

/// Channel concat: the BN after it is split across the producers' groups at offsets.
#[test]
fn channel_concat() {
    let mut n = Net::new();
    n.input("x", &[N, 3, 8, 8]);
    let a = n.conv("a", "x", 3, 4, 3, 1);
    let b = n.conv("b", "x", 3, 6, 3, 1);
    n.node("Concat", "cat", &[&a, &b], &["cat"], vec![a_int("axis", 1)]);
    let bn = n.bn("bncat", "cat", 10);
    let r = n.un("Relu", "r", &bn);
    let c3 = n.conv("c3", &r, 10, 5, 1, 1);
    n.head("fc", &c3, 5, 2);
    n.output("fc");
    let c = n.analyze();
    c.expect(&[exp(&["a.w", "a.b"], 4, None), exp(&["b.w", "b.b"], 6, None), exp(&["c3.w"], 5, None)]);
    let (ga, gb) = (c.group("a.w"), c.group("b.w"));
    assert_eq!(c.groups_of("bncat.scale"), vec![ga, gb]);
    let (view, rows) = c.index_rows(ga, "bncat.scale", MemberKind::Accessory);
    assert_eq!((view.as_str(), rows[3].clone()), ("offset", vec![3]));
    let (view, rows) = c.index_rows(gb, "bncat.scale", MemberKind::Accessory);
    assert_eq!((view.as_str(), rows[0].clone(), rows[5].clone()), ("offset", vec![4], vec![9]));
    let (_, rows) = c.index_rows(gb, "c3.w", MemberKind::Consumer);
    assert_eq!(rows[2], vec![6]);
}

/// Nested concat: cat2 = [cat1 = [a, b], d] → offsets 0, 4, 10.
#[test]
fn nested_concat() {
    let mut n = Net::new();
    n.input("x", &[N, 3, 8, 8]);
    let a = n.conv("a", "x", 3, 4, 3, 1);
    let b = n.conv("b", "x", 3, 6, 3, 1);
    n.node("Concat", "cat1", &[&a, &b], &["cat1"], vec![a_int("axis", 1)]);
    let d = n.conv("d", "cat1", 10, 3, 3, 1);
    n.node("Concat", "cat2", &["cat1", &d], &["cat2"], vec![a_int("axis", 1)]);
    let bn = n.bn("bn", "cat2", 13);
    let c3 = n.conv("c3", &bn, 13, 5, 1, 1);
    n.head("fc", &c3, 5, 2);
    n.output("fc");
    let c = n.analyze();
    c.expect(&[exp(&["a.w"], 4, None), exp(&["b.w"], 6, None), exp(&["d.w"], 3, None), exp(&["c3.w"], 5, None)]);
    let gd = c.group("d.w");
    let (_, rows) = c.index_rows(gd, "bn.scale", MemberKind::Accessory);
    assert_eq!(rows, vec![vec![10], vec![11], vec![12]]);
    let (_, rows) = c.index_rows(c.group("b.w"), "d.w", MemberKind::Consumer);
    assert_eq!(rows[0], vec![4]);
}

/// The same value concatenated twice: its rows own two positions each.
#[test]
fn repeated_concat_input() {
    let mut n = Net::new();
    n.input("x", &[N, 3, 8, 8]);
    let a = n.conv("a", "x", 3, 4, 3, 1);
    n.node("Concat", "cat", &[&a, &a], &["cat"], vec![a_int("axis", 1)]);
    let c3 = n.conv("c3", "cat", 8, 5, 1, 1);
    n.head("fc", &c3, 5, 2);
    n.output("fc");
    let c = n.analyze();
    c.expect(&[exp(&["a.w"], 4, None), exp(&["c3.w"], 5, None)]);
    let (view, rows) = c.index_rows(c.group("a.w"), "c3.w", MemberKind::Consumer);
    assert_eq!(rows[1], vec![1, 5]);
    assert_eq!(view, "strided");
}

/// Concat on a spatial axis is a joint: both inputs share one channel mask.
#[test]
fn concat_on_spatial_axis() {
    let mut n = Net::new();
    n.input("x", &[N, 3, 8, 8]);
    let a = n.conv("a", "x", 3, 4, 3, 1);
    let b = n.conv("b", "x", 3, 4, 3, 1);
    n.node("Concat", "cat", &[&a, &b], &["cat"], vec![a_int("axis", 2)]);
    let c3 = n.conv("c3", "cat", 4, 5, 1, 1);
    n.head("fc", &c3, 5, 2);
    n.output("fc");
    let c = n.analyze();
    c.expect(&[exp(&["a.w", "b.w"], 4, None), exp(&["c3.w"], 5, None)]);
}

/// Split on the channel axis → two convs → Concat: range mapping into the producer's rows.
#[test]
fn split_convs_concat() {
    let mut n = Net::new();
    n.input("x", &[N, 3, 8, 8]);
    let c1 = n.conv("c1", "x", 3, 8, 3, 1);
    let sizes = n.i("sizes", &[3, 5]);
    n.node("Split", "split", &[&c1, &sizes], &["s0", "s1"], vec![a_int("axis", 1)]);
    let p = n.conv("p", "s0", 3, 4, 3, 1);
    let q = n.conv("q", "s1", 5, 4, 3, 1);
    n.node("Concat", "cat", &[&p, &q], &["cat"], vec![a_int("axis", 1)]);
    let c4 = n.conv("c4", "cat", 8, 2, 1, 1);
    n.head("fc", &c4, 2, 2);
    n.output("fc");
    let c = n.analyze();
    c.expect(&[exp(&["c1.w", "c1.b"], 8, None), exp(&["p.w"], 4, None), exp(&["q.w"], 4, None), exp(&["c4.w"], 2, None)]);
    let g1 = c.group("c1.w");
    let (_, rows) = c.index_rows(g1, "q.w", MemberKind::Consumer);
    assert_eq!(rows[3], vec![0], "row 3 of c1 is channel 0 of the second split");
    assert!(rows[0].is_empty());
    let (_, rows) = c.index_rows(g1, "p.w", MemberKind::Consumer);
    assert_eq!(rows[2], vec![2]);
}

/// Depthwise conv (multiplier 1): an accessory of the feeding conv's group.
#[test]
fn depthwise_multiplier_1() {
    let mut n = Net::new();
    n.input("x", &[N, 3, 8, 8]);
    let c1 = n.conv("c1", "x", 3, 8, 1, 1);
    let r = n.un("Relu", "r", &c1);
    let dw = n.conv("dw", &r, 8, 8, 3, 8);
    let b = n.bn("bn", &dw, 8);
    let c3 = n.conv("c3", &b, 8, 4, 1, 1);
    n.head("fc", &c3, 4, 2);
    n.output("fc");
    let c = n.analyze();
    c.expect(&[exp(&["c1.w", "dw.w", "dw.b", "bn.scale"], 8, None), exp(&["c3.w"], 4, None)]);
    let (view, _) = c.index_rows(c.group("c1.w"), "dw.w", MemberKind::Accessory);
    assert_eq!(view, "identity");
}

/// Depthwise conv with channel multiplier 2: each input row owns a block of 2 output channels.
#[test]
fn depthwise_multiplier_2() {
    let mut n = Net::new();
    n.input("x", &[N, 3, 8, 8]);
    let c1 = n.conv("c1", "x", 3, 4, 1, 1);
    let dw = n.conv("dw", &c1, 4, 8, 3, 4);
    let c3 = n.conv("c3", &dw, 8, 4, 1, 1);
    n.head("fc", &c3, 4, 2);
    n.output("fc");
    let c = n.analyze();
    c.expect(&[exp(&["c1.w", "dw.w", "dw.b"], 4, None), exp(&["c3.w"], 4, None)]);
    let g = c.group("c1.w");
    let (view, rows) = c.index_rows(g, "dw.w", MemberKind::Accessory);
    assert_eq!((view.as_str(), rows[1].clone()), ("expanded", vec![2, 3]));
    let (_, rows) = c.index_rows(g, "c3.w", MemberKind::Consumer);
    assert_eq!(rows[3], vec![6, 7]);
}

/// Grouped conv (group 2): rows are whole conv groups, tying the input block and the output block.
#[test]
fn grouped_conv_rows_are_conv_groups() {
    let mut n = Net::new();
    n.input("x", &[N, 3, 8, 8]);
    let c1 = n.conv("c1", "x", 3, 8, 1, 1);
    let gc = n.conv("gc", &c1, 8, 6, 3, 2);
    let c3 = n.conv("c3", &gc, 6, 4, 1, 1);
    n.head("fc", &c3, 4, 2);
    n.output("fc");
    let c = n.analyze();
    c.expect(&[exp(&["c1.w", "gc.w", "gc.b"], 2, None), exp(&["c3.w"], 4, None)]);
    let g = c.group("c1.w");
    let (view, rows) = c.index_rows(g, "c1.w", MemberKind::Producer);
    assert_eq!((view.as_str(), rows[1].clone()), ("block", vec![4, 5, 6, 7]));
    let (_, rows) = c.index_rows(g, "gc.w", MemberKind::Producer);
    assert_eq!(rows[0], vec![0, 1, 2]);
}

/// One initializer used by two convs: their output spaces (and, through the shared input axis,
/// their inputs) are tied; the weight is one member set.
#[test]
fn weight_sharing() {
    let mut n = Net::new();
    n.input("x", &[N, 3, 8, 8]);
    let c0 = n.conv("c0", "x", 3, 8, 3, 1);
    let w = n.w("shared.w", &[8, 8, 3, 3]);
    n.node("Conv", "s1", &[&c0, &w], &["s1"], vec![a_ints("pads", &[1, 1, 1, 1])]);
    let r = n.un("Relu", "r", "s1");
    n.node("Conv", "s2", &[&r, &w], &["s2"], vec![a_ints("pads", &[1, 1, 1, 1])]);
    let c3 = n.conv("c3", "s2", 8, 4, 1, 1);
    n.head("fc", &c3, 4, 2);
    n.output("fc");
    let c = n.analyze();
    c.expect(&[exp(&["shared.w", "c0.w"], 8, None), exp(&["c3.w"], 4, None)]);
}
