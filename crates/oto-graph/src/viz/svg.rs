//! A self-contained SVG picture with a simple layered layout (no Graphviz needed): layers by
//! longest path from the inputs, order within a layer by a few barycenter sweeps, edges as
//! cubic curves. Linear time per sweep, so it draws 10,000-node graphs too.
use super::{node_style, GREY, WHITE};
use crate::ir::{fmt_shape, Graph};
use crate::zig::Analysis;
use std::fmt::Write;

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            c => o.push(c),
        }
    }
    o
}

struct V {
    label: Vec<String>,
    fill: String,
    tooltip: String,
    dashed: bool,
    ellipse: bool,
    layer: usize,
    w: f64,
    x: f64,
    y: f64,
}

const CHAR_W: f64 = 6.2;
const LINE_H: f64 = 12.0;
const LAYER_GAP: f64 = 34.0;
const NODE_GAP: f64 = 18.0;
const MARGIN: f64 = 20.0;
const MAX_LABEL: usize = 32;

fn clip(s: &str) -> String {
    if s.chars().count() > MAX_LABEL {
        let t: String = s.chars().take(MAX_LABEL - 1).collect();
        format!("{t}…")
    } else {
        s.to_string()
    }
}

/// The graph as SVG, nodes coloured like [`super::dot`].
pub fn svg(g: &Graph, a: &Analysis) -> String {
    let (mut vs, edges) = vertices(g, a);
    let (total_w, total_h) = layout(&mut vs, &edges);
    render(&vs, &edges, total_w, total_h)
}

/// Vertices (graph inputs, nodes, graph outputs, in topological order) and edges.
fn vertices(g: &Graph, a: &Analysis) -> (Vec<V>, Vec<(usize, usize)>) {
    let mut vs: Vec<V> = vec![];
    let mut edges: Vec<(usize, usize)> = vec![];
    let mk = |label: Vec<String>, fill: &str, tooltip: String, dashed: bool, ellipse: bool| {
        let label: Vec<String> = label.iter().map(|l| clip(l)).collect();
        let w = label.iter().map(|l| l.chars().count()).max().unwrap_or(4) as f64 * CHAR_W + 16.0;
        V { label, fill: fill.into(), tooltip, dashed, ellipse, layer: 0, w, x: 0.0, y: 0.0 }
    };
    // vertex ids: inputs, then nodes, then outputs
    let mut input_v = std::collections::HashMap::new();
    for &i in &g.inputs {
        let v = g.value(i);
        let shape = v.shape.as_ref().map(|s| fmt_shape(s)).unwrap_or_default();
        input_v.insert(i, vs.len());
        vs.push(mk(vec![v.name.clone(), shape], GREY, format!("graph input '{}' (graph_input)", v.name), false, true));
    }
    let node0 = vs.len();
    for nid in 0..g.nodes.len() {
        let s = node_style(g, a, nid);
        vs.push(mk(s.label, &s.fill, s.tooltip, !s.channels, false));
    }
    let src = |v: usize| -> Option<usize> {
        match g.value(v).producer {
            Some(p) => Some(node0 + p),
            None => input_v.get(&v).copied(),
        }
    };
    for (nid, n) in g.nodes.iter().enumerate() {
        let mut seen = std::collections::HashSet::new();
        for v in n.inputs.iter().flatten() {
            if let Some(s) = src(*v) {
                if seen.insert(s) {
                    edges.push((s, node0 + nid));
                }
            }
        }
    }
    for &o in &g.outputs {
        let v = g.value(o);
        let shape = v.shape.as_ref().map(|s| fmt_shape(s)).unwrap_or_default();
        let id = vs.len();
        vs.push(mk(vec![v.name.clone(), shape], WHITE, format!("graph output '{}' (reaches_output)", v.name), false, true));
        if let Some(s) = src(o) {
            edges.push((s, id));
        }
    }
    (vs, edges)
}

