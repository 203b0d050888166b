//! Golden partitions, part 2: index transforms (Flatten/Reshape expansion, channels-last,
//! DepthToSpace and its Reshape-Transpose-Reshape form, ConvTranspose, Resize).
mod common;
use common::*;
use oto_graph::zig::MemberKind;

/// conv [N,4,8,8] → MaxPool 2 → [N,4,4,4] → (Flatten | Reshape) → Gemm(64 → 6) → Gemm(6 → 3).
fn flatten_net(reshape: bool) -> Net {
    let mut n = Net::new();
    n.input("x", &[N, 3, 8, 8]);
    let c1 = n.conv("c1", "x", 3, 4, 3, 1);
    n.node("MaxPool", "pool", &[&c1], &["pool"], vec![a_ints("kernel_shape", &[2, 2]), a_ints("strides", &[2, 2])]);
    if reshape {
        let s = n.i("shape", &[0, -1]);
        n.node("Reshape", "flat", &["pool", &s], &["flat"], vec![]);
    } else {
        n.node("Flatten", "flat", &["pool"], &["flat"], vec![a_int("axis", 1)]);
    }
    let w = n.w("fc1.w", &[6, 64]);
    let b = n.w("fc1.b", &[6]);
    n.node("Gemm", "fc1", &["flat", &w, &b], &["fc1"], vec![a_int("transB", 1)]);
    let r = n.un("Relu", "r", "fc1");
    let w = n.w("fc2.w", &[3, 6]);
    n.node("Gemm", "fc2", &[&r, &w], &["fc2"], vec![a_int("transB", 1)]);
    n.output("fc2");
    n
}

/// Flatten → Gemm on a 4×4 map: channel c ↔ Gemm columns c·16 … c·16+15.
#[test]
fn flatten_gemm_expansion() {
    for reshape in [false, true] {
        let c = flatten_net(reshape).analyze();
        c.expect(&[exp(&["c1.w", "c1.b"], 4, None), exp(&["fc1.w", "fc1.b"], 6, None), exp(&["fc2.w"], 3, Some("reaches_output"))]);
        let (view, rows) = c.index_rows(c.group("c1.w"), "fc1.w", MemberKind::Consumer);
        assert_eq!(view, "expanded", "reshape={reshape}");
        assert_eq!(rows[2], (32..48).collect::<Vec<_>>(), "reshape={reshape}");
    }
}

/// Channels-last flatten: [N,4,4,4] → Transpose(0,2,3,1) → Flatten: channel c ↔ {c, c+4, …}.
#[test]
fn channels_last_flatten() {
    let mut n = Net::new();
    n.input("x", &[N, 3, 4, 4]);
    let c1 = n.conv("c1", "x", 3, 4, 3, 1);
    n.node("Transpose", "nhwc", &[&c1], &["nhwc"], vec![a_ints("perm", &[0, 2, 3, 1])]);
    n.node("Flatten", "flat", &["nhwc"], &["flat"], vec![a_int("axis", 1)]);
    let w = n.w("fc1.w", &[6, 64]);
    n.node("Gemm", "fc1", &["flat", &w], &["fc1"], vec![a_int("transB", 1)]);
    let w = n.w("fc2.w", &[3, 6]);
    n.node("Gemm", "fc2", &["fc1", &w], &["fc2"], vec![a_int("transB", 1)]);
    n.output("fc2");
    let c = n.analyze();
    c.expect(&[exp(&["c1.w"], 4, None), exp(&["fc1.w"], 6, None)]);
    let (view, rows) = c.index_rows(c.group("c1.w"), "fc1.w", MemberKind::Consumer);
    assert_eq!(view, "strided");
    assert_eq!(rows[1], (0..16).map(|i| 1 + 4 * i).collect::<Vec<_>>());
}

