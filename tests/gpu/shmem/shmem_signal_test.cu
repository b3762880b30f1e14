// put_signal (data before signal), signal_op, signal_wait_until and wait_until.
#include "shmem_harness.h"

namespace shmem_device_test {

namespace {

// ============================================================================
// put_signal: data before signal, around the ring, many iterations
// ============================================================================

template <Scope S>
__device__ inline int g_rank_in() {
  if constexpr (S == Scope::kThread) return 0;
  if constexpr (S == Scope::kWarp) return threadIdx.x - 32;
  return threadIdx.x;
}
template <Scope S>
__device__ inline int g_size_in() {
  if constexpr (S == Scope::kThread) return 1;
  if constexpr (S == Scope::kWarp) return 32;
  return blockDim.x;
}
template <Scope S>
__device__ inline void g_sync_in() {
  if constexpr (S == Scope::kWarp) __syncwarp();
  if constexpr (S == Scope::kBlock) __syncthreads();
}

// Iteration i: wait until the next PE consumed i - 1 (ack), put_signal
// message i to it, wait for the previous PE's message i (signal), check every
// byte of it, acknowledge. A signal seen before its data fails the check.
template <Scope S, bool kNbi>
__global__ void ring_signal_kernel(tdmShmemDevice_t sh, uint8_t* data, const uint8_t* msgs,
                                   size_t bytes, uint64_t* sig, uint64_t* ack, int iters,
                                   tdmSignalOp_t op, uint64_t seed, uint64_t tag0, Errors* e) {
  if (!in_group<S>()) return;
  const int me = sh.my_pe, n = sh.n_pes, next = (me + 1) % n, prev = (me + n - 1) % n;
  const int rank = g_rank_in<S>(), size = g_size_in<S>();
  for (int i = 1; i <= iters; ++i) {
    if (rank == 0 && i > 1) ts::signal_wait_until(sh, ack, TDM_CMP_GE, uint64_t(i - 1));
    g_sync_in<S>();
    const uint8_t* msg = msgs + size_t(i - 1) * bytes;
    const uint64_t value = op == TDM_SIGNAL_SET ? uint64_t(i) : 1;
    if constexpr (kNbi)
      ts::put_signal_nbi<S>(sh, data, msg, bytes, sig, value, op, next);
    else
      ts::put_signal<S>(sh, data, msg, bytes, sig, value, op, next);
    if (rank == 0) {
      const uint64_t seen = ts::signal_wait_until(sh, sig, TDM_CMP_EQ, uint64_t(i));
      if (seen != uint64_t(i)) record(e, ~0ull, seen, i);
    }
    g_sync_in<S>();
    for (size_t k = rank; k < bytes; k += size) {
      const uint8_t want = pattern(seed, prev, tag0 + i, k);
      if (data[k] != want) record(e, (uint64_t(i) << 32) | k, data[k], want);
    }
    g_sync_in<S>();
    if (rank == 0) ts::signal_op(sh, ack, 1, TDM_SIGNAL_ADD, prev);
  }
}

template <Scope S>
void launch_ring_signal(bool nbi, uint8_t* data, const uint8_t* msgs, size_t bytes, uint64_t* sig,
                        uint64_t* ack, int iters, tdmSignalOp_t op, uint64_t seed, uint64_t tag0) {
  if (nbi)
    ring_signal_kernel<S, true><<<1, 256, 0, g_stream>>>(g_dev, data, msgs, bytes, sig, ack, iters,
                                                         op, seed, tag0, g_errors);
  else
    ring_signal_kernel<S, false><<<1, 256, 0, g_stream>>>(g_dev, data, msgs, bytes, sig, ack, iters,
                                                          op, seed, tag0, g_errors);
  LAUNCHED();
}

TEST_F(Shmem, PutSignalDataBeforeSignal) {
  const int iters = ring_iterations(400);
  constexpr size_t kMaxBytes = 65536 + 8;
  Sym data(kMaxBytes), words(2 * sizeof(uint64_t));
  Local msgs(size_t(iters) * kMaxBytes);
  uint64_t* sig = words.as<uint64_t>();
  uint64_t* ack = sig + 1;
  uint64_t tag0 = 0;
  for (Scope scope : {Scope::kThread, Scope::kWarp, Scope::kBlock})
    for (tdmSignalOp_t op : {TDM_SIGNAL_SET, TDM_SIGNAL_ADD})
      for (bool nbi : {false, true}) {
        // Odd sizes, larger for wider groups (more stores in flight per signal).
        const size_t bytes = scope == Scope::kThread ? 1032 + 3
                             : scope == Scope::kWarp ? 8192 + 8
                                                     : kMaxBytes;
        tag0 += 1u << 20;
        CUDA_EXPECT(cudaMemsetAsync(words.p, 0, 2 * sizeof(uint64_t), g_stream));
        CUDA_EXPECT(cudaMemsetAsync(data.p, kPoison, kMaxBytes, g_stream));
        fill(msgs.p, size_t(iters) * bytes, seed_, g_rank, tag0, bytes);
        host_barrier();  // every PE's words are zero before anyone signals
        if (scope == Scope::kThread)
          launch_ring_signal<Scope::kThread>(nbi, data.as(), msgs.as(), bytes, sig, ack, iters, op,
                                             seed_, tag0);
        else if (scope == Scope::kWarp)
          launch_ring_signal<Scope::kWarp>(nbi, data.as(), msgs.as(), bytes, sig, ack, iters, op,
                                           seed_, tag0);
        else
          launch_ring_signal<Scope::kBlock>(nbi, data.as(), msgs.as(), bytes, sig, ack, iters, op,
                                            seed_, tag0);
        EXPECT_NO_ERRORS("put_signal" << (nbi ? "_nbi" : "") << "<" << scope_name(scope) << "> "
                                      << (op == TDM_SIGNAL_SET ? "SET" : "ADD") << ", " << bytes
                                      << " B x " << iters
                                      << " iterations (index: iteration << 32 | byte)");
        host_barrier();  // every PE done with the words before they are reset
      }
}

// ============================================================================
// signal_op / signal_wait_until / wait_until: the six comparisons
// ============================================================================

enum WordKind : int { kU64Set, kU64Add, kI32, kI64, kU32 };
struct WaitCase {
  int kind;
  int cmp;
  long long init;
  long long steps[3];  // values written in order (kU64Add: added); only the last satisfies
  long long target;
};
constexpr int kMaxWaitCases = 40;
struct WaitTable {
  int n;
  WaitCase c[kMaxWaitCases];
};

// The value of a case's word after step s (s = -1: the initial value).
__host__ __device__ inline long long after_step(const WaitCase& c, int s) {
  if (c.kind != kU64Add) return s < 0 ? c.init : c.steps[s];
  long long v = c.init;
  for (int j = 0; j <= s; ++j) v += c.steps[j];
  return v;
}

// Blocks [0, n): senders of case b to the next PE; blocks [n, 2n): receivers
// of case b - n on this PE; block 2n: everyone adds (my_pe + 1) to `sum` on
// every PE, then waits for the total.
__global__ void wait_kernel(tdmShmemDevice_t sh, WaitTable t, uint64_t* u64, int32_t* i32,
                            int64_t* i64, uint32_t* u32, uint64_t* sum, unsigned long long* seen,
                            unsigned long long* after) {
  if (threadIdx.x != 0) return;
  const int me = sh.my_pe, n = sh.n_pes, next = (me + 1) % n;
  const int b = blockIdx.x;
  if (b == 2 * t.n) {
    for (int pe = 0; pe < n; ++pe) ts::signal_op(sh, sum, uint64_t(me + 1), TDM_SIGNAL_ADD, pe);
    const uint64_t total = uint64_t(n) * (n + 1) / 2;
    seen[t.n] = ts::signal_wait_until(sh, sum, TDM_CMP_EQ, total);
    after[t.n] = ts::signal_fetch(sh, sum);
    return;
  }
  if (b < t.n) {
    const WaitCase& c = t.c[b];
    __nanosleep(50000);  // let the receiver start waiting on the initial value
    for (int s = 0; s < 3; ++s) {
      const long long v = c.steps[s];
      switch (c.kind) {
        case kU64Set:
          ts::signal_op(sh, &u64[b], uint64_t(v), TDM_SIGNAL_SET, next);
          break;
        case kU64Add:
          ts::signal_op(sh, &u64[b], uint64_t(v), TDM_SIGNAL_ADD, next);
          break;
        case kI32:
          ts::p<int32_t>(sh, &i32[b], int32_t(v), next);
          break;
        case kI64:
          ts::p<int64_t>(sh, &i64[b], int64_t(v), next);
          break;
        case kU32:
          ts::p<uint32_t>(sh, &u32[b], uint32_t(v), next);
          break;
      }
      ts::fence(sh);
      __nanosleep(20000);  // the receiver sees (most) intermediate values
    }
    return;
  }
  const int ci = b - t.n;
  const WaitCase& c = t.c[ci];
  const tdmCmp_t cmp = static_cast<tdmCmp_t>(c.cmp);
  switch (c.kind) {
    case kU64Set:
    case kU64Add:
      seen[ci] = ts::signal_wait_until(sh, &u64[ci], cmp, uint64_t(c.target));
      after[ci] = ts::signal_fetch(sh, &u64[ci]);
      break;
    case kI32:
      seen[ci] = static_cast<unsigned long long>(
          static_cast<long long>(ts::wait_until<int32_t>(sh, &i32[ci], cmp, int32_t(c.target))));
      after[ci] = static_cast<unsigned long long>(
          static_cast<long long>(ts::atomic_fetch<int32_t>(sh, &i32[ci], me)));
      break;
    case kI64:
      seen[ci] = static_cast<unsigned long long>(
          ts::wait_until<int64_t>(sh, &i64[ci], cmp, int64_t(c.target)));
      after[ci] = static_cast<unsigned long long>(ts::atomic_fetch<int64_t>(sh, &i64[ci], me));
      break;
    case kU32:
      seen[ci] = ts::wait_until<uint32_t>(sh, &u32[ci], cmp, uint32_t(c.target));
      after[ci] = ts::atomic_fetch<uint32_t>(sh, &u32[ci], me);
      break;
  }
}

bool host_compare(long long v, int kind, int cmp, long long target) {
  auto cmpf = [&](auto a, auto b) {
    switch (cmp) {
      case TDM_CMP_EQ:
        return a == b;
      case TDM_CMP_NE:
        return a != b;
      case TDM_CMP_GT:
        return a > b;
      case TDM_CMP_LE:
        return a <= b;
      case TDM_CMP_LT:
        return a < b;
      case TDM_CMP_GE:
        return a >= b;
    }
    return false;
  };
  switch (kind) {
    case kI32:
      return cmpf(int32_t(v), int32_t(target));
    case kI64:
      return cmpf(int64_t(v), int64_t(target));
    case kU32:
      return cmpf(uint32_t(v), uint32_t(target));
    default:
      return cmpf(uint64_t(v), uint64_t(target));
  }
}

TEST_F(Shmem, SignalAndWaitUntilAllComparisons) {
  // 2^63 - 1, 2^63 and 2^63 + 1 as the bits of uint64 words.
  constexpr long long kBelowTop = LLONG_MAX, kTop = LLONG_MIN, kAboveTop = LLONG_MIN + 1;
  const std::vector<WaitCase> cases = {
      // uint64 signal words, SET
      {kU64Set, TDM_CMP_EQ, 0, {43, 41, 42}, 42},
      {kU64Set, TDM_CMP_NE, 7, {7, 7, 8}, 7},
      {kU64Set, TDM_CMP_GT, 0, {50, 100, 101}, 100},
      {kU64Set, TDM_CMP_LE, 1000, {500, 11, 10}, 10},
      {kU64Set, TDM_CMP_LT, 1000, {10, 11, 9}, 10},
      {kU64Set, TDM_CMP_GE, 0, {76, 1, 77}, 77},
      // unsigned: 2^63 - 1 < 2^63 (a signed compare would stop early)
      {kU64Set, TDM_CMP_GT, 0, {kBelowTop, kTop, kAboveTop}, kTop},
      {kU64Set, TDM_CMP_LT, -1, {kTop, 5, 4}, 5},
      // uint64, ADD (cumulative values 1, 3, 6 and so on)
      {kU64Add, TDM_CMP_EQ, 0, {1, 2, 3}, 6},
      {kU64Add, TDM_CMP_GE, 0, {1, 2, 3}, 6},
      {kU64Add, TDM_CMP_GT, 10, {2, 3, 1}, 15},
      {kU64Add, TDM_CMP_NE, 5, {0, 0, 4}, 5},
      // int32, signed comparisons around and below zero
      {kI32, TDM_CMP_EQ, 0, {42, -41, -42}, -42},
      {kI32, TDM_CMP_NE, -1, {-1, -1, 0}, -1},
      {kI32, TDM_CMP_GT, -100, {-6, -5, -4}, -5},
      {kI32, TDM_CMP_LE, 5, {0, -1, -2}, -2},
      {kI32, TDM_CMP_LT, 0, {5, -1, -2}, -1},
      {kI32, TDM_CMP_GE, -10, {-3, -2, 7}, 7},
      {kI32, TDM_CMP_GT, INT32_MIN, {-1, 0, 1}, 0},
      // int64 and uint32
      {kI64, TDM_CMP_GT, INT64_MIN, {-5, -1, 0}, -1},
      {kI64, TDM_CMP_LT, 5, {1, 0, -1}, 0},
      {kI64, TDM_CMP_EQ, 0, {1LL << 40, -(1LL << 40), (1LL << 40) + 1}, (1LL << 40) + 1},
      {kU32, TDM_CMP_GT, 0, {0x7fffffff, 0x80000000LL, 0x80000001LL}, 0x80000000LL},
      {kU32, TDM_CMP_LE, 0xffffffffLL, {4, 0x80000000LL, 3}, 3},
  };
  WaitTable table{};
  table.n = static_cast<int>(cases.size());
  ASSERT_LE(table.n, kMaxWaitCases);
  for (int i = 0; i < table.n; ++i) {
    table.c[i] = cases[i];
    // The table itself: the initial value and every step but the last fail.
    for (int s = -1; s < 2; ++s)
      ASSERT_FALSE(
          host_compare(after_step(cases[i], s), cases[i].kind, cases[i].cmp, cases[i].target))
          << "case " << i << " step " << s;
    ASSERT_TRUE(host_compare(after_step(cases[i], 2), cases[i].kind, cases[i].cmp, cases[i].target))
        << "case " << i;
  }
  const int n = table.n;
  Sym u64(n * 8), i32(n * 4), i64(n * 8), u32(n * 4), sum(8);
  std::vector<uint64_t> h_u64(n), h_i64(n);
  std::vector<uint32_t> h_i32(n), h_u32(n);
  for (int i = 0; i < n; ++i) {
    h_u64[i] = h_i64[i] = static_cast<uint64_t>(cases[i].init);
    h_i32[i] = h_u32[i] = static_cast<uint32_t>(cases[i].init);
  }
  CUDA_EXPECT(cudaMemcpy(u64.p, h_u64.data(), n * 8, cudaMemcpyHostToDevice));
  CUDA_EXPECT(cudaMemcpy(i64.p, h_i64.data(), n * 8, cudaMemcpyHostToDevice));
  CUDA_EXPECT(cudaMemcpy(i32.p, h_i32.data(), n * 4, cudaMemcpyHostToDevice));
  CUDA_EXPECT(cudaMemcpy(u32.p, h_u32.data(), n * 4, cudaMemcpyHostToDevice));
  CUDA_EXPECT(cudaMemset(sum.p, 0, 8));
  Local seen((n + 1) * 8), after((n + 1) * 8);
  host_barrier();  // every PE's words hold their initial values
  wait_kernel<<<2 * n + 1, 32, 0, g_stream>>>(
      g_dev, table, u64.as<uint64_t>(), i32.as<int32_t>(), i64.as<int64_t>(), u32.as<uint32_t>(),
      sum.as<uint64_t>(), seen.as<unsigned long long>(), after.as<unsigned long long>());
  LAUNCHED();
  CUDA_EXPECT(cudaStreamSynchronize(g_stream));
  std::vector<unsigned long long> h_seen(n + 1), h_after(n + 1);
  CUDA_EXPECT(cudaMemcpy(h_seen.data(), seen.p, (n + 1) * 8, cudaMemcpyDeviceToHost));
  CUDA_EXPECT(cudaMemcpy(h_after.data(), after.p, (n + 1) * 8, cudaMemcpyDeviceToHost));
  static const char* kCmpNames[] = {"EQ", "NE", "GT", "LE", "LT", "GE"};
  for (int i = 0; i < n; ++i) {
    const long long final_value = after_step(cases[i], 2);
    auto as_kind = [&](unsigned long long v) -> long long {
      switch (cases[i].kind) {
        case kI32:
          return int32_t(v);
        case kU32:
          return uint32_t(v);
        default:
          return static_cast<long long>(v);
      }
    };
    auto norm = [&](long long v) { return as_kind(static_cast<unsigned long long>(v)); };
    EXPECT_EQ(as_kind(h_seen[i]), norm(final_value))
        << "case " << i << " (" << kCmpNames[cases[i].cmp] << " " << cases[i].target
        << "): wait returned a value that is not the only one satisfying it";
    EXPECT_EQ(as_kind(h_after[i]), norm(final_value)) << "case " << i << ": value after the wait";
  }
  const unsigned long long total = static_cast<unsigned long long>(g_npes) * (g_npes + 1) / 2;
  EXPECT_EQ(h_seen[n], total) << "signal ADD from every PE";
  EXPECT_EQ(h_after[n], total);
}

}  // namespace
}  // namespace shmem_device_test
