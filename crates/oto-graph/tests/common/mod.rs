//! Test helper: build tiny ONNX graphs in code and check the ZIG partition against an expected
//! one declared beside the graph.
#![allow(dead_code)]
use oto_graph::zig::report::{IndexMap, Report};
use oto_graph::zig::{self, Analysis, AnalyzeOptions, MemberKind};
use oto_graph::Graph;
use oto_onnx::attr::{self, node};
use oto_onnx::pb::{GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, ValueInfoProto};
use oto_onnx::tensor::{f32_tensor, i64_tensor};

#[allow(unused_imports)]
pub use attr::{a_float, a_int, a_ints, a_string};

/// Symbolic batch dimension in [`Net::input`] shapes.
pub const N: i64 = -1;

/// A float tensor declaration; a negative dim is the symbolic batch `N`.
pub fn value_info(name: &str, dims: &[i64]) -> ValueInfoProto {
    let shape: Vec<oto_graph::Dim> = dims.iter().map(|&d| if d < 0 { oto_graph::Dim::Sym("N".into()) } else { oto_graph::Dim::Known(d) }).collect();
    oto_graph::value_info(name, oto_onnx::tensor::FLOAT, &shape)
}

/// A graph under construction.
#[derive(Default)]
pub struct Net {
    pub nodes: Vec<NodeProto>,
    pub inits: Vec<TensorProto>,
    pub inputs: Vec<ValueInfoProto>,
    pub outputs: Vec<ValueInfoProto>,
    /// `graph.value_info` (declared shapes of intermediate values).
    pub value_info: Vec<ValueInfoProto>,
    pub opset: i64,
    seed: u32,
}

