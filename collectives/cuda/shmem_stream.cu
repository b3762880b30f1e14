// Stream-ordered SHMEM helpers: one-block kernels, so they order with the
// stream's other work and can be captured in CUDA graphs.
#include "collectives/cuda/launch.h"
#include "tandem/device/shmem.cuh"

namespace tdm::cuda {

namespace {

__global__ void barrier_kernel(tdmShmemDevice_t sh) { tandem::shmem::barrier(sh); }

__global__ void signal_kernel(tdmShmemDevice_t sh, uint64_t* sig, uint64_t value, tdmSignalOp_t op,
                              int pe) {
  tandem::detail::fence_sys();  // earlier work of this stream is complete and visible
  tandem::shmem::signal_op(sh, sig, value, op, pe);
}

__global__ void wait_kernel(tdmShmemDevice_t sh, uint64_t* sig, tdmCmp_t cmp, uint64_t value) {
  tandem::shmem::signal_wait_until(sh, sig, cmp, value);
  tandem::detail::fence_sys();
}

}  // namespace

cudaError_t launch_shmem_barrier(const tdmShmemDevice_t& sh, cudaStream_t stream) {
  barrier_kernel<<<1, 32, 0, stream>>>(sh);
  return cudaGetLastError();
}

cudaError_t launch_shmem_signal(const tdmShmemDevice_t& sh, uint64_t* sig, uint64_t value,
                                tdmSignalOp_t op, int pe, cudaStream_t stream) {
  signal_kernel<<<1, 1, 0, stream>>>(sh, sig, value, op, pe);
  return cudaGetLastError();
}

cudaError_t launch_shmem_wait(const tdmShmemDevice_t& sh, uint64_t* sig, tdmCmp_t cmp,
                              uint64_t value, cudaStream_t stream) {
  wait_kernel<<<1, 1, 0, stream>>>(sh, sig, cmp, value);
  return cudaGetLastError();
}

}  // namespace tdm::cuda
