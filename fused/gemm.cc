#include "fused/gemm.h"

#include <algorithm>
#include <bit>
#include <cstdint>
#include <vector>

#include "fused/stream.h"
#include "util/error.h"

namespace tdm::fused {

namespace {

// Hopper's cuBLASLt kernels want up to 32 MiB of workspace (cuBLAS docs,
// "cublasSetWorkspace"); less makes some split-K plans unavailable.
constexpr size_t kWorkspaceBytes = size_t{32} << 20;
// How many heuristic answers tuning times: the fastest one for the shapes
// of BASELINES.md was seen within the first 16.
constexpr int kTuneCandidates = 16;

template <typename T>
void set_attr(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attr, const T& value) {
  TDM_CUBLAS(cublasLtMatmulDescSetAttribute(desc, attr, &value, sizeof(value)));
}

Layout make_layout(cudaDataType_t type, size_t rows, size_t cols, size_t ld) {
  cublasLtMatrixLayout_t raw = nullptr;
  TDM_CUBLAS(cublasLtMatrixLayoutCreate(&raw, type, rows, cols, static_cast<int64_t>(ld)));
  return Layout(raw);
}

// The largest power of two (up to 256) dividing every address: the
// heuristic must only pick kernels whose vector loads these pointers allow.
unsigned alignment_of(std::initializer_list<const void*> ptrs) {
  uintptr_t bits = 256;
  for (const void* p : ptrs)
    if (p) bits |= reinterpret_cast<uintptr_t>(p);
  return static_cast<unsigned>(uintptr_t{1} << std::countr_zero(bits));
}

}  // namespace

void check_cublas(cublasStatus_t status, const char* what) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  throw_error(tdmInternalError, what, " failed: cuBLAS status ", static_cast<int>(status));
}

Gemm::Gemm(tdmDataType_t dtype, bool b_transposed, size_t n, size_t k)
    : type_(dtype == tdmBfloat16 ? CUDA_R_16BF : CUDA_R_16F),
      b_transposed_(b_transposed),
      n_(n),
      k_(k),
      workspace_(device::device_alloc(kWorkspaceBytes)),
      workspace_bytes_(kWorkspaceBytes) {
  cublasLtHandle_t raw = nullptr;
  TDM_CUBLAS(cublasLtCreate(&raw));
  handle_.reset(raw);
}

