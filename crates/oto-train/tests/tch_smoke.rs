//! Checks that tch links and loads libtorch (rpath from build.rs): tensor, matmul, backward.
use tch::{Device, Kind, Tensor};

#[test]
fn tch_matmul_backward() {
    let a = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).view([2, 2]).set_requires_grad(true);
    let b = Tensor::from_slice(&[5.0f32, 6.0, 7.0, 8.0]).view([2, 2]);
    let c = a.matmul(&b);
    assert_eq!(Vec::<f32>::try_from(c.flatten(0, -1)).unwrap(), vec![19.0, 22.0, 43.0, 50.0]);
    c.sum(Kind::Float).backward();
    // d(sum(A·B))/dA = 1·Bᵀ → row sums of B, repeated per row.
    let g = a.grad();
    assert_eq!(Vec::<f32>::try_from(g.flatten(0, -1)).unwrap(), vec![11.0, 15.0, 11.0, 15.0]);
    assert_eq!(c.device(), Device::Cpu);
}

#[test]
fn cuda_feature_links_cuda_backend() {
    // With `--features cuda`, libtorch_cuda must be linked (not dropped by --as-needed), so
    // CUDA is at least *probed*: on a machine without a GPU this is simply false.
    let avail = tch::Cuda::is_available();
    eprintln!("cuda available: {avail}, devices: {}", tch::Cuda::device_count());
    if cfg!(not(feature = "cuda")) {
        assert!(!avail, "without the cuda feature libtorch_cuda should not be linked");
    }
}
