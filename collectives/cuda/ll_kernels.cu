// Low-latency one-shot kernels: every rank pushes its whole message to every
// peer as LL lines (data and flag in one store, no fence, no handshake) and
// reads its peers' lines from its own heap. The LL area has two halves used by
// alternate calls; a rank can only start call k+2 after every peer sent it
// data of call k+1, i.e. after every peer finished call k, so a half is never
// overwritten while still being read.
#include "collectives/cuda/device_common.cuh"
#include "collectives/cuda/launch.h"
#include "collectives/cuda/type_dispatch.cuh"
#include "plan/algorithm_choice.h"

namespace tdm::cuda {

namespace {

// Applies the premulsum scale to the elements of one 8-byte unit.
template <typename T>
__device__ __forceinline__ uint64_t pre_unit(uint64_t unit, const Arith<T>& ar) {
  if constexpr (sizeof(T) > 8) {
    return unit;
  } else {
    if (!ar.premul) return unit;
    T e[8 / sizeof(T)];
    memcpy(e, &unit, 8);
#pragma unroll
    for (int k = 0; k < int(8 / sizeof(T)); ++k) e[k] = ar.pre(e[k]);
    memcpy(&unit, e, 8);
    return unit;
  }
}

// Unit u reduced over the ranks in rank order (so every rank gets the same
// bits): this rank's `own` unit (already scaled) and the peers' LL line u of
// the current half, then finished (avg divisor).
template <typename T, RedKind R>
__device__ __forceinline__ uint64_t reduce_unit(const DevComm& c, const Arith<T>& ar, uint64_t own,
                                                int parity, size_t u, uint32_t seq,
                                                Deadline& deadline) {
  using N = Num<T>;
  constexpr int E = 8 / sizeof(T);
  typename N::Acc acc[E];
  for (int r = 0; r < c.nranks; ++r) {
    const uint64_t v = r == c.rank ? own : ll_load(ll_line(c, c.rank, parity, r, u), seq, deadline);
    T e[E];
    memcpy(e, &v, 8);
#pragma unroll
    for (int k = 0; k < E; ++k)
      acc[k] = r == 0 ? N::to_acc(e[k]) : combine<R>(acc[k], N::to_acc(e[k]));
  }
  T res[E];
#pragma unroll
  for (int k = 0; k < E; ++k) res[k] = ar.finish(acc[k]);
  uint64_t out;
  memcpy(&out, res, 8);
  return out;
}

// Allreduce (message: the whole input) and reduce-scatter (message to p: chunk p).
template <typename T, RedKind R>
__global__ void __launch_bounds__(kThreads) ll_reduce_kernel(DevComm c, CollArgs a) {
  const Arith<T> ar(a);
  const uint32_t seq = ll_begin(c);
  const int parity = seq & 1;
  const size_t bytes = a.count * sizeof(T);
  const size_t units = (bytes + 7) / 8;
  const bool scatter = a.kind == CallKind::kReduceScatter;
  const char* send = static_cast<const char*>(a.send);
  char* recv = static_cast<char*>(a.recv);
  const size_t first = blockIdx.x * blockDim.x + threadIdx.x, stride = gridDim.x * blockDim.x;
  for (size_t u = first; u < units; u += stride)
    for (int p = 0; p < c.nranks; ++p) {
      if (p == c.rank) continue;
      const uint64_t v = pre_unit<T>(load_unit(send + (scatter ? p * bytes : 0), bytes, u), ar);
      ll_store(ll_line(c, p, parity, c.rank, u), v, seq);
    }
  Deadline deadline(c.timeout_ns, c.error);
  const char* own = send + (scatter ? c.rank * bytes : 0);
  for (size_t u = first; u < units; u += stride) {
    const uint64_t own_unit = pre_unit<T>(load_unit(own, bytes, u), ar);
    store_unit(recv, bytes, u, reduce_unit<T, R>(c, ar, own_unit, parity, u, seq, deadline));
  }
  ll_end(c, seq);
}

// Two-shot allreduce: the input is cut in n shards (whole 8-byte units);
// shard p goes to rank p as LL lines [0, S) of our source area there, rank p
// reduces it and sends the result to every rank as lines [S, 2S). Each
// thread owns the same units in all three loops on every rank, so no grid
// synchronization is needed: a unit's reduction waits only on that unit's
// lines, which the peers' owning threads push before they wait themselves.
// In place works for the same reason (a unit is read before it is written,
// by the same thread). Every rank still receives from every peer, as the LL
// area's reuse needs (see the top of this file).
template <typename T, RedKind R>
__global__ void __launch_bounds__(kThreads)
    ll_two_shot_kernel(DevComm c, CollArgs a, size_t shard_bytes) {
  const Arith<T> ar(a);
  const uint32_t seq = ll_begin(c);
  const int parity = seq & 1;
  const size_t total = a.count * sizeof(T);
  const size_t units = shard_bytes / 8;  // S
  auto len_of = [&](int p) {             // bytes of shard p (the last ones may be short)
    const size_t begin = p * shard_bytes;
    return begin >= total ? size_t(0) : (total - begin < shard_bytes ? total - begin : shard_bytes);
  };
  const char* send = static_cast<const char*>(a.send);
  char* recv = static_cast<char*>(a.recv);
  const size_t first = blockIdx.x * blockDim.x + threadIdx.x, stride = gridDim.x * blockDim.x;
  for (size_t u = first; u < units; u += stride)
    for (int p = 0; p < c.nranks; ++p) {
      if (p == c.rank) continue;
      const uint64_t v = pre_unit<T>(load_unit(send + p * shard_bytes, len_of(p), u), ar);
      ll_store(ll_line(c, p, parity, c.rank, u), v, seq);
    }
  Deadline deadline(c.timeout_ns, c.error);
  const size_t mine = c.rank * shard_bytes, my_len = len_of(c.rank);
  for (size_t u = first; u < units; u += stride) {
    const uint64_t own_unit = pre_unit<T>(load_unit(send + mine, my_len, u), ar);
    const uint64_t out = reduce_unit<T, R>(c, ar, own_unit, parity, u, seq, deadline);
    store_unit(recv + mine, my_len, u, out);
    for (int p = 0; p < c.nranks; ++p)
      if (p != c.rank) ll_store(ll_line(c, p, parity, c.rank, units + u), out, seq);
  }
  for (size_t u = first; u < units; u += stride)
    for (int r = 0; r < c.nranks; ++r)
      if (r != c.rank)
        store_unit(recv + r * shard_bytes, len_of(r), u,
                   ll_load(ll_line(c, c.rank, parity, r, units + u), seq, deadline));
  ll_end(c, seq);
}

// Allgather (message: the input) and all-to-all (message to p: block p).
__global__ void __launch_bounds__(kThreads) ll_move_kernel(DevComm c, CollArgs a, size_t bytes) {
  const uint32_t seq = ll_begin(c);
  const int parity = seq & 1;
  const size_t units = (bytes + 7) / 8;
  const bool alltoall = a.kind == CallKind::kAlltoAll;
  const char* send = static_cast<const char*>(a.send);
  char* recv = static_cast<char*>(a.recv);
  const size_t first = blockIdx.x * blockDim.x + threadIdx.x, stride = gridDim.x * blockDim.x;
  for (size_t u = first; u < units; u += stride)
    for (int p = 0; p < c.nranks; ++p) {
      if (p == c.rank) continue;
      const uint64_t v = load_unit(send + (alltoall ? p * bytes : 0), bytes, u);
      ll_store(ll_line(c, p, parity, c.rank, u), v, seq);
    }
  Deadline deadline(c.timeout_ns, c.error);
  const char* own = send + (alltoall ? c.rank * bytes : 0);
  char* own_out = recv + c.rank * bytes;
  for (size_t u = first; u < units; u += stride) {
    for (int r = 0; r < c.nranks; ++r) {
      if (r == c.rank) {
        if (own != own_out) store_unit(own_out, bytes, u, load_unit(own, bytes, u));
        continue;
      }
      store_unit(recv + r * bytes, bytes, u,
                 ll_load(ll_line(c, c.rank, parity, r, u), seq, deadline));
    }
  }
  ll_end(c, seq);
}

int ll_blocks(size_t units, int max_blocks) {
  size_t blocks = (units + kThreads - 1) / kThreads;
  if (blocks < 1) blocks = 1;
  return static_cast<int>(blocks < size_t(max_blocks) ? blocks : size_t(max_blocks));
}

}  // namespace

cudaError_t launch_ll_two_shot(const DevComm& c, const CollArgs& a, cudaStream_t stream) {
  return dispatch_type(a.type, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const size_t shard = plan::two_shot_shard_bytes(a.count * sizeof(T), c.nranks);
    return dispatch_red(a.red, [&](auto red) {
      ll_two_shot_kernel<T, decltype(red)::value>
          <<<ll_blocks(shard / 8, a.channels), kThreads, 0, stream>>>(c, a, shard);
      return cudaGetLastError();
    });
  });
}

cudaError_t launch_ll(const DevComm& c, const CollArgs& a, cudaStream_t stream) {
  if (a.kind == CallKind::kAllReduce || a.kind == CallKind::kReduceScatter) {
    return dispatch_type(a.type, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const size_t units = (a.count * sizeof(T) + 7) / 8;
      return dispatch_red(a.red, [&](auto red) {
        ll_reduce_kernel<T, decltype(red)::value>
            <<<ll_blocks(units, a.channels), kThreads, 0, stream>>>(c, a);
        return cudaGetLastError();
      });
    });
  }
  const size_t bytes = a.count * static_cast<size_t>(dispatch_type(a.type, [](auto tag) {
                         return int(sizeof(typename decltype(tag)::type));
                       }));
  ll_move_kernel<<<ll_blocks((bytes + 7) / 8, a.channels), kThreads, 0, stream>>>(c, a, bytes);
  return cudaGetLastError();
}

}  // namespace tdm::cuda