Gemm::Plan& Gemm::plan(size_t rows, bool with_c, int sm_target, unsigned alignment) {
  const Key key{rows, with_c, sm_target, alignment};
  if (auto it = plans_.find(key); it != plans_.end()) return it->second;

  Plan p;
  cublasLtMatmulDesc_t desc = nullptr;
  TDM_CUBLAS(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  p.desc.reset(desc);
  const cublasOperation_t op_b = b_transposed_ ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_a = CUBLAS_OP_N;
  set_attr(desc, CUBLASLT_MATMUL_DESC_TRANSA, op_b);  // cuBLAS's A is our B
  set_attr(desc, CUBLASLT_MATMUL_DESC_TRANSB, op_a);
  if (sm_target > 0) set_attr(desc, CUBLASLT_MATMUL_DESC_SM_COUNT_TARGET, int32_t{sm_target});
  // Column-major views: our B [k, n] is n x k (ld n); transposed [n, k] is
  // k x n (ld k), used with op T. Our A [rows, k] is k x rows (ld k); D
  // [rows, n] is n x rows (ld n).
  p.a = b_transposed_ ? make_layout(type_, k_, n_, k_) : make_layout(type_, n_, k_, n_);
  p.b = make_layout(type_, k_, rows, k_);
  p.c = make_layout(type_, n_, rows, n_);

  cublasLtMatmulPreference_t raw_pref = nullptr;
  TDM_CUBLAS(cublasLtMatmulPreferenceCreate(&raw_pref));
  Preference pref(raw_pref);
  const uint64_t ws = workspace_bytes_;
  TDM_CUBLAS(cublasLtMatmulPreferenceSetAttribute(
      pref.get(), CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
  const uint32_t align = alignment;
  for (auto attr :
       {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
    TDM_CUBLAS(cublasLtMatmulPreferenceSetAttribute(pref.get(), attr, &align, sizeof(align)));

  std::vector<cublasLtMatmulHeuristicResult_t> results(kTuneCandidates);
  int found = 0;
  TDM_CUBLAS(cublasLtMatmulAlgoGetHeuristic(handle_.get(), desc, p.a.get(), p.b.get(), p.c.get(),
                                            p.c.get(), pref.get(), kTuneCandidates, results.data(),
                                            &found));
  for (int i = 0; i < found; ++i)
    if (results[i].state == CUBLAS_STATUS_SUCCESS) p.candidates.push_back(results[i].algo);
  if (p.candidates.empty())
    throw_error(tdmInternalError, "cuBLASLt has no algorithm for a ", rows, "x", n_, "x", k_,
                " GEMM");
  p.algo = p.candidates.front();
  return plans_.emplace(key, std::move(p)).first->second;
}

void Gemm::tune(Plan& p, size_t rows, bool with_c, unsigned alignment) {
  p.tuned = true;
  if (p.candidates.size() < 2) return;
  // Scratch operands offset to the plan's alignment; filled with a small
  // nonzero pattern (zeros would run cooler and faster than real data).
  const size_t elem = 2, pad = 256;
  device::DeviceMemory a = device::device_alloc(rows * k_ * elem + pad);
  device::DeviceMemory b = device::device_alloc(k_ * n_ * elem + pad);
  device::DeviceMemory d = device::device_alloc(rows * n_ * elem + pad);
  auto shifted = [&](const device::DeviceMemory& m) {
    return static_cast<char*>(m.get()) + (alignment < pad ? alignment : 0);
  };
  const Stream s = make_priority_stream();
  TDM_CUDA(cudaMemsetAsync(a.get(), 0x3d, rows * k_ * elem + pad, s.get()));
  TDM_CUDA(cudaMemsetAsync(b.get(), 0x3c, k_ * n_ * elem + pad, s.get()));
  TDM_CUDA(cudaMemsetAsync(d.get(), 0, rows * n_ * elem + pad, s.get()));
  const Event t0 = make_event_timed(), t1 = make_event_timed();
  const float alpha = 1.0f, beta = with_c ? 1.0f : 0.0f;
  double best = -1;
  for (const cublasLtMatmulAlgo_t& algo : p.candidates) {
    auto launch = [&] {
      return cublasLtMatmul(handle_.get(), p.desc.get(), &alpha, shifted(b), p.a.get(), shifted(a),
                            p.b.get(), &beta, shifted(d), p.c.get(), shifted(d), p.c.get(), &algo,
                            workspace_.get(), workspace_bytes_, s.get());
    };
    if (launch() != CUBLAS_STATUS_SUCCESS) continue;  // warm-up; some answers fail to launch
    TDM_CUDA(cudaEventRecord(t0.get(), s.get()));
    constexpr int kReps = 2;
    for (int i = 0; i < kReps; ++i) TDM_CUBLAS(launch());
    TDM_CUDA(cudaEventRecord(t1.get(), s.get()));
    TDM_CUDA(cudaEventSynchronize(t1.get()));
    float ms = 0;
    TDM_CUDA(cudaEventElapsedTime(&ms, t0.get(), t1.get()));
    const double us = 1000.0 * ms / kReps;
    if (best < 0 || us < best) {
      best = us;
      p.algo = algo;
    }
  }
  p.best_us = best;
  TDM_CUDA(cudaStreamSynchronize(s.get()));
}

double Gemm::prepare(size_t rows, bool with_c, int sm_target) {
  if (rows == 0) return 0;
  Plan& p = plan(rows, with_c, sm_target, 256);
  if (!p.tuned) tune(p, rows, with_c, 256);
  return p.best_us;
}

void Gemm::run(const void* a, const void* b, const void* c, void* d, size_t rows,
               cudaStream_t stream, int sm_target) {
  if (rows == 0) return;
  const unsigned alignment = alignment_of({a, b, c, d});
  Plan& p = plan(rows, c != nullptr, sm_target, alignment);
  if (!p.tuned) {
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    TDM_CUDA(cudaStreamIsCapturing(stream, &capture));
    if (capture == cudaStreamCaptureStatusNone) tune(p, rows, c != nullptr, alignment);
  }
  const float alpha = 1.0f, beta = c ? 1.0f : 0.0f;
  TDM_CUBLAS(cublasLtMatmul(handle_.get(), p.desc.get(), &alpha, b, p.a.get(), a, p.b.get(), &beta,
                            c ? c : d, p.c.get(), d, p.c.get(), &p.algo, workspace_.get(),
                            workspace_bytes_, stream));
}

}  // namespace tdm::fused
