// A thin C interface to libtorch's own distributed engine, c10d: a TCPStore rendezvous and a
// ProcessGroupGloo (CPU tensors), with allreduce (sum), broadcast and barrier on the tensors tch
// hands over (`at::Tensor*`, torch-sys's `C_tensor`). Used by `src/dist.rs`; nothing here is a
// transport of oto's own. C++ exceptions never cross the boundary: each call returns 0, or -1
// with the message in `err`.
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

struct oto_pg {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
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

// Joins the group of `world` ranks through the TCPStore at master_addr:port (rank 0 hosts it).
oto_pg* oto_pg_new(const char* master_addr, int port, int rank, int world, int timeout_ms, char* err, size_t len) {
  oto_pg* out = nullptr;
  guarded(err, len, [&] {
    auto timeout = std::chrono::milliseconds(timeout_ms);
    c10d::TCPStoreOptions o;
    o.port = static_cast<uint16_t>(port);
    o.isServer = rank == 0;
    o.numWorkers = world;
    o.waitWorkers = true;
    o.timeout = timeout;
    auto store = c10::make_intrusive<c10d::TCPStore>(std::string(master_addr), o);
    auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
    opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(master_addr));
    auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, opts);
    out = new oto_pg{store, pg};
  });
  return out;
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

}  // extern "C"
