//! The c10d binding (issue 26) on CPU with Gloo over loopback: two ranks (threads of this test,
//! each with its own process group) sum, broadcast, meet at a barrier, average gradients in
//! buckets during the backward pass (c10d's reducer) and differentiate a sum over ranks; a rank
//! that waits for a partner who never comes gets an error naming it.
use oto_train::dist::ProcessGroup;
use std::time::Duration;
use tch::{Kind, Tensor};

mod common_dist;
use common_dist::free_port;

/// Held while a group lives: one group at a time in this process, as in a real run (a rank is a
/// process with one group), not several tests' groups side by side.
static ONE_GROUP: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `f(rank)` on two ranks of one group; returns their results in rank order.
fn two_ranks<T: Send + 'static>(f: fn(ProcessGroup) -> T) -> Vec<T> {
    let _one = ONE_GROUP.lock().unwrap_or_else(|e| e.into_inner());
    let port = free_port();
    let hs: Vec<_> = (0..2)
        .map(|r| std::thread::spawn(move || f(ProcessGroup::new("127.0.0.1", port, r, 2, Duration::from_secs(30)).unwrap())))
        .collect();
    hs.into_iter().map(|h| h.join().unwrap()).collect()
}

fn values(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.flatten(0, -1)).unwrap()
}

#[test]
fn allreduce_broadcast_and_barrier() {
    let out = two_ranks(|pg| {
        let r = pg.rank() as f64;
        let mut ts = [Tensor::full([4], r + 1.0, (Kind::Float, tch::Device::Cpu)), Tensor::arange(3, (Kind::Float, tch::Device::Cpu)) * (r + 1.0)];
        pg.allreduce_sum(&mut ts).unwrap();
        let mut b = [Tensor::full([2], 10.0 * (r + 1.0), (Kind::Float, tch::Device::Cpu))];
        pg.broadcast(&mut b, 0).unwrap();
        pg.barrier().unwrap();
        (values(&ts[0]), values(&ts[1]), values(&b[0]))
    });
    for (sum, ramp, bcast) in out {
        assert_eq!(sum, vec![3.0; 4]);
        assert_eq!(ramp, vec![0.0, 3.0, 6.0]);
        assert_eq!(bcast, vec![10.0, 10.0]);
    }
}

#[test]
fn gradients_are_averaged_in_buckets_during_backward() {
    let out = two_ranks(|pg| {
        let r = pg.rank() as f64;
        // a parameter larger than one bucket and two small ones
        let big = oto_train::dist::BUCKET_BYTES as i64 / 4 + 5;
        let ps: Vec<Tensor> = [big, 7, 3].iter().map(|&n| Tensor::zeros([n], (Kind::Float, tch::Device::Cpu)).set_requires_grad(true)).collect();
        let reducer = pg.reducer(&ps).unwrap();
        let mut seen = vec![];
        // step 1 in one bucket; step 2 after the buckets were rebuilt from the order of step 1
        for scale in [1.0, 2.0] {
            for p in &ps {
                let mut g = p.grad();
                if g.defined() {
                    let _ = g.zero_();
                }
            }
            let loss = ps.iter().map(|p| (p * ((r + 1.0) * scale)).sum(Kind::Float)).fold(Tensor::from(0.0f32), |a, b| a + b);
            reducer.prepare().unwrap();
            loss.backward();
            seen.push(ps.iter().map(|p| values(&p.grad())).map(|v| (v.len(), v.iter().all(|&x| x == (1.5 * scale) as f32))).collect::<Vec<_>>());
        }
        seen
    });
    for steps in out {
        for grads in steps {
            assert_eq!(grads.len(), 3);
            assert!(grads.iter().all(|(_, ok)| *ok), "the mean of 1 and 2 (×2 at step 2) everywhere: {grads:?}");
        }
    }
}

#[test]
fn a_sum_over_ranks_is_differentiated_over_ranks() {
    let out = two_ranks(|pg| {
        let r = pg.rank() as f64;
        let x = (Tensor::ones([3], (Kind::Float, tch::Device::Cpu)) * (r + 1.0)).set_requires_grad(true);
        let s = pg.allreduce_sum_autograd(&x).unwrap(); // x_0 + x_1 = 3
        // rank r's loss: (r + 1) · Σ s; the gradient of the sum of both losses w.r.t. x_r is 1 + 2
        (&s * (r + 1.0)).sum(Kind::Float).backward();
        (values(&s), values(&x.grad()))
    });
    for (s, g) in out {
        assert_eq!(s, vec![3.0; 3]);
        assert_eq!(g, vec![3.0; 3]);
    }
}

#[test]
fn a_missing_rank_is_an_error_naming_the_group() {
    let port = free_port();
    let e = match ProcessGroup::new("127.0.0.1", port, 0, 2, Duration::from_millis(1500)) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("joined a group of two alone"),
    };
    assert!(e.contains("rank 0 of 2") && e.contains(&format!("127.0.0.1:{port}")), "{e}");
}