/// Layered layout (longest-path layers, barycentre sweeps, centred rows); sets every vertex's
/// coordinates and returns the picture's width and height.
fn layout(vs: &mut [V], edges: &[(usize, usize)]) -> (f64, f64) {
    // layers: longest path (vertices are already in topological order)
    let nv = vs.len();
    let mut preds: Vec<Vec<usize>> = vec![vec![]; nv];
    let mut succs: Vec<Vec<usize>> = vec![vec![]; nv];
    for &(s, t) in edges {
        preds[t].push(s);
        succs[s].push(t);
    }
    for v in 0..nv {
        let l = preds[v].iter().map(|&p| vs[p].layer + 1).max().unwrap_or(0);
        vs[v].layer = l;
    }
    let nl = vs.iter().map(|v| v.layer).max().unwrap_or(0) + 1;
    let mut layers: Vec<Vec<usize>> = vec![vec![]; nl];
    for v in 0..nv {
        layers[vs[v].layer].push(v);
    }
    let mut pos = vec![0f64; nv];
    let place = |layers: &Vec<Vec<usize>>, pos: &mut Vec<f64>| {
        for l in layers {
            for (i, &v) in l.iter().enumerate() {
                pos[v] = i as f64;
            }
        }
    };
    place(&layers, &mut pos);
    for sweep in 0..4 {
        let down = sweep % 2 == 0;
        let order: Vec<usize> = if down { (1..nl).collect() } else { (0..nl.saturating_sub(1)).rev().collect() };
        for l in order {
            let adj = if down { &preds } else { &succs };
            let mut keyed: Vec<(f64, usize)> = layers[l]
                .iter()
                .map(|&v| {
                    let ns = &adj[v];
                    let k = if ns.is_empty() { pos[v] } else { ns.iter().map(|&u| pos[u]).sum::<f64>() / ns.len() as f64 };
                    (k, v)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
            layers[l] = keyed.into_iter().map(|(_, v)| v).collect();
            for (i, &v) in layers[l].iter().enumerate() {
                pos[v] = i as f64;
            }
        }
    }
    // coordinates: every layer centred
    let heights: Vec<f64> = layers
        .iter()
        .map(|l| l.iter().map(|&v| vs[v].label.len()).max().unwrap_or(1) as f64 * LINE_H + 10.0)
        .collect();
    let widths: Vec<f64> = layers.iter().map(|l| l.iter().map(|&v| vs[v].w + NODE_GAP).sum::<f64>()).collect();
    let total_w = widths.iter().cloned().fold(0.0, f64::max) + 2.0 * MARGIN;
    let mut y = MARGIN;
    for (li, l) in layers.iter().enumerate() {
        let mut x = (total_w - widths[li]) / 2.0 + NODE_GAP / 2.0;
        for &v in l {
            vs[v].x = x + vs[v].w / 2.0;
            vs[v].y = y + heights[li] / 2.0;
            x += vs[v].w + NODE_GAP;
        }
        y += heights[li] + LAYER_GAP;
    }
    let total_h = y + MARGIN;
    (total_w, total_h)
}

fn half_h(v: &V) -> f64 {
    v.label.len() as f64 * LINE_H / 2.0 + 5.0
}

fn render(vs: &[V], edges: &[(usize, usize)], total_w: f64, total_h: f64) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{total_w:.0}\" height=\"{total_h:.0}\" viewBox=\"0 0 {total_w:.0} {total_h:.0}\" font-family=\"Helvetica,Arial,sans-serif\" font-size=\"10\">"
    );
    let _ = writeln!(
        o,
        "<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"6\" markerHeight=\"6\" orient=\"auto\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#666\"/></marker></defs>"
    );
    let _ = writeln!(o, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    let _ = writeln!(o, "<g fill=\"none\" stroke=\"#888\" stroke-width=\"1\">");
    for &(s, t) in edges {
        let (a, b) = (&vs[s], &vs[t]);
        let (x1, y1, x2, y2) = (a.x, a.y + half_h(a), b.x, b.y - half_h(b));
        let my = (y1 + y2) / 2.0;
        let _ = writeln!(o, "<path d=\"M{x1:.1},{y1:.1} C{x1:.1},{my:.1} {x2:.1},{my:.1} {x2:.1},{y2:.1}\" marker-end=\"url(#arrow)\"/>");
    }
    let _ = writeln!(o, "</g>");
    for v in vs {
        let hh = half_h(v);
        let _ = write!(o, "<g><title>{}</title>", esc(&v.tooltip));
        let dash = if v.dashed { " stroke-dasharray=\"3,2\"" } else { "" };
        if v.ellipse {
            let _ = write!(
                o,
                "<ellipse cx=\"{:.1}\" cy=\"{:.1}\" rx=\"{:.1}\" ry=\"{hh:.1}\" fill=\"{}\" stroke=\"#444\"/>",
                v.x,
                v.y,
                v.w / 2.0,
                v.fill
            );
        } else {
            let _ = write!(
                o,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" rx=\"4\" fill=\"{}\" stroke=\"#444\"{dash}/>",
                v.x - v.w / 2.0,
                v.y - hh,
                v.w,
                2.0 * hh,
                v.fill
            );
        }
        for (i, l) in v.label.iter().enumerate() {
            let ty = v.y - hh + 5.0 + LINE_H * (i as f64 + 0.8);
            let weight = if i == 1 { " font-weight=\"bold\"" } else { "" };
            let _ = write!(o, "<text x=\"{:.1}\" y=\"{ty:.1}\" text-anchor=\"middle\"{weight}>{}</text>", v.x, esc(l));
        }
        let _ = writeln!(o, "</g>");
    }
    let _ = writeln!(o, "</svg>");
    o
}
