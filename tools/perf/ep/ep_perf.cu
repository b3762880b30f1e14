// ep_perf: expert-parallel dispatch and combine (tandem/ep.h) at DeepEP's
// low-latency reference point (128 tokens per rank, H 7168, top-8, 288
// experts, fp8 dispatch, bf16 combine) and a sweep of T, against the same
// exchange built on all-to-all: a routing exchange (every rank's topk_idx to
// every rank), a pack kernel (each token once per destination rank, in a
// padded [R][Tmax] buffer of wire rows), the all-to-all, and an unpack kernel
// into [L, R*Tmax] (dispatch); a weighted sum per (source, token) over the
// local experts, the all-to-all back and a sum over ranks (combine). The
// all-to-all runs on Tandem (tdmAlltoAll) and on NCCL (loaded at run time).
// Every variant is captured in a CUDA graph of `reps` calls; the figure is
// the median over replays of one replay's CUDA-event time / reps, in
// microseconds, as rank 0 sees it. Bytes: what one rank's dispatch sends
// (one wire row per token and destination rank, own rank included) and its
// combine sends back ((token, k) rows x 2H).
// Usage: mpirun -np 2 ep_perf [-r reps] [-i replays]
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gpu_tool.h"
#include "nccl_peer.h"
#include "tandem/ep.h"
#include "tandem/tandem.h"
#include "tests/common/seeded_data.h"
#include "tests/common/world.h"

namespace {

tdm::test::GpuWorld g;

struct DevBuf {
  void* p = nullptr;
  explicit DevBuf(size_t bytes) {
    CHECK_CUDA(cudaMalloc(&p, std::max<size_t>(bytes, 256)));
    CHECK_CUDA(cudaMemset(p, 0, std::max<size_t>(bytes, 256)));
  }
  ~DevBuf() { cudaFree(p); }
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  template <typename T>
  T* as() const {
    return static_cast<T*>(p);
  }
};

__global__ void fill_random(__nv_bfloat16* p, size_t n, uint64_t seed) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x)
    p[i] = __float2bfloat16(float(int(tdm::test::fmix64(i + seed) % 2001) - 1000) / 1000.f);
}

// ---- the all-to-all baseline's kernels (one block per row) ----

__device__ void block_copy(char* dst, const char* src, size_t bytes) {
  for (size_t i = threadIdx.x; i < bytes / 16; i += blockDim.x)
    reinterpret_cast<int4*>(dst)[i] = reinterpret_cast<const int4*>(src)[i];
}

// Token t once into every destination rank some k routes it to.
__global__ void pack_dispatch(const char* x, const int64_t* idx, int T, int K, int L, int Tmax,
                              size_t row_bytes, size_t x_row_bytes, char* send) {
  const int t = blockIdx.x;
  if (t >= T) return;
  unsigned mask = 0;
  for (int k = 0; k < K; ++k)
    if (idx[t * K + k] >= 0) mask |= 1u << (idx[t * K + k] / L);
  for (int d = 0; d < 32; ++d)
    if (mask & (1u << d))
      block_copy(send + (size_t(d) * Tmax + t) * row_bytes, x + t * x_row_bytes, row_bytes);
}

// Row (r, t) into recv_x[l][r * Tmax + t] for each local expert l it names.
__global__ void unpack_dispatch(const char* recv, const int64_t* meta, int K, int L, int Tmax,
                                int R, int rank, size_t row_bytes, char* recv_x) {
  const int r = blockIdx.x / Tmax, t = blockIdx.x % Tmax;
  for (int k = 0; k < K; ++k) {
    const int64_t e = meta[(size_t(r) * Tmax + t) * K + k];
    if (e < 0 || e / L != rank) continue;
    block_copy(recv_x + ((e % L) * size_t(R) * Tmax + size_t(r) * Tmax + t) * row_bytes,
               recv + (size_t(r) * Tmax + t) * row_bytes, row_bytes);
  }
}

