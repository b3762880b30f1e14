// fused_perf: one row per shape, nccl-tests style. For each op and global
// shape (M, K, N as in BASELINES.md "Overlap baselines": AG splits N, RS and
// AR split K across ranks) it times, on the same buffers:
//   gemm   the local GEMM alone (cuBLAS, the full local problem)
//   coll   NCCL's collective alone (allgather of A / reduce-scatter or
//          allreduce of C)
//   seq    NCCL collective then the cuBLAS GEMM
//   tseq   Tandem's sequential pair (the op with TANDEM_FUSED_MODE=sequential)
//   fused  Tandem's fused op
// Every variant is captured in a CUDA graph of `reps` calls; the figure is
// the median over replays (after warm-up) of one replay's CUDA-event time
// divided by reps, in microseconds, as rank 0 sees it.
// Usage: mpirun -np 2 fused_perf [-r reps] [-i replays] [--only ag|rs|ar]
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gpu_tool.h"
#include "nccl_peer.h"
#include "tandem/fused.h"
#include "tandem/tandem.h"
#include "tests/common/world.h"

namespace {

tdm::test::GpuWorld g;

struct Shape {
  char op;  // 'a' AG-GEMM, 'r' GEMM-RS, 'x' GEMM-AR
  size_t m, k, n;
};

// BASELINES.md rows, Qwen3-32B's MLP (hidden 5120, intermediate 25600; TP
// halves: up-projection AG, down-projection RS) at M = 2048 and 4096, and
// the GEMM-AR rows plus a sweep of M for "never slower than seq".
const Shape kShapes[] = {
    {'a', 8192, 4096, 11008}, {'a', 8192, 8192, 29568}, {'a', 8192, 12288, 49152},
    {'a', 4096, 5120, 25600}, {'a', 2048, 5120, 51200}, {'a', 2048, 5120, 51200 / 2},
    {'r', 8192, 4096, 11008}, {'r', 8192, 8192, 29568}, {'r', 8192, 12288, 49152},
    {'r', 4096, 5120, 25600}, {'r', 2048, 5120, 51200}, {'r', 2048, 25600, 5120},
    {'r', 4096, 25600, 5120}, {'x', 32, 5120, 25600},   {'x', 128, 5120, 5120},
    {'x', 128, 8192, 8192},   {'x', 2048, 5120, 25600}, {'x', 1, 8192, 8192},
    {'x', 8, 8192, 8192},     {'x', 512, 8192, 8192},   {'x', 4096, 8192, 8192},
};

__global__ void fill_random(__nv_bfloat16* p, size_t n, uint64_t seed) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x) {
    uint64_t h = (i + seed) * 0x9e3779b97f4a7c15ull;
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 29;
    p[i] = __float2bfloat16(static_cast<float>(static_cast<int>(h % 2001) - 1000) / 1000.0f);
  }
}

struct DevBuf {
  void* p = nullptr;
  explicit DevBuf(size_t bytes, uint64_t seed = 0) {
    CHECK_CUDA(cudaMalloc(&p, std::max<size_t>(bytes, 256)));
    fill_random<<<1024, 256>>>(static_cast<__nv_bfloat16*>(p), bytes / 2, seed);
  }
  ~DevBuf() { cudaFree(p); }
};

bool gemm(cublasHandle_t h, const void* a, const void* b, void* c, size_t m, size_t n, size_t k,
          cudaStream_t s) {
  // Row-major C[m, n] = A[m, k] B[k, n] as column-major C^T = B^T A^T.
  const float one = 1.f, zero = 0.f;
  cublasSetStream(h, s);
  return cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, int(n), int(m), int(k), &one, b, CUDA_R_16BF,
                      int(n), a, CUDA_R_16BF, int(k), &zero, c, CUDA_R_16BF, int(n),
                      CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_SUCCESS;
}

