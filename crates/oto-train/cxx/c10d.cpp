// A thin C interface to libtorch's own distributed engine, c10d: a TCPStore rendezvous and a
// ProcessGroupGloo (CPU tensors) or, when built with CUDA (OTO_NCCL), a ProcessGroupNCCL, with allreduce (sum), broadcast and barrier on the tensors tch
// hands over (`at::Tensor*`, torch-sys's `C_tensor`); c10d's DDP `Reducer` (gradients averaged
// in buckets by autograd hooks, overlapped with the backward pass); and an allreduce that is
// differentiable (its backward sums the gradients over the ranks), for synchronised BatchNorm.
// Used by `src/dist.rs`; nothing here is a transport of oto's own. C++ exceptions never cross
// the boundary: each call returns 0 (or a pointer), or -1 (null) with the message in `err`.
#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/reducer.hpp>
#ifdef OTO_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

struct oto_pg {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> pg;          // Gloo (CPU tensors) or NCCL (CUDA tensors)
  c10::intrusive_ptr<c10d::ProcessGroup> group;  // the same backend as a ProcessGroup (for the Reducer)
};

static void set_err(char* err, size_t len, const std::string& m) {
  if (err != nullptr && len > 0) {
    std::strncpy(err, m.c_str(), len - 1);
    err[len - 1] = '\0';
  }
}

template <class F>
static int guarded(char* err, size_t len, F f) {
  try {
    f();
    return 0;
  } catch (const std::exception& e) {
    set_err(err, len, e.what());
  } catch (...) {
    set_err(err, len, "unknown C++ exception");
  }
  return -1;
}

static std::vector<at::Tensor> tensors(at::Tensor** ts, size_t n) {
  std::vector<at::Tensor> v;
  v.reserve(n);
  for (size_t i = 0; i < n; i++) v.push_back(*ts[i]);  // shares storage: results land in place
  return v;
}

extern "C" {

// Joins the group of `world` ranks through the TCPStore at master_addr:port (rank 0 hosts it),
// with Gloo, or NCCL when `nccl` is set (CUDA tensors; only in a build with OTO_NCCL).
oto_pg* oto_pg_new(const char* master_addr, int port, int rank, int world, int timeout_ms, int nccl, char* err, size_t len) {
  oto_pg* out = nullptr;
  guarded(err, len, [&] {
#ifndef OTO_NCCL
    if (nccl) throw std::runtime_error("this oto was built without NCCL: build it with --features cuda against the CUDA torch wheel");
#endif
    auto timeout = std::chrono::milliseconds(timeout_ms);
    c10d::TCPStoreOptions o;
    o.port = static_cast<uint16_t>(port);
    o.isServer = rank == 0;
    o.numWorkers = world;
    o.waitWorkers = true;
    o.timeout = timeout;
    auto store = c10::make_intrusive<c10d::TCPStore>(std::string(master_addr), o);
    auto group = c10::make_intrusive<c10d::ProcessGroup>(store, rank, world);
    c10::intrusive_ptr<c10d::Backend> pg;
#ifdef OTO_NCCL
    if (nccl) {
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = timeout;
      pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, world, opts);
      group->setBackend(c10::DeviceType::CUDA, c10d::ProcessGroup::BackendType::NCCL, pg);
      group->setDefaultBackend(c10d::ProcessGroup::BackendType::NCCL);
    }
#endif
    if (!pg) {
      auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(master_addr));
      pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, opts);
      group->setBackend(c10::DeviceType::CPU, c10d::ProcessGroup::BackendType::GLOO, pg);
      group->setDefaultBackend(c10d::ProcessGroup::BackendType::GLOO);
    }
    out = new oto_pg{store, pg, group};
  });
  return out;
}

// Whether this build has NCCL.
int oto_pg_has_nccl() {
#ifdef OTO_NCCL
  return 1;
#else
  return 0;
#endif
}

