//! Graphviz DOT output.
use super::{node_style, GREY, WHITE};
use crate::ir::{fmt_shape, Graph};
use crate::zig::Analysis;
use std::fmt::Write;

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
    o
}

/// The graph in DOT: graph inputs/outputs as ellipses, nodes as boxes coloured by group
/// (unprunable grey), tooltips with the group and its reason codes, edges labelled with shapes.
pub fn dot(g: &Graph, a: &Analysis) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "digraph oto {{");
    let _ = writeln!(o, "  rankdir=TB;");
    let _ = writeln!(o, "  node [shape=box, style=\"rounded,filled\", fontname=\"Helvetica\", fontsize=10];");
    let _ = writeln!(o, "  edge [fontname=\"Helvetica\", fontsize=8, color=\"#666666\"];");
    for &i in &g.inputs {
        let v = g.value(i);
        let shape = v.shape.as_ref().map(|s| fmt_shape(s)).unwrap_or_default();
        let _ = writeln!(
            o,
            "  \"in:{}\" [shape=ellipse, fillcolor=\"{GREY}\", label=\"{}\\n{}\", tooltip=\"graph input (graph_input)\"];",
            esc(&v.name),
            esc(&v.name),
            esc(&shape)
        );
    }
    for nid in 0..g.nodes.len() {
        let s = node_style(g, a, nid);
        let style = if s.channels { "rounded,filled" } else { "rounded,filled,dashed" };
        let label = s.label.iter().map(|l| esc(l)).collect::<Vec<_>>().join("\\n");
        let _ = writeln!(
            o,
            "  n{nid} [label=\"{label}\", fillcolor=\"{}\", style=\"{style}\", tooltip=\"{}\"];",
            s.fill,
            esc(&s.tooltip)
        );
    }
    for &out in &g.outputs {
        let v = g.value(out);
        let shape = v.shape.as_ref().map(|s| fmt_shape(s)).unwrap_or_default();
        let _ = writeln!(
            o,
            "  \"out:{}\" [shape=ellipse, fillcolor=\"{WHITE}\", label=\"{}\\n{}\", tooltip=\"graph output (reaches_output)\"];",
            esc(&v.name),
            esc(&v.name),
            esc(&shape)
        );
    }
    let src = |v: usize| -> Option<String> {
        match g.value(v).producer {
            Some(p) => Some(format!("n{p}")),
            None if g.inputs.contains(&v) => Some(format!("\"in:{}\"", esc(&g.value(v).name))),
            None => None,
        }
    };
    for (nid, n) in g.nodes.iter().enumerate() {
        let mut seen = std::collections::HashSet::new();
        for v in n.inputs.iter().flatten() {
            if !seen.insert(*v) {
                continue;
            }
            if let Some(s) = src(*v) {
                let shape = g.shape(*v).map(|s| fmt_shape(s)).unwrap_or_default();
                let _ = writeln!(o, "  {s} -> n{nid} [tooltip=\"{}\", label=\"{}\"];", esc(&g.value(*v).name), esc(&shape));
            }
        }
    }
    for &out in &g.outputs {
        if let Some(s) = src(out) {
            let _ = writeln!(o, "  {s} -> \"out:{}\";", esc(&g.value(out).name));
        }
    }
    let _ = writeln!(o, "}}");
    o
}
