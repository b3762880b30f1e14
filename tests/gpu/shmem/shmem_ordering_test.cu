// Ordering and synchronization: fence, quiet, barrier<kBlock>, barrier_grid.
#include "shmem_harness.h"

namespace shmem_device_test {

namespace {

// ============================================================================
// fence and quiet
// ============================================================================

// Thread 0: message i (put or put_nbi), then fence + p(flag = i) or quiet +
// signal_op(flag = i); the receiver waits on its flag and checks the message.
template <bool kQuiet, bool kNbi>
__global__ void fence_quiet_kernel(tdmShmemDevice_t sh, uint8_t* data, const uint8_t* msgs,
                                   size_t bytes, uint64_t* flag, uint64_t* ack, int iters,
                                   uint64_t seed, uint64_t tag0, Errors* e) {
  const int me = sh.my_pe, n = sh.n_pes, next = (me + 1) % n, prev = (me + n - 1) % n;
  for (int i = 1; i <= iters; ++i) {
    if (threadIdx.x == 0) {
      if (i > 1) ts::signal_wait_until(sh, ack, TDM_CMP_GE, uint64_t(i - 1));
      const uint8_t* msg = msgs + size_t(i - 1) * bytes;
      if constexpr (kNbi)
        ts::put_nbi<Scope::kThread>(sh, data, msg, bytes, next);
      else
        ts::put<Scope::kThread>(sh, data, msg, bytes, next);
      if constexpr (kQuiet) {
        ts::quiet(sh);
        ts::signal_op(sh, flag, uint64_t(i), TDM_SIGNAL_SET, next);
      } else {
        ts::fence(sh);
        ts::p<uint64_t>(sh, flag, uint64_t(i), next);
      }
      ts::wait_until<uint64_t>(sh, flag, TDM_CMP_EQ, uint64_t(i));
    }
    __syncthreads();
    for (size_t k = threadIdx.x; k < bytes; k += blockDim.x) {
      const uint8_t want = pattern(seed, prev, tag0 + i, k);
      if (data[k] != want) record(e, (uint64_t(i) << 32) | k, data[k], want);
    }
    __syncthreads();
    if (threadIdx.x == 0) ts::signal_op(sh, ack, 1, TDM_SIGNAL_ADD, prev);
  }
}

TEST_F(Shmem, FenceAndQuietOrderPuts) {
  const int iters = ring_iterations(400);
  constexpr size_t kBytes = 4096 + 24 + 5;
  Sym data(kBytes), words(16);
  Local msgs(size_t(iters) * kBytes);
  uint64_t* flag = words.as<uint64_t>();
  uint64_t* ack = flag + 1;
  uint64_t tag0 = 0;
  for (bool quiet : {false, true})
    for (bool nbi : {false, true}) {
      tag0 += 1u << 20;
      CUDA_EXPECT(cudaMemsetAsync(words.p, 0, 16, g_stream));
      CUDA_EXPECT(cudaMemsetAsync(data.p, kPoison, kBytes, g_stream));
      fill(msgs.p, size_t(iters) * kBytes, seed_, g_rank, tag0, kBytes);
      host_barrier();
      auto args = [&](auto kernel) {
        kernel<<<1, 128, 0, g_stream>>>(g_dev, data.as(), msgs.as(), kBytes, flag, ack, iters,
                                        seed_, tag0, g_errors);
      };
      if (quiet && nbi)
        args(fence_quiet_kernel<true, true>);
      else if (quiet)
        args(fence_quiet_kernel<true, false>);
      else if (nbi)
        args(fence_quiet_kernel<false, true>);
      else
        args(fence_quiet_kernel<false, false>);
      LAUNCHED();
      EXPECT_NO_ERRORS((nbi ? "put_nbi" : "put")
                       << (quiet ? " + quiet + signal_op" : " + fence + p(flag)") << ", " << iters
                       << " iterations (index: iteration << 32 | byte)");
      host_barrier();
    }
}

// ============================================================================
// barrier<kBlock> and barrier_grid
// ============================================================================

// Iteration it: write it to my slot (parity it & 1) on every PE, barrier,
// every slot of that parity must hold it. Parity keeps a fast PE's next
// write off the slots still being checked.
__global__ void barrier_block_kernel(tdmShmemDevice_t sh, uint64_t* slots, int iters, Errors* e) {
  const int me = sh.my_pe, n = sh.n_pes;
  for (int it = 1; it <= iters; ++it) {
    uint64_t* row = slots + (it & 1) * n;
    for (int pe = threadIdx.x; pe < n; pe += blockDim.x) ts::p<uint64_t>(sh, &row[me], it, pe);
    ts::barrier<Scope::kBlock>(sh);
    for (int pe = threadIdx.x; pe < n; pe += blockDim.x)
      if (row[pe] != uint64_t(it)) record(e, (uint64_t(it) << 32) | pe, row[pe], it);
  }
}

// The same with every block of the grid writing its own slot.
__global__ void barrier_grid_kernel(tdmShmemDevice_t sh, uint64_t* slots, int iters, Errors* e) {
  const int me = sh.my_pe, n = sh.n_pes, blocks = gridDim.x;
  for (int it = 1; it <= iters; ++it) {
    uint64_t* plane = slots + size_t(it & 1) * n * blocks;
    for (int pe = threadIdx.x; pe < n; pe += blockDim.x)
      ts::p<uint64_t>(sh, &plane[me * blocks + blockIdx.x], it, pe);
    ts::barrier_grid(sh);
    for (int k = threadIdx.x; k < n * blocks; k += blockDim.x)
      if (plane[k] != uint64_t(it)) record(e, (uint64_t(it) << 32) | k, plane[k], it);
  }
}

TEST_F(Shmem, BarrierBlockManyIterations) {
  const int iters = ring_iterations(2000);
  Sym slots(2 * g_npes * 8);
  CUDA_EXPECT(cudaMemsetAsync(slots.p, 0, 2 * g_npes * 8, g_stream));
  host_barrier();
  barrier_block_kernel<<<1, 128, 0, g_stream>>>(g_dev, slots.as<uint64_t>(), iters, g_errors);
  LAUNCHED();
  EXPECT_NO_ERRORS("barrier<kBlock> x " << iters << " (index: iteration << 32 | PE)");
}

TEST_F(Shmem, BarrierGrid) {
  const int iters = ring_iterations(500);
  const int blocks = std::min(4, g_sms);
  const size_t bytes = 2 * size_t(g_npes) * blocks * 8;
  Sym slots(bytes);
  CUDA_EXPECT(cudaMemsetAsync(slots.p, 0, bytes, g_stream));
  host_barrier();
  barrier_grid_kernel<<<blocks, 128, 0, g_stream>>>(g_dev, slots.as<uint64_t>(), iters, g_errors);
  LAUNCHED();
  EXPECT_NO_ERRORS("barrier_grid, " << blocks << " blocks x " << iters
                                    << " (index: iteration << 32 | PE * blocks + block)");
  // A block barrier right after still works (the grid barrier left the state clean).
  host_barrier();
  barrier_block_kernel<<<1, 64, 0, g_stream>>>(g_dev, slots.as<uint64_t>(), 4, g_errors);
  LAUNCHED();
  EXPECT_NO_ERRORS("barrier<kBlock> after barrier_grid");
}

}  // namespace
}  // namespace shmem_device_test
