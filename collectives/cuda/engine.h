// The CUDA engine of a communicator: symmetric heap, internal buffers of the
// collective kernels, and the enqueueing of collectives and grouped
// point-to-point calls on device buffers onto the caller's stream.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "bootstrap/bootstrap.h"
#include "collectives/cuda/dev_comm.h"
#include "device/memory.h"
#include "mem/symmetric_heap.h"
#include "mem/window.h"
#include "plan/algorithm_choice.h"
#include "plan/call.h"
#include "tandem/shmem.h"

namespace tdm::cuda {

class Engine {
 public:
  // Collective over the bootstrap's ranks, each with its CUDA `device`.
  static std::unique_ptr<Engine> create(bootstrap::Bootstrap& boot, int device);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  mem::SymmetricHeap& heap() { return *heap_; }
  tdmShmemDevice_t shmem_handle() const;
  // True once a device wait gave up (TANDEM_TIMEOUT): the context is lost.
  bool timed_out() const {
    return error_word_ && *static_cast<const volatile int*>(error_word_.get()) != 0;
  }

  // Enqueues one collective (call.stream); collective over the communicator.
  void enqueue(const plan::Call& call);
  // Enqueues every send and receive of one group as one launch.
  void enqueue_p2p(std::span<const plan::Call> calls);

  // Symmetric windows (TDM_WIN_COLL_SYMMETRIC), which the copy-engine paths
  // write through; the API adds them on registration and removes them
  // before deregistration.
  void add_symmetric_window(const mem::Window* window);
  void remove_symmetric_window(const mem::Window* window);

 private:
  Engine(bootstrap::Bootstrap& boot, int device) : boot_(boot), device_(device) {}
  void check_reachable(const char* what) const;
  bool enqueue_copy_engine(const plan::Call& call, size_t bytes);
  bool enqueue_direct(const plan::Call& call, size_t bytes);

  bootstrap::Bootstrap& boot_;
  int device_;
  std::unique_ptr<mem::SymmetricHeap> heap_;
  void* internal_ = nullptr;          // in the heap
  size_t barrier_offset_ = 0;         // offset of the SHMEM barrier counters in the heap
  device::DeviceMemory local_state_;  // not shared
  uint64_t* shmem_local_ = nullptr;
  device::MappedHostMemory error_word_;  // nonzero once a device wait gave up
  int* error_device_ = nullptr;          // its device address
  DevComm dev_{};
  plan::CudaSettings choice_{};  // algorithm choice, agreed across ranks
  std::mutex windows_mutex_;
  std::vector<const mem::Window*> symmetric_windows_;
  int p2p_channels_ = 1;
  bool direct_allowed_ = false;  // no two ranks in one process
  // Receive allocations of the direct all-to-all, mapped at capture, by every
  // rank's (allocation base, buffer id): graphs replay them, so they stay
  // until the communicator goes (last member: released before the heap).
  std::map<std::vector<uint64_t>, std::unique_ptr<mem::Window>> direct_windows_;
};

}  // namespace tdm::cuda
