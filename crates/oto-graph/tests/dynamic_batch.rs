//! Dynamic-batch exports: shape lists computed at run time from `x.shape` (a symbolic batch
//! beside known channel and spatial entries) stay prunable and compress exactly. The
//! compressed model runs in tract at batch 2 against the zeroed full model.
mod common;
use common::*;

/// `F.interpolate(p, size=x.shape[-2:])`: sizes = Concat(Shape(p)[:2], Shape(x)[2:]), the
/// channel entry read from the resized value itself: it follows the cut at run time.
#[test]
fn resize_sizes_read_from_the_resized_value_follow_the_cut() {
    let mut n = Net::new();
    n.input("x", &[N, 3, 16, 16]);
    let c1 = n.conv("c1", "x", 3, 8, 3, 1);
    n.un("Relu", "r1", &c1);
    n.node("MaxPool", "pool", &["r1"], &["p"], vec![a_ints("kernel_shape", &[2, 2]), a_ints("strides", &[2, 2])]);
    let (z, two, four) = (n.i("z", &[0]), n.i("two", &[2]), n.i("four", &[4]));
    n.node("Shape", "shape_p", &["p"], &["sp"], vec![]);
    n.node("Shape", "shape_x", &["x"], &["sx"], vec![]);
    n.node("Slice", "nc", &["sp", &z, &two], &["nc"], vec![]);
    n.node("Slice", "hw", &["sx", &two, &four], &["hw"], vec![]);
    n.node("Concat", "sizes", &["nc", "hw"], &["sizes"], vec![a_int("axis", 0)]);
    n.node("Resize", "up", &["p", "", "", "sizes"], &["up"], vec![a_string("mode", "nearest")]);
    let c2 = n.conv("c2", "up", 8, 4, 3, 1);
    n.head("fc", &c2, 4, 5);
    n.output("fc");
    let c = n.analyze();
    assert!(c.prunable(c.group("c1.w")), "{}", c.dump());
    let small = prune_exactly(&n.graph(), 1, 1e-4);
    // still computed: the batch is only known at run time
    let up = small.nodes.iter().find(|x| x.name == "up").unwrap();
    assert!(small.init(up.input(3).unwrap()).is_none());
}

/// A channel shuffle written with the batch read from the shape:
/// `x.view(x.size(0), 2, 4, H, W).transpose(1, 2).reshape(x.size(0), 8, H, W)`.
#[test]
fn a_channel_shuffle_with_a_run_time_batch_is_rewritten_in_its_constant_pieces() {
    let mut n = Net::new();
    n.input("x", &[N, 3, 8, 8]);
    let c1 = n.conv("c1", "x", 3, 8, 3, 1);
    n.un("Relu", "r1", &c1);
    let (z, t1, t2) = (n.i("z", &[0]), n.i("t1", &[2, 4, 8, 8]), n.i("t2", &[8, 8, 8]));
    n.node("Shape", "shape", &["r1"], &["s"], vec![]);
    n.node("Gather", "batch", &["s", &z], &["b"], vec![a_int("axis", 0)]);
    n.node("Concat", "target1", &["b", &t1], &["tg1"], vec![a_int("axis", 0)]);
    n.node("Reshape", "split", &["r1", "tg1"], &["v"], vec![]);
    n.node("Transpose", "shuffle", &["v"], &["vt"], vec![a_ints("perm", &[0, 2, 1, 3, 4])]);
    n.node("Concat", "target2", &["b", &t2], &["tg2"], vec![a_int("axis", 0)]);
    n.node("Reshape", "merge", &["vt", "tg2"], &["m"], vec![]);
    let c2 = n.conv("c2", "m", 8, 4, 3, 1);
    n.head("fc", &c2, 4, 5);
    n.output("fc");
    let c = n.analyze();
    let gid = c.group("c1.w");
    assert!(c.prunable(gid) && c.rows(gid) == 4, "{}", c.dump());
    let small = prune_exactly(&n.graph(), 1, 1e-4);
    let split = small.nodes.iter().find(|x| x.name == "split").unwrap();
    assert!(small.init(split.input(1).unwrap()).is_none(), "the batch stays read from the shape");
}
