// Windows of user buffers: device and host peer pointers, writes through them.
#include "shmem_harness.h"

namespace shmem_device_test {

namespace {

// ============================================================================
// windows of user buffers
// ============================================================================

// Chunk me of every PE's buffer gets pattern(seed, me, tag + pe, k).
__global__ void window_write_kernel(tdmWindowDevice_t win, size_t chunk, uint64_t seed,
                                    uint64_t tag) {
  const int me = win.my_pe;
  for (int pe = 0; pe < win.n_pes; ++pe)
    for (size_t k = blockIdx.x * size_t(blockDim.x) + threadIdx.x; k < chunk;
         k += size_t(gridDim.x) * blockDim.x)
      *tw::ptr<uint8_t>(win, pe, me * chunk + k) = pattern(seed, me, tag + pe, k);
}
// `buf` is PE `owner`'s buffer: chunk r from PE r, the rest poison.
__global__ void window_check_kernel(const uint8_t* buf, size_t size, size_t chunk, int n, int owner,
                                    uint64_t seed, uint64_t tag, Errors* e) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < size;
       i += size_t(gridDim.x) * blockDim.x) {
    const size_t r = i / chunk;
    const uint8_t want = r < size_t(n) ? pattern(seed, int(r), tag + owner, i % chunk) : kPoison;
    if (buf[i] != want) record(e, i, buf[i], want);
  }
}
__global__ void window_ptr_kernel(tdmWindowDevice_t win, const size_t* offsets, int n_offsets,
                                  void** out) {
  for (int pe = -1; pe <= win.n_pes; ++pe)
    for (int o = 0; o < n_offsets; ++o)
      out[(pe + 1) * n_offsets + o] = tw::ptr<void>(win, pe, offsets[o]);
}

void run_window(bool from_tdm_alloc, uint64_t seed, uint64_t tag) {
  const char* what = from_tdm_alloc ? "tdmMemAlloc buffer" : "cudaMalloc buffer";
  constexpr size_t kSize = (1 << 20) + 4096;
  const size_t chunk = (kSize / g_npes) & ~size_t(15);
  void* buf = nullptr;
  if (from_tdm_alloc)
    TDM_EXPECT(tdmMemAlloc(&buf, kSize));
  else
    CUDA_EXPECT(cudaMalloc(&buf, kSize));
  CUDA_EXPECT(cudaMemsetAsync(buf, kPoison, kSize, g_stream));
  host_barrier();
  tdmWindow_t win = nullptr;
  TDM_EXPECT(tdmCommWindowRegister(g_comm, buf, kSize, &win, TDM_WIN_DEFAULT));
  tdmWindowDevice_t dev{};
  TDM_EXPECT(tdmWindowGetDevice(win, &dev));
  EXPECT_EQ(dev.my_pe, g_rank) << what;
  EXPECT_EQ(dev.n_pes, g_npes) << what;
  EXPECT_EQ(dev.size, kSize) << what;

  // Device and host peer pointers agree; out-of-range pe and offset give null.
  const std::vector<size_t> offsets = {0, 4096, 12345, kSize - 1, kSize};
  const int no = static_cast<int>(offsets.size());
  Local d_offsets(no * sizeof(size_t)), d_ptrs((g_npes + 2) * no * sizeof(void*));
  CUDA_EXPECT(cudaMemcpyAsync(d_offsets.p, offsets.data(), no * sizeof(size_t),
                              cudaMemcpyHostToDevice, g_stream));
  window_ptr_kernel<<<1, 1, 0, g_stream>>>(dev, d_offsets.as<size_t>(), no, d_ptrs.as<void*>());
  LAUNCHED();
  CUDA_EXPECT(cudaStreamSynchronize(g_stream));
  std::vector<void*> ptrs((g_npes + 2) * no);
  CUDA_EXPECT(
      cudaMemcpy(ptrs.data(), d_ptrs.p, ptrs.size() * sizeof(void*), cudaMemcpyDeviceToHost));
  for (int o = 0; o < no; ++o) {
    EXPECT_EQ(ptrs[o], nullptr) << what << ": pe -1";
    EXPECT_EQ(ptrs[(g_npes + 1) * no + o], nullptr) << what << ": pe n_pes";
  }
  for (int pe = 0; pe < g_npes; ++pe)
    for (int o = 0; o < no; ++o) {
      if (offsets[o] >= kSize) {
        EXPECT_EQ(ptrs[(pe + 1) * no + o], nullptr) << what << ": offset past the end";
        continue;
      }
      void* host = nullptr;
      TDM_EXPECT(tdmWindowPeerPointer(win, pe, offsets[o], &host));
      EXPECT_NE(host, nullptr) << what << ": PE " << pe << " (same host) not reachable";
      EXPECT_EQ(ptrs[(pe + 1) * no + o], host)
          << what << ": device and host peer pointers disagree, PE " << pe << " offset "
          << offsets[o];
      if (pe == g_rank) EXPECT_EQ(host, static_cast<char*>(buf) + offsets[o]) << what;
    }

  // Every PE writes its chunk of every PE's buffer through window::ptr.
  window_write_kernel<<<64, 256, 0, g_stream>>>(dev, chunk, seed, tag);
  LAUNCHED();
  host_barrier();
  window_check_kernel<<<kFillBlocks, kFillThreads, 0, g_stream>>>(
      static_cast<const uint8_t*>(buf), kSize, chunk, g_npes, g_rank, seed, tag, g_errors);
  LAUNCHED();
  EXPECT_NO_ERRORS(what << ": my buffer after every PE wrote its chunk");
  // The next PE's whole buffer, read through the host's peer pointer.
  void* next_buf = nullptr;
  TDM_EXPECT(tdmWindowPeerPointer(win, next_pe(), 0, &next_buf));
  if (next_buf) {
    window_check_kernel<<<kFillBlocks, kFillThreads, 0, g_stream>>>(
        static_cast<const uint8_t*>(next_buf), kSize, chunk, g_npes, next_pe(), seed, tag,
        g_errors);
    LAUNCHED();
    EXPECT_NO_ERRORS(what << ": the next PE's buffer through tdmWindowPeerPointer");
  }
  host_barrier();  // nobody still reads a peer's buffer
  TDM_EXPECT(tdmCommWindowDeregister(g_comm, win));
  if (from_tdm_alloc)
    TDM_EXPECT(tdmMemFree(buf));
  else
    CUDA_EXPECT(cudaFree(buf));
}

TEST_F(Shmem, WindowOfCudaMallocBuffer) { run_window(false, seed_, 100); }
TEST_F(Shmem, WindowOfTdmMemAllocBuffer) { run_window(true, seed_, 200); }

}  // namespace
}  // namespace shmem_device_test
