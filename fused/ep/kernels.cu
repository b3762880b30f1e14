// The ep's kernels, one per phase (docs/ep.md). All four use 512 threads per
// block: a thread owns 16 channels of a row (8 threads per 128-channel fp8
// group, aligned to 8 lanes of a warp), so one pass of a block covers
// H <= 8192. No kernel waits for another block of its own grid; the receive
// kernels wait only for peers' signals, under the TANDEM_TIMEOUT deadline.
#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include "fused/ep/kernels.h"
#include "tandem/device/memory_order.cuh"

namespace tdm::fused::ep {

namespace {

using tandem::detail::Deadline;
using tandem::detail::fence_acq_rel_sys;
using tandem::detail::ld_acquire_sys;
using tandem::detail::st_relaxed_sys;

constexpr int kThreads = 512;
constexpr int kChannels = 16;  // per thread
constexpr int kWarps = kThreads / 32;
constexpr unsigned kFullMask = 0xffffffffu;
static_assert(kThreads * kChannels >= kMaxHidden);

__device__ __forceinline__ uint32_t epoch_of(const EpDevice& d, int word) {
  return d.state[word] + 1;
}

// Expert of top-k entry k of token t, or -1 when skipped: -1 itself, out of
// range, or repeated from an earlier k (those two recorded when `record`).
// With `first`, also whether it is the token's first valid entry on its
// expert's rank: no earlier entry in [0, E) on that rank (an earlier repeat
// of a valid expert lies on the rank of its first occurrence, so the range
// check is enough).
__device__ __forceinline__ int expert_at(const EpDevice& d, const int64_t* idx, int t, int k, int K,
                                         bool record, bool* first = nullptr) {
  const int64_t e = idx[size_t(t) * K + k];
  if (e == -1) return -1;
  const int E = d.layout.experts, L = d.layout.local_experts();
  if (e < -1 || e >= E) {
    if (record) atomicOr_system(d.error, kBadExpert);
    return -1;
  }
  if (first) *first = true;
  for (int j = 0; j < k; ++j) {
    const int64_t o = idx[size_t(t) * K + j];
    if (o == e) {
      if (record) atomicOr_system(d.error, kRepeatedExpert);
      return -1;
    }
    if (first && o >= 0 && o < E && o / L == e / L) *first = false;
  }
  return static_cast<int>(e);
}

// Smallest power of two >= v (v positive, normal): exact, the same on the host.
__device__ __forceinline__ float pow2_ceil(float v) {
  uint32_t bits = __float_as_uint(v);
  const uint32_t exponent = bits & 0x7f800000u;
  bits = (bits & 0x007fffffu) ? exponent + 0x00800000u : exponent;
  return __uint_as_float(bits);
}

__device__ __forceinline__ void unpack_bf16x8(const int4& v, float* out) {
  const auto* h = reinterpret_cast<const __nv_bfloat162*>(&v);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 f = __bfloat1622float2(h[i]);
    out[2 * i] = f.x;
    out[2 * i + 1] = f.y;
  }
}

__device__ __forceinline__ int4 pack_bf16x8(const float* in) {
  int4 v;
  auto* h = reinterpret_cast<__nv_bfloat162*>(&v);
#pragma unroll
  for (int i = 0; i < 4; ++i) h[i] = __floats2bfloat162_rn(in[2 * i], in[2 * i + 1]);
  return v;
}

// The per-16-byte row copy of one warp (rows are 16-byte aligned), kCopyUnroll
// loads in flight per lane before their stores: a row is a few KiB, so one
// load at a time would pay the memory latency a dozen times per row. Loads
// bypass L1 (__ldcg): rows that peers wrote into this GPU's memory are
// coherent in L2, not in an L1 that may still hold an older call's line.
constexpr int kUnroll = 8;       // rows a combine sum loads at once
constexpr int kCopyUnroll = 16;  // a 7168-byte fp8 row in one round, a bf16 one in two
__device__ __forceinline__ void warp_copy(char* dst, const char* src, size_t bytes, int lane) {
  const size_t vectors = bytes / 16;
  auto* d = reinterpret_cast<int4*>(dst);
  const auto* s = reinterpret_cast<const int4*>(src);
  for (size_t base = lane; base < vectors; base += kCopyUnroll * 32) {
    int4 v[kCopyUnroll];
#pragma unroll
    for (int u = 0; u < kCopyUnroll; ++u)
      if (base + u * 32 < vectors) v[u] = __ldcg(s + base + u * 32);
#pragma unroll
    for (int u = 0; u < kCopyUnroll; ++u)
      if (base + u * 32 < vectors) d[base + u * 32] = v[u];
  }
}

// Last block of a receive kernel advances the epoch for the next call; every
// block read it at its start, before arriving here. No fence: only the next
// kernel on the stream reads what this publishes.
__device__ __forceinline__ void finish_epoch(const EpDevice& d, int epoch_word, int done_word,
                                             uint32_t epoch) {
  __syncthreads();
  if (threadIdx.x == 0) {
    if (atomicAdd(&d.state[done_word], 1u) == gridDim.x - 1) {
      d.state[done_word] = 0;
      d.state[epoch_word] = epoch;
    }
  }
}

// ---- dispatch ----

// warp_copy's multi-load copy, fanned out: one 16-byte-aligned row of
// `bytes` from `src` into n rows of `dst` (row m at dst + row_m * bytes,
// row_m held by lane m). The source is read once and stored n times; n and
// the loops are warp-uniform (the shuffles need every lane).
__device__ __forceinline__ void warp_fanout(char* dst, size_t bytes, int my_row, int n,
                                            const char* src, int lane) {
  const int vectors = int(bytes / 16);
  const auto* s = reinterpret_cast<const int4*>(src);
  for (int base0 = 0; base0 < vectors; base0 += kUnroll * 32) {
    const int base = base0 + lane;
    int4 v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
      if (base + u * 32 < vectors) v[u] = __ldcg(s + base + u * 32);
    for (int m = 0; m < n; ++m) {
      auto* o = reinterpret_cast<int4*>(dst + size_t(__shfl_sync(kFullMask, my_row, m)) * bytes);
#pragma unroll
      for (int u = 0; u < kUnroll; ++u)
        if (base + u * 32 < vectors) o[base + u * 32] = v[u];
    }
  }
}

// One wire row per (token, destination rank with at least one of the
// token's experts): the receiver fans it out to its local experts' rows.
__device__ __forceinline__ void dispatch_send(const EpDevice& d, const __nv_bfloat16* x,
                                              const int64_t* idx, int T, int K, uint32_t epoch) {
  extern __shared__ int s_rows[];          // [E] rows this rank sends to each expert this call
  __shared__ int s_token_rows[kMaxRanks];  // token rows this rank sends to each rank
  __shared__ int s_row[kMaxRanks];         // the token's row at each rank, -1: none
  const Layout& lo = d.layout;
  const int tid = threadIdx.x, E = lo.experts, L = lo.local_experts(), R = lo.nranks;
  const int lane = tid % 32;
  const int parity = epoch & 1;

  // Every count word at once, from the first blocks (each counts all T*K
  // entries, a few loads a thread), relaxed: they order no data (each row
  // has its own flag); a receiver learns from them how many rows to await
  // and where each expert's rows begin. Empty ones too (docs/ep.md, "Reuse").
  if (blockIdx.x * kThreads < E) {
    for (int e = tid; e < E; e += kThreads) s_rows[e] = 0;
    if (tid < R) s_token_rows[tid] = 0;
    __syncthreads();
    for (int j = tid; j < T * K; j += kThreads) {
      bool first = false;
      const int e = expert_at(d, idx, j / K, j % K, K, false, &first);
      if (e < 0) continue;
      atomicAdd(&s_rows[e], 1);
      if (first) atomicAdd(&s_token_rows[e / L], 1);
    }
    __syncthreads();
    for (int e = blockIdx.x * kThreads + tid; e < E; e += gridDim.x * kThreads)
      st_relaxed_sys(
          reinterpret_cast<uint64_t*>(d.region[e / L] + lo.dispatch_signal(parity, e % L, d.rank)),
          dispatch_word(epoch, uint32_t(s_rows[e])));
    if (blockIdx.x == 0 && tid < R)
      st_relaxed_sys(reinterpret_cast<uint64_t*>(d.region[tid] + lo.token_signal(parity, d.rank)),
                     dispatch_word(epoch, uint32_t(s_token_rows[tid])));
  }

  // The other parity's counters are the previous call's, whose send is over
  // (an earlier kernel); zeroed for the next call.
  if (blockIdx.x == gridDim.x - 1) {
    for (int e = tid; e < E; e += kThreads) d.slot_counter[(parity ^ 1) * E + e] = 0;
    if (tid < R) d.token_counter[(parity ^ 1) * R + tid] = 0;
  }

  const int c0 = tid * kChannels;
  const bool active = c0 < lo.hidden;
  for (int t = blockIdx.x; t < T; t += gridDim.x) {
    int4 v0 = make_int4(0, 0, 0, 0), v1 = v0;
    if (active) {
      const int4* src = reinterpret_cast<const int4*>(x + size_t(t) * lo.hidden + c0);
      v0 = src[0];
      v1 = src[1];
    }
    // Warp 0 routes the token while the other warps load it: lane k takes
    // entry k's slot at its expert, lane r the token's row at rank r when an
    // entry goes there and writes that row's meta header, lane k its entry.
    if (tid < 32) {
      const int e = lane < K ? expert_at(d, idx, t, lane, K, true) : -1;
      const int rank = e >= 0 ? e / L : -1;
      unsigned entries = 0;  // at lane r: the lanes (entries) going to rank r
      for (int r = 0; r < R; ++r) {
        const unsigned m = __ballot_sync(kFullMask, rank == r);
        if (lane == r) entries = m;
      }
      const int slot = e >= 0 ? atomicAdd(&d.slot_counter[parity * E + e], 1) : 0;
      const int row = entries ? atomicAdd(&d.token_counter[parity * R + lane], 1) : -1;
      if (lane < R) s_row[lane] = row;
      if (entries)
        *reinterpret_cast<int2*>(d.region[lane] + lo.dispatch_row(parity, d.rank, row) +
                                 lo.meta_offset()) = make_int2(t, __popc(entries));
      const int from = rank < 0 ? 0 : rank;
      const unsigned same = __shfl_sync(kFullMask, entries, from);
      const int at = __shfl_sync(kFullMask, row, from);
      if (e >= 0) {
        auto* list =
            reinterpret_cast<uint32_t*>(d.region[rank] + lo.dispatch_row(parity, d.rank, at) +
                                        lo.meta_offset() + kMetaHeaderBytes);
        list[__popc(same & ((1u << lane) - 1))] = pack_meta(e % L, lane, slot);
      }
    }
    // The wire form of this thread's 16 channels, cast once for all ranks.
    int4 wire0 = v0, wire1 = v1;
    float scale_inv = 0.f;
    if (lo.fp8) {
      float f[kChannels];
      unpack_bf16x8(v0, f);
      unpack_bf16x8(v1, f + 8);
      float amax = 0.f;
#pragma unroll
      for (int i = 0; i < kChannels; ++i) amax = fmaxf(amax, fabsf(f[i]));
#pragma unroll
      for (int m = 1; m < 8; m <<= 1) amax = fmaxf(amax, __shfl_xor_sync(kFullMask, amax, m));
      amax = fmaxf(amax, 1e-4f);
      float scale;
      if (d.round_scale) {
        scale_inv = pow2_ceil(amax / 448.f);
        scale = 1.f / scale_inv;  // exact: a power of two
      } else {
        scale_inv = amax / 448.f;
        scale = 448.f / amax;
      }
      auto* q = reinterpret_cast<__nv_fp8x2_storage_t*>(&wire0);
#pragma unroll
      for (int i = 0; i < kChannels / 2; ++i)
        q[i] = __nv_cvt_float2_to_fp8x2(make_float2(f[2 * i] * scale, f[2 * i + 1] * scale),
                                        __NV_SATFINITE, __NV_E4M3);
    }
    __syncthreads();
    for (int r = 0; r < R; ++r) {
      const int at = s_row[r];
      if (at < 0 || !active) continue;
      char* row = d.region[r] + lo.dispatch_row(parity, d.rank, at);
      if (lo.fp8) {
        *reinterpret_cast<int4*>(row + c0) = wire0;
        if (tid % 8 == 0)
          reinterpret_cast<float*>(row + lo.payload_bytes())[c0 / kGroup] = scale_inv;
      } else {
        reinterpret_cast<int4*>(row + 2 * size_t(c0))[0] = wire0;
        reinterpret_cast<int4*>(row + 2 * size_t(c0))[1] = wire1;
      }
    }
    __syncthreads();
    // Each row's flag after the block's stores, payload and meta (ordered by
    // the barrier and the fence); the R threads are one warp, so one system
    // fence. Lane r wrote s_row[r] and is the only one to read it from here
    // to its next write.
    if (tid < R && s_row[tid] >= 0) {
      fence_acq_rel_sys();
      st_relaxed_sys(
          reinterpret_cast<uint64_t*>(d.region[tid] + lo.dispatch_flag(parity, d.rank, s_row[tid])),
          uint64_t(epoch));
    }
  }
}

// Every block awaits all count words (E = L * R of them, and R token-row
// words) and computes every expert's begins; then the grid's warps take the
// token rows, striped over the blocks first so that a few rows still spread
// over the multiprocessors, and fan each out to its local experts' rows.
__device__ __forceinline__ void dispatch_recv(const EpDevice& d, char* recv_x, float* recv_scales,
                                              int32_t* recv_count, uint32_t epoch) {
  __shared__ int s_count[kMaxExperts];    // [L][R] rows of local expert l from rank r
  __shared__ int s_begin[kMaxExperts];    // [L][R] where they begin in recv_x[l]
  __shared__ int s_first[kMaxRanks + 1];  // token rows from ranks before r
  const Layout& lo = d.layout;
  const int tid = threadIdx.x, R = lo.nranks, L = lo.local_experts(), E = lo.experts;
  const int parity = epoch & 1;
  const size_t per_expert = lo.rows_per_expert();
  const int lane = tid % 32, warp = tid / 32;
  for (int i = tid; i < E + R; i += kThreads) {
    const size_t at =
        i < E ? lo.dispatch_signal(parity, i / R, i % R) : lo.token_signal(parity, i - E);
    const auto* word = reinterpret_cast<const uint64_t*>(d.region[d.rank] + at);
    Deadline deadline(d.timeout_ns, d.timeout_error);
    uint64_t seen;
    while (((seen = ld_acquire_sys(word)) >> 32) != epoch) deadline.check();
    if (i < E)
      s_count[i] = int(uint32_t(seen));
    else
      s_first[i - E + 1] = int(uint32_t(seen));
  }
  __syncthreads();
  for (int l = tid; l < L; l += kThreads) {
    int begin = 0;
    for (int r = 0; r < R; ++r) {
      s_begin[l * R + r] = begin;
      begin += s_count[l * R + r];
    }
    if (blockIdx.x == 0) {
      recv_count[l] = begin;
      d.recv_rows[l] = begin;
    }
  }
  if (tid == 0) {
    s_first[0] = 0;
    for (int r = 0; r < R; ++r) s_first[r + 1] += s_first[r];
  }
  __syncthreads();
  if (blockIdx.x == 0)
    for (int i = tid; i < E; i += kThreads)
      d.layout_range[i] = (int64_t(s_begin[i]) << 32) | s_count[i];  // [L][R], as the words

  const int rows = s_first[R];
  for (int i = warp * gridDim.x + blockIdx.x; i < rows; i += gridDim.x * kWarps) {
    int r = 0;
    while (i >= s_first[r + 1]) ++r;
    const int j = i - s_first[r];
    if (lane == 0) {
      const auto* flag =
          reinterpret_cast<const uint64_t*>(d.region[d.rank] + lo.dispatch_flag(parity, r, j));
      Deadline deadline(d.timeout_ns, d.timeout_error);
      while (ld_acquire_sys(flag) != epoch) deadline.check();
    }
    __syncwarp();
    const char* row = d.region[d.rank] + lo.dispatch_row(parity, r, j);
    const char* meta = row + lo.meta_offset();
    const int2 head = __ldcg(reinterpret_cast<const int2*>(meta));  // token, entries
    const int n = head.y;
    // Lane m: entry m's recv_x row and its handle entry.
    int out = 0;
    if (lane < n) {
      const MetaEntry m =
          unpack_meta(__ldcg(reinterpret_cast<const unsigned*>(meta + kMetaHeaderBytes) + lane));
      out = int(size_t(m.local_expert) * per_expert + s_begin[m.local_expert * R + r] + m.slot);
      d.src_token[out] = head.x;
      d.src_k[out] = m.k;
      d.src_rank[out] = r;
      if (r == d.rank) d.local_row[size_t(head.x) * lo.max_topk + m.k] = out;
    }
    warp_fanout(recv_x, lo.payload_bytes(), out, n, row, lane);
    if (lo.fp8) {
      const auto* scales = reinterpret_cast<const float*>(row + lo.payload_bytes());
      const int G = lo.groups();
      for (int g0 = 0; g0 < G; g0 += 32) {
        const int g = g0 + lane;
        const float v = g < G ? __ldcg(scales + g) : 0.f;
        for (int m = 0; m < n; ++m) {
          const int o = __shfl_sync(kFullMask, out, m);
          if (g < G) recv_scales[size_t(o) * G + g] = v;
        }
      }
    }
  }
  finish_epoch(d, kDispatchEpoch, kDispatchDone, epoch);
}

// ---- combine ----

// `direct` (one kernel for both phases): rows for this rank's own tokens are
// not copied; the receive part reads them from y, which a caller of the
// two-phase form could change in between.
__device__ __forceinline__ void combine_send(const EpDevice& d, const char* y, uint32_t epoch,
                                             bool direct) {
  __shared__ int s_most;
  const Layout& lo = d.layout;
  const int tid = threadIdx.x, R = lo.nranks, L = lo.local_experts();
  const int parity = epoch & 1;
  const size_t per_expert = lo.rows_per_expert(), row_bytes = lo.combine_row_bytes();
  // This rank's combine send has started, so its previous combine receive
  // is over: what lets peers reuse that parity's rows here (docs/ep.md).
  for (int r = blockIdx.x * kThreads + tid; r < R; r += gridDim.x * kThreads)
    st_relaxed_sys(reinterpret_cast<uint64_t*>(d.region[r] + lo.combine_signal(parity, d.rank)),
                   uint64_t(epoch));
  if (tid == 0) s_most = 0;
  __syncthreads();
  for (int l = tid; l < L; l += kThreads) atomicMax(&s_most, d.recv_rows[l]);
  __syncthreads();
  // Row i of every expert before row i + 1 of any, so one busy expert still
  // spreads over the warps.
  const int lane = tid % 32;
  const int nwarps = gridDim.x * kWarps;
  for (int w = blockIdx.x * kWarps + tid / 32; w < s_most * L; w += nwarps) {
    const int l = w % L, i = w / L;
    if (i >= d.recv_rows[l]) continue;
    const size_t at = size_t(l) * per_expert + i;
    const int r = d.src_rank[at];
    if (direct && r == d.rank) continue;
    const int t = d.src_token[at], k = d.src_k[at];
    warp_copy(d.region[r] + lo.combine_row(parity, t, k), y + at * row_bytes, row_bytes, lane);
    __syncwarp();
    if (lane == 0) {
      fence_acq_rel_sys();  // the warp's stores (ordered by __syncwarp) before the flag
      st_relaxed_sys(reinterpret_cast<uint64_t*>(d.region[r] + lo.combine_flag(parity, t, k)),
                     uint64_t(epoch));
    }
  }
}

__device__ __forceinline__ void combine_recv(const EpDevice& d, const char* y, const int64_t* idx,
                                             const float* weights, int T, int K, __nv_bfloat16* out,
                                             uint32_t epoch, bool direct) {
  __shared__ const char* s_src[kMaxTopk];  // row k of the token, or null when skipped
  __shared__ float s_weight[kMaxTopk];
  const Layout& lo = d.layout;
  const int tid = threadIdx.x;
  const int parity = epoch & 1;
  // Every rank's combine send has started (docs/ep.md, "Reuse without a
  // barrier"); the rows themselves are awaited by their flags below.
  if (tid < lo.nranks) {
    const auto* word =
        reinterpret_cast<const uint64_t*>(d.region[d.rank] + lo.combine_signal(parity, tid));
    Deadline deadline(d.timeout_ns, d.timeout_error);
    while (ld_acquire_sys(word) != epoch) deadline.check();
  }
  __syncthreads();
  const int vectors = lo.hidden / 8;
  for (int t = blockIdx.x; t < T; t += gridDim.x) {
    if (tid < K) {
      const int e = expert_at(d, idx, t, tid, K, false);
      const char* src = nullptr;
      if (e >= 0 && direct && e / lo.local_experts() == d.rank) {
        src = y + size_t(d.local_row[size_t(t) * lo.max_topk + tid]) * lo.combine_row_bytes();
      } else if (e >= 0) {
        const auto* flag =
            reinterpret_cast<const uint64_t*>(d.region[d.rank] + lo.combine_flag(parity, t, tid));
        Deadline deadline(d.timeout_ns, d.timeout_error);
        while (ld_acquire_sys(flag) != epoch) deadline.check();
        src = d.region[d.rank] + lo.combine_row(parity, t, tid);
      }
      s_src[tid] = src;
      s_weight[tid] = weights[size_t(t) * K + tid];
    }
    __syncthreads();
    // Two vectors a thread (H 8192 is two passes of the block) and kUnroll
    // rows' loads in flight for both, then their fmas in k order (the sum
    // stays bit-reproducible).
    for (int v0 = tid; v0 < vectors; v0 += 2 * kThreads) {
      const int v1 = v0 + kThreads;
      const bool second = v1 < vectors;
      float acc0[8] = {}, acc1[8] = {};
      for (int k0 = 0; k0 < K; k0 += kUnroll) {
        int4 raw0[kUnroll], raw1[kUnroll];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
          if (k0 + u >= K || !s_src[k0 + u]) continue;
          const auto* row = reinterpret_cast<const int4*>(s_src[k0 + u]);
          raw0[u] = __ldcg(row + v0);
          if (second) raw1[u] = __ldcg(row + v1);
        }
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
          if (k0 + u >= K || !s_src[k0 + u]) continue;
          const float w = s_weight[k0 + u];
          float f[8];
          unpack_bf16x8(raw0[u], f);
#pragma unroll
          for (int i = 0; i < 8; ++i) acc0[i] = __fmaf_rn(w, f[i], acc0[i]);
          if (second) {
            unpack_bf16x8(raw1[u], f);
#pragma unroll
            for (int i = 0; i < 8; ++i) acc1[i] = __fmaf_rn(w, f[i], acc1[i]);
          }
        }
      }
      auto* o = reinterpret_cast<int4*>(out + size_t(t) * lo.hidden);
      o[v0] = pack_bf16x8(acc0);
      if (second) o[v1] = pack_bf16x8(acc1);
    }
    __syncthreads();
  }
  finish_epoch(d, kCombineEpoch, kCombineDone, epoch);
}