impl Net {
    pub fn new() -> Net {
        Net { opset: 17, ..Default::default() }
    }
    /// Graph input; `N` (-1) entries are the symbolic batch.
    pub fn input(&mut self, name: &str, dims: &[i64]) -> &mut Self {
        self.inputs.push(value_info(name, dims));
        self
    }
    /// Declares an intermediate value's shape (`graph.value_info`).
    pub fn declare(&mut self, name: &str, dims: &[i64]) -> &mut Self {
        self.value_info.push(value_info(name, dims));
        self
    }
    /// Graph output (shape left to inference).
    pub fn output(&mut self, name: &str) -> &mut Self {
        self.outputs.push(ValueInfoProto { name: Some(name.into()), ..Default::default() });
        self
    }
    /// A float initializer with deterministic non-zero values.
    pub fn w(&mut self, name: &str, dims: &[i64]) -> String {
        let n: i64 = dims.iter().product();
        let data: Vec<f32> = (0..n)
            .map(|i| {
                self.seed = self.seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                0.1 + ((self.seed >> 16) % 100) as f32 / 100.0 + i as f32 * 1e-4
            })
            .collect();
        self.inits.push(f32_tensor(name, dims, &data));
        name.to_string()
    }
    /// A float initializer with given values.
    pub fn f(&mut self, name: &str, dims: &[i64], data: &[f32]) -> String {
        self.inits.push(f32_tensor(name, dims, data));
        name.to_string()
    }
    /// An int64 initializer.
    pub fn i(&mut self, name: &str, data: &[i64]) -> String {
        self.inits.push(i64_tensor(name, &[data.len() as i64], data));
        name.to_string()
    }
    pub fn node(&mut self, op: &str, name: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<oto_onnx::AttributeProto>) -> &mut Self {
        self.nodes.push(node(op, name, inputs, outputs, attrs));
        self
    }
    /// `Conv` named `name` with weight `{name}.w [m, cin/group, k, k]` and bias `{name}.b`; output `name`.
    pub fn conv(&mut self, name: &str, x: &str, cin: i64, m: i64, k: i64, group: i64) -> String {
        let w = self.w(&format!("{name}.w"), &[m, cin / group, k, k]);
        let b = self.w(&format!("{name}.b"), &[m]);
        let p = k / 2;
        self.node("Conv", name, &[x, &w, &b], &[name], vec![a_ints("pads", &[p, p, p, p]), a_int("group", group)]);
        name.to_string()
    }
    /// BatchNormalization with `{name}.scale/.bias/.mean/.var`.
    pub fn bn(&mut self, name: &str, x: &str, c: i64) -> String {
        let s = self.w(&format!("{name}.scale"), &[c]);
        let b = self.w(&format!("{name}.bias"), &[c]);
        let m = self.w(&format!("{name}.mean"), &[c]);
        let v = self.w(&format!("{name}.var"), &[c]);
        self.node("BatchNormalization", name, &[x, &s, &b, &m, &v], &[name], vec![]);
        name.to_string()
    }
    /// A unary op.
    pub fn un(&mut self, op: &str, name: &str, x: &str) -> String {
        self.node(op, name, &[x], &[name], vec![]);
        name.to_string()
    }
    pub fn bin(&mut self, op: &str, name: &str, a: &str, b: &str) -> String {
        self.node(op, name, &[a, b], &[name], vec![]);
        name.to_string()
    }
    /// GlobalAveragePool → Flatten → Gemm(`{name}.w [k, c]`, transB) → output `name`.
    pub fn head(&mut self, name: &str, x: &str, c: i64, k: i64) -> String {
        let p = self.un("GlobalAveragePool", &format!("{name}_gap"), x);
        self.node("Flatten", &format!("{name}_flat"), &[&p], &[&format!("{name}_flat")], vec![a_int("axis", 1)]);
        let w = self.w(&format!("{name}.w"), &[k, c]);
        let b = self.w(&format!("{name}.b"), &[k]);
        self.node("Gemm", name, &[&format!("{name}_flat"), &w, &b], &[name], vec![a_int("transB", 1)]);
        name.to_string()
    }
    pub fn model(&self) -> ModelProto {
        ModelProto {
            ir_version: Some(8),
            producer_name: Some("oto-tests".into()),
            opset_import: vec![OperatorSetIdProto { domain: Some(String::new()), version: Some(self.opset) }],
            graph: Some(GraphProto {
                name: Some("test".into()),
                node: self.nodes.clone(),
                initializer: self.inits.clone(),
                input: self.inputs.clone(),
                output: self.outputs.clone(),
                value_info: self.value_info.clone(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
    pub fn graph(&self) -> Graph {
        Graph::from_model(self.model()).unwrap_or_else(|e| panic!("test graph does not load: {e}"))
    }
    pub fn analyze(&self) -> Checked {
        self.analyze_with(&AnalyzeOptions::default())
    }
    pub fn analyze_with(&self, opts: &AnalyzeOptions) -> Checked {
        let g = self.graph();
        let a = zig::analyze_with(&g, opts);
        let report = Report::new(&g, &a, "test");
        Checked { g, a, report }
    }
}

/// An analysed graph with assertion helpers.
pub struct Checked {
    pub g: Graph,
    pub a: Analysis,
    pub report: Report,
}

/// One expected group: in-row tensors (Producer/Accessory members) that form it, the row count,
/// and `None` when prunable or `Some(reason code)` (the group's reasons must contain it).
pub struct Exp<'a> {
    pub tensors: &'a [&'a str],
    pub rows: usize,
    pub reason: Option<&'a str>,
}

pub fn exp<'a>(tensors: &'a [&'a str], rows: usize, reason: Option<&'a str>) -> Exp<'a> {
    Exp { tensors, rows, reason }
}

impl Checked {
    /// Groups of the in-row members of `tensor` (sorted, deduplicated).
    pub fn groups_of(&self, tensor: &str) -> Vec<usize> {
        let id = self.g.id(tensor).unwrap_or_else(|| panic!("no value '{tensor}'"));
        let mut out: Vec<usize> = self
            .a
            .members
            .iter()
            .filter(|m| m.tensor == id && m.kind.in_row())
            .flat_map(|m| m.map.iter().map(|&e| self.a.rows[self.a.elem_row[e]].group))
            .collect();
        out.sort();
        out.dedup();
        out
    }
    /// The single group of `tensor`'s in-row slices.
    pub fn group(&self, tensor: &str) -> usize {
        let gs = self.groups_of(tensor);
        assert_eq!(gs.len(), 1, "'{tensor}' should be in exactly one group, is in {gs:?}\n{}", self.dump());
        gs[0]
    }
    pub fn rows(&self, gid: usize) -> usize {
        self.a.groups[gid].rows.len()
    }
    pub fn reasons(&self, gid: usize) -> Vec<String> {
        self.a.groups[gid].reasons.clone()
    }
    pub fn prunable(&self, gid: usize) -> bool {
        self.a.groups[gid].prunable(&self.a) && self.a.groups[gid].reasons.is_empty()
    }
    /// Checks the declared partition: each `Exp` is one group with that row count and
    /// prunability, and different `Exp`s are different groups.
    pub fn expect(&self, exps: &[Exp]) {
        let mut seen = vec![];
        for e in exps {
            let gid = self.group(e.tensors[0]);
            for t in &e.tensors[1..] {
                assert_eq!(self.group(t), gid, "'{t}' should be in the group of '{}'\n{}", e.tensors[0], self.dump());
            }
            assert_eq!(self.rows(gid), e.rows, "group of {:?}: rows\n{}", e.tensors, self.dump());
            match e.reason {
                None => assert!(self.prunable(gid), "group of {:?} should be prunable, reasons {:?}\n{}", e.tensors, self.reasons(gid), self.dump()),
                Some(r) => {
                    let rs = self.reasons(gid);
                    assert!(
                        rs.iter().any(|x| x == r || x.starts_with(&format!("{r}:")) || (r.contains(':') && x == r)),
                        "group of {:?} should be unprunable with '{r}', has {rs:?}\n{}",
                        e.tensors,
                        self.dump()
                    );
                    assert!(!self.a.groups[gid].prunable(&self.a), "group of {:?} has prunable rows\n{}", e.tensors, self.dump());
                }
            }
            assert!(!seen.contains(&gid), "{:?} shares a group with an earlier expectation\n{}", e.tensors, self.dump());
            seen.push(gid);
        }
    }
    /// Per-row indices of member (`tensor`, `kind`) within group `gid`, from the report.
    pub fn index_rows(&self, gid: usize, tensor: &str, kind: MemberKind) -> (String, Vec<Vec<usize>>) {
        let gr = &self.report.groups[gid];
        let m = gr
            .members
            .iter()
            .find(|m| m.tensor == tensor && m.kind == kind)
            .unwrap_or_else(|| panic!("group {gid} has no {kind:?} member '{tensor}'\n{}", self.dump()));
        let rows = (0..gr.channels).map(|r| m.index.row(r)).collect();
        let view = m.view.to_string();
        if let IndexMap::Identity = m.index {
            assert_eq!(view, "identity");
        }
        (view, rows)
    }
    /// All reason codes of all rows.
    pub fn all_reasons(&self) -> Vec<String> {
        let mut v: Vec<String> = self.a.rows.iter().flat_map(|r| r.reasons.clone()).collect();
        v.sort();
        v.dedup();
        v
    }
    pub fn dump(&self) -> String {
        let mut s = String::from("partition:\n");
        for gr in &self.report.groups {
            let ms: Vec<String> = gr.members.iter().map(|m| format!("{}@{}:{:?}", m.tensor, m.axis, m.kind)).collect();
            s.push_str(&format!(
                "  G{} rows {} prunable {} reason {:?} sources {:?} members {:?}\n",
                gr.id, gr.channels, gr.prunable_channels, gr.reason, gr.sources, ms
            ));
        }
        s
    }
}

/// Prunes half the rows of `g` at random (`seed`), compresses, checks the structure and that
/// the outputs at batch 2 agree in tract within `tol`; returns the compressed graph.
pub fn prune_exactly(g: &Graph, seed: u64, tol: f32) -> Graph {
    use oto_graph::compress::{self, CompressOptions, Criterion};
    let a = zig::analyze(g);
    let (masked, sel) = compress::prune(g, &a, 0.5, Criterion::Random { seed }).unwrap();
    assert!(!sel.rows.is_empty(), "nothing to prune");
    let c = compress::compress(&masked, &a, &CompressOptions::default()).unwrap();
    let small = oto_graph::check::structural(&c.graph.to_model(), &masked).unwrap();
    let cmp = oto_verify::compare_with(&masked.to_model(), &small.to_model(), 2, 3, false).unwrap();
    assert!(cmp.passes(tol) && cmp.shapes_match(), "{cmp:?}");
    small
}
