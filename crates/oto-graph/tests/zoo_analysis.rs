//! Every zoo model analyses with zero unknown-op fallbacks and sensible groups.
use oto_graph::{zig, Graph};

#[test]
fn zoo_models_analyse_without_unknown_ops() {
    for e in oto_zoo::list() {
        let cfg = oto_zoo::ZooConfig::default();
        let model = oto_zoo::build(e.name, &cfg).unwrap();
        let g = Graph::from_model(model).unwrap_or_else(|err| panic!("{}: {err}", e.name));
        let a = zig::analyze(&g);
        let prunable = a.groups.iter().filter(|gr| gr.prunable(&a)).count();
        let mut reasons: Vec<String> = a.rows.iter().flat_map(|r| r.reasons.clone()).collect();
        reasons.sort();
        reasons.dedup();
        println!(
            "{:24} nodes {:4} groups {:4} prunable {:4} rows {:6} prunable rows {:6} macs {:12} reasons {:?}",
            e.name,
            g.nodes.len(),
            a.groups.len(),
            prunable,
            a.rows.len(),
            a.prunable_rows(),
            oto_graph::flops::macs(&g),
            reasons
        );
        assert!(!reasons.iter().any(|r| r.starts_with("unknown_op")), "{}: {reasons:?}", e.name);
        assert!(prunable > 0, "{} has no prunable group", e.name);
    }
}
