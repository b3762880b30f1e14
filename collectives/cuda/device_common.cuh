// Device building blocks of the collective kernels: peer addressing,
// reduction arithmetic per type, the low-latency (LL) line format, and the
// flow-controlled channels of the bandwidth kernels.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "collectives/cuda/dev_comm.h"
#include "tandem/device/memory_order.cuh"
#include "util/numeric_types.h"

namespace tdm::cuda {

using tandem::detail::Deadline;

__device__ __forceinline__ char* peer_heap(const DevComm& c, int pe) {
  if (c.peer_stride != 0) return c.heap + static_cast<long long>(pe - c.rank) * c.peer_stride;
  return reinterpret_cast<char*>(c.peer_heaps[pe]);
}

// ---- arithmetic ----

// Accumulation type: narrow floats in float (rounded once at the end), the
// rest in their own type; integer sum and product wrap like the host engine.
template <typename T>
struct Num {
  using Acc = T;
  __device__ static Acc to_acc(T v) { return v; }
  __device__ static T from_acc(Acc v) { return v; }
};
template <typename T>
struct NarrowFloat {
  using Acc = float;
  __device__ static Acc to_acc(T v) { return v.to_float(); }
  __device__ static T from_acc(Acc v) { return T::from_float(v); }
};
template <>
struct Num<half_t> : NarrowFloat<half_t> {};
template <>
struct Num<bfloat16_t> : NarrowFloat<bfloat16_t> {};
template <>
struct Num<fp8e4m3_t> : NarrowFloat<fp8e4m3_t> {};
template <>
struct Num<fp8e5m2_t> : NarrowFloat<fp8e5m2_t> {};

template <RedKind R, typename A>
__device__ __forceinline__ A combine(A a, A b) {
  if constexpr (std::is_integral_v<A>) {
    using U = std::make_unsigned_t<A>;
    if constexpr (R == RedKind::kSum) return static_cast<A>(static_cast<U>(a) + static_cast<U>(b));
    if constexpr (R == RedKind::kProd)
      return static_cast<A>(static_cast<U>(static_cast<U>(a) * static_cast<U>(b)));
  } else {
    if constexpr (R == RedKind::kSum) return a + b;
    if constexpr (R == RedKind::kProd) return a * b;
  }
  if constexpr (R == RedKind::kMax) return a > b ? a : b;
  if constexpr (R == RedKind::kMin) return a < b ? a : b;
  return a;
}

// Per-call arithmetic: premulsum scale of this rank's input, avg divisor.
template <typename T>
struct Arith {
  using N = Num<T>;
  using Acc = typename N::Acc;
  bool premul = false;
  Acc scalar{};
  int divisor = 0;

