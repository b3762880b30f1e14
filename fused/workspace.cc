#include "fused/workspace.h"

#include <cuda_runtime_api.h>

#include "comm/cuda_side.h"
#include "device/driver.h"
#include "util/error.h"
#include "util/log.h"

namespace tdm::fused {

namespace {
constexpr size_t kAlign = 256;  // cuBLASLt's preferred alignment, and whole cache lines
size_t round_up(size_t x) { return (x + kAlign - 1) / kAlign * kAlign; }
}  // namespace

Workspace::Workspace(Comm& comm, size_t data_bytes, std::span<const uint32_t> initial)
    : comm_(comm), data_offset_(round_up(initial.size_bytes())) {
  local_ = cuda_side::shmem_malloc(comm, data_offset_ + data_bytes);
  try {
    base_.resize(static_cast<size_t>(comm.nranks));
    for (int pe = 0; pe < comm.nranks; ++pe) {
      base_[pe] = static_cast<char*>(cuda_side::shmem_ptr(comm, local_, pe));
      if (base_[pe] == nullptr)
        throw_error(tdmInvalidUsage, "rank ", pe,
                    " cannot be reached by load/store from this rank; the fused ops need every "
                    "rank on one host with peer access (NVLink or PCIe P2P)");
    }
    TDM_CUDA(cudaMemcpy(local_, initial.data(), initial.size_bytes(), cudaMemcpyHostToDevice));
    TDM_CUDA(cudaDeviceSynchronize());
    comm.boot->barrier();
  } catch (...) {
    cuda_side::shmem_free(comm, local_);
    throw;
  }
}

Workspace::~Workspace() {
  try {
    // Pushes from this rank and peers' reads of it must be over: the device
    // first, then every rank (a peer may still copy out of our data).
    TDM_CUDA(cudaDeviceSynchronize());
    comm_.boot->barrier();
    cuda_side::shmem_free(comm_, local_);
  } catch (const std::exception& e) {
    TDM_WARN("CUDA", "freeing a fused op's workspace failed: ", e.what());
  }
}

}  // namespace tdm::fused
