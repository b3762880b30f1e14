// The stream-ordered helpers: barrier, signal and wait on a stream, and in a
// CUDA graph.
#include "shmem_harness.h"

namespace shmem_device_test {

namespace {

// ============================================================================
// stream-ordered helpers
// ============================================================================

__global__ void write_slots_kernel(tdmShmemDevice_t sh, uint64_t* slots, uint64_t it) {
  const int me = sh.my_pe, n = sh.n_pes;
  for (int pe = threadIdx.x; pe < n; pe += blockDim.x)
    ts::p<uint64_t>(sh, &slots[(it & 1) * n + me], it, pe);
}
__global__ void check_slots_kernel(const uint64_t* slots, int n, uint64_t it, Errors* e) {
  for (int pe = threadIdx.x; pe < n; pe += blockDim.x) {
    const uint64_t v = slots[(it & 1) * n + pe];
    if (v != it) record(e, (it << 32) | pe, v, it);
  }
}

TEST_F(Shmem, BarrierOnStream) {
  const int iters = ring_iterations(200);
  Sym slots(2 * g_npes * 8);
  CUDA_EXPECT(cudaMemsetAsync(slots.p, 0, 2 * g_npes * 8, g_stream));
  host_barrier();
  for (int it = 1; it <= iters; ++it) {
    write_slots_kernel<<<1, 32, 0, g_stream>>>(g_dev, slots.as<uint64_t>(), it);
    TDM_EXPECT(tdmShmemBarrierOnStream(g_comm, g_stream));
    check_slots_kernel<<<1, 32, 0, g_stream>>>(slots.as<uint64_t>(), g_npes, it, g_errors);
  }
  LAUNCHED();
  EXPECT_NO_ERRORS("tdmShmemBarrierOnStream x " << iters << " (index: iteration << 32 | PE)");
}

__global__ void put_block_kernel(tdmShmemDevice_t sh, uint8_t* dst, const uint8_t* src,
                                 size_t bytes, int pe) {
  ts::put<Scope::kBlock>(sh, dst, src, bytes, pe);
}

// Around the ring with stream operations only: [wait ack] put kernel, signal
// the next PE, wait for my signal, check kernel, acknowledge to the previous.
TEST_F(Shmem, SignalAndWaitOnStream) {
  const int iters = ring_iterations(100);
  constexpr size_t kBytes = 100000 + 3;
  Sym data(kBytes), words(16);
  Local msgs(size_t(iters) * kBytes);
  uint64_t* sig = words.as<uint64_t>();
  uint64_t* ack = sig + 1;
  for (int round = 0; round < 2; ++round) {
    // Round 0: SET i, wait EQ i; round 1: ADD 1, wait GE i; acks: GE / GT.
    const uint64_t tag0 = uint64_t(round + 1) << 20;
    CUDA_EXPECT(cudaMemsetAsync(words.p, 0, 16, g_stream));
    CUDA_EXPECT(cudaMemsetAsync(data.p, kPoison, kBytes, g_stream));
    fill(msgs.p, size_t(iters) * kBytes, seed_, g_rank, tag0, kBytes);
    host_barrier();
    for (int i = 1; i <= iters; ++i) {
      if (i > 1) {
        if (round == 0)
          TDM_EXPECT(tdmShmemWaitUntilOnStream(g_comm, ack, TDM_CMP_GE, i - 1, g_stream));
        else
          TDM_EXPECT(tdmShmemWaitUntilOnStream(g_comm, ack, TDM_CMP_GT, i - 2, g_stream));
      }
      put_block_kernel<<<1, 256, 0, g_stream>>>(
          g_dev, data.as(), msgs.as() + size_t(i - 1) * kBytes, kBytes, next_pe());
      if (round == 0) {
        TDM_EXPECT(tdmShmemSignalOnStream(g_comm, sig, i, TDM_SIGNAL_SET, next_pe(), g_stream));
        TDM_EXPECT(tdmShmemWaitUntilOnStream(g_comm, sig, TDM_CMP_EQ, i, g_stream));
      } else {
        TDM_EXPECT(tdmShmemSignalOnStream(g_comm, sig, 1, TDM_SIGNAL_ADD, next_pe(), g_stream));
        TDM_EXPECT(tdmShmemWaitUntilOnStream(g_comm, sig, TDM_CMP_GE, i, g_stream));
      }
      check(data.p, kBytes, 0, kBytes, seed_, prev_pe(), tag0 + i, 0);
      TDM_EXPECT(tdmShmemSignalOnStream(g_comm, ack, 1, TDM_SIGNAL_ADD, prev_pe(), g_stream));
    }
    LAUNCHED();
    EXPECT_NO_ERRORS("signal/wait on stream, round " << round << ", " << iters << " iterations");
    host_barrier();
  }
}

// The iteration number lives on the device so one captured graph serves every launch.
__global__ void graph_write_kernel(tdmShmemDevice_t sh, uint64_t* slots, uint64_t* counter) {
  __shared__ uint64_t it;
  if (threadIdx.x == 0) it = ++*counter;
  __syncthreads();
  const int me = sh.my_pe, n = sh.n_pes;
  for (int pe = threadIdx.x; pe < n; pe += blockDim.x)
    ts::p<uint64_t>(sh, &slots[(it & 1) * n + me], it, pe);
}
__global__ void graph_check_kernel(const uint64_t* slots, int n, const uint64_t* counter,
                                   Errors* e) {
  const uint64_t it = *counter;
  for (int pe = threadIdx.x; pe < n; pe += blockDim.x) {
    const uint64_t v = slots[(it & 1) * n + pe];
    if (v != it) record(e, (it << 32) | pe, v, it);
  }
}

TEST_F(Shmem, StreamHelpersInACudaGraph) {
  const int launches = ring_iterations(50);
  Sym slots(2 * g_npes * 8);
  Local counter(8);
  CUDA_EXPECT(cudaMemsetAsync(slots.p, 0, 2 * g_npes * 8, g_stream));
  CUDA_EXPECT(cudaMemsetAsync(counter.p, 0, 8, g_stream));
  host_barrier();
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  CUDA_EXPECT(cudaStreamBeginCapture(g_stream, cudaStreamCaptureModeGlobal));
  graph_write_kernel<<<1, 32, 0, g_stream>>>(g_dev, slots.as<uint64_t>(), counter.as<uint64_t>());
  const tdmResult_t captured = tdmShmemBarrierOnStream(g_comm, g_stream);
  graph_check_kernel<<<1, 32, 0, g_stream>>>(slots.as<uint64_t>(), g_npes, counter.as<uint64_t>(),
                                             g_errors);
  CUDA_EXPECT(cudaStreamEndCapture(g_stream, &graph));
  EXPECT_EQ(captured, tdmSuccess) << "tdmShmemBarrierOnStream under stream capture: "
                                  << tdmGetLastError(g_comm);
  // Every PE launches the same number of times (or none), so nobody waits forever.
  const bool ready = all_ok(captured == tdmSuccess && graph != nullptr);
  if (ready) {
    CUDA_EXPECT(cudaGraphInstantiate(&exec, graph, 0));
    for (int i = 0; i < launches; ++i) CUDA_EXPECT(cudaGraphLaunch(exec, g_stream));
    EXPECT_NO_ERRORS("graph of write + tdmShmemBarrierOnStream + check, " << launches
                                                                          << " launches");
    uint64_t count = 0;
    CUDA_EXPECT(cudaMemcpy(&count, counter.p, 8, cudaMemcpyDeviceToHost));
    EXPECT_EQ(count, uint64_t(launches));
  }
  if (exec) cudaGraphExecDestroy(exec);
  if (graph) cudaGraphDestroy(graph);
}

}  // namespace
}  // namespace shmem_device_test
