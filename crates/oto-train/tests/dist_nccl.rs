//! The c10d binding with NCCL (issue 26), for a CUDA machine (`cargo test -p oto-train
//! --features cuda --test dist_nccl`, run by `scripts/gpu_check.sh`): one rank per GPU (two at
//! most; one GPU: a group of one) sums, broadcasts, meets at a barrier, averages gradients during
//! the backward pass and differentiates a sum over ranks, all on CUDA tensors. Without a GPU it
//! says it is skipped.
#![cfg(feature = "cuda")]
mod common_dist;

use oto_train::dist::{Backend, ProcessGroup};
use std::time::Duration;
use tch::{Device, Kind, Tensor};

fn values(t: &Tensor) -> Vec<f32> {
    Vec::<f32>::try_from(t.to_device(Device::Cpu).flatten(0, -1)).unwrap()
}

#[test]
fn nccl_collectives_reducer_and_autograd_sum_on_cuda() {
    assert!(Backend::nccl_available(), "built with the cuda feature but without NCCL");
    let gpus = tch::Cuda::device_count() as usize;
    if gpus == 0 {
        eprintln!("skipping: no CUDA device");
        return;
    }
    let world = gpus.min(2);
    let port = common_dist::free_port();
    let hs: Vec<_> = (0..world)
        .map(|r| {
            std::thread::spawn(move || {
                let pg = ProcessGroup::with_backend("127.0.0.1", port, r, world, Duration::from_secs(120), Backend::Nccl).unwrap();
                let dev = Device::Cuda(r);
                let w = world as f64;
                // allreduce, broadcast, barrier
                let mut s = [Tensor::full([4], r as f64 + 1.0, (Kind::Float, dev))];
                pg.allreduce_sum(&mut s).unwrap();
                let mut b = [Tensor::full([2], 10.0 * (r as f64 + 1.0), (Kind::Float, dev))];
                pg.broadcast(&mut b, 0).unwrap();
                pg.barrier().unwrap();
                // the reducer: rank r's gradient is r + 1, the mean (w + 1) / 2
                let p = Tensor::zeros([1000], (Kind::Float, dev)).set_requires_grad(true);
                let reducer = pg.reducer(&[p.shallow_clone()]).unwrap();
                reducer.prepare().unwrap();
                (&p * (r as f64 + 1.0)).sum(Kind::Float).backward();
                // the differentiable sum: d(Σ_r (r + 1) Σ x)/dx_r = Σ_r (r + 1)
                let x = Tensor::ones([3], (Kind::Float, dev)).set_requires_grad(true);
                (pg.allreduce_sum_autograd(&x).unwrap() * (r as f64 + 1.0)).sum(Kind::Float).backward();
                (values(&s[0]), values(&b[0]), values(&p.grad()), values(&x.grad()), w)
            })
        })
        .collect();
    for h in hs {
        let (s, b, g, xg, w) = h.join().unwrap();
        let tri = (w * (w + 1.0) / 2.0) as f32; // 1 + 2 + … + w
        assert_eq!(s, vec![tri; 4]);
        assert_eq!(b, vec![10.0; 2]);
        assert!(g.iter().all(|&v| v == tri / w as f32), "reducer mean: {:?}", &g[..4]);
        assert_eq!(xg, vec![tri; 3]);
    }
}
