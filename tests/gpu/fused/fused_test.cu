// The fused ops (tandem/fused.h) on real GPUs, one process per rank under
// mpirun. Inputs are hashes of (seed, tensor, rank, row, column) rounded to
// the dtype, so every rank regenerates any rank's input; the reference is a
// plain fp32 GEMM kernel written here (no cuBLAS, nothing of the fused path)
// that computes each expected element from those hashes. Outputs are
// poisoned with NaN before every call; an element passes when
// |got - want| <= eps(dtype) * (|want| + nranks * sqrt(k_total)) * 4, which
// covers the rounding of the output and of each rank's partial product.
// Every test's verdict is agreed by all ranks (an allreduce on host memory).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "tandem/fused.h"
#include "tandem/tandem.h"
#include "tests/common/api_checks.h"
#include "tests/common/gpu_checks.h"
#include "tests/common/seeded_data.h"
#include "tests/common/world.h"

namespace {

tdm::test::GpuWorld g;
cudaStream_t g_stream = nullptr;

enum class Op { kAg, kRs, kAr };
const char* name(Op op) {
  return op == Op::kAg ? "AG-GEMM" : op == Op::kRs ? "GEMM-RS" : "GEMM-AR";
}

// Tensors: A (0) and B (1); value in [-1, 1] on a 1/64 grid, exact in both dtypes.
__host__ __device__ inline float value(uint64_t seed, int tensor, int rank, size_t i, size_t j) {
  const uint64_t h =
      tdm::test::fmix64(seed ^ tdm::test::fmix64((uint64_t(tensor) << 56) ^ (uint64_t(rank) << 48) ^
                                                 (uint64_t(i) << 24) ^ uint64_t(j)));
  return static_cast<float>(static_cast<int>(h % 129) - 64) / 64.0f;
}

template <typename T>
__device__ T cast(float x);
template <>
__device__ __nv_bfloat16 cast(float x) {
  return __float2bfloat16_rn(x);
}
template <>
__device__ __half cast(float x) {
  return __float2half_rn(x);
}
__device__ float back(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ float back(__half x) { return __half2float(x); }

// out[i, j] = value(tensor, rank, row0 + i, j) for a rows x cols row-major
// block; `transposed`: out is [cols, rows] holding the same matrix as B^T.
template <typename T>
__global__ void fill(T* out, size_t rows, size_t cols, uint64_t seed, int tensor, int rank,
                     size_t row0, bool transposed) {
  for (size_t x = blockIdx.x * size_t(blockDim.x) + threadIdx.x; x < rows * cols;
       x += size_t(gridDim.x) * blockDim.x) {
    const size_t i = x / cols, j = x % cols;
    const T v = cast<T>(value(seed, tensor, rank, row0 + i, j));
    if (transposed)
      out[j * rows + i] = v;
    else
      out[x] = v;
  }
}

struct Case {
  Op op;
  tdmDataType_t dtype;
  bool bt;
  size_t n, k;  // local sizes
};

// Expected C[i, j] for output rows row0.. of `c`, computed from the hashes.
// AG: A is the global [m, k] (tensor 0, "rank" 0), B this rank's.
// RS/AR: sum over ranks p of A_p[row, :] * B_p.
template <typename T>
__global__ void check(const T* c, size_t rows, size_t n, size_t k, uint64_t seed, Op op, int rank,
                      int nranks, size_t row0, float eps, unsigned long long* bad, float* worst) {
  for (size_t x = blockIdx.x * size_t(blockDim.x) + threadIdx.x; x < rows * n;
       x += size_t(gridDim.x) * blockDim.x) {
    const size_t i = x / n, j = x % n;
    float want = 0.f;
    if (op == Op::kAg) {
      for (size_t t = 0; t < k; ++t)
        want += value(seed, 0, 0, row0 + i, t) * value(seed, 1, rank, t, j);
    } else {
      for (int p = 0; p < nranks; ++p)
        for (size_t t = 0; t < k; ++t)
          want += value(seed, 0, p, row0 + i, t) * value(seed, 1, p, t, j);
    }
    const float ktot = static_cast<float>(op == Op::kAg ? k : k * nranks);
    const float tol = eps * (fabsf(want) + nranks * sqrtf(ktot)) * 4.f;
    const float got = back(c[x]);
    const float err = fabsf(got - want);
    if (!(err <= tol)) {  // NaN (the poison) fails too
      atomicAdd(bad, 1ull);
      atomicMax(reinterpret_cast<int*>(worst), __float_as_int(isnan(err) ? 1e30f : err));
    }
  }
}

// Device buffers of one case, sized for max_m.
struct Buffers {
  void *a = nullptr, *b = nullptr, *c = nullptr, *ag = nullptr;
  unsigned long long* bad = nullptr;
  float* worst = nullptr;
  Buffers(const Case& cs, size_t max_m) {
    const size_t a_rows = cs.op == Op::kAg ? max_m / g.size : max_m;
    cudaMalloc(&a, a_rows * cs.k * 2);
    cudaMalloc(&b, cs.k * cs.n * 2);
    cudaMalloc(&c, max_m * cs.n * 2);
    cudaMalloc(&ag, max_m * cs.k * 2);
    cudaMalloc(&bad, sizeof(*bad));
    cudaMalloc(&worst, sizeof(*worst));
  }
  ~Buffers() {
    for (void* p : {a, b, c, ag, static_cast<void*>(bad), static_cast<void*>(worst)}) cudaFree(p);
  }
};

template <typename T>
void fill_inputs(const Case& cs, const Buffers& buf, size_t m, uint64_t seed) {
  if (cs.op == Op::kAg) {
    const size_t rows = m / g.size;
    fill<T><<<256, 256, 0, g_stream>>>(static_cast<T*>(buf.a), rows, cs.k, seed, 0, 0,
                                       g.rank * rows, false);
  } else {
    fill<T><<<256, 256, 0, g_stream>>>(static_cast<T*>(buf.a), m, cs.k, seed, 0, g.rank, 0, false);
  }
  fill<T><<<256, 256, 0, g_stream>>>(static_cast<T*>(buf.b), cs.k, cs.n, seed, 1, g.rank, 0, cs.bt);
  cudaMemsetAsync(buf.c, 0xff, m * cs.n * 2, g_stream);  // NaN in bf16 and fp16
  cudaMemsetAsync(buf.ag, 0xff, m * cs.k * 2, g_stream);
}

tdmResult_t call(const Case& cs, tdmFusedOp_t op, const Buffers& buf, size_t m, bool gathered) {
  switch (cs.op) {
    case Op::kAg:
      return tdmAgGemm(op, buf.a, buf.b, buf.c, gathered ? buf.ag : nullptr, m, g_stream);
    case Op::kRs:
      return tdmGemmRs(op, buf.a, buf.b, buf.c, m, g_stream);
    default:
      return tdmGemmAr(op, buf.a, buf.b, buf.c, m, g_stream);
  }
}

// Checks C (and the gathered A) of one call; returns the bad-element count.
template <typename T>
unsigned long long verify(const Case& cs, const Buffers& buf, size_t m, uint64_t seed,
                          bool gathered, float* worst_out) {
  cudaMemsetAsync(buf.bad, 0, sizeof(*buf.bad), g_stream);
  cudaMemsetAsync(buf.worst, 0, sizeof(*buf.worst), g_stream);
  const float eps = cs.dtype == tdmBfloat16 ? 1.0f / 256 : 1.0f / 2048;
  const size_t rows = cs.op == Op::kRs ? m / g.size : m;
  const size_t row0 = cs.op == Op::kRs ? g.rank * rows : 0;
  check<T><<<264, 256, 0, g_stream>>>(static_cast<const T*>(buf.c), rows, cs.n, cs.k, seed, cs.op,
                                      g.rank, g.size, row0, eps, buf.bad, buf.worst);
  if (gathered) {  // the gathered A must equal the inputs bit for bit
    std::vector<uint16_t> host(m * cs.k);
    cudaMemcpyAsync(host.data(), buf.ag, host.size() * 2, cudaMemcpyDeviceToHost, g_stream);
    cudaStreamSynchronize(g_stream);
    unsigned long long wrong = 0;
    for (size_t i = 0; i < m; ++i)
      for (size_t j = 0; j < cs.k; ++j) {
        const float v = value(seed, 0, 0, i, j);
        // Both dtypes hold v exactly (a 1/64 grid in [-1, 1]).
        uint16_t want = 0;
        if (cs.dtype == tdmBfloat16) {
          const __nv_bfloat16 h = __float2bfloat16(v);
          std::memcpy(&want, &h, 2);
        } else {
          const __half h = __float2half(v);
          std::memcpy(&want, &h, 2);
        }
        wrong += host[i * cs.k + j] != want;
      }
    if (wrong)
      ADD_FAILURE() << "a_gathered: " << wrong << " wrong elements (rank " << g.rank << ")";
  }
  unsigned long long bad = 0;
  cudaMemcpyAsync(&bad, buf.bad, sizeof(bad), cudaMemcpyDeviceToHost, g_stream);
  cudaMemcpyAsync(worst_out, buf.worst, sizeof(float), cudaMemcpyDeviceToHost, g_stream);
  cudaStreamSynchronize(g_stream);
  return bad;
}

tdmResult_t create(const Case& cs, size_t max_m, tdmFusedOp_t* op) {
  const tdmGemmShape_t shape{max_m, cs.n, cs.k, cs.dtype, cs.bt ? 1 : 0};
  switch (cs.op) {
    case Op::kAg:
      return tdmAgGemmCreate(g.comm, &shape, op);
    case Op::kRs:
      return tdmGemmRsCreate(g.comm, &shape, op);
    default:
      return tdmGemmArCreate(g.comm, &shape, op);
  }
}

std::string describe(const Case& cs, size_t m) {
  return std::string(name(cs.op)) + (cs.dtype == tdmBfloat16 ? " bf16" : " fp16") +
         (cs.bt ? " B^T" : " B") + " n=" + std::to_string(cs.n) + " k=" + std::to_string(cs.k) +
         " m=" + std::to_string(m) + " ranks=" + std::to_string(g.size);
}

// Runs `ms` back to back on one op (fresh inputs each time), checking each.
template <typename T>
void run_case(const Case& cs, const std::vector<size_t>& ms, size_t max_m) {
  Buffers buf(cs, max_m);
  tdmFusedOp_t op = nullptr;
  TDM_OK(create(cs, max_m, &op));
  for (size_t m : ms) {
    SCOPED_TRACE(describe(cs, m));
    const uint64_t seed = tdm::test::shared_seed(g);
    fill_inputs<T>(cs, buf, m, seed);
    const bool gathered = cs.op == Op::kAg && (m / g.size) % 2 == 1;
    TDM_OK(call(cs, op, buf, m, gathered));
    float worst = 0;
    const unsigned long long bad = verify<T>(cs, buf, m, seed, gathered, &worst);
    EXPECT_EQ(bad, 0u) << "worst error " << worst << " (rank " << g.rank << ")";
  }
  TDM_OK(tdmFusedOpDestroy(op));
}

void run_any(const Case& cs, const std::vector<size_t>& ms, size_t max_m) {
  if (cs.dtype == tdmBfloat16)
    run_case<__nv_bfloat16>(cs, ms, max_m);
  else
    run_case<__half>(cs, ms, max_m);
}

class Fused : public ::testing::Test {
 protected:
  void TearDown() override {
    cudaStreamSynchronize(g_stream);
    const bool mine = !HasFailure();
    if (!tdm::test::all_ok(g, mine) && mine) ADD_FAILURE() << "this test failed on another rank";
  }
};

// Every op x dtype x B layout over several m back to back on one op: m =
// nranks, odd multiples, max_m (GEMM-AR: any m, 1 included).
void sweep(const char* mode, const char* flags = "memop") {
  setenv("TANDEM_FUSED_MODE", mode, 1);
  setenv("TANDEM_FUSED_FLAGS", flags, 1);
  const size_t n = g.size, max_m = 24 * n;
  for (Op op : {Op::kAg, Op::kRs, Op::kAr})
    for (tdmDataType_t dt : {tdmBfloat16, tdmFloat16})
      for (bool bt : {false, true}) {
        const Case cs{op, dt, bt, 40, 72};
        if (op == Op::kAr)
          run_any(cs, {1, 5, max_m, 3 * n + 1, max_m}, max_m);
        else
          run_any(cs, {n, 3 * n, max_m, 7 * n, max_m}, max_m);
      }
  unsetenv("TANDEM_FUSED_MODE");
  unsetenv("TANDEM_FUSED_FLAGS");
}

TEST_F(Fused, SweepFusedPath) { sweep("fused"); }
TEST_F(Fused, SweepSequentialPair) { sweep("sequential"); }
TEST_F(Fused, SweepFusedPathKernelFlags) { sweep("fused", "kernel"); }
// AG-GEMM's two-piece path (two ranks): 5 rows first, so m with 6 or more
// rows per rank take it and smaller m the per-peer pieces, on one op.
TEST_F(Fused, SweepFusedPathAgTwoPieces) {
  setenv("TANDEM_FUSED_AG_FIRST_ROWS", "5", 1);
  sweep("fused");
  unsetenv("TANDEM_FUSED_AG_FIRST_ROWS");
}

// Larger shapes under the automatic choice: chunked GEMM-RS blocks, GEMM-AR
// past the two-shot threshold with more than two ranks, both paths of auto.
TEST_F(Fused, LargerShapesAuto) {
  setenv("TANDEM_FUSED_AR_TWO_SHOT_BYTES", "64K", 1);
  const size_t n = g.size, max_m = 160 * n;
  for (Op op : {Op::kAg, Op::kRs, Op::kAr}) {
    const Case cs{op, tdmBfloat16, op == Op::kRs, 264, 520};
    run_any(cs, {max_m, 2 * n, 130 * n}, max_m);
  }
  unsetenv("TANDEM_FUSED_AR_TWO_SHOT_BYTES");
}

// One call captured in a CUDA graph, replayed on fresh inputs at the same
// addresses: the flags must come back to their initial state every time.
// AG-GEMM both with per-peer pieces and (two ranks) with two pieces.
TEST_F(Fused, CapturedInGraphAndReplayed) {
  setenv("TANDEM_FUSED_MODE", "fused", 1);
  const size_t n = g.size, max_m = 16 * n, m = 8 * n;
  for (const char* ag_first : {"-1", "3", "0"}) {
    if (ag_first[0] != '0') setenv("TANDEM_FUSED_AG_FIRST_ROWS", ag_first, 1);
    for (Op op : {Op::kAg, Op::kRs, Op::kAr}) {
      if (op != Op::kAg && ag_first[0] != '0') continue;
      SCOPED_TRACE(std::string("TANDEM_FUSED_AG_FIRST_ROWS ") + ag_first);
      const Case cs{op, tdmFloat16, true, 48, 64};
      Buffers buf(cs, max_m);
      tdmFusedOp_t fop = nullptr;
      TDM_OK(create(cs, max_m, &fop));
      cudaGraph_t graph = nullptr;
      CUDA_OK(cudaStreamBeginCapture(g_stream, cudaStreamCaptureModeThreadLocal));
      const tdmResult_t r = call(cs, fop, buf, m, false);
      CUDA_OK(cudaStreamEndCapture(g_stream, &graph));
      ASSERT_EQ(r, tdmSuccess) << tdmGetLastError(nullptr);
      cudaGraphExec_t exec = nullptr;
      CUDA_OK(cudaGraphInstantiate(&exec, graph, 0));
      for (int replay = 0; replay < 3; ++replay) {
        SCOPED_TRACE(describe(cs, m) + " replay " + std::to_string(replay));
        const uint64_t seed = tdm::test::shared_seed(g);
        fill_inputs<__half>(cs, buf, m, seed);
        CUDA_OK(cudaGraphLaunch(exec, g_stream));
        float worst = 0;
        EXPECT_EQ((verify<__half>(cs, buf, m, seed, false, &worst)), 0u) << "worst " << worst;
      }
      // An eager call after the replays still agrees with the peers' flags.
      const uint64_t seed = tdm::test::shared_seed(g);
      fill_inputs<__half>(cs, buf, m, seed);
      TDM_OK(call(cs, fop, buf, m, false));
      float worst = 0;
      EXPECT_EQ((verify<__half>(cs, buf, m, seed, false, &worst)), 0u) << "eager after graph";
      cudaGraphExecDestroy(exec);
      cudaGraphDestroy(graph);
      TDM_OK(tdmFusedOpDestroy(fop));
    }
    unsetenv("TANDEM_FUSED_AG_FIRST_ROWS");
  }
  unsetenv("TANDEM_FUSED_MODE");
}

// Bad input: an error with a sentence, and the output untouched.
TEST_F(Fused, BadInputIsRefusedAndTouchesNothing) {
  const size_t n = g.size, max_m = 4 * n;
  const Case cs{Op::kAg, tdmBfloat16, false, 16, 32};
  Buffers buf(cs, max_m);
  tdmFusedOp_t ag = nullptr, ar = nullptr;
  TDM_OK(create(cs, max_m, &ag));
  TDM_OK(create(Case{Op::kAr, tdmBfloat16, false, 16, 32}, max_m, &ar));
  CUDA_OK(cudaMemset(buf.c, 0x7b, max_m * cs.n * 2));
  std::vector<char> host(64);
  tdm::test::expect_error(tdmAgGemm(ag, buf.a, buf.b, buf.c, nullptr, max_m + n, g_stream),
                          tdmInvalidArgument, "above the op's max_m");
  if (n > 1)
    tdm::test::expect_error(tdmAgGemm(ag, buf.a, buf.b, buf.c, nullptr, n + 1, g_stream),
                            tdmInvalidArgument, "not divisible");
  tdm::test::expect_error(tdmAgGemm(ag, host.data(), buf.b, buf.c, nullptr, n, g_stream),
                          tdmInvalidArgument, "a_shard is not device memory");
  tdm::test::expect_error(tdmAgGemm(ag, buf.a, nullptr, buf.c, nullptr, n, g_stream),
                          tdmInvalidArgument, "b is NULL");
  tdm::test::expect_error(tdmAgGemm(ag, buf.a, buf.b, buf.c, host.data(), n, g_stream),
                          tdmInvalidArgument, "a_gathered is not device memory");
  tdm::test::expect_error(tdmGemmRs(ag, buf.a, buf.b, buf.c, n, g_stream), tdmInvalidArgument,
                          "not GEMM-RS");
  tdm::test::expect_error(tdmGemmAr(ar, buf.a, buf.b, buf.c, max_m + 1, g_stream),
                          tdmInvalidArgument, "above the op's max_m");
  tdmGemmShape_t bad{max_m, 16, 32, tdmFloat8e4m3, 0};
  tdmFusedOp_t none = nullptr;
  tdm::test::expect_error(tdmGemmArCreate(g.comm, &bad, &none), tdmInvalidArgument,
                          "tdmBfloat16 or tdmFloat16");
  EXPECT_EQ(none, nullptr);
  CUDA_OK(cudaStreamSynchronize(g_stream));
  std::vector<uint8_t> c(max_m * cs.n * 2);
  CUDA_OK(cudaMemcpy(c.data(), buf.c, c.size(), cudaMemcpyDeviceToHost));
  size_t changed = 0;
  for (uint8_t v : c) changed += v != 0x7b;
  EXPECT_EQ(changed, 0u) << "a refused call wrote the output";
  TDM_OK(tdmFusedOpDestroy(ag));
  TDM_OK(tdmFusedOpDestroy(ar));
  tdm::test::expect_error(tdmFusedOpDestroy(ag), tdmInvalidArgument, "not a live fused op");
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (!tdm::test::init_gpu_world("fused_test", &g)) return 1;
  if (cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking) != cudaSuccess) return 1;
  const int rc = RUN_ALL_TESTS();
  cudaStreamDestroy(g_stream);
  tdmCommDestroy(g.comm);
  return rc;
}