// Weighted sum over this rank's experts of (r, t), bf16 into send[r][t].
__global__ void pack_combine(const __nv_bfloat16* y, const int64_t* meta, int K, int L, int Tmax,
                             int R, int rank, int H, __nv_bfloat16* send) {
  const int r = blockIdx.x / Tmax, t = blockIdx.x % Tmax;
  for (int c = threadIdx.x; c < H; c += blockDim.x) {
    float acc = 0.f;
    for (int k = 0; k < K; ++k) {
      const int64_t e = meta[(size_t(r) * Tmax + t) * K + k];
      if (e < 0 || e / L != rank) continue;
      acc +=
          0.5f * __bfloat162float(y[((e % L) * size_t(R) * Tmax + size_t(r) * Tmax + t) * H + c]);
    }
    send[(size_t(r) * Tmax + t) * H + c] = __float2bfloat16(acc);
  }
}

__global__ void reduce_combine(const __nv_bfloat16* recv, int R, int Tmax, int T, int H,
                               __nv_bfloat16* out) {
  const int t = blockIdx.x;
  if (t >= T) return;
  for (int c = threadIdx.x; c < H; c += blockDim.x) {
    float acc = 0.f;
    for (int r = 0; r < R; ++r) acc += __bfloat162float(recv[(size_t(r) * Tmax + t) * H + c]);
    out[size_t(t) * H + c] = __float2bfloat16(acc);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 20, replays = 30;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "-r")) reps = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "-i")) replays = std::atoi(argv[i + 1]);
  }
  if (!tdm::test::init_gpu_world("ep_perf", &g)) return 1;
  std::unique_ptr<tandem::perf::PeerLib> nccl = tandem::perf::openNcclIfAvailable(g.comm, g.rank);
  cudaStream_t s;
  CHECK_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  // Every replay starts after a 1-element allreduce on the stream: the ranks'
  // replays begin together, so rank 0's figure holds no peer's launch skew.
  int* align_word = nullptr;
  CHECK_CUDA(cudaMalloc(&align_word, sizeof(int)));
  CHECK_CUDA(cudaMemset(align_word, 0, sizeof(int)));
  auto align = [&] { tdmAllReduce(align_word, align_word, 1, tdmInt32, tdmMax, g.comm, s); };
  const int R = g.size, E = 288, Tmax = 128, H = 7168, K = 8, L = E / R, G = (H + 127) / 128;
  if (E % R) {
    std::fprintf(stderr, "ep_perf needs a rank count dividing 288\n");
    return 1;
  }
  tdmEpConfig_t cfg{};
  cfg.size = sizeof cfg;
  cfg.version = TDM_EP_CONFIG_VERSION;
  cfg.num_experts = E;
  cfg.max_tokens = Tmax;
  cfg.hidden = H;
  cfg.max_topk = K;
  cfg.wire = TDM_EP_WIRE_FP8;
  tdmEp_t ep = nullptr;
  if (tdmEpCreate(g.comm, &cfg, &ep) != tdmSuccess) {
    std::fprintf(stderr, "rank %d: tdmEpCreate: %s\n", g.rank, tdmGetLastError(nullptr));
    return 1;
  }
  const size_t per_expert = size_t(R) * Tmax, wire_row = H + G * 4;
  DevBuf x(size_t(Tmax) * H * 2), idx(size_t(Tmax) * K * 8), w(size_t(Tmax) * K * 4);
  DevBuf recv_x(size_t(L) * per_expert * H), scales(size_t(L) * per_expert * G * 4),
      count(size_t(L) * 4), y(size_t(L) * per_expert * H * 2), out(size_t(Tmax) * H * 2);
  fill_random<<<1024, 256>>>(x.as<__nv_bfloat16>(), size_t(Tmax) * H, 1 + g.rank);
  fill_random<<<1024, 256>>>(y.as<__nv_bfloat16>(), size_t(L) * per_expert * H, 7 + g.rank);
  // Baseline buffers: the padded per-rank rows and the routing of every rank.
  const size_t a2a_row = (wire_row + 15) / 16 * 16;
  DevBuf a2a_send(size_t(R) * Tmax * std::max(a2a_row, size_t(H) * 2));
  DevBuf a2a_recv(size_t(R) * Tmax * std::max(a2a_row, size_t(H) * 2));
  DevBuf meta_send(size_t(R) * Tmax * K * 8), meta_recv(size_t(R) * Tmax * K * 8);
  DevBuf base_recv_x(size_t(L) * per_expert * a2a_row);

  if (g.rank == 0) {
    std::printf(
        "# ep_perf: %d ranks, E %d, H %d, top-%d, Tmax %d; fp8 dispatch, bf16 combine; us per "
        "call (median of %d graph replays of %d calls); MB sent per rank\n",
        R, E, H, K, Tmax, replays, reps);
    std::printf("# %5s %8s %8s %7s %7s %8s %8s %8s %8s %7s %7s\n", "T", "disp", "comb", "dMB",
                "cMB", "a2a-d", "a2a-c", "nccl-d", "nccl-c", "a2a/ep", "nccl/ep");
  }
  const tandem::perf::PeerLib* peer = nccl.get();
  double ref_disp = -1, ref_comb = -1, ref_a2a = -1;
  for (int T : {128, 1, 8, 32, 64, 96}) {
    // Routing: K distinct experts per token, random (the same on every run).
    std::vector<int64_t> h_idx(size_t(Tmax) * K, -1);
    std::vector<float> h_w(size_t(Tmax) * K, 0.125f);
    size_t rows = 0, token_rows = 0;
    for (int t = 0; t < T; ++t) {
      unsigned ranks = 0;  // destination ranks of the token
      for (int k = 0; k < K; ++k) {
        int64_t e;
        uint64_t n = 0;
        do
          e = int64_t(tdm::test::fmix64((uint64_t(g.rank) << 40) ^ (uint64_t(t) << 20) ^
                                        (uint64_t(k) << 8) ^ n++) %
                      E);
        while (std::find(&h_idx[size_t(t) * K], &h_idx[size_t(t) * K + k], e) !=
               &h_idx[size_t(t) * K + k]);
        h_idx[size_t(t) * K + k] = e;
        ranks |= 1u << (e / L);
        ++rows;
      }
      token_rows += size_t(__builtin_popcount(ranks));
    }
    CHECK_CUDA(cudaMemcpy(idx.p, h_idx.data(), h_idx.size() * 8, cudaMemcpyHostToDevice));
    CHECK_CUDA(cudaMemcpy(w.p, h_w.data(), h_w.size() * 4, cudaMemcpyHostToDevice));
    auto disp = [&] {
      return tdmEpDispatch(ep, x.p, idx.as<int64_t>(), T, K, recv_x.p, scales.as<float>(),
                           count.as<int32_t>(), nullptr, TDM_EP_BOTH, s) == tdmSuccess;
    };
    auto comb = [&] {
      return tdmEpCombine(ep, y.p, idx.as<int64_t>(), w.as<float>(), T, K, out.p, TDM_EP_BOTH, s) ==
             tdmSuccess;
    };
    const double t_disp = time_graph(s, reps, replays, disp, align);
    const double t_comb = time_graph(s, reps, replays, comb, align);
    // The all-to-all exchange, on Tandem (lib == nullptr) or NCCL.
    auto a2a = [&](const tandem::perf::PeerLib* lib, const void* snd, void* rcv, size_t bytes) {
      return lib ? lib->alltoAll(snd, rcv, bytes, tdmUint8, s) == tdmSuccess
                 : tdmAlltoAll(snd, rcv, bytes, tdmUint8, g.comm, s) == tdmSuccess;
    };
    auto a2a_dispatch = [&](const tandem::perf::PeerLib* lib) {
      return [&, lib] {
        for (int r = 0; r < R; ++r)
          cudaMemcpyAsync(meta_send.as<char>() + size_t(r) * Tmax * K * 8, idx.p,
                          size_t(Tmax) * K * 8, cudaMemcpyDeviceToDevice, s);
        if (!a2a(lib, meta_send.p, meta_recv.p, size_t(Tmax) * K * 8)) return false;
        pack_dispatch<<<std::max(T, 1), 256, 0, s>>>(x.as<char>(), idx.as<int64_t>(), T, K, L, Tmax,
                                                     a2a_row, size_t(H) * 2, a2a_send.as<char>());
        if (!a2a(lib, a2a_send.p, a2a_recv.p, size_t(Tmax) * a2a_row)) return false;
        unpack_dispatch<<<R * Tmax, 256, 0, s>>>(a2a_recv.as<char>(), meta_recv.as<int64_t>(), K, L,
                                                 Tmax, R, g.rank, a2a_row, base_recv_x.as<char>());
        return cudaGetLastError() == cudaSuccess;
      };
    };
    auto a2a_combine = [&](const tandem::perf::PeerLib* lib) {
      return [&, lib] {
        pack_combine<<<R * Tmax, 256, 0, s>>>(y.as<__nv_bfloat16>(), meta_recv.as<int64_t>(), K, L,
                                              Tmax, R, g.rank, H, a2a_send.as<__nv_bfloat16>());
        if (!a2a(lib, a2a_send.p, a2a_recv.p, size_t(Tmax) * H * 2)) return false;
        reduce_combine<<<std::max(T, 1), 256, 0, s>>>(a2a_recv.as<__nv_bfloat16>(), R, Tmax, T, H,
                                                      out.as<__nv_bfloat16>());
        return cudaGetLastError() == cudaSuccess;
      };
    };
    const double t_ad = time_graph(s, reps, replays, a2a_dispatch(nullptr), align);
    const double t_ac = time_graph(s, reps, replays, a2a_combine(nullptr), align);
    const double t_nd = peer ? time_graph(s, reps, replays, a2a_dispatch(peer), align) : -1;
    const double t_nc = peer ? time_graph(s, reps, replays, a2a_combine(peer), align) : -1;
    if (g.rank == 0) {
      const double ep_sum = t_disp + t_comb;
      auto ratio = [&](double a, double b) { return a > 0 && b > 0 ? (a + b) / ep_sum : -1.0; };
      std::printf("  %5d %s %s %7.2f %7.2f %s %s %s %s %7.2f %7.2f\n", T, cell(t_disp, 8).c_str(),
                  cell(t_comb, 8).c_str(), token_rows * double(wire_row) / 1e6,
                  rows * double(H) * 2 / 1e6, cell(t_ad, 8).c_str(), cell(t_ac, 8).c_str(),
                  cell(t_nd, 8).c_str(), cell(t_nc, 8).c_str(), ratio(t_ad, t_ac),
                  ratio(t_nd, t_nc));
      std::fflush(stdout);
    }
    if (T == 128) {
      ref_disp = t_disp;
      ref_comb = t_comb;
      ref_a2a = std::min(t_ad + t_ac, t_nd > 0 && t_nc > 0 ? t_nd + t_nc : 1e30);
      if (g.rank == 0)
        std::printf(
            "# reference point: dispatch %.1f us (target 25), combine %.1f us (target 30); "
            "all-to-all exchange %.1f us = %.2fx (target 3x); dispatch alone %.2fx of the "
            "tdmAlltoAll one (%.1f us)\n",
            ref_disp, ref_comb, ref_a2a, ref_a2a / (ref_disp + ref_comb), t_ad / ref_disp, t_ad);
    }
  }
  const tdmResult_t device_error = tdmEpGetDeviceError(ep);
  if (device_error != tdmSuccess && g.rank == 0)
    std::printf("# device error: %s\n", tdmGetLastError(nullptr));
  tdmEpDestroy(ep);
  cudaFree(align_word);
  cudaStreamDestroy(s);
  nccl.reset();
  tdmCommDestroy(g.comm);
  return ref_disp > 0 && ref_comb > 0 ? 0 : 1;
}
