//! Helpers shared by the optimizer tests (DHSPG, HESSO): a toy analysis with hand-made rows, a
//! toy regression whose optimum is group-sparse, and zoo models with their analysis.
#![allow(dead_code)]
use oto_graph::zig::{Analysis, Group, Member, MemberKind, Row, Source};
use oto_optim::*;
use tch::{Kind, Tensor};

/// A group-sparsity target `s` from step 0, the other pruning settings at their defaults.
pub fn sparsity(s: f64) -> PruneConfig {
    PruneConfig::new(Target::GroupSparsity(s))
}

pub fn close(a: f64, b: f64, tol: f64) {
    assert!((a - b).abs() <= tol * (1.0 + b.abs()), "{a} vs {b}");
}

// ---------------------------------------------------------------- toy analysis

/// W [r, f] (value 0) and b [r] (value 1), one element/row per output channel, one group;
/// rows listed in `unprunable` carry a reason.
pub fn toy_analysis(r: usize, unprunable: &[usize]) -> Analysis {
    toy_analysis_grouped(&[r], unprunable)
}

/// As [`toy_analysis`] with `sizes.iter().sum()` rows split into consecutive groups of `sizes`.
pub fn toy_analysis_grouped(sizes: &[usize], unprunable: &[usize]) -> Analysis {
    let r: usize = sizes.iter().sum();
    let group_of: Vec<usize> = sizes.iter().enumerate().flat_map(|(g, &n)| std::iter::repeat(g).take(n)).collect();
    let rows = (0..r)
        .map(|i| Row {
            id: i,
            group: group_of[i],
            elems: vec![i],
            reasons: if unprunable.contains(&i) { vec!["reaches_output".into()] } else { vec![] },
            has_params: true,
        })
        .collect();
    let m = |t: usize| Member { tensor: t, axis: 0, kind: MemberKind::Producer, node: 0, map: (0..r).collect() };
    let groups = sizes
        .iter()
        .enumerate()
        .map(|(g, _)| Group {
            id: g,
            rows: (0..r).filter(|&i| group_of[i] == g).collect(),
            sources: vec![0],
            members: vec![0, 1],
            nodes: vec![0],
            reasons: vec![],
        })
        .collect();
    Analysis {
        sources: vec![Source { node: Some(0), what: "toy".into(), first: 0, count: r }],
        members: vec![m(0), m(1)],
        rows,
        groups,
        elem_row: (0..r).collect(),
        value_ids: vec![],
        trainable: vec![0, 1],
        frozen: vec![],
    }
}

pub fn toy_params(w: &Tensor, b: &Tensor) -> Vec<Param> {
    vec![
        Param { name: "W".into(), value_id: 0, tensor: w.detach().copy().set_requires_grad(true) },
        Param { name: "b".into(), value_id: 1, tensor: b.detach().copy().set_requires_grad(true) },
    ]
}

/// Sets the gradients of the params to `gs` (through a linear loss).
pub fn set_grads(ps: &[Tensor], gs: &[Tensor]) {
    for p in ps {
        let mut g = p.grad();
        if g.defined() {
            let _ = g.zero_();
        }
    }
    let l = ps.iter().zip(gs).map(|(p, g)| (p * g).sum(Kind::Float)).fold(Tensor::from(0.0f32), |a, b| a + b);
    l.backward();
}

pub fn vecf(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.detach().to_kind(Kind::Double).reshape([-1])).unwrap()
}

/// Regression y = Σ_r ⟨W_r, u_r⟩ + b_r·v_r with W_true zero on the odd rows.
pub struct Toy {
    pub u: Tensor,
    pub y: Tensor,
}

pub fn toy_problem(r: i64, f: i64) -> (Toy, Tensor) {
    tch::manual_seed(7);
    let opts = (Kind::Float, tch::Device::Cpu);
    let wt = Tensor::randn([r, f], opts) + 1.0;
    let keep = Tensor::from_slice(&(0..r).map(|i| (i % 2 == 0) as i32 as f32).collect::<Vec<_>>()).unsqueeze(1);
    let wt = wt * &keep;
    let u = Tensor::randn([256, r, f], opts);
    let y = (&u * wt.unsqueeze(0)).sum_dim_intlist(&[1i64, 2][..], false, Kind::Float);
    (Toy { u, y }, keep)
}

pub fn toy_loss(t: &Toy, w: &Tensor, b: &Tensor) -> Tensor {
    let pred = (&t.u * w.unsqueeze(0)).sum_dim_intlist(&[1i64, 2][..], false, Kind::Float) + b.sum(Kind::Float) * 0.0;
    // the bias rows join the loss through a small ridge so they shrink on irrelevant rows
    (pred - &t.y).square().mean(Kind::Float) + (b.square().sum(Kind::Float)) * 1e-3
}

/// The toy's random start (seed 3): W [r, f] and b [r], entries N(0, 0.3²).
pub fn toy_start(r: i64, f: i64) -> (Tensor, Tensor) {
    tch::manual_seed(3);
    let opts = (Kind::Float, tch::Device::Cpu);
    (Tensor::randn([r, f], opts) * 0.3, Tensor::randn([r], opts) * 0.3)
}

/// One step of `o` on the toy regression over its params `ts` = [W, b]; returns the loss.
pub fn toy_step(o: &mut dyn Optimizer, toy: &Toy, ts: &[Tensor]) -> f64 {
    for p in ts {
        let mut g = p.grad();
        if g.defined() {
            let _ = g.zero_();
        }
    }
    let l = toy_loss(toy, &ts[0], &ts[1]);
    l.backward();
    o.step().unwrap();
    l.double_value(&[])
}

pub fn zero_rows(w: &Tensor, b: &Tensor) -> Vec<bool> {
    let n = vecf(&(w.square().sum_dim_intlist(&[1i64][..], false, Kind::Float) + b.square()));
    n.iter().map(|&v| v == 0.0).collect()
}

pub fn zoo_params(name: &str) -> (Analysis, Vec<Param>) {
    let model = oto_zoo::build(name, &Default::default()).unwrap();
    let g = oto_graph::Graph::from_model(model).unwrap();
    let a = oto_graph::zig::analyze(&g);
    let params = a
        .trainable
        .iter()
        .map(|&id| {
            let shape = g.static_shape(id).unwrap();
            let data = g.const_f32(id).unwrap();
            Param { name: g.value(id).name.clone(), value_id: id, tensor: Tensor::from_slice(&data).reshape(&shape[..]).set_requires_grad(true) }
        })
        .collect();
    (a, params)
}

