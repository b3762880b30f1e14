// Owning CUDA streams and events for the fused ops (no cudaStreamDestroy or
// cudaEventDestroy written by hand elsewhere), and the fork/join of a side
// stream into the caller's stream that keeps everything capturable.
#pragma once

#include <cuda_runtime_api.h>

#include <memory>

#include "device/driver.h"

namespace tdm::fused {

struct StreamFree {
  void operator()(cudaStream_t s) const { cudaStreamDestroy(s); }
};
struct EventFree {
  void operator()(cudaEvent_t e) const { cudaEventDestroy(e); }
};
using Stream = std::unique_ptr<CUstream_st, StreamFree>;
using Event = std::unique_ptr<CUevent_st, EventFree>;

// Non-blocking, at the device's highest priority: copies and flags issued on
// it go ahead of the GEMMs queued on the caller's stream.
inline Stream make_priority_stream() {
  int least = 0, greatest = 0;
  TDM_CUDA(cudaDeviceGetStreamPriorityRange(&least, &greatest));
  cudaStream_t s = nullptr;
  TDM_CUDA(cudaStreamCreateWithPriority(&s, cudaStreamNonBlocking, greatest));
  return Stream(s);
}

inline Event make_event() {
  cudaEvent_t e = nullptr;
  TDM_CUDA(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  return Event(e);
}

// With timing, for measuring (Gemm's tuning).
inline Event make_event_timed() {
  cudaEvent_t e = nullptr;
  TDM_CUDA(cudaEventCreate(&e));
  return Event(e);
}

// `to` waits for what `from` enqueued so far (also inside a graph capture,
// where this is how a side stream joins and leaves the capture).
inline void follow(cudaStream_t to, cudaStream_t from, cudaEvent_t event) {
  TDM_CUDA(cudaEventRecord(event, from));
  TDM_CUDA(cudaStreamWaitEvent(to, event, 0));
}

}  // namespace tdm::fused