// One kernel per call and phase mask: TDM_EP_BOTH runs the send part and
// then the receive part in the same blocks, saving a launch and overlapping
// early receives with late sends. The grid fits the device at one block per
// multiprocessor, so every block is resident on an idle GPU; a block spinning
// in its receive part never waits on a block that cannot start.
template <int kPhase>
__global__ void __launch_bounds__(kThreads, 1)
    dispatch_kernel(EpDevice d, const __nv_bfloat16* x, const int64_t* idx, int T, int K,
                    char* recv_x, float* recv_scales, int32_t* recv_count) {
  const uint32_t epoch = epoch_of(d, kDispatchEpoch);
  if constexpr ((kPhase & TDM_EP_SEND) != 0) dispatch_send(d, x, idx, T, K, epoch);
  if constexpr ((kPhase & TDM_EP_RECV) != 0)
    dispatch_recv(d, recv_x, recv_scales, recv_count, epoch);
}

template <int kPhase>
__global__ void __launch_bounds__(kThreads, 1)
    combine_kernel(EpDevice d, const char* y, const int64_t* idx, const float* weights, int T,
                   int K, __nv_bfloat16* out) {
  const uint32_t epoch = epoch_of(d, kCombineEpoch);
  constexpr bool direct = kPhase == TDM_EP_BOTH;
  if constexpr ((kPhase & TDM_EP_SEND) != 0) combine_send(d, y, epoch, direct);
  if constexpr ((kPhase & TDM_EP_RECV) != 0)
    combine_recv(d, y, idx, weights, T, K, out, epoch, direct);
}

}  // namespace

