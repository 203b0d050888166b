//! Pictures of an analysed graph: Graphviz DOT ([`dot`]) and a self-contained SVG with a built-in
//! layered layout ([`svg`], no system Graphviz needed). Nodes are coloured by the group of the
//! channels they produce; nodes whose channels cannot be pruned are grey, with the reason codes
//! in the tooltip; nodes that carry no channels (shape computations) are white.
mod dot;
mod svg;

pub use dot::dot;
pub use svg::svg;

use crate::ir::{fmt_shape, Graph, NodeId};
use crate::zig::Analysis;

/// How one node is drawn.
#[derive(Clone, Debug)]
pub(crate) struct NodeStyle {
    pub label: Vec<String>,
    pub fill: String,
    pub tooltip: String,
    pub channels: bool,
}

/// Colour of a prunable group: hues spread by the golden ratio.
pub(crate) fn group_colour(gid: usize) -> String {
    let h = (gid as f64 * 0.618_033_988_75).fract();
    hsl_to_hex(h, 0.55, 0.78)
}

pub(crate) const GREY: &str = "#c8c8c8";
pub(crate) const WHITE: &str = "#ffffff";

fn hsl_to_hex(h: f64, s: f64, l: f64) -> String {
    let q = if l < 0.5 { l * (1.0 + s) } else { l + s - l * s };
    let p = 2.0 * l - q;
    let f = |mut t: f64| {
        if t < 0.0 {
            t += 1.0;
        }
        if t > 1.0 {
            t -= 1.0;
        }
        let v = if t < 1.0 / 6.0 {
            p + (q - p) * 6.0 * t
        } else if t < 0.5 {
            q
        } else if t < 2.0 / 3.0 {
            p + (q - p) * (2.0 / 3.0 - t) * 6.0
        } else {
            p
        };
        (v * 255.0).round().clamp(0.0, 255.0) as u8
    };
    format!("#{:02x}{:02x}{:02x}", f(h + 1.0 / 3.0), f(h), f(h - 1.0 / 3.0))
}

/// Groups of the channels a node produces (in first-seen order).
pub(crate) fn node_groups(g: &Graph, a: &Analysis, nid: NodeId) -> Vec<usize> {
    let mut out: Vec<usize> = vec![];
    for o in g.nodes[nid].outputs.iter().flatten() {
        if let Some(Some(t)) = a.value_ids.get(*o) {
            for s in &t.slots {
                let gid = a.rows[a.elem_row[s.e]].group;
                if !out.contains(&gid) {
                    out.push(gid);
                }
                if out.len() > 8 {
                    return out;
                }
            }
        }
    }
    out
}

pub(crate) fn node_style(g: &Graph, a: &Analysis, nid: NodeId) -> NodeStyle {
    let n = &g.nodes[nid];
    let groups = node_groups(g, a, nid);
    let shape = n.output(0).and_then(|o| g.shape(o)).map(|s| fmt_shape(s)).unwrap_or_default();
    let mut label = vec![n.name.clone(), n.op_type.clone()];
    let Some(&first) = groups.first() else {
        return NodeStyle { label, fill: WHITE.into(), tooltip: format!("{} ({}) {shape}: no channels", n.name, n.op_type), channels: false };
    };
    let gr = &a.groups[first];
    let prunable = gr.prunable(a);
    let mut glabel = groups.iter().take(3).map(|g| format!("G{g}")).collect::<Vec<_>>().join(",");
    if groups.len() > 3 {
        glabel.push_str(",…");
    }
    label.push(glabel);
    let mut tooltip = format!("{} ({}) {shape}\ngroup {} ({} rows, {})", n.name, n.op_type, first, gr.rows.len(), if prunable { "prunable" } else { "unprunable" });
    if !gr.reasons.is_empty() {
        tooltip.push_str(&format!("\nreasons: {}", gr.reasons.join(", ")));
    }
    if groups.len() > 1 {
        tooltip.push_str(&format!("\nalso groups: {}", groups[1..].iter().map(|g| g.to_string()).collect::<Vec<_>>().join(", ")));
    }
    NodeStyle { label, fill: if prunable { group_colour(first) } else { GREY.into() }, tooltip, channels: true }
}
