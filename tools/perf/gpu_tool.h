// What the multi-rank GPU perf tools (fused_perf, ep_perf) share: CHECK_CUDA
// (a failed set-up call ends the tool with the call and its error),
// CUDA-graph timing (`reps` calls of a body captured in one graph, replayed
// after warm-up; the figure is the median replay's CUDA-event time divided
// by reps) and their table cells.
#ifndef TANDEM_TOOLS_PERF_GPU_TOOL_H_
#define TANDEM_TOOLS_PERF_GPU_TOOL_H_

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#define CHECK_CUDA(x)                                                                         \
  do {                                                                                        \
    cudaError_t e_ = (x);                                                                     \
    if (e_ != cudaSuccess) {                                                                  \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
      std::exit(1);                                                                           \
    }                                                                                         \
  } while (0)

namespace {

// Microseconds, one decimal, right-aligned in `width` columns; "n/a" for a
// negative figure (a variant that did not run).
std::string cell(double us, int width) {
  char b[32];
  if (us < 0)
    std::snprintf(b, sizeof b, "%*s", width, "n/a");
  else
    std::snprintf(b, sizeof b, "%*.1f", width, us);
  return b;
}

// Median per-call microseconds of `body` (reps calls captured in one graph),
// or -1 when the capture or a call failed. `align`, when given, is enqueued on
// `s` before each replay's start event (e.g. a tiny allreduce, so every rank's
// replay starts together and rank 0's time holds no launch skew of a peer).
double time_graph(cudaStream_t s, int reps, int replays, const std::function<bool()>& body,
                  const std::function<void()>& align = {}) {
  cudaGraph_t graph = nullptr;
  if (cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal) != cudaSuccess) return -1;
  bool ok = true;
  for (int i = 0; i < reps && ok; ++i) ok = body();
  if (cudaStreamEndCapture(s, &graph) != cudaSuccess || !ok) {
    cudaGetLastError();
    if (graph) cudaGraphDestroy(graph);
    return -1;
  }
  cudaGraphExec_t exec = nullptr;
  if (cudaGraphInstantiate(&exec, graph, 0) != cudaSuccess) return -1;
  cudaEvent_t t0, t1;
  cudaEventCreate(&t0);
  cudaEventCreate(&t1);
  std::vector<double> us;
  for (int i = 0; i < replays + 3; ++i) {
    if (align) align();
    cudaEventRecord(t0, s);
    cudaGraphLaunch(exec, s);
    cudaEventRecord(t1, s);
    cudaEventSynchronize(t1);
    float ms = 0;
    cudaEventElapsedTime(&ms, t0, t1);
    if (i >= 3) us.push_back(1000.0 * ms / reps);
  }
  cudaEventDestroy(t0);
  cudaEventDestroy(t1);
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  if (cudaGetLastError() != cudaSuccess) return -1;
  std::sort(us.begin(), us.end());
  return us[us.size() / 2];
}

}  // namespace

#endif  // TANDEM_TOOLS_PERF_GPU_TOOL_H_
