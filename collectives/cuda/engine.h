// The CUDA engine of a communicator: symmetric heap, internal buffers of the
// collective kernels, and the enqueueing of collectives and grouped
// point-to-point calls on device buffers onto the caller's stream.
#pragma once

#if TANDEM_HAVE_CUDA
#include <cstdint>
#include <memory>
#include <span>

#include "collectives/call.h"
#include "collectives/cuda/dev_comm.h"
#include "mem/symmetric_heap.h"
#include "tandem/shmem.h"

namespace tdm {
struct Comm;
}

namespace tdm::cuda {

// Allreduce algorithms on device buffers (TANDEM_CUDA_ALLREDUCE_ALGO).
enum class AllReduceAlgo : int32_t { kAuto, kOneShot, kTwoShot, kPipelined };
const char* algo_name(AllReduceAlgo algo);

class Engine {
 public:
  // Collective over the communicator (every rank has a CUDA device).
  static std::unique_ptr<Engine> create(Comm& comm);
  ~Engine();

  mem::SymmetricHeap& heap() { return *heap_; }
  tdmShmemDevice_t shmem_handle() const;
  // True once a device wait gave up (TANDEM_TIMEOUT): the context is lost.
  bool timed_out() const { return error_word_ != nullptr && *error_word_ != 0; }

  // Enqueues one collective (call.stream); collective over the communicator.
  void enqueue(const Call& call);
  // Enqueues every send and receive of one group as one launch.
  void enqueue_p2p(std::span<const Call> calls);

 private:
  explicit Engine(Comm& comm) : comm_(comm) {}
  void check_reachable(const char* what) const;
  AllReduceAlgo allreduce_algo(size_t message) const;

  Comm& comm_;
  std::unique_ptr<mem::SymmetricHeap> heap_;
  void* internal_ = nullptr;     // in the heap
  size_t barrier_offset_ = 0;    // offset of the SHMEM barrier counters in the heap
  void* local_state_ = nullptr;  // device memory, not shared
  uint64_t* shmem_local_ = nullptr;
  volatile int* error_word_ = nullptr;  // host-mapped
  int* error_device_ = nullptr;
  DevComm dev_{};
  size_t ll_max_bytes_ = 0;
  size_t oneshot_max_bytes_ = 0;  // auto: one-shot up to here
  AllReduceAlgo allreduce_algo_ = AllReduceAlgo::kAuto;
  int p2p_channels_ = 1;
};

}  // namespace tdm::cuda
#endif
