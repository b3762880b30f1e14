// Row-major GEMMs through cuBLASLt, the GEMM half of every fused op:
// D[rows, n] = A[rows, k] * B (+ C), B [k, n] or [n, k] (transposed), bf16 or
// fp16 in and out, fp32 accumulation. cuBLASLt is column-major, so each call
// computes D^T = B^T A^T: cuBLAS's "A" is our B, its "B" our A.
//
// Plans (descriptors, layouts, the chosen algorithm) are cached per
// (rows, n, k, with C, SM target, pointer alignment). The heuristic's first
// answer is often not the fastest kernel (measured on H200: 540 us for
// 8192x4096x5504 where cuBLAS can do 439), so a plan asks for up to
// kTuneCandidates answers and times each once on scratch buffers, keeping the
// fastest ("tuning"). Tuning needs a synchronizing host and allocations, so
// it happens in prepare() (at op create) or at the first call of a shape
// outside a graph capture; a call inside a capture with an untuned shape
// uses the heuristic's first answer and tunes later. Not thread-safe; one
// Gemm per op, its calls ordered on one stream (the workspace is shared).
#pragma once

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <map>
#include <memory>
#include <tuple>
#include <vector>

#include "device/memory.h"
#include "tandem/tandem.h"

namespace tdm::fused {

// Throws tdmInternalError naming `what` when a cuBLASLt call fails.
void check_cublas(cublasStatus_t status, const char* what);
#define TDM_CUBLAS(call) ::tdm::fused::check_cublas((call), #call)

// Owning cuBLASLt handles: each destroys its object (best effort).
struct LtHandleFree {
  void operator()(cublasLtHandle_t h) const { cublasLtDestroy(h); }
};
struct MatmulDescFree {
  void operator()(cublasLtMatmulDesc_t d) const { cublasLtMatmulDescDestroy(d); }
};
struct LayoutFree {
  void operator()(cublasLtMatrixLayout_t l) const { cublasLtMatrixLayoutDestroy(l); }
};
struct PreferenceFree {
  void operator()(cublasLtMatmulPreference_t p) const { cublasLtMatmulPreferenceDestroy(p); }
};
using LtHandle = std::unique_ptr<cublasLtContext, LtHandleFree>;
using MatmulDesc = std::unique_ptr<cublasLtMatmulDescOpaque_t, MatmulDescFree>;
using Layout = std::unique_ptr<cublasLtMatrixLayoutOpaque_t, LayoutFree>;
using Preference = std::unique_ptr<cublasLtMatmulPreferenceOpaque_t, PreferenceFree>;

class Gemm {
 public:
  // `n`, `k`: the op's fixed sizes; rows vary per call.
  Gemm(tdmDataType_t dtype, bool b_transposed, size_t n, size_t k);

  // D = A * B, or D = A * B + C when `c` is not null (C may alias D); C and D
  // are [rows, n]. `sm_target` > 0 caps the SMs it uses
  // (CUBLASLT_MATMUL_DESC_SM_COUNT_TARGET), leaving the rest to kernels
  // running beside it.
  void run(const void* a, const void* b, const void* c, void* d, size_t rows, cudaStream_t stream,
           int sm_target = 0);

  // Tunes the plan for `rows` (256-byte aligned pointers, as cudaMalloc and
  // the workspace give) and returns its best time in microseconds.
  double prepare(size_t rows, bool with_c, int sm_target = 0);

 private:
  struct Plan {
    MatmulDesc desc;
    Layout a, b, c;  // cuBLAS's A (our B), B (our A), C = D
    cublasLtMatmulAlgo_t algo{};
    std::vector<cublasLtMatmulAlgo_t> candidates;  // the heuristic's, best first
    bool tuned = false;
    double best_us = 0;  // tuned time of `algo`
  };
  using Key = std::tuple<size_t, bool, int, unsigned>;  // rows, with C, SM target, alignment
  Plan& plan(size_t rows, bool with_c, int sm_target, unsigned alignment);
  // Times every heuristic candidate on scratch buffers and keeps the fastest.
  void tune(Plan& p, size_t rows, bool with_c, unsigned alignment);

  cudaDataType_t type_;
  bool b_transposed_;
  size_t n_, k_;
  LtHandle handle_;
  device::DeviceMemory workspace_;
  size_t workspace_bytes_;
  std::map<Key, Plan> plans_;
};

}  // namespace tdm::fused
