#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "fused/kernels.h"

namespace tdm::fused {

namespace {

constexpr int kThreads = 512;
constexpr int kVec = 8;  // 16-byte loads of 2-byte elements

__device__ inline float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ inline float to_float(__half x) { return __half2float(x); }
template <typename T>
__device__ inline T from_float(float x);
template <>
__device__ inline __nv_bfloat16 from_float<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}
template <>
__device__ inline __half from_float<__half>(float x) {
  return __float2half_rn(x);
}

// Vector part: every pointer 16-byte aligned, elems a multiple of kVec
// (launch_sum checks; else the scalar loop does everything).
template <typename T>
__global__ void __launch_bounds__(kThreads)
    sum_kernel(SumInputs in, T* out, T* out2, size_t elems, bool vector) {
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  const size_t first = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (vector) {
    for (size_t v = first; v < elems / kVec; v += stride) {
      float acc[kVec] = {};
      for (int j = 0; j < in.count; ++j) {
        // Peers' data arrives over NVLink: plain (non-cached-stale) loads are
        // right because the flag wait before this kernel ordered them.
        const uint4 raw = reinterpret_cast<const uint4*>(in.src[j])[v];
        const T* x = reinterpret_cast<const T*>(&raw);
#pragma unroll
        for (int e = 0; e < kVec; ++e) acc[e] += to_float(x[e]);
      }
      uint4 packed;
      T* y = reinterpret_cast<T*>(&packed);
#pragma unroll
      for (int e = 0; e < kVec; ++e) y[e] = from_float<T>(acc[e]);
      reinterpret_cast<uint4*>(out)[v] = packed;
      if (out2) reinterpret_cast<uint4*>(out2)[v] = packed;
    }
    return;
  }
  for (size_t i = first; i < elems; i += stride) {
    float acc = 0.f;
    for (int j = 0; j < in.count; ++j) acc += to_float(static_cast<const T*>(in.src[j])[i]);
    out[i] = from_float<T>(acc);
    if (out2) out2[i] = from_float<T>(acc);
  }
}

__device__ inline void st_release(uint32_t* p, uint32_t v) {
  asm volatile("st.release.sys.global.u32 [%0], %1;" ::"l"(p), "r"(v) : "memory");
}
__device__ inline uint32_t ld_acquire(const uint32_t* p) {
  uint32_t v = 0;
  asm volatile("ld.acquire.sys.global.u32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
  return v;
}

// Block b of this rank and of every peer: thread p < nranks tells peer p and
// waits for it. Word (phase, b, src) of a rank's flags is written by src only.
__device__ inline void ar_barrier(const ArArgs& a, int phase, uint32_t epoch) {
  const int p = static_cast<int>(threadIdx.x);
  if (p < a.nranks && p != a.rank) {
    const size_t row = (static_cast<size_t>(phase) * kArMaxBlocks + blockIdx.x) * kMaxRanks;
    st_release(a.flags[p] + row + a.rank, epoch);
    while (ld_acquire(a.flags[a.rank] + row + p) != epoch) {
    }
  }
  __syncthreads();
}

template <typename T>
__global__ void __launch_bounds__(kThreads) ar_one_shot_kernel(ArArgs a, T* out, size_t elems) {
  __shared__ uint32_t epoch_s;
  if (threadIdx.x == 0) epoch_s = a.counters[blockIdx.x] + 1;
  __syncthreads();
  const uint32_t epoch = epoch_s;
  ar_barrier(a, 0, epoch);
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  const size_t first = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (size_t v = first; v < elems / kVec; v += stride) {
    // All loads first (up to eight 16-byte loads in flight per thread), own
    // partial first: the peers' come over NVLink.
    uint4 raw[kMaxRanks];
#pragma unroll
    for (int j = 0; j < kMaxRanks; ++j)
      if (j < a.nranks)
        raw[j] = reinterpret_cast<const uint4*>(a.partial[(a.rank + j) % a.nranks])[v];
    float acc[kVec] = {};
#pragma unroll
    for (int j = 0; j < kMaxRanks; ++j) {
      if (j >= a.nranks) break;
      const T* x = reinterpret_cast<const T*>(&raw[j]);
#pragma unroll
      for (int e = 0; e < kVec; ++e) acc[e] += to_float(x[e]);
    }
    uint4 packed;
    T* y = reinterpret_cast<T*>(&packed);
#pragma unroll
    for (int e = 0; e < kVec; ++e) y[e] = from_float<T>(acc[e]);
    reinterpret_cast<uint4*>(out)[v] = packed;
  }
  // The scalar tail (elems not a multiple of kVec), by the last block.
  if (blockIdx.x == gridDim.x - 1)
    for (size_t i = elems / kVec * kVec + threadIdx.x; i < elems; i += blockDim.x) {
      float acc = 0.f;
      for (int j = 0; j < a.nranks; ++j)
        acc += to_float(static_cast<const T*>(a.partial[(a.rank + j) % a.nranks])[i]);
      out[i] = from_float<T>(acc);
    }
  __syncthreads();
  ar_barrier(a, 1, epoch);
  if (threadIdx.x == 0) a.counters[blockIdx.x] = epoch;
}

__global__ void raise_kernel(uint32_t* flag) {
  __threadfence_system();  // the stream's earlier writes are visible first
  asm volatile("st.release.sys.global.u32 [%0], %1;" ::"l"(flag), "r"(1u) : "memory");
}

__global__ void await_kernel(uint32_t* flag) {
  uint32_t v = 0;
  do {
    asm volatile("ld.acquire.sys.global.u32 %0, [%1];" : "=r"(v) : "l"(flag) : "memory");
  } while (v != 1u);
  *flag = 0u;
  __threadfence_system();
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

template <typename T>
cudaError_t launch(const SumInputs& in, void* out, void* out2, size_t elems, int blocks,
                   cudaStream_t stream) {
  bool vector = elems % kVec == 0 && aligned16(out) && (!out2 || aligned16(out2));
  for (int j = 0; j < in.count; ++j) vector = vector && aligned16(in.src[j]);
  const size_t work = vector ? elems / kVec : elems;
  int device = 0, sms = 0;
  cudaGetDevice(&device);
  cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device);
  size_t grid = (work + kThreads - 1) / kThreads;
  const size_t cap = blocks > 0 ? static_cast<size_t>(blocks) : 2 * static_cast<size_t>(sms);
  if (grid > cap) grid = cap;
  if (grid == 0) return cudaSuccess;
  sum_kernel<T><<<static_cast<unsigned>(grid), kThreads, 0, stream>>>(
      in, static_cast<T*>(out), static_cast<T*>(out2), elems, vector);
  return cudaGetLastError();
}

}  // namespace

cudaError_t launch_ar_one_shot(const ArArgs& args, void* out, size_t elems, tdmDataType_t type,
                               int blocks, cudaStream_t stream) {
  // A grid from elems alone (and the agreed cap), so every rank's is equal:
  // one 16-byte vector per thread up to the cap.
  size_t grid = (elems / kVec + kThreads - 1) / kThreads;
  const size_t cap = blocks > 0 && blocks < kArMaxBlocks ? static_cast<size_t>(blocks)
                                                         : static_cast<size_t>(kArMaxBlocks);
  grid = grid < 1 ? 1 : grid > cap ? cap : grid;
  if (type == tdmBfloat16)
    ar_one_shot_kernel<__nv_bfloat16><<<static_cast<unsigned>(grid), kThreads, 0, stream>>>(
        args, static_cast<__nv_bfloat16*>(out), elems);
  else
    ar_one_shot_kernel<__half><<<static_cast<unsigned>(grid), kThreads, 0, stream>>>(
        args, static_cast<__half*>(out), elems);
  return cudaGetLastError();
}

cudaError_t launch_sum(const SumInputs& in, void* out, void* out2, size_t elems, tdmDataType_t type,
                       int blocks, cudaStream_t stream) {
  return type == tdmBfloat16 ? launch<__nv_bfloat16>(in, out, out2, elems, blocks, stream)
                             : launch<__half>(in, out, out2, elems, blocks, stream);
}

cudaError_t launch_raise_flag(uint32_t* flag, cudaStream_t stream) {
  raise_kernel<<<1, 1, 0, stream>>>(flag);
  return cudaGetLastError();
}

cudaError_t launch_await_flag(uint32_t* flag, cudaStream_t stream) {
  await_kernel<<<1, 1, 0, stream>>>(flag);
  return cudaGetLastError();
}

}  // namespace tdm::fused