  __device__ Arith(const CollArgs& a) : premul(a.premul != 0), divisor(a.divisor) {
    if (premul) {
      T s;
      if (a.scalar_ptr)
        s = *static_cast<const T*>(a.scalar_ptr);
      else
        memcpy(&s, &a.scalar_bits, sizeof(T));
      scalar = N::to_acc(s);
    }
  }
  __device__ __forceinline__ T pre(T v) const {
    return premul ? N::from_acc(combine<RedKind::kProd>(N::to_acc(v), scalar)) : v;
  }
  __device__ __forceinline__ T finish(Acc v) const {
    if (divisor > 1) {
      if constexpr (std::is_integral_v<T>)
        return static_cast<T>(N::from_acc(v) / static_cast<T>(divisor));
      else
        return N::from_acc(v / static_cast<Acc>(divisor));
    }
    return N::from_acc(v);
  }
};

// ---- byte movement ----

template <typename V>
__device__ __forceinline__ bool aligned(const void* p) {
  return (reinterpret_cast<uintptr_t>(p) & (sizeof(V) - 1)) == 0;
}

// Block-wide copy of `bytes`, 16-byte accesses (4 in flight per thread) when aligned.
__device__ __forceinline__ void block_copy(char* dst, const char* src, size_t bytes) {
  size_t done = 0;
  if (aligned<int4>(dst) && aligned<int4>(src)) {
    const size_t vectors = bytes / 16;
    auto* d = reinterpret_cast<int4*>(dst);
    const auto* s = reinterpret_cast<const int4*>(src);
    const size_t stride = blockDim.x;
    size_t i = threadIdx.x;
    for (; i + 3 * stride < vectors; i += 4 * stride) {
      int4 a = s[i], b = s[i + stride], c = s[i + 2 * stride], e = s[i + 3 * stride];
      d[i] = a;
      d[i + stride] = b;
      d[i + 2 * stride] = c;
      d[i + 3 * stride] = e;
    }
    for (; i < vectors; i += stride) d[i] = s[i];
    done = vectors * 16;
  }
  for (size_t i = done + threadIdx.x; i < bytes; i += blockDim.x) dst[i] = src[i];
}

// Block-wide dst[i] = pre(src[i]) (premulsum scale on the way out).
template <typename T>
__device__ __forceinline__ void block_copy_scaled(T* dst, const T* src, size_t count,
                                                  const Arith<T>& ar) {
  if (!ar.premul) {
    block_copy(reinterpret_cast<char*>(dst), reinterpret_cast<const char*>(src), count * sizeof(T));
    return;
  }
  for (size_t i = threadIdx.x; i < count; i += blockDim.x) dst[i] = ar.pre(src[i]);
}

// Block-wide out[i] = finish(reduce over r in rank order of (r == me ? pre(own[i]) : srcs[r][i])).
template <typename T, RedKind R>
__device__ __forceinline__ void block_reduce(T* out, const T* own, const T* const* srcs, int n,
                                             int me, size_t count, const Arith<T>& ar) {
  using N = Num<T>;
  using Acc = typename N::Acc;
  constexpr int V = 16 / sizeof(T);
  bool vec = aligned<int4>(out) && aligned<int4>(own);
  for (int r = 0; r < n; ++r) vec = vec && (r == me || aligned<int4>(srcs[r]));
  size_t done = 0;
  if (vec) {
    const size_t vectors = count / V;
    for (size_t v = threadIdx.x; v < vectors; v += blockDim.x) {
      union U {
        int4 raw;
        T e[V];
      };
      U mine, in, res;
      mine.raw = reinterpret_cast<const int4*>(own)[v];
      Acc acc[V];
      for (int r = 0; r < n; ++r) {
        if (r == me) {
          in = mine;
#pragma unroll
          for (int k = 0; k < V; ++k) in.e[k] = ar.pre(in.e[k]);
        } else {
          in.raw = reinterpret_cast<const int4*>(srcs[r])[v];
        }
#pragma unroll
        for (int k = 0; k < V; ++k)
          acc[k] = r == 0 ? N::to_acc(in.e[k]) : combine<R>(acc[k], N::to_acc(in.e[k]));
      }
#pragma unroll
      for (int k = 0; k < V; ++k) res.e[k] = ar.finish(acc[k]);
      reinterpret_cast<int4*>(out)[v] = res.raw;
    }
    done = vectors * V;
  }
  for (size_t i = done + threadIdx.x; i < count; i += blockDim.x) {
    Acc acc{};
    for (int r = 0; r < n; ++r) {
      T x = r == me ? ar.pre(own[i]) : srcs[r][i];
      acc = r == 0 ? N::to_acc(x) : combine<R>(acc, N::to_acc(x));
    }
    out[i] = ar.finish(acc);
  }
}

// ---- low-latency lines: 8 data bytes and two copies of the call's flag in
// one 16-byte store, so a reader that sees both flags sees the data. ----

__device__ __forceinline__ void ll_store(char* line, uint64_t data, uint32_t flag) {
  asm volatile("st.volatile.global.v4.u32 [%0], {%1, %2, %3, %4};" ::"l"(line),
               "r"(static_cast<uint32_t>(data)), "r"(flag), "r"(static_cast<uint32_t>(data >> 32)),
               "r"(flag)
               : "memory");
}

__device__ __forceinline__ uint64_t ll_load(const char* line, uint32_t flag, Deadline& deadline) {
  uint32_t d0, f0, d1, f1;
  for (;;) {
    asm volatile("ld.volatile.global.v4.u32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(d0), "=r"(f0), "=r"(d1), "=r"(f1)
                 : "l"(line)
                 : "memory");
    if (f0 == flag && f1 == flag) break;
    deadline.check();
  }
  return static_cast<uint64_t>(d0) | (static_cast<uint64_t>(d1) << 32);
}

// 8-byte unit `u` of a buffer of `bytes`; the last unit may be partial and
// the buffer may be unaligned, then bytes are moved one by one.
__device__ __forceinline__ uint64_t load_unit(const char* base, size_t bytes, size_t u) {
  const char* p = base + u * 8;
  if (u * 8 + 8 <= bytes && aligned<uint64_t>(p)) return *reinterpret_cast<const uint64_t*>(p);
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && u * 8 + i < bytes; ++i)
    v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}
__device__ __forceinline__ void store_unit(char* base, size_t bytes, size_t u, uint64_t v) {
  char* p = base + u * 8;
  if (u * 8 + 8 <= bytes && aligned<uint64_t>(p)) {
    *reinterpret_cast<uint64_t*>(p) = v;
    return;
  }
  for (size_t i = 0; i < 8 && u * 8 + i < bytes; ++i) p[i] = static_cast<char>(v >> (8 * i));
}

// Line `u` of the LL area for messages from `src`, in `owner`'s heap.
__device__ __forceinline__ char* ll_line(const DevComm& c, int owner, int parity, int src,
                                         size_t u) {
  return peer_heap(c, owner) + c.ll_offset +
         ((static_cast<size_t>(parity) * c.nranks + src) * c.ll_lines + u) * 16;
}

