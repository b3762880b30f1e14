// CUDA resources of the benchmark tools' device mode (--mem cuda), each owned
// by one object so that every exit path, exceptions included, releases it.
// Plain CUDA runtime API; only built with TANDEM_HAVE_CUDA.
#ifndef TANDEM_TOOLS_PERF_DEVICE_H_
#define TANDEM_TOOLS_PERF_DEVICE_H_

#if TANDEM_HAVE_CUDA

#include <cuda_runtime_api.h>

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

namespace tandem::perf::cuda {

inline void check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  throw std::runtime_error(std::string("CUDA failure in ") + what + ": " + cudaGetErrorName(e) +
                           " (" + cudaGetErrorString(e) + ")");
}

#define CUDACHECK(call) ::tandem::perf::cuda::check((call), #call)

// Visible devices; 0 where there is no driver or device (the error, which
// would otherwise stick to later calls, is cleared). `error` gets the reason.
inline int deviceCount(std::string* error = nullptr) {
  int n = 0;
  const cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError();
    if (error) *error = std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
    return 0;
  }
  return n;
}

// A non-blocking stream: no implicit synchronization with the legacy default
// stream, as the libraries' own internal streams would not have either.
class Stream {
 public:
  Stream() { CUDACHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking)); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream() { cudaStreamDestroy(s_); }
  cudaStream_t get() const { return s_; }
  void synchronize() const { CUDACHECK(cudaStreamSynchronize(s_)); }

 private:
  cudaStream_t s_ = nullptr;
};

class Event {
 public:
  Event() { CUDACHECK(cudaEventCreate(&e_)); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  ~Event() { cudaEventDestroy(e_); }
  void record(cudaStream_t s) const { CUDACHECK(cudaEventRecord(e_, s)); }
  void synchronize() const { CUDACHECK(cudaEventSynchronize(e_)); }
  // Seconds from `start` to this event (both recorded and complete).
  double secondsSince(const Event& start) const {
    float ms = 0;
    CUDACHECK(cudaEventElapsedTime(&ms, start.e_, e_));
    return ms * 1e-3;
  }

 private:
  cudaEvent_t e_ = nullptr;
};

struct DeviceFree {
  void operator()(std::byte* p) const { cudaFree(p); }
};
using DeviceBuffer = std::unique_ptr<std::byte[], DeviceFree>;

inline DeviceBuffer allocDevice(size_t bytes) {
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, bytes);
  if (e != cudaSuccess) {
    cudaGetLastError();
    throw std::runtime_error("cudaMalloc of " + std::to_string(bytes) +
                             " bytes failed: " + cudaGetErrorString(e));
  }
  return DeviceBuffer(static_cast<std::byte*>(p));
}

// A graph template (what a capture produced).
class Graph {
 public:
  explicit Graph(cudaGraph_t g) : g_(g) {}
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  ~Graph() {
    if (g_) cudaGraphDestroy(g_);
  }
  cudaGraph_t get() const { return g_; }

 private:
  cudaGraph_t g_;
};

// An instantiated graph, ready to launch.
class GraphExec {
 public:
  explicit GraphExec(cudaGraph_t graph) { CUDACHECK(cudaGraphInstantiate(&exec_, graph, 0)); }
  GraphExec(const GraphExec&) = delete;
  GraphExec& operator=(const GraphExec&) = delete;
  ~GraphExec() { cudaGraphExecDestroy(exec_); }
  void launch(cudaStream_t s) const { CUDACHECK(cudaGraphLaunch(exec_, s)); }

 private:
  cudaGraphExec_t exec_ = nullptr;
};

// Captures the work enqueued on a stream until finish(). Thread-local mode,
// as nccl-tests: only this thread's unsafe calls are refused, so a library's
// helper threads may still allocate while a capture is open. Destroyed
// without finish() (an exception during capture), it ends the capture and
// drops the graph, so the stream can be used again.
class Capture {
 public:
  explicit Capture(cudaStream_t s) : s_(s) {
    CUDACHECK(cudaStreamBeginCapture(s_, cudaStreamCaptureModeThreadLocal));
    open_ = true;
  }
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;
  ~Capture() {
    if (!open_) return;
    cudaGraph_t g = nullptr;
    cudaStreamEndCapture(s_, &g);
    if (g) cudaGraphDestroy(g);
    cudaGetLastError();
  }
  std::unique_ptr<GraphExec> finish() {
    cudaGraph_t g = nullptr;
    open_ = false;
    const cudaError_t e = cudaStreamEndCapture(s_, &g);
    const Graph graph(g);  // owned either way; not needed once instantiated
    check(e, "cudaStreamEndCapture");
    return std::make_unique<GraphExec>(graph.get());
  }

 private:
  cudaStream_t s_;
  bool open_ = false;
};

}  // namespace tandem::perf::cuda

#endif  // TANDEM_HAVE_CUDA

#endif  // TANDEM_TOOLS_PERF_DEVICE_H_
