// Expert-parallel dispatch and combine (tandem/ep.h) on real GPUs, one
// process per rank under mpirun, after DeepEP's own low-latency test. Every
// rank regenerates every rank's inputs from hashes of (seed, rank, call), so
// the reference (tests/common/ep_reference.h, the harness's own codecs) sees
// what every rank sent: per local expert, recv_count equals the (rank, token,
// k) pairs routed to it; the rows received equal the rows sent as a set (bf16
// exactly, fp8 bytes and scales equal to the host cast); the handle points back
// at each row's source; combine over the expert y = dequant(recv) * (1 + e)
// equals the fp32 reference bit for bit (rows with every index -1 give 0).
// Outputs are poisoned with NaN first. Every verdict is agreed by all ranks.
#include <cuda_bf16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "tandem/ep.h"
#include "tandem/tandem.h"
#include "tests/common/api_checks.h"
#include "tests/common/ep_reference.h"
#include "tests/common/gpu_checks.h"
#include "tests/common/seeded_data.h"
#include "tests/common/world.h"

namespace {

namespace ref = tdm::test::ep;

tdm::test::GpuWorld g;
cudaStream_t g_stream = nullptr;

struct Case {
  int E, H, K, Tmax;
  bool fp8 = false, round = false, two_phase = false;
  int routing = 0;  // 0 random (some -1, some tokens without any), 1 every token to one expert
};
std::string describe(const Case& c) {
  return "E " + std::to_string(c.E) + " H " + std::to_string(c.H) + " K " + std::to_string(c.K) +
         " Tmax " + std::to_string(c.Tmax) + (c.fp8 ? " fp8" : " bf16") +
         (c.round ? " round" : "") + (c.two_phase ? " two-phase" : " one-call") +
         (c.routing ? " one-expert" : "");
}

uint64_t hash(uint64_t seed, uint64_t a, uint64_t b, uint64_t c) {
  return tdm::test::fmix64(seed ^ tdm::test::fmix64((a << 48) ^ (b << 24) ^ c));
}

// One rank's inputs of one call.
struct Inputs {
  int T = 0;
  std::vector<uint16_t> x;  // [T, H] bf16
  std::vector<int64_t> idx;
  std::vector<float> w;
};

int tokens_for(const Case& c, int rank, int call) {
  const int pattern[] = {0, 1, c.Tmax, c.Tmax / 2 + 1};
  return pattern[(rank + call) % 4];
}

Inputs make_inputs(const Case& c, uint64_t seed, int rank, int call, int T) {
  Inputs in;
  in.T = T;
  in.x.resize(size_t(T) * c.H);
  in.idx.assign(size_t(T) * c.K, -1);
  in.w.resize(size_t(T) * c.K);
  const uint64_t s = seed + 1000003ull * uint64_t(call);
  for (int t = 0; t < T; ++t) {
    for (int ch = 0; ch < c.H; ++ch) {
      const uint64_t h = hash(s, uint64_t(rank) * 8 + 1, t, ch);
      const int shift = int((ch / 128 + t) % 6) - 3;  // groups of different magnitude
      in.x[size_t(t) * c.H + ch] =
          ref::bf16_bits(std::ldexp(float(int(h % 2001) - 1000) / 100.f, shift));
    }
    int64_t* row = &in.idx[size_t(t) * c.K];
    for (int k = 0; k < c.K; ++k)
      in.w[size_t(t) * c.K + k] = float(hash(s, uint64_t(rank) * 8 + 2, t, k) % 1000 + 1) / 1000.f;
    if (c.routing == 1) {
      row[0] = c.E - 1;
      continue;
    }
    if (hash(s, uint64_t(rank) * 8 + 3, t, 0) % 16 == 0) continue;  // a token routed nowhere
    for (int k = 0; k < c.K; ++k) {
      int64_t e;
      uint64_t n = 0;
      do e = int64_t(hash(s, uint64_t(rank) * 8 + 4, t, uint64_t(k) * 1000 + n++) % c.E);
      while (std::find(row, row + k, e) != row + k);
      row[k] = e;
    }
    for (int k = 0; k < c.K; ++k)
      if (hash(s, uint64_t(rank) * 8 + 5, t, k) % 8 == 0) row[k] = -1;
  }
  return in;
}

// y = dequant(recv) * (1 + e) for the received rows of each local expert.
__global__ void expert(const void* recv, const float* scales, const int32_t* count, int L,
                       size_t per_expert, int H, bool fp8, int first_expert, __nv_bfloat16* y) {
  const int G = (H + 127) / 128;
  for (size_t row = blockIdx.x; row < size_t(L) * per_expert; row += gridDim.x) {
    const int l = int(row / per_expert);
    if (int(row % per_expert) >= count[l]) continue;
    const float m = float(1 + first_expert + l);
    for (int c = threadIdx.x; c < H; c += blockDim.x) {
      float v;
      if (fp8) {
        __nv_fp8_e4m3 q;
        q.__x = static_cast<const uint8_t*>(recv)[row * H + c];
        v = float(q) * scales[row * G + c / 128];
      } else {
        v = __bfloat162float(static_cast<const __nv_bfloat16*>(recv)[row * H + c]);
      }
      y[row * H + c] = __float2bfloat16_rn(v * m);
    }
  }
}

template <typename T>
struct Dev {
  T* p = nullptr;
  size_t n = 0;
  explicit Dev(size_t count) : n(count) { cudaMalloc(&p, std::max<size_t>(count, 1) * sizeof(T)); }
  ~Dev() { cudaFree(p); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  std::vector<T> get() const {
    std::vector<T> h(n);
    cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost);
    return h;
  }
};

// One ep and the buffers of `calls` calls in flight at once.
struct Harness {
  Case c;
  int L;
  size_t per_expert;
  int G;
  tdmEp_t ep = nullptr;
  struct Call {
    Dev<uint16_t> x;
    Dev<int64_t> idx;
    Dev<float> w;
    Dev<uint8_t> recv;
    Dev<float> scales;
    Dev<int32_t> count;
    Dev<uint16_t> y, out;
    Call(const Case& c, int L, size_t per_expert, int G)
        : x(size_t(c.Tmax) * c.H),
          idx(size_t(c.Tmax) * c.K),
          w(size_t(c.Tmax) * c.K),
          recv(size_t(L) * per_expert * c.H * (c.fp8 ? 1 : 2)),
          scales(c.fp8 ? size_t(L) * per_expert * G : 0),
          count(size_t(L)),
          y(size_t(L) * per_expert * c.H),
          out(size_t(c.Tmax) * c.H) {}
  };
  std::vector<std::unique_ptr<Call>> slots;