cudaError_t launch_dispatch(const EpDevice& d, int phase, const void* x, const int64_t* topk_idx,
                            int T, int K, void* recv_x, float* recv_scales, int32_t* recv_count,
                            const Launch& at) {
  const auto* in = static_cast<const __nv_bfloat16*>(x);
  auto* rx = static_cast<char*>(recv_x);
  const size_t shared = size_t(d.layout.experts) * sizeof(int);
  if (phase == TDM_EP_SEND) {
    dispatch_kernel<TDM_EP_SEND><<<at.blocks, kThreads, shared, at.stream>>>(
        d, in, topk_idx, T, K, rx, recv_scales, recv_count);
  } else if (phase == TDM_EP_RECV) {
    // One block per multiprocessor, as the send (the token rows are striped
    // over the blocks first, so they share every SM's copy bandwidth), and
    // no more blocks than token rows can come: a block beyond them would
    // only await the count words.
    const int most_rows = d.layout.nranks * d.layout.max_tokens;
    const int blocks = most_rows < at.blocks ? most_rows : at.blocks;
    dispatch_kernel<TDM_EP_RECV>
        <<<blocks, kThreads, 0, at.stream>>>(d, in, topk_idx, T, K, rx, recv_scales, recv_count);
  } else {
    dispatch_kernel<TDM_EP_BOTH><<<at.blocks, kThreads, shared, at.stream>>>(
        d, in, topk_idx, T, K, rx, recv_scales, recv_count);
  }
  return cudaGetLastError();
}

cudaError_t launch_combine(const EpDevice& d, int phase, const void* y, const int64_t* topk_idx,
                           const float* weights, int T, int K, void* out, const Launch& at) {
  const auto* rows = static_cast<const char*>(y);
  auto* o = static_cast<__nv_bfloat16*>(out);
  if (phase == TDM_EP_SEND)
    combine_kernel<TDM_EP_SEND>
        <<<at.blocks, kThreads, 0, at.stream>>>(d, rows, topk_idx, weights, T, K, o);
  else if (phase == TDM_EP_RECV)
    combine_kernel<TDM_EP_RECV>
        <<<at.blocks, kThreads, 0, at.stream>>>(d, rows, topk_idx, weights, T, K, o);
  else
    combine_kernel<TDM_EP_BOTH>
        <<<at.blocks, kThreads, 0, at.stream>>>(d, rows, topk_idx, weights, T, K, o);
  return cudaGetLastError();
}

}  // namespace tdm::fused::ep
