// put and get at every scope, blocking and nbi, sizes and offsets; p and g.
#include "shmem_harness.h"

namespace shmem_device_test {

namespace {

// ============================================================================
// put / get at every scope, blocking and nbi, sizes and offsets
// ============================================================================

// Between two device barriers (so every PE's poison and source are in place
// before, and every transfer is complete after): put to `pe` or get from it.
template <Scope S, bool kGet, bool kNbi>
__global__ void xfer_kernel(tdmShmemDevice_t sh, uint8_t* dst, const uint8_t* src, size_t bytes,
                            int pe) {
  ts::barrier<Scope::kBlock>(sh);
  if (in_group<S>()) {
    if constexpr (kGet) {
      if constexpr (kNbi) {
        ts::get_nbi<S>(sh, dst, src, bytes, pe);
        ts::quiet(sh);
      } else {
        ts::get<S>(sh, dst, src, bytes, pe);
      }
    } else {
      if constexpr (kNbi) {
        ts::put_nbi<S>(sh, dst, src, bytes, pe);
        ts::quiet(sh);
      } else {
        ts::put<S>(sh, dst, src, bytes, pe);
      }
    }
  }
  ts::barrier<Scope::kBlock>(sh);
}

template <Scope S>
void launch_xfer(bool get, bool nbi, uint8_t* dst, const uint8_t* src, size_t bytes, int pe) {
  constexpr int kThreads = 256;
  if (get && nbi)
    xfer_kernel<S, true, true><<<1, kThreads, 0, g_stream>>>(g_dev, dst, src, bytes, pe);
  else if (get)
    xfer_kernel<S, true, false><<<1, kThreads, 0, g_stream>>>(g_dev, dst, src, bytes, pe);
  else if (nbi)
    xfer_kernel<S, false, true><<<1, kThreads, 0, g_stream>>>(g_dev, dst, src, bytes, pe);
  else
    xfer_kernel<S, false, false><<<1, kThreads, 0, g_stream>>>(g_dev, dst, src, bytes, pe);
  LAUNCHED();
}

TEST_F(Shmem, PutGetEveryScopeSizeAndOffset) {
  const size_t sizes[] = {1, 3, 16, 1000, 4096 + 5, 1 << 20};
  // (source offset, destination offset): 16-byte, 4-byte and byte paths.
  const size_t offsets[][2] = {{0, 0}, {4, 12}, {1, 3}, {5, 5}, {16, 7}};
  constexpr size_t kMax = (1 << 20) + 64;
  Sym src(kMax), dst(kMax);
  uint64_t tag = 0;
  for (bool get : {false, true})
    for (Scope scope : {Scope::kThread, Scope::kWarp, Scope::kBlock})
      for (bool nbi : {false, true})
        for (size_t bytes : sizes)
          for (const auto& off : offsets) {
            ++tag;
            CUDA_EXPECT(cudaMemsetAsync(dst.p, kPoison, kMax, g_stream));
            fill(src.p, kMax, seed_, g_rank, tag);
            const uint8_t* s = src.as() + off[0];
            uint8_t* d = dst.as() + off[1];
            // put: my source to the next PE's dst; get: the previous PE's
            // source to my dst. Either way my dst holds the previous PE's data.
            const int pe = get ? prev_pe() : next_pe();
            if (scope == Scope::kThread)
              launch_xfer<Scope::kThread>(get, nbi, d, s, bytes, pe);
            else if (scope == Scope::kWarp)
              launch_xfer<Scope::kWarp>(get, nbi, d, s, bytes, pe);
            else
              launch_xfer<Scope::kBlock>(get, nbi, d, s, bytes, pe);
            check(dst.p, kMax, off[1], bytes, seed_, prev_pe(), tag, off[0]);
            EXPECT_NO_ERRORS((get ? "get" : "put")
                             << (nbi ? "_nbi" : "") << "<" << scope_name(scope) << "> of " << bytes
                             << " B, offsets " << off[0] << "/" << off[1]);
          }
}

// Warp scope in a block whose x extent is not a multiple of 32: the group is
// the hardware warp (lanes by linear thread index), not threadIdx.x & 31.
__global__ void warp_2d_kernel(tdmShmemDevice_t sh, uint8_t* dst, const uint8_t* src, size_t bytes,
                               int pe) {
  ts::barrier<Scope::kBlock>(sh);
  const int linear = threadIdx.x + blockDim.x * threadIdx.y;
  if (linear / 32 == 1) ts::put<Scope::kWarp>(sh, dst, src, bytes, pe);
  ts::barrier<Scope::kBlock>(sh);
}

TEST_F(Shmem, WarpScopeInATwoDimensionalBlock) {
  constexpr size_t kBytes = 4096 + 48, kTotal = kBytes + 64;
  Sym src(kTotal), dst(kTotal);
  CUDA_EXPECT(cudaMemsetAsync(dst.p, kPoison, kTotal, g_stream));
  fill(src.p, kTotal, seed_, g_rank, 1);
  warp_2d_kernel<<<1, dim3(8, 8), 0, g_stream>>>(g_dev, dst.as(), src.as(), kBytes, next_pe());
  LAUNCHED();
  check(dst.p, kTotal, 0, kBytes, seed_, prev_pe(), 1, 0);
  EXPECT_NO_ERRORS("put<warp> from warp 1 of an 8x8 block");
}

// ---- p / g ----

template <typename T>
__host__ __device__ inline T element(uint64_t seed, int pe, uint64_t tag, int k) {
  uint8_t bytes[sizeof(T)];
  for (size_t b = 0; b < sizeof(T); ++b) bytes[b] = pattern(seed, pe, tag, k * sizeof(T) + b);
  T v;
  memcpy(&v, bytes, sizeof(T));
  return v;
}
template <typename T>
__device__ inline unsigned long long bits_of(T v) {
  unsigned long long out = 0;
  memcpy(&out, &v, sizeof(T));
  return out;
}
template <typename T>
__device__ inline bool same_bits(T a, T b) {
  return bits_of(a) == bits_of(b);
}

template <typename T>
__global__ void pg_kernel(tdmShmemDevice_t sh, T* slots, int count, uint64_t seed, uint64_t tag,
                          Errors* e) {
  const int me = sh.my_pe, n = sh.n_pes, next = (me + 1) % n, prev = (me + n - 1) % n;
  ts::barrier<Scope::kBlock>(sh);  // every PE poisoned its slots
  for (int k = threadIdx.x; k < count; k += blockDim.x)
    ts::p<T>(sh, &slots[k], element<T>(seed, me, tag, k), next);
  ts::barrier<Scope::kBlock>(sh);
  for (int k = threadIdx.x; k < count; k += blockDim.x) {
    const T back = ts::g<T>(sh, &slots[k], next);  // what I wrote there
    const T want_back = element<T>(seed, me, tag, k);
    if (!same_bits(back, want_back)) record(e, k, bits_of(back), bits_of(want_back));
    const T mine = slots[k];  // what the previous PE wrote here
    const T want_mine = element<T>(seed, prev, tag, k);
    if (!same_bits(mine, want_mine)) record(e, count + k, bits_of(mine), bits_of(want_mine));
  }
  ts::barrier<Scope::kBlock>(sh);  // every g done before anyone reuses the slots
}

template <typename T>
void run_pg(const char* name, uint64_t seed, uint64_t tag) {
  constexpr int kCount = 1000;
  Sym slots(kCount * sizeof(T));
  CUDA_EXPECT(cudaMemsetAsync(slots.p, kPoison, kCount * sizeof(T), g_stream));
  pg_kernel<T><<<1, 192, 0, g_stream>>>(g_dev, slots.as<T>(), kCount, seed, tag, g_errors);
  LAUNCHED();
  EXPECT_NO_ERRORS("p/g of " << name << " (index >= " << kCount << ": local slot)");
}

TEST_F(Shmem, SingleElementsPG) {
  run_pg<uint8_t>("uint8", seed_, 1);
  run_pg<int16_t>("int16", seed_, 2);
  run_pg<int32_t>("int32", seed_, 3);
  run_pg<uint64_t>("uint64", seed_, 4);
  run_pg<float>("float", seed_, 5);
  run_pg<double>("double", seed_, 6);
}

}  // namespace
}  // namespace shmem_device_test