tdmResult_t make_op(char op, const tdmGemmShape_t& s, const char* mode, tdmFusedOp_t* out) {
  setenv("TANDEM_FUSED_MODE", mode, 1);
  const tdmResult_t r = op == 'a'   ? tdmAgGemmCreate(g.comm, &s, out)
                        : op == 'r' ? tdmGemmRsCreate(g.comm, &s, out)
                                    : tdmGemmArCreate(g.comm, &s, out);
  unsetenv("TANDEM_FUSED_MODE");
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 10, replays = 15;
  std::string only;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "-r")) reps = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "-i")) replays = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--only")) only = argv[i + 1];
  }
  if (!tdm::test::init_gpu_world("fused_perf", &g)) return 1;
  std::unique_ptr<tandem::perf::PeerLib> nccl = tandem::perf::openNcclIfAvailable(g.comm, g.rank);
  cudaStream_t s;
  CHECK_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  cublasHandle_t h;
  cublasCreate(&h);
  const size_t P = static_cast<size_t>(g.size);
  if (g.rank == 0) {
    std::printf(
        "# fused_perf: %d ranks, bf16, B [k, n], us per call (median of %d graph replays "
        "of %d calls)\n",
        g.size, replays, reps);
    std::printf("# %-7s %6s %6s %6s %9s %9s %9s %9s %9s %9s %8s %8s %8s\n", "op", "M", "K", "N",
                "gemm", "parts", "coll", "seq", "tseq", "fused", "seq/fus", "tseq/fus", "fus/idl");
  }
  for (const Shape& sh : kShapes) {
    const char* opname = sh.op == 'a' ? "AG-GEMM" : sh.op == 'r' ? "GEMM-RS" : "GEMM-AR";
    if (!only.empty() && only != (sh.op == 'a' ? "ag" : sh.op == 'r' ? "rs" : "ar")) continue;
    if (sh.op != 'x' && sh.m % P) continue;
    // Local sizes: AG splits N (columns of B), RS and AR split K.
    const size_t m = sh.m, k = sh.op == 'a' ? sh.k : sh.k / P, n = sh.op == 'a' ? sh.n / P : sh.n;
    const size_t a_rows = sh.op == 'a' ? m / P : m;
    DevBuf a(a_rows * k * 2, 1 + g.rank), b(k * n * 2, 7 + g.rank), c(m * n * 2);
    DevBuf gathered(sh.op == 'a' ? m * k * 2 : 0), partial(sh.op == 'r' ? m * n * 2 : 0);
    const tdmGemmShape_t shape{m, n, k, tdmBfloat16, 0};
    tdmFusedOp_t fused = nullptr, tseq = nullptr;
    if (make_op(sh.op, shape, "auto", &fused) != tdmSuccess ||
        make_op(sh.op, shape, "sequential", &tseq) != tdmSuccess) {
      std::fprintf(stderr, "rank %d: creating the %s op failed: %s\n", g.rank, opname,
                   tdmGetLastError(nullptr));
      return 1;
    }
    auto run_op = [&](tdmFusedOp_t op) {
      return [&, op] {
        if (sh.op == 'a') return tdmAgGemm(op, a.p, b.p, c.p, nullptr, m, s) == tdmSuccess;
        if (sh.op == 'r') return tdmGemmRs(op, a.p, b.p, c.p, m, s) == tdmSuccess;
        return tdmGemmAr(op, a.p, b.p, c.p, m, s) == tdmSuccess;
      };
    };
    auto coll = [&] {
      if (!nccl) return false;
      if (sh.op == 'a')
        return nccl->allGather(a.p, gathered.p, a_rows * k, tdmBfloat16, s) == tdmSuccess;
      if (sh.op == 'r')
        return nccl->reduceScatter(partial.p, c.p, m / P * n, tdmBfloat16, tdmSum, s) == tdmSuccess;
      return nccl->allReduce(c.p, c.p, m * n, tdmBfloat16, tdmSum, s) == tdmSuccess;
    };
    auto local_gemm = [&] {
      if (sh.op == 'a') return gemm(h, gathered.p, b.p, c.p, m, n, k, s);
      if (sh.op == 'r') return gemm(h, a.p, b.p, partial.p, m, n, k, s);
      return gemm(h, a.p, b.p, c.p, m, n, k, s);
    };
    // The GEMM cut into nranks row blocks, as the fused AG and RS paths run
    // it, without communication: what the cut alone costs.
    auto parts = [&] {
      const size_t rows = m / P;
      void* src = sh.op == 'a' ? gathered.p : a.p;
      void* dst = sh.op == 'r' ? partial.p : c.p;
      for (size_t i = 0; i < P; ++i)
        if (!gemm(h, static_cast<char*>(src) + i * rows * k * 2, b.p,
                  static_cast<char*>(dst) + i * rows * n * 2, rows, n, k, s))
          return false;
      return true;
    };
    auto seq = [&] {
      if (sh.op == 'a') return coll() && local_gemm();
      return local_gemm() && coll();
    };
    const double t_gemm = time_graph(s, reps, replays, local_gemm);
    const double t_coll = time_graph(s, reps, replays, coll);
    const double t_parts = sh.op == 'x' ? -1 : time_graph(s, reps, replays, parts);
    const double t_seq = time_graph(s, reps, replays, seq);
    const double t_tseq = time_graph(s, reps, replays, run_op(tseq));
    const double t_fused = time_graph(s, reps, replays, run_op(fused));
    tdmFusedOpDestroy(fused);
    tdmFusedOpDestroy(tseq);
    if (g.rank == 0) {
      const double ideal = std::max(t_gemm, t_coll);
      auto ratio = [](double x, double y) { return x > 0 && y > 0 ? x / y : -1.0; };
      std::printf("  %-7s %6zu %6zu %6zu %s %s %s %s %s %s %8.2f %8.2f %8.2f\n", opname, sh.m, sh.k,
                  sh.n, cell(t_gemm, 9).c_str(), cell(t_parts, 9).c_str(), cell(t_coll, 9).c_str(),
                  cell(t_seq, 9).c_str(), cell(t_tseq, 9).c_str(), cell(t_fused, 9).c_str(),
                  ratio(t_seq, t_fused), ratio(t_tseq, t_fused), ratio(t_fused, ideal));
      std::fflush(stdout);
    }
  }
  cublasDestroy(h);
  cudaStreamDestroy(s);
  nccl.reset();
  tdmCommDestroy(g.comm);
  return 0;
}
