// The data pattern on the device: fill kernels write it, check kernels compare
// every byte with it and record the first mismatch (see shmem_harness.h).
#include "shmem_harness.h"

namespace shmem_device_test {

// ---- data ----

// Waits for the stream and returns (and clears) what the check kernels found.
Errors take_errors() {
  Errors e{};
  CUDA_EXPECT(cudaStreamSynchronize(g_stream));
  CUDA_EXPECT(cudaMemcpy(&e, g_errors, sizeof(e), cudaMemcpyDeviceToHost));
  CUDA_EXPECT(cudaMemsetAsync(g_errors, 0, sizeof(Errors), g_stream));  // g_stream: non-blocking
  return e;
}

// buf[j] = pattern(seed, pe, tag0 + 1 + j / period, j % period): `period`
// bytes per tag (one message per ring iteration); period 0: one tag.
__global__ void fill_kernel(uint8_t* buf, size_t bytes, uint64_t seed, int pe, uint64_t tag0,
                            size_t period) {
  for (size_t j = blockIdx.x * size_t(blockDim.x) + threadIdx.x; j < bytes;
       j += size_t(gridDim.x) * blockDim.x)
    buf[j] =
        period ? pattern(seed, pe, tag0 + 1 + j / period, j % period) : pattern(seed, pe, tag0, j);
}
void fill(void* buf, size_t bytes, uint64_t seed, int pe, uint64_t tag, size_t period) {
  fill_kernel<<<kFillBlocks, kFillThreads, 0, g_stream>>>(static_cast<uint8_t*>(buf), bytes, seed,
                                                          pe, tag, period);
  LAUNCHED();
}

// buf[off, off + bytes) must hold pattern(seed, src_pe, tag, src_off + k), the
// rest of [0, total) the poison.
__global__ void check_kernel(const uint8_t* buf, size_t total, size_t off, size_t bytes,
                             uint64_t seed, int src_pe, uint64_t tag, size_t src_off, Errors* e) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < total;
       i += size_t(gridDim.x) * blockDim.x) {
    const uint8_t want =
        (i >= off && i < off + bytes) ? pattern(seed, src_pe, tag, src_off + (i - off)) : kPoison;
    if (buf[i] != want) record(e, i, buf[i], want);
  }
}
void check(const void* buf, size_t total, size_t off, size_t bytes, uint64_t seed, int src_pe,
           uint64_t tag, size_t src_off) {
  check_kernel<<<kFillBlocks, kFillThreads, 0, g_stream>>>(
      static_cast<const uint8_t*>(buf), total, off, bytes, seed, src_pe, tag, src_off, g_errors);
  LAUNCHED();
}

}  // namespace shmem_device_test