// Sums the tensors over all ranks, in place (one collective over the list: a bucket).
int oto_pg_allreduce_sum(oto_pg* g, at::Tensor** ts, size_t n, char* err, size_t len) {
  return guarded(err, len, [&] {
    auto v = tensors(ts, n);
    for (auto& t : v) {
      std::vector<at::Tensor> one{t};
      g->pg->allreduce(one)->wait();
    }
  });
}

// Copies rank `root`'s tensors to every rank, in place.
int oto_pg_broadcast(oto_pg* g, at::Tensor** ts, size_t n, int root, char* err, size_t len) {
  return guarded(err, len, [&] {
    auto v = tensors(ts, n);
    c10d::BroadcastOptions o;
    o.rootRank = root;
    for (auto& t : v) {
      std::vector<at::Tensor> one{t};
      g->pg->broadcast(one, o)->wait();
    }
  });
}

int oto_pg_barrier(oto_pg* g, char* err, size_t len) {
  return guarded(err, len, [&] { g->pg->barrier()->wait(); });
}

void oto_pg_free(oto_pg* g) {
  delete g;
}

// ---- gradient averaging overlapped with backward: c10d's Reducer (what PyTorch's DDP runs) ----

struct oto_reducer {
  std::shared_ptr<c10d::Reducer> r;
};

// A Reducer over the leaf tensors `params` (all requiring grad, the same list on every rank).
// As DDP: one bucket for the first iteration, rebuilt from the order gradients became ready
// (a first bucket of 1 MB, then `bucket_bytes`).
oto_reducer* oto_reducer_new(oto_pg* g, at::Tensor** params, size_t n, int64_t bucket_bytes, char* err, size_t len) {
  oto_reducer* out = nullptr;
  guarded(err, len, [&] {
    auto ps = tensors(params, n);
    std::vector<bool> sparse(n, false);
    auto [indices, limits] = c10d::compute_bucket_assignment_by_size(ps, {SIZE_MAX}, sparse);
    std::reverse(indices.begin(), indices.end());  // backward meets the last parameters first
    auto r = std::make_shared<c10d::Reducer>(ps, indices, g->group, sparse, bucket_bytes,
                                             /*find_unused_parameters=*/false, /*gradient_as_bucket_view=*/false,
                                             std::unordered_map<size_t, std::string>{}, c10d::kDefaultFirstBucketBytes,
                                             /*skip_all_reduce_unused_params=*/false, /*use_python_reducer=*/false,
                                             std::vector<int64_t>{});
    out = new oto_reducer{r};
  });
  return out;
}

// Before each backward pass whose gradients are to be averaged (every rank, same order).
int oto_reducer_prepare(oto_reducer* r, char* err, size_t len) {
  return guarded(err, len, [&] {
    r->r->rebuild_buckets();
    r->r->prepare_for_forward();
    r->r->prepare_for_backward({});
  });
}

void oto_reducer_free(oto_reducer* r) {
  delete r;
}

// ---- differentiable allreduce: forward sums over ranks, backward sums the gradients ----

struct AllReduceSum : public torch::autograd::Function<AllReduceSum> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, int64_t pg) {
    ctx->saved_data["pg"] = pg;
    std::vector<at::Tensor> one{x.detach().clone()};
    reinterpret_cast<oto_pg*>(pg)->pg->allreduce(one)->wait();
    return one[0];
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    auto pg = reinterpret_cast<oto_pg*>(ctx->saved_data["pg"].toInt());
    std::vector<at::Tensor> one{grads[0].contiguous().clone()};
    pg->pg->allreduce(one)->wait();
    return {one[0], at::Tensor()};
  }
};

// `*out` = the sum of `x` over the ranks, recorded by autograd (a new tensor the caller frees).
int oto_pg_allreduce_sum_autograd(oto_pg* g, at::Tensor* x, at::Tensor** out, char* err, size_t len) {
  return guarded(err, len, [&] { *out = new at::Tensor(AllReduceSum::apply(*x, reinterpret_cast<int64_t>(g))); });
}

}  // extern "C"
