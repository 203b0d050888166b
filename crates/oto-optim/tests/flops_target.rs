//! The FLOPs target's row count (`optim::flops_target`): on real zoo graphs, the chosen `k` leaves
//! at most the budget, `k − 1` would not, and the predicted MACs are those of the model that
//! `oto_graph::compress` builds from the same rows.
use oto_graph::compress::{self, CompressOptions, Removal};
use oto_graph::flops::RowMacs;
use oto_graph::{zig, Graph};
use oto_optim::dhspg::partition;
use oto_optim::flops_target::{rows_for_flops, sparsity_for_rows};
use std::collections::BTreeSet;

/// Prunable rows with parameters in group order (as the optimizer numbers them), and the groups.
fn layout(a: &zig::Analysis) -> (Vec<usize>, Vec<(usize, Vec<usize>)>) {
    let mut ids = vec![];
    let mut groups = vec![];
    for gr in &a.groups {
        let rows: Vec<usize> = gr.prunable_rows(a).filter(|&r| a.rows[r].has_params).collect();
        if rows.is_empty() {
            continue;
        }
        groups.push((gr.id, (ids.len()..ids.len() + rows.len()).collect()));
        ids.extend(rows);
    }
    (ids, groups)
}

fn scores(n: usize, seed: u64) -> Vec<f64> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 11) as f64 / (1u64 << 53) as f64
        })
        .collect()
}

#[test]
fn flops_target_picks_the_fewest_rows_that_meet_the_budget() {
    for name in ["resnet20", "densenet_bc", "mobilenet_v2", "tiny_transformer"] {
        let cfg = oto_zoo::ZooConfig {
            input_shape: (name == "mobilenet_v2").then_some([3, 32, 32]),
            width_mult: (name == "mobilenet_v2").then_some(0.5),
            seed: 3,
            ..Default::default()
        };
        let g = Graph::from_model(oto_zoo::build(name, &cfg).unwrap()).unwrap();
        let a = zig::analyze(&g);
        let (ids, groups) = layout(&a);
        let n = ids.len();
        let model = RowMacs::new(&g, &a);
        // MACs once the global rows marked in `zero` are removed
        let global: std::collections::HashMap<usize, usize> = ids.iter().enumerate().map(|(g, &r)| (r, g)).collect();
        let without = |zero: &[bool]| model.macs(&|r| global.get(&r).is_some_and(|&g| zero[g]));
        assert_eq!(model.full(), oto_graph::flops::macs(&g), "{name}");
        for (seed, keep) in [(1, 0.3), (2, 0.5), (3, 0.8)] {
            let score = scores(n, seed);
            let p = rows_for_flops(&score, &groups, 1, 1.0, model.full(), &without, keep);
            let budget = (keep * model.full() as f64).floor() as u64;
            let rows_at = |k: usize| -> BTreeSet<usize> {
                let gp = partition(&score, &groups, sparsity_for_rows(k, n), 0.0, 1, 1.0);
                (0..n).filter(|&g| gp[g]).map(|g| ids[g]).collect()
            };
            let chosen = rows_at(p.k);
            // every group keeps at least one row, so the partition may give fewer than k
            assert!(chosen.len() <= p.k && chosen.len() + groups.len() >= p.k, "{name}: {} rows for k = {}", chosen.len(), p.k);
            let tag = format!("{name} keep {keep}: k {} of {n}, {:.3}", p.k, p.fraction());
            if !p.reached {
                // out of reach only when every group already keeps its last channel
                assert!(p.macs > budget, "{tag}");
                continue;
            }
            assert!(p.macs <= budget, "{tag}: over budget");
            assert!(p.k > 0, "{tag}");
            let before: BTreeSet<usize> = rows_at(p.k - 1);
            assert!(model.macs(&|r| before.contains(&r)) > budget, "{tag}: k − 1 rows would do");
            // the compressor builds exactly the predicted model
            let c = compress::compress(&g, &a, &CompressOptions { removal: Removal::Rows(chosen.clone()) }).unwrap();
            if c.warnings.is_empty() {
                assert_eq!(c.manifest.macs_after, p.macs, "{tag}: compressed MACs");
            }
            println!("{tag}: predicted = compressed MACs {}", c.manifest.macs_after);
        }
        // keeping everything prunes nothing; an impossible budget is reported as such
        assert_eq!(rows_for_flops(&scores(n, 9), &groups, 1, 1.0, model.full(), &without, 1.0).k, 0, "{name}");
        assert!(!rows_for_flops(&scores(n, 9), &groups, 1, 1.0, model.full(), &without, 1e-9).reached, "{name}");
    }
}

#[test]
fn ramp_goal_removes_the_macs_linearly() {
    use oto_optim::flops_target::ramp_macs_goal;
    // full 1000, budget 400: 600 to remove over 6 steps
    assert_eq!(ramp_macs_goal(1000, 400, 0, 6), 1000);
    assert_eq!(ramp_macs_goal(1000, 400, 1, 6), 900);
    assert_eq!(ramp_macs_goal(1000, 400, 5, 6), 500);
    assert_eq!(ramp_macs_goal(1000, 400, 6, 6), 400);
    assert_eq!(ramp_macs_goal(1000, 400, 9, 6), 400);
    assert_eq!(ramp_macs_goal(1000, 400, 3, 0), 400); // no span: the deadline itself
    assert_eq!(ramp_macs_goal(1000, 1000, 3, 6), 1000); // nothing to remove
}