// The call number every block of an LL launch agrees on.
__device__ __forceinline__ uint32_t ll_begin(const DevComm& c) {
  return *reinterpret_cast<volatile uint32_t*>(&c.ll_counter[0]) + 1;
}
// The last block to finish publishes the call number for the next launch.
__device__ __forceinline__ void ll_end(const DevComm& c, uint32_t seq) {
  __syncthreads();
  if (threadIdx.x == 0) {
    __threadfence();
    if (atomicAdd(&c.ll_counter[1], 1u) == gridDim.x - 1) {
      c.ll_counter[1] = 0;
      *reinterpret_cast<volatile uint32_t*>(&c.ll_counter[0]) = seq;
      __threadfence();
    }
  }
}

// ---- channels: per (channel, peer) a ring of `depth` slots in the
// receiver's heap, a delivered counter at the receiver and a consumed
// counter at the sender; both monotonic across launches. ----

struct Channel {
  const DevComm& c;
  int ch;
  uint64_t* sent;      // shared memory, [kMaxRanks]
  uint64_t* received;  // shared memory, [kMaxRanks]

  __device__ uint64_t* ready_word(int owner, int src) const {
    return reinterpret_cast<uint64_t*>(peer_heap(c, owner) + c.ready_offset) + ch * c.nranks + src;
  }
  __device__ uint64_t* ack_word(int owner, int dst) const {
    return reinterpret_cast<uint64_t*>(peer_heap(c, owner) + c.ack_offset) + ch * c.nranks + dst;
  }
  __device__ char* slot(int owner, int src, uint64_t step) const {
    return peer_heap(c, owner) + c.slots_offset +
           ((static_cast<size_t>(ch) * c.nranks + src) * c.depth + step % c.depth) * c.slot_bytes;
  }
  // Where the next message to `peer` goes (valid between send_begin and send_end).
  __device__ char* out_slot(int peer) const { return slot(peer, c.rank, sent[peer]); }
  __device__ const char* in_slot(int peer) const { return slot(c.rank, peer, received[peer]); }

  // Waits until every peer in `mask` has a free slot for our next message.
  __device__ void send_begin(uint32_t mask) const {
    if (threadIdx.x == 0) {
      Deadline deadline(c.timeout_ns, c.error);
      for (int p = 0; p < c.nranks; ++p) {
        if (!(mask >> p & 1u)) continue;
        const uint64_t need = sent[p] + 1;  // consumed must reach need - depth
        if (need <= static_cast<uint64_t>(c.depth)) continue;
        while (tandem::detail::ld_acquire_sys(ack_word(c.rank, p)) + c.depth < need)
          deadline.check();
      }
    }
    __syncthreads();
  }
  // Publishes the messages written to the peers in `mask`.
  __device__ void send_end(uint32_t mask) const {
    __syncthreads();
    if (threadIdx.x == 0) {
      tandem::detail::fence_acq_rel_sys();
      for (int p = 0; p < c.nranks; ++p)
        if (mask >> p & 1u) tandem::detail::st_relaxed_sys(ready_word(p, c.rank), ++sent[p]);
    }
  }
  // Waits for the next message from every peer in `mask`.
  __device__ void recv_begin(uint32_t mask) const {
    if (threadIdx.x == 0) {
      Deadline deadline(c.timeout_ns, c.error);
      for (int p = 0; p < c.nranks; ++p) {
        if (!(mask >> p & 1u)) continue;
        while (tandem::detail::ld_acquire_sys(ready_word(c.rank, p)) < received[p] + 1)
          deadline.check();
      }
    }
    __syncthreads();
  }
  // Returns the slots of the peers in `mask` to their senders.
  __device__ void recv_end(uint32_t mask) const {
    __syncthreads();
    if (threadIdx.x == 0) {
      tandem::detail::fence_acq_rel_sys();
      for (int p = 0; p < c.nranks; ++p)
        if (mask >> p & 1u) tandem::detail::st_relaxed_sys(ack_word(p, c.rank), ++received[p]);
    }
  }
};

// Loads this channel's counters into shared memory / stores them back.
__device__ __forceinline__ void channel_load(const DevComm& c, int ch, uint64_t* sent,
                                             uint64_t* received) {
  if (threadIdx.x < c.nranks) {
    sent[threadIdx.x] = c.sent[ch * c.nranks + threadIdx.x];
    received[threadIdx.x] = c.received[ch * c.nranks + threadIdx.x];
  }
  __syncthreads();
}
__device__ __forceinline__ void channel_store(const DevComm& c, int ch, const uint64_t* sent,
                                              const uint64_t* received, bool store_sent,
                                              bool store_received) {
  __syncthreads();
  if (threadIdx.x < c.nranks) {
    if (store_sent) c.sent[ch * c.nranks + threadIdx.x] = sent[threadIdx.x];
    if (store_received) c.received[ch * c.nranks + threadIdx.x] = received[threadIdx.x];
  }
}

__device__ __forceinline__ uint32_t all_peers(const DevComm& c) {
  return ((c.nranks >= 32 ? 0xffffffffu : (1u << c.nranks) - 1)) & ~(1u << c.rank);
}

}  // namespace tdm::cuda