  Harness(const Case& cs, int calls)
      : c(cs), L(cs.E / g.size), per_expert(size_t(g.size) * cs.Tmax), G((cs.H + 127) / 128) {
    tdmEpConfig_t cfg{};
    cfg.size = sizeof cfg;
    cfg.version = TDM_EP_CONFIG_VERSION;
    cfg.num_experts = c.E;
    cfg.max_tokens = c.Tmax;
    cfg.hidden = c.H;
    cfg.max_topk = c.K;
    cfg.wire = c.fp8 ? TDM_EP_WIRE_FP8 : TDM_EP_WIRE_BF16;
    cfg.flags = c.round ? TDM_EP_ROUND_SCALE : 0;
    if (tdmEpCreate(g.comm, &cfg, &ep) != tdmSuccess) {
      ADD_FAILURE() << "tdmEpCreate: " << tdmGetLastError(nullptr);
      ep = nullptr;
    }
    for (int i = 0; i < calls; ++i) slots.push_back(std::make_unique<Call>(c, L, per_expert, G));
  }
  ~Harness() {
    if (ep) EXPECT_EQ(tdmEpDestroy(ep), tdmSuccess) << tdmGetLastError(nullptr);
  }

  // On g_stream and waited for: a cudaMemcpy from pageable memory may return
  // before its DMA lands, and g_stream (non-blocking) is not ordered after
  // the legacy stream, so the kernels could read half-uploaded routing.
  void upload(int slot, const Inputs& in) {
    Call& s = *slots[slot];
    CUDA_OK(cudaMemcpyAsync(s.x.p, in.x.data(), in.x.size() * 2, cudaMemcpyHostToDevice, g_stream));
    CUDA_OK(cudaMemcpyAsync(s.idx.p, in.idx.data(), in.idx.size() * 8, cudaMemcpyHostToDevice,
                            g_stream));
    CUDA_OK(cudaMemcpyAsync(s.w.p, in.w.data(), in.w.size() * 4, cudaMemcpyHostToDevice, g_stream));
    CUDA_OK(cudaStreamSynchronize(g_stream));
  }