fn d2s_net(form: &str) -> Net {
    let mut n = Net::new();
    n.input("x", &[N, 3, 8, 8]);
    let c1 = n.conv("c1", "x", 3, 8, 3, 1);
    match form {
        "DCR" | "CRD" => {
            n.node("DepthToSpace", "d2s", &[&c1], &["d2s"], vec![a_int("blocksize", 2), a_string("mode", form)]);
        }
        _ => {
            // PixelShuffle as exported by older PyTorch: CRD with explicit reshapes
            let s1 = n.i("s1", &[0, 2, 2, 2, 8, 8]);
            n.node("Reshape", "r1", &[&c1, &s1], &["r1"], vec![]);
            n.node("Transpose", "t", &["r1"], &["t"], vec![a_ints("perm", &[0, 1, 4, 2, 5, 3])]);
            let s2 = n.i("s2", &[0, 2, 16, 16]);
            n.node("Reshape", "d2s", &["t", &s2], &["d2s"], vec![]);
        }
    }
    let c2 = n.conv("c2", "d2s", 2, 4, 3, 1);
    n.head("fc", &c2, 4, 2);
    n.output("fc");
    n
}

/// DepthToSpace: the r² = 4 input channels of each output channel form one row.
#[test]
fn depth_to_space_ties_blocks() {
    for (form, view, row1) in [("DCR", "strided", vec![1, 3, 5, 7]), ("CRD", "block", vec![4, 5, 6, 7]), ("reshape", "block", vec![4, 5, 6, 7])] {
        let c = d2s_net(form).analyze();
        c.expect(&[exp(&["c1.w", "c1.b"], 2, None), exp(&["c2.w"], 4, None)]);
        let (v, rows) = c.index_rows(c.group("c1.w"), "c1.w", MemberKind::Producer);
        assert_eq!((v.as_str(), rows[1].clone()), (view, row1), "{form}");
    }
}

/// ConvTranspose: output channels are W axis 1, input channels W axis 0.
#[test]
fn conv_transpose() {
    let mut n = Net::new();
    n.input("x", &[N, 3, 8, 8]);
    let c1 = n.conv("c1", "x", 3, 8, 3, 1);
    let w = n.w("ct.w", &[8, 4, 2, 2]);
    let b = n.w("ct.b", &[4]);
    n.node("ConvTranspose", "ct", &[&c1, &w, &b], &["ct"], vec![a_ints("strides", &[2, 2])]);
    let c3 = n.conv("c3", "ct", 4, 4, 3, 1);
    n.head("fc", &c3, 4, 2);
    n.output("fc");
    let c = n.analyze();
    c.expect(&[exp(&["c1.w"], 8, None), exp(&["ct.w", "ct.b"], 4, None), exp(&["c3.w"], 4, None)]);
    let gct = c.group("ct.w");
    let m = c.report.groups[gct].members.iter().find(|m| m.tensor == "ct.w" && m.kind == MemberKind::Producer).unwrap();
    assert_eq!(m.axis, 1);
    let m = c.report.groups[c.group("c1.w")].members.iter().find(|m| m.tensor == "ct.w").unwrap();
    assert_eq!((m.axis, m.kind), (0, MemberKind::Consumer));
}

/// Resize (scales, and sizes) is a spatial pass-through.
#[test]
fn resize_scales_and_sizes() {
    for sizes in [false, true] {
        let mut n = Net::new();
        n.input("x", &[1, 3, 8, 8]);
        let c1 = n.conv("c1", "x", 3, 4, 3, 1);
        if sizes {
            let s = n.i("sizes", &[1, 4, 16, 16]);
            n.node("Resize", "up", &[&c1, "", "", &s], &["up"], vec![a_string("mode", "nearest")]);
        } else {
            let s = n.f("scales", &[4], &[1.0, 1.0, 2.0, 2.0]);
            n.node("Resize", "up", &[&c1, "", &s], &["up"], vec![a_string("mode", "nearest")]);
        }
        let c2 = n.conv("c2", "up", 4, 4, 3, 1);
        n.head("fc", &c2, 4, 2);
        n.output("fc");
        let c = n.analyze();
        c.expect(&[exp(&["c1.w"], 4, None), exp(&["c2.w"], 4, None)]);
        assert_eq!(c.g.static_shape(c.g.id("up").unwrap()), Some(vec![1, 4, 16, 16]), "sizes={sizes}");
    }
}
