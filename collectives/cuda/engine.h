// The CUDA engine of a communicator: symmetric heap, internal buffers of the
// collective kernels, and the enqueueing of collectives and grouped
// point-to-point calls on device buffers onto the caller's stream.
#pragma once

#if TANDEM_HAVE_CUDA
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "collectives/call.h"
#include "collectives/cuda/dev_comm.h"
#include "mem/symmetric_heap.h"
#include "tandem/shmem.h"

namespace tdm {
struct Comm;
namespace mem {
class Window;
}
}  // namespace tdm

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

  // Symmetric windows (TDM_WIN_COLL_SYMMETRIC), which the copy-engine paths
  // write through; the API adds them on registration and removes them
  // before deregistration.
  void add_symmetric_window(const mem::Window* window);
  void remove_symmetric_window(const mem::Window* window);

 private:
  explicit Engine(Comm& comm) : comm_(comm) {}
  void check_reachable(const char* what) const;
  AllReduceAlgo allreduce_algo(size_t message) const;
  bool enqueue_copy_engine(const Call& call, size_t bytes);

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
  size_t ce_min_bytes_ = 0;  // copy-engine paths from this block size (0: off)
  std::mutex windows_mutex_;
  std::vector<const mem::Window*> symmetric_windows_;
  int p2p_channels_ = 1;
};

}  // namespace tdm::cuda
#endif
