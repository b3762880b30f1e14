// Atomics under contention on PE 0.
#include "shmem_harness.h"

namespace shmem_device_test {

namespace {

// ============================================================================
// atomics under contention on PE 0
// ============================================================================

struct AtomicWords {
  uint64_t fadd;
  uint32_t fadd32;
  uint32_t pad;
  int64_t neg;
  uint64_t cas;
  uint64_t swap;
  int32_t cas32;
};

__global__ void atomics_kernel(tdmShmemDevice_t sh, AtomicWords* w, uint64_t* olds64,
                               uint32_t* olds32, uint64_t* swapped) {
  const size_t gid = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  const size_t per_pe = size_t(gridDim.x) * blockDim.x;
  olds64[gid] = ts::atomic_fetch_add<uint64_t>(sh, &w->fadd, 1, 0);
  olds32[gid] = ts::atomic_fetch_add<uint32_t>(sh, &w->fadd32, 1u, 0);
  ts::atomic_add<int64_t>(sh, &w->neg, -3, 0);
  // Unique nonzero ids: the swapped-out values and the final one are the
  // initial 0 and every id, each once.
  swapped[gid] = ts::atomic_swap<uint64_t>(sh, &w->swap, sh.my_pe * per_pe + gid + 1, 0);
}

// A counter from compare_swap alone: the value each thread moved from.
__global__ void cas_kernel(tdmShmemDevice_t sh, AtomicWords* w, uint64_t* olds, int32_t* olds32) {
  const size_t gid = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  uint64_t v = ts::atomic_fetch<uint64_t>(sh, &w->cas, 0);
  for (;;) {
    const uint64_t old = ts::atomic_compare_swap<uint64_t>(sh, &w->cas, v, v + 1, 0);
    if (old == v) break;
    v = old;
  }
  olds[gid] = v;
  // 32-bit signed, counting down from 0.
  int32_t c = ts::atomic_fetch<int32_t>(sh, &w->cas32, 0);
  for (;;) {
    const int32_t old = ts::atomic_compare_swap<int32_t>(sh, &w->cas32, c, c - 1, 0);
    if (old == c) break;
    c = old;
  }
  olds32[gid] = c;
}

__global__ void read_words_kernel(tdmShmemDevice_t sh, AtomicWords* w, unsigned long long* out) {
  out[0] = ts::atomic_fetch<uint64_t>(sh, &w->fadd, 0);
  out[1] = ts::atomic_fetch<uint32_t>(sh, &w->fadd32, 0);
  out[2] = static_cast<unsigned long long>(ts::atomic_fetch<int64_t>(sh, &w->neg, 0));
  out[3] = ts::atomic_fetch<uint64_t>(sh, &w->cas, 0);
  out[4] = ts::atomic_fetch<uint64_t>(sh, &w->swap, 0);
  out[5] = static_cast<unsigned long long>(
      static_cast<long long>(ts::atomic_fetch<int32_t>(sh, &w->cas32, 0)));
}

// `values` (every PE's) must be exactly first, first + 1, ... (any order).
template <typename T>
void expect_permutation(std::vector<T> values, long long first, long long step, const char* what) {
  std::sort(values.begin(), values.end(), [&](T a, T b) { return step > 0 ? a < b : a > b; });
  size_t bad = 0;
  for (size_t i = 0; i < values.size(); ++i)
    if (static_cast<long long>(values[i]) != first + step * static_cast<long long>(i)) {
      if (bad++ == 0)
        ADD_FAILURE() << what << ": sorted value " << i << " is " << +values[i] << ", want "
                      << first + step * static_cast<long long>(i)
                      << " (returned old values are not all distinct and complete)";
    }
  EXPECT_EQ(bad, 0u) << what;
}

TEST_F(Shmem, AtomicsUnderContention) {
  constexpr int kBlocks = 8, kThreads = 256, kCasBlocks = 4, kCasThreads = 64;
  const size_t per_pe = kBlocks * kThreads, cas_per_pe = kCasBlocks * kCasThreads;
  const size_t total = per_pe * g_npes, cas_total = cas_per_pe * g_npes;
  Sym words(sizeof(AtomicWords));
  auto* w = words.as<AtomicWords>();
  Local olds64(per_pe * 8), olds32(per_pe * 4), swapped(per_pe * 8), cas_olds(cas_per_pe * 8),
      cas_olds32(cas_per_pe * 4), final_words(8 * 8);
  CUDA_EXPECT(cudaMemsetAsync(words.p, 0, sizeof(AtomicWords), g_stream));
  host_barrier();
  atomics_kernel<<<kBlocks, kThreads, 0, g_stream>>>(g_dev, w, olds64.as<uint64_t>(),
                                                     olds32.as<uint32_t>(), swapped.as<uint64_t>());
  LAUNCHED();
  cas_kernel<<<kCasBlocks, kCasThreads, 0, g_stream>>>(g_dev, w, cas_olds.as<uint64_t>(),
                                                       cas_olds32.as<int32_t>());
  LAUNCHED();
  host_barrier();  // every PE's atomics are done
  read_words_kernel<<<1, 1, 0, g_stream>>>(g_dev, w, final_words.as<unsigned long long>());
  LAUNCHED();
  CUDA_EXPECT(cudaStreamSynchronize(g_stream));

  std::vector<uint64_t> h64(per_pe), hswap(per_pe), hcas(cas_per_pe);
  std::vector<uint32_t> h32(per_pe);
  std::vector<int32_t> hcas32(cas_per_pe);
  unsigned long long fin[8] = {};
  CUDA_EXPECT(cudaMemcpy(h64.data(), olds64.p, per_pe * 8, cudaMemcpyDeviceToHost));
  CUDA_EXPECT(cudaMemcpy(h32.data(), olds32.p, per_pe * 4, cudaMemcpyDeviceToHost));
  CUDA_EXPECT(cudaMemcpy(hswap.data(), swapped.p, per_pe * 8, cudaMemcpyDeviceToHost));
  CUDA_EXPECT(cudaMemcpy(hcas.data(), cas_olds.p, cas_per_pe * 8, cudaMemcpyDeviceToHost));
  CUDA_EXPECT(cudaMemcpy(hcas32.data(), cas_olds32.p, cas_per_pe * 4, cudaMemcpyDeviceToHost));
  CUDA_EXPECT(cudaMemcpy(fin, final_words.p, 6 * 8, cudaMemcpyDeviceToHost));

  EXPECT_EQ(fin[0], total) << "fetch_add<uint64> final value on PE 0";
  EXPECT_EQ(fin[1], total) << "fetch_add<uint32> final value on PE 0";
  EXPECT_EQ(static_cast<long long>(fin[2]), -3LL * static_cast<long long>(total))
      << "atomic_add<int64>(-3)";
  EXPECT_EQ(fin[3], cas_total) << "compare_swap counter";
  EXPECT_EQ(static_cast<long long>(fin[5]), -static_cast<long long>(cas_total))
      << "compare_swap<int32> counter";
  expect_permutation(all_gather(h64, tdmUint64), 0, 1, "fetch_add<uint64> old values");
  expect_permutation(all_gather(h32, tdmUint32), 0, 1, "fetch_add<uint32> old values");
  expect_permutation(all_gather(hcas, tdmUint64), 0, 1, "compare_swap<uint64> old values");
  expect_permutation(all_gather(hcas32, tdmInt32), 0, -1, "compare_swap<int32> old values");
  auto swaps = all_gather(hswap, tdmUint64);
  swaps.push_back(fin[4]);
  expect_permutation(swaps, 0, 1, "swap: old values and final value");
}

}  // namespace
}  // namespace shmem_device_test
