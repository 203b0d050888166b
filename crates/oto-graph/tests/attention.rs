//! Attention prunes head dims consistently across Q, K, V and the output projection: a fused
//! qkv projection (as timm's ViT and torchvision's exports write it) compresses exactly, with
//! the SDPA scale computed from `q.size(-1)` kept at its original value.
mod common;
use common::*;

const T: i64 = 4; // tokens
const D: i64 = 8; // width
const H: i64 = 2; // heads
const HD: i64 = 4; // head dim

/// x [N, T, D] → qkv (MatMul + bias) → [N, T, 3, H, HD] → q, k, v [N, H, T, HD] →
/// softmax(q·kᵀ · 1/sqrt(q.size(-1))) · v → [N, T, D] → output projection → mean → head.
fn block() -> Net {
    let mut n = Net::new();
    n.input("x", &[N, T, D]);
    let wqkv = n.w("qkv.w", &[D, 3 * D]);
    let bqkv = n.w("qkv.b", &[3 * D]);
    n.node("MatMul", "qkv_mm", &["x", &wqkv], &["qkv0"], vec![]);
    n.bin("Add", "qkv", "qkv0", &bqkv);
    let t5 = n.i("t5", &[0, T, 3, H, HD]);
    n.node("Reshape", "split_heads", &["qkv", &t5], &["q5"], vec![]);
    n.node("Transpose", "to_heads", &["q5"], &["qp"], vec![a_ints("perm", &[2, 0, 3, 1, 4])]);
    for (i, name) in ["q", "k", "v"].iter().enumerate() {
        let idx = n.i(&format!("i{i}"), &[i as i64]);
        n.node("Gather", name, &["qp", &idx], &[&format!("{name}4")], vec![a_int("axis", 0)]);
        let sq = n.i(&format!("sq{i}"), &[0]);
        n.node("Squeeze", &format!("{name}_sq"), &[&format!("{name}4"), &sq], &[name], vec![]);
    }
    // scale = 1 / sqrt(float(q.shape[-1])), as the SDPA export computes it
    let (m1, big) = (n.i("m1", &[-1]), n.i("big", &[i64::MAX]));
    n.node("Shape", "q_shape", &["q"], &["qs"], vec![]);
    n.node("Slice", "q_hd", &["qs", &m1, &big], &["qhd"], vec![]);
    n.node("Cast", "q_hd_f", &["qhd"], &["qhdf"], vec![a_int("to", 1)]);
    n.un("Sqrt", "sqrt_hd", "qhdf");
    n.un("Reciprocal", "scale", "sqrt_hd");
    n.node("Transpose", "kt", &["k"], &["kt"], vec![a_ints("perm", &[0, 1, 3, 2])]);
    n.node("MatMul", "scores0", &["q", "kt"], &["s0"], vec![]);
    n.bin("Mul", "scores", "s0", "scale");
    n.node("Softmax", "attn", &["scores"], &["attn"], vec![a_int("axis", -1)]);
    n.node("MatMul", "av", &["attn", "v"], &["av"], vec![]);
    n.node("Transpose", "merge_t", &["av"], &["avt"], vec![a_ints("perm", &[0, 2, 1, 3])]);
    let t3 = n.i("t3", &[0, T, D]);
    n.node("Reshape", "merge_heads", &["avt", &t3], &["o"], vec![]);
    let wo = n.w("proj.w", &[D, D]);
    let bo = n.w("proj.b", &[D]);
    n.node("MatMul", "proj_mm", &["o", &wo], &["p0"], vec![]);
    n.bin("Add", "proj", "p0", &bo);
    n.node("ReduceMean", "pool", &["proj"], &["pooled"], vec![a_ints("axes", &[1]), a_int("keepdims", 0)]);
    let wh = n.w("head.w", &[D, 3]);
    n.node("MatMul", "head", &["pooled", &wh], &["y"], vec![]);
    n.output("y");
    n
}