  // Dispatch, the expert, combine, on g_stream; outputs poisoned first.
  tdmResult_t enqueue(int slot, int T, tdmEpHandle_t* handle = nullptr) {
    Call& s = *slots[slot];
    cudaMemsetAsync(s.recv.p, 0xff, s.recv.n, g_stream);
    cudaMemsetAsync(s.y.p, 0xff, s.y.n * 2, g_stream);
    cudaMemsetAsync(s.out.p, 0xff, s.out.n * 2, g_stream);
    cudaMemsetAsync(s.count.p, 0xff, s.count.n * 4, g_stream);
    if (c.fp8) cudaMemsetAsync(s.scales.p, 0xff, s.scales.n * 4, g_stream);  // NaN scales
    float* scales = c.fp8 ? s.scales.p : nullptr;
    auto dispatch = [&](tdmEpPhase_t p) {
      return tdmEpDispatch(ep, s.x.p, s.idx.p, T, c.K, s.recv.p, scales, s.count.p, handle, p,
                           g_stream);
    };
    auto combine = [&](tdmEpPhase_t p) {
      return tdmEpCombine(ep, s.y.p, s.idx.p, s.w.p, T, c.K, s.out.p, p, g_stream);
    };
    tdmResult_t r;
    if (c.two_phase) {
      if ((r = dispatch(TDM_EP_SEND)) != tdmSuccess || (r = dispatch(TDM_EP_RECV)) != tdmSuccess)
        return r;
    } else if ((r = dispatch(TDM_EP_BOTH)) != tdmSuccess) {
      return r;
    }
    expert<<<264, 256, 0, g_stream>>>(s.recv.p, scales, s.count.p, L, per_expert, c.H, c.fp8,
                                      g.rank * L, reinterpret_cast<__nv_bfloat16*>(s.y.p));
    if (c.two_phase) {
      if ((r = combine(TDM_EP_SEND)) != tdmSuccess) return r;
      return combine(TDM_EP_RECV);
    }
    return combine(TDM_EP_BOTH);
  }
};

// Host re-implementation of what every rank sent, for one call.
struct Reference {
  const Case& c;
  std::vector<Inputs> in;  // by rank
  std::vector<int> tokens;
  std::vector<std::vector<int64_t>> idx;
  Reference(const Case& cs, uint64_t seed, int call, const std::vector<int>& T) : c(cs), tokens(T) {
    for (int r = 0; r < g.size; ++r) {
      in.push_back(make_inputs(cs, seed, r, call, T[r]));
      idx.push_back(in.back().idx);
    }
  }
  // The wire row of (rank, token): bf16 bytes, or fp8 bytes and scales.
  void wire(int r, int t, std::vector<uint8_t>& bytes, std::vector<float>& scales) const {
    const uint16_t* row = &in[r].x[size_t(t) * c.H];
    scales.assign(ref::scale_groups(c.H), 0.f);
    if (c.fp8) {
      bytes.resize(c.H);
      ref::quantize_row(row, c.H, c.round, bytes.data(), scales.data());
    } else {
      bytes.resize(size_t(c.H) * 2);
      std::memcpy(bytes.data(), row, bytes.size());
    }
  }
  float dequant(const std::vector<uint8_t>& bytes, const std::vector<float>& scales, int ch) const {
    if (c.fp8) return ref::e4m3_value(bytes[ch]) * scales[ch / 128];
    uint16_t b;
    std::memcpy(&b, &bytes[size_t(ch) * 2], 2);
    return ref::bf16_value(b);
  }
  // This rank's combined output, [T, H] bf16 bits.
  std::vector<uint16_t> combined() const {
    const Inputs& mine = in[g.rank];
    std::vector<uint16_t> out(size_t(mine.T) * c.H), y(c.H);
    std::vector<uint8_t> bytes;
    std::vector<float> scales;
    for (int t = 0; t < mine.T; ++t) {
      wire(g.rank, t, bytes, scales);
      auto y_of = [&](int k, std::vector<uint16_t>& row) {
        const float m = float(1 + mine.idx[size_t(t) * c.K + k]);
        for (int ch = 0; ch < c.H; ++ch) row[ch] = ref::bf16_bits(dequant(bytes, scales, ch) * m);
      };
      ref::combine_row(&mine.idx[size_t(t) * c.K], &mine.w[size_t(t) * c.K], c.K, c.E, c.H, y_of, y,
                       &out[size_t(t) * c.H]);
    }
    return out;
  }
};

// Mismatches of recv_count and the combined output of one call.
size_t check_counts_and_out(const Harness& h, const Harness::Call& s, const Reference& ref,
                            std::string& why) {
  size_t bad = 0;
  const auto count = s.count.get();
  for (int l = 0; l < h.L; ++l) {
    const size_t want = ref::rows_of(g.rank * h.L + l, ref.idx, ref.tokens, h.c.K, h.c.E).size();
    if (size_t(count[l]) != want) {
      if (!bad++)
        why = "recv_count[" + std::to_string(l) + "] " + std::to_string(count[l]) + ", want " +
              std::to_string(want);
    }
  }
  const auto want = ref.combined();
  const auto got = s.out.get();
  for (size_t i = 0; i < want.size(); ++i)
    if (got[i] != want[i]) {
      if (!bad++)
        why = "out[" + std::to_string(i / h.c.H) + ", " + std::to_string(i % h.c.H) + "] " +
              std::to_string(ref::bf16_value(got[i])) + ", want " +
              std::to_string(ref::bf16_value(want[i]));
    }
  return bad;
}

// Mismatches of recv_x / recv_scales and the handle of the latest dispatch.
size_t check_dispatch(const Harness& h, const Harness::Call& s, const tdmEpHandle_t& handle,
                      const Reference& ref, std::string& why) {
  const int R = g.size;
  const size_t rows = size_t(h.L) * h.per_expert;
  std::vector<int32_t> token(rows), k_of(rows), rank_of(rows);
  std::vector<int64_t> range(size_t(h.L) * R);
  cudaMemcpy(token.data(), handle.src_token, rows * 4, cudaMemcpyDeviceToHost);
  cudaMemcpy(k_of.data(), handle.src_k, rows * 4, cudaMemcpyDeviceToHost);
  cudaMemcpy(rank_of.data(), handle.src_rank, rows * 4, cudaMemcpyDeviceToHost);
  cudaMemcpy(range.data(), handle.layout_range, range.size() * 8, cudaMemcpyDeviceToHost);
  const auto recv = s.recv.get();
  const auto scales = s.scales.get();
  const auto count = s.count.get();
  const size_t payload = size_t(h.c.H) * (h.c.fp8 ? 1 : 2);
  size_t bad = 0;
  auto fail = [&](const std::string& what) {
    if (!bad++) why = what;
  };
  std::vector<uint8_t> bytes;
  std::vector<float> want_scales;
  for (int l = 0; l < h.L; ++l) {
    const auto want = ref::rows_of(g.rank * h.L + l, ref.idx, ref.tokens, h.c.K, h.c.E);
    if (size_t(count[l]) != want.size()) {
      fail("recv_count of local expert " + std::to_string(l));
      continue;
    }
    std::vector<ref::Source> got;
    int64_t begin = 0;
    for (int r = 0; r < R; ++r) {
      const int64_t n = std::count_if(want.begin(), want.end(),
                                      [&](const ref::Source& x) { return x.rank == r; });
      if (range[size_t(l) * R + r] != ((begin << 32) | n))
        fail("layout_range of expert " + std::to_string(l));
      for (int64_t i = begin; i < begin + n; ++i) {
        const size_t at = size_t(l) * h.per_expert + size_t(i);
        if (rank_of[at] != r) fail("src_rank of a row outside its rank's range");
        got.push_back({rank_of[at], token[at], k_of[at]});
        if (token[at] < 0 || token[at] >= ref.tokens[r]) {
          fail("src_token out of range");
          continue;
        }
        ref.wire(r, token[at], bytes, want_scales);
        if (std::memcmp(&recv[at * payload], bytes.data(), payload) != 0)
          fail("row " + std::to_string(i) + " of expert " + std::to_string(l) +
               " differs from token " + std::to_string(token[at]) + " of rank " +
               std::to_string(r));
        if (h.c.fp8)
          for (int gi = 0; gi < h.G; ++gi)
            if (scales[at * h.G + gi] != want_scales[gi]) fail("scale of a row");
      }
      begin += n;
    }
    std::sort(got.begin(), got.end());
    if (got != want) fail("the rows of expert " + std::to_string(l) + " are not the rows sent");
  }
  return bad;
}

std::vector<int> tokens_of_call(const Case& c, int call) {
  std::vector<int> T(g.size);
  for (int r = 0; r < g.size; ++r) T[r] = tokens_for(c, r, call);
  return T;
}

// `calls` calls back to back (no host synchronization between them), each
// with new routing and its own T per rank; then every call's counts and
// output and the last call's rows and handle are checked.
void run_case(const Case& c, int calls) {
  SCOPED_TRACE(describe(c));
  const uint64_t seed = tdm::test::shared_seed(g);
  Harness h(c, calls);
  ASSERT_NE(h.ep, nullptr);
  std::vector<Reference> refs;
  for (int i = 0; i < calls; ++i) {
    refs.emplace_back(c, seed, i, tokens_of_call(c, i));
    h.upload(i, refs.back().in[g.rank]);
  }
  tdmEpHandle_t handle{};
  for (int i = 0; i < calls; ++i) TDM_OK(h.enqueue(i, refs[i].tokens[g.rank], &handle));
  CUDA_OK(cudaStreamSynchronize(g_stream));
  size_t bad = 0;
  std::string why;
  for (int i = 0; i < calls; ++i) bad += check_counts_and_out(h, *h.slots[i], refs[i], why);
  bad += check_dispatch(h, *h.slots[calls - 1], handle, refs[calls - 1], why);
  EXPECT_EQ(bad, 0u) << "rank " << g.rank << ": " << why << " (seed " << seed << ")";
  EXPECT_EQ(tdmEpGetDeviceError(h.ep), tdmSuccess) << tdmGetLastError(nullptr);
  ASSERT_TRUE(tdm::test::all_ok(g, bad == 0));
}

TEST(Ep, Sweep) {
  int i = 0;
  for (int E : {8, 288})
    for (int H : {2048, 2880, 7168})
      for (int K : {1, 8})
        for (bool fp8 : {false, true}) {
          Case c{E, H, K, 32};
          c.fp8 = fp8;
          c.round = fp8 && (i % 4 == 1);
          c.two_phase = (i++ / 2) % 2 == 1;  // both wires with and without phases
          run_case(c, 4);
        }
}

TEST(Ep, EveryTokenToOneExpert) {
  for (bool two_phase : {false, true}) {
    Case c{288, 7168, 8, 128, true};
    c.routing = 1;
    c.two_phase = two_phase;
    run_case(c, 3);
  }
}

// Dispatch, expert and combine captured once, replayed with new routing
// and data written into the same input buffers before each replay.
TEST(Ep, CapturedInGraphAndReplayedWithNewRouting) {
  for (bool two_phase : {false, true}) {
    Case c{288, 2048, 8, 64, true};
    c.two_phase = two_phase;
    SCOPED_TRACE(describe(c));
    const uint64_t seed = tdm::test::shared_seed(g);
    Harness h(c, 1);
    ASSERT_NE(h.ep, nullptr);
    const std::vector<int> T = tokens_of_call(c, 1);
    cudaGraph_t graph = nullptr;
    CUDA_OK(cudaStreamBeginCapture(g_stream, cudaStreamCaptureModeThreadLocal));
    tdmEpHandle_t handle{};
    const tdmResult_t r = h.enqueue(0, T[g.rank], &handle);
    CUDA_OK(cudaStreamEndCapture(g_stream, &graph));
    ASSERT_EQ(r, tdmSuccess) << tdmGetLastError(nullptr);
    cudaGraphExec_t exec = nullptr;
    CUDA_OK(cudaGraphInstantiate(&exec, graph, 0));
    size_t bad = 0;
    std::string why;
    for (int replay = 0; replay < 4; ++replay) {
      Reference ref(c, seed, 10 + replay, T);
      h.upload(0, ref.in[g.rank]);
      CUDA_OK(cudaGraphLaunch(exec, g_stream));
      CUDA_OK(cudaStreamSynchronize(g_stream));
      bad += check_counts_and_out(h, *h.slots[0], ref, why);
      bad += check_dispatch(h, *h.slots[0], handle, ref, why);
    }
    cudaGraphExecDestroy(exec);
    cudaGraphDestroy(graph);
    EXPECT_EQ(bad, 0u) << "rank " << g.rank << ": " << why;
    ASSERT_TRUE(tdm::test::all_ok(g, bad == 0));
  }
}

TEST(Ep, TwentyRerunsAreBitIdentical) {
  Case c{288, 7168, 8, 128, true};
  const uint64_t seed = tdm::test::shared_seed(g);
  Harness h(c, 1);
  ASSERT_NE(h.ep, nullptr);
  const std::vector<int> T(g.size, c.Tmax);
  const Reference ref(c, seed, 0, T);
  h.upload(0, ref.in[g.rank]);
  std::vector<uint16_t> first;
  size_t bad = 0;
  std::string why;
  for (int run = 0; run < 20; ++run) {
    TDM_OK(h.enqueue(0, c.Tmax));
    CUDA_OK(cudaStreamSynchronize(g_stream));
    const auto out = h.slots[0]->out.get();
    if (run == 0) {
      first = out;
      bad += check_counts_and_out(h, *h.slots[0], ref, why);
    } else if (out != first) {
      ++bad;
      why = "run " + std::to_string(run) + " differs from the first";
    }
  }
  EXPECT_EQ(bad, 0u) << "rank " << g.rank << ": " << why;
  ASSERT_TRUE(tdm::test::all_ok(g, bad == 0));
}

using tdm::test::expect_error;

TEST(Ep, BadInputIsRefusedOrReportedAndChangesNothing) {
  Case c{8, 2048, 4, 16, true};
  Harness h(c, 1);
  ASSERT_NE(h.ep, nullptr);
  auto& s = *h.slots[0];
  std::vector<uint8_t> host(64);
  auto dispatch = [&](int T, int K, void* recv, float* scales, tdmEpPhase_t p) {
    return tdmEpDispatch(h.ep, s.x.p, s.idx.p, T, K, recv, scales, s.count.p, nullptr, p, g_stream);
  };
  expect_error(dispatch(c.Tmax + 1, c.K, s.recv.p, s.scales.p, TDM_EP_BOTH), tdmInvalidArgument,
               "num_tokens 17");
  expect_error(dispatch(1, c.K + 1, s.recv.p, s.scales.p, TDM_EP_BOTH), tdmInvalidArgument,
               "num_topk 5");
  expect_error(dispatch(1, c.K, s.recv.p, s.scales.p, static_cast<tdmEpPhase_t>(0)),
               tdmInvalidArgument, "phase 0");
  expect_error(dispatch(1, c.K, host.data(), s.scales.p, TDM_EP_BOTH), tdmInvalidArgument,
               "recv_x is not device memory");
  expect_error(dispatch(1, c.K, s.recv.p, nullptr, TDM_EP_BOTH), tdmInvalidArgument,
               "recv_scales is NULL");
  expect_error(dispatch(1, c.K, reinterpret_cast<char*>(s.recv.p) + 8, s.scales.p, TDM_EP_BOTH),
               tdmInvalidArgument, "recv_x must be 16-byte aligned");
  expect_error(dispatch(1, c.K, s.recv.p, s.scales.p, TDM_EP_RECV), tdmInvalidUsage,
               "send phase before it");
  expect_error(tdmEpCombine(h.ep, s.y.p, s.idx.p, s.w.p, 1, c.K, s.out.p, TDM_EP_BOTH, g_stream),
               tdmInvalidUsage, "finished dispatch");
  // Device-checked: an index past E and a repeated expert on rank 0 are
  // skipped and reported; every other row still arrives and combines.
  const uint64_t seed = tdm::test::shared_seed(g);
  std::vector<int> T(g.size, c.Tmax);
  Reference ref(c, seed, 0, T);
  // Rank 0's inputs, edited in every rank's reference (rank 0 uploads them).
  ref.in[0].idx[1] = c.E + 5;
  ref.in[0].idx[c.K] = 3;
  ref.in[0].idx[c.K + 1] = 3;
  ref.idx[0] = ref.in[0].idx;
  h.upload(0, ref.in[g.rank]);
  TDM_OK(h.enqueue(0, c.Tmax));
  CUDA_OK(cudaStreamSynchronize(g_stream));
  std::string why;
  const size_t bad = check_counts_and_out(h, s, ref, why);
  EXPECT_EQ(bad, 0u) << "rank " << g.rank << ": " << why;
  if (g.rank == 0) {
    expect_error(tdmEpGetDeviceError(h.ep), tdmInvalidArgument, "outside -1 to num_experts - 1");
    const std::string error = tdmGetLastError(nullptr);
    EXPECT_NE(error.find("repeated"), std::string::npos) << error;
    EXPECT_EQ(tdmEpGetDeviceError(h.ep), tdmSuccess) << "the record was not cleared";
  } else {
    EXPECT_EQ(tdmEpGetDeviceError(h.ep), tdmSuccess) << tdmGetLastError(nullptr);
  }
  ASSERT_TRUE(tdm::test::all_ok(g, bad == 0));
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (!tdm::test::init_gpu_world("ep_test", &g)) return 1;
  if (cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking) != cudaSuccess) return 1;
  const int rc = RUN_ALL_TESTS();
  cudaStreamDestroy(g_stream);
  tdmCommDestroy(g.comm);
  return rc;
}