#[test]
fn head_dims_are_one_group_across_qkv_and_the_projection_and_compress_exactly() {
    let n = block();
    let c = n.analyze();
    // the qkv columns: one group of HD rows, each holding q, k and v of that dim in every head
    let gid = c.group("qkv.w");
    assert!(c.prunable(gid) && c.rows(gid) == HD as usize, "{}", c.dump());
    // … and the output projection's input rows (consumer slices of proj.w)
    let proj = c.g.id("proj.w").unwrap();
    let consumer = c.a.members.iter().find(|m| m.tensor == proj && m.axis == 0).expect("proj.w is a consumer");
    assert!(consumer.map.iter().all(|&e| c.a.rows[c.a.elem_row[e]].group == gid), "{}", c.dump());
    // exact in tract at batch 2, the scale pinned to 1/sqrt(HD)
    let small = prune_exactly(&c.g, 2, 1e-5);
    let w = small.value(small.id("qkv.w").unwrap());
    assert!(w.dim(1).is_some_and(|cols| cols < 3 * D && cols % (3 * H) == 0), "{:?}", w.shape);
}

/// nn.MultiheadAttention as the TorchScript exporter writes it with a dynamic batch:
/// `[T, N, D] → [T, N*H, HD]` (heads merged with the batch, read from the shape at run time)
/// → `[N*H, T, HD]`. The heads are tied by the split, so the head axis merges with the
/// symbolic batch; head dims stay prunable and compress exactly.
#[test]
fn heads_merged_with_a_symbolic_batch_keep_their_head_dims_prunable() {
    let mut n = Net::new();
    n.input("x", &[T, N, D]);
    let (one, h, tt, hd, dd) = (n.i("one", &[1]), n.i("h", &[H]), n.i("tt", &[T]), n.i("hd", &[HD]), n.i("dd", &[D]));
    n.node("Shape", "xs", &["x"], &["xs"], vec![]);
    n.node("Gather", "batch", &["xs", &one], &["nb"], vec![a_int("axis", 0)]);
    n.node("Mul", "nh", &["nb", &h], &["nh"], vec![]);
    for p in ["q", "k", "v"] {
        // one target per view, as the exporters write it (a shared one is not rewritten)
        n.node("Concat", &format!("{p}_split_t"), &[&tt, "nh", &hd], &[&format!("{p}_split_t")], vec![a_int("axis", 0)]);
        let w = n.w(&format!("{p}.w"), &[D, D]);
        let b = n.w(&format!("{p}.b"), &[D]);
        n.node("MatMul", &format!("{p}_mm"), &["x", &w], &[&format!("{p}0")], vec![]);
        n.bin("Add", &format!("{p}1"), &format!("{p}0"), &b);
        n.node("Reshape", &format!("{p}_split"), &[&format!("{p}1"), &format!("{p}_split_t")], &[&format!("{p}2")], vec![]);
        n.node("Transpose", p, &[&format!("{p}2")], &[p], vec![a_ints("perm", &[1, 0, 2])]);
    }
    n.node("Transpose", "kt", &["k"], &["kt"], vec![a_ints("perm", &[0, 2, 1])]);
    n.node("MatMul", "scores", &["q", "kt"], &["s"], vec![]);
    n.node("Softmax", "attn", &["s"], &["attn"], vec![a_int("axis", -1)]);
    n.node("MatMul", "av", &["attn", "v"], &["av"], vec![]);
    n.node("Transpose", "av_t", &["av"], &["avt"], vec![a_ints("perm", &[1, 0, 2])]);
    n.node("Concat", "merge_t", &[&tt, "nb", &dd], &["merge_t"], vec![a_int("axis", 0)]);
    n.node("Reshape", "merge", &["avt", "merge_t"], &["o"], vec![]);
    let wo = n.w("proj.w", &[D, D]);
    n.node("MatMul", "proj", &["o", &wo], &["p"], vec![]);
    n.node("ReduceMean", "pool", &["p"], &["pooled"], vec![a_ints("axes", &[0]), a_int("keepdims", 0)]);
    let wh = n.w("head.w", &[D, 3]);
    n.node("MatMul", "head", &["pooled", &wh], &["y"], vec![]);
    n.output("y");
    let c = n.analyze();
    let (gq, gv) = (c.group("q.w"), c.group("v.w"));
    assert!(gq == c.group("k.w") && c.prunable(gq) && c.rows(gq) == HD as usize, "{}", c.dump());
    assert!(c.prunable(gv) && c.rows(gv) == HD as usize, "{}", c.dump());
    prune_exactly(&c.g, 4, 1e-5);
}
