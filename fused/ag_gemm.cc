// AG-GEMM, fused path (README "AG-GEMM"): each rank pushes its shard with the
// copy engine into every peer's workspace, at the shard's place in the
// gathered A, and raises that peer's ready flag. Meanwhile the caller's
// stream multiplies rows it already has, then the rest as flags come up.
//
// - Two ranks ("two pieces"): the first GEMM takes the rows of this rank's
//   shard farthest from the peer's, just enough to outlast the push; the
//   second takes everything else as one block of the workspace (the shard's
//   remaining rows are copied in beside the peer's). One large GEMM instead
//   of two halves: cuBLAS on half the rows costs up to 28 % more per row
//   (fused_perf's `parts` column, 2048x5120x25600 on H200: 438 against 343
//   us for the whole).
// - Otherwise ("per-peer pieces"): the local shard straight from a_shard,
//   then each peer's shard as its flag comes up, in the order peers push to
//   us (rank-1 first).
// At the end it tells every peer that its shard here has been read.
#include "fused/ag_gemm.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <vector>

#include "fused/kernels.h"
#include "fused/op_base.h"
#include "fused/signal.h"
#include "fused/workspace.h"
#include "util/log.h"

namespace tdm::fused {

namespace {

// The first GEMM of the two-piece path is a multiple of this many rows:
// cuBLAS's tiles are 64 or 128 rows high.
constexpr size_t kRowQuantum = 128;

class AgGemm final : public OpBase {
 public:
  AgGemm(Comm& comm, const tdmGemmShape_t& shape)
      : OpBase(Kind::kAgGemm, comm, shape, 0),
        ws_(comm, shape.max_m * shape.k * elem_, initial_flags(nranks_)) {
    // The sequential pair gathers into its own buffer: the workspace may be
    // receiving a peer's push of the next fused call meanwhile.
    if (settings_.mode != Mode::kFused)
      scratch_ = device::device_alloc(shape.max_m * shape.k * elem_);
    // Tune the GEMMs of max_m now (a call may be captured in a graph). Auto
    // fuses when its pieces beat the whole GEMM plus the allgather.
    // The whole GEMM is tuned where something uses it: the sequential pair,
    // and the automatic first-piece size (its time per row).
    const size_t max_m = shape.max_m, rows = max_m / nranks_;
    const bool first_from_time = nranks_ == 2 && settings_.ag_first_rows == 0;
    const double t_whole =
        settings_.mode != Mode::kFused || first_from_time ? gemm_.prepare(max_m, false) : 0;
    if (t_whole > 0) us_per_row_ = t_whole / static_cast<double>(max_m);
    double fused = 0;
    if (settings_.mode != Mode::kSequential) {
      fused = nranks_ * gemm_.prepare(rows, false) + 5.0 * nranks_;
      const size_t first = first_rows(max_m);
      if (first) {
        const double two = gemm_.prepare(first, false) + gemm_.prepare(max_m - first, false) + 10.0;
        // A row count from the environment asks for the two pieces.
        two_pieces_ = settings_.ag_first_rows > 0 || two < fused;
        if (two_pieces_) fused = two;
      }
    }
    const double seq = t_whole + link_us(rows * shape.k * elem_ * (nranks_ - 1));
    if (settings_.mode == Mode::kAuto) decide(fused < seq, fused, seq);
    if (settings_.mode != Mode::kSequential)
      TDM_INFO("CUDA", "AG-GEMM max_m ", max_m, ": ",
               two_pieces_ ? "two pieces, the first of " : "per-peer pieces",
               two_pieces_ ? std::to_string(first_rows(max_m)) + " rows" : "");
  }

  void run(const Args& x) override {
    if (x.m == 0) return;
    if (!fused_for(x.m)) return sequential(x);
    const size_t first = two_pieces_ ? first_rows(x.m) : 0;
    if (first) return run_two_pieces(x, first);
    const size_t rows = x.m / nranks_, n = shape().n;
    cudaStream_t s = x.stream;
    push(x, rows);
    gemm_.run(x.a, x.b, nullptr, at(x.c, rank_ * rows * n), rows, s);
    for (int j = 1; j < nranks_; ++j) {
      const int src = (rank_ - j + nranks_) % nranks_;
      await_flag(ws_.flag(rank_, ready_flag(src)), s, settings_.flags);
      copy_out(x, src, rows);
      gemm_.run(shard(rank_, src, rows), x.b, nullptr, at(x.c, src * rows * n), rows, s);
    }
    finish(s);
  }

 private:
  // Two ranks: how many rows of this rank's shard the first GEMM takes for a
  // call of m rows (0: the two-piece path does not apply). Enough rows that
  // the GEMM outlasts the push of a shard (estimated from max_m's tuned time
  // per row, with a fifth to spare), rounded up to kRowQuantum; 0 when that
  // leaves nothing of the shard for the second GEMM.
  size_t first_rows(size_t m) const {
    if (nranks_ != 2 || settings_.ag_first_rows < 0) return 0;
    const size_t rows = m / 2;
    size_t first = static_cast<size_t>(settings_.ag_first_rows);
    if (first == 0) {
      const double push = link_us(rows * shape().k * elem_);
      first = static_cast<size_t>(1.2 * push / us_per_row_) + 1;
      first = (first + kRowQuantum - 1) / kRowQuantum * kRowQuantum;
    }
    return first < rows ? first : 0;
  }

  void run_two_pieces(const Args& x, size_t first) {
    const size_t rows = x.m / 2, k = shape().k, n = shape().n;
    const int peer = 1 - rank_;
    cudaStream_t s = x.stream;
    push(x, rows);
    // Rank 0's first rows are the top of its shard, rank 1's the bottom, so
    // the second GEMM's block [lo, lo + m - first) of the gathered A is
    // contiguous in the workspace: the peer's shard and the shard's
    // remaining rows, copied in beside it (a few MiB at SM speed).
    const size_t first_off = rank_ == 0 ? 0 : rows - first;  // within the shard
    const size_t rest_off = rank_ == 0 ? first : 0;
    const size_t lo = rank_ == 0 ? first : 0;
    SumInputs rest{};
    rest.src[rest.count++] = at(x.a, rest_off * k);
    TDM_CUDA(launch_sum(rest, shard(rank_, rank_, rows) + rest_off * k * elem_, nullptr,
                        (rows - first) * k, shape().dtype, 0, s));
    gemm_.run(at(x.a, first_off * k), x.b, nullptr, at(x.c, (rank_ * rows + first_off) * n), first,
              s);
    await_flag(ws_.flag(rank_, ready_flag(peer)), s, settings_.flags);
    copy_out(x, peer, rows);
    gemm_.run(ws_.data(rank_) + lo * k * elem_, x.b, nullptr, at(x.c, lo * n), x.m - first, s);
    finish(s);
  }

  // Side stream: push this rank's shard to every peer (each waiting until
  // that peer has read the previous call's), and place it in a_gathered.
  void push(const Args& x, size_t rows) {
    const size_t shard_bytes = rows * shape().k * elem_;
    fork(x.stream);
    for (int j = 1; j < nranks_; ++j) {
      const int dst = (rank_ + j) % nranks_;
      await_flag(ws_.flag(rank_, free_flag(dst)), side_.get(), settings_.flags);
      TDM_CUDA(cudaMemcpyAsync(shard(dst, rank_, rows), x.a, shard_bytes, cudaMemcpyDeviceToDevice,
                               side_.get()));
      raise_flag(ws_.flag(dst, ready_flag(rank_)), side_.get(), settings_.flags);
    }
    if (x.a_gathered)
      TDM_CUDA(cudaMemcpyAsync(at(x.a_gathered, rank_ * rows * shape().k), x.a, shard_bytes,
                               cudaMemcpyDeviceToDevice, side_.get()));
  }

  // After src's ready flag: its shard into a_gathered, on the side stream
  // beside the GEMM.
  void copy_out(const Args& x, int src, size_t rows) {
    if (!x.a_gathered) return;
    const size_t k = shape().k;
    fork(x.stream);
    TDM_CUDA(cudaMemcpyAsync(at(x.a_gathered, src * rows * k), shard(rank_, src, rows),
                             rows * k * elem_, cudaMemcpyDeviceToDevice, side_.get()));
  }

  // The side stream joins; every peer learns its shard here has been read.
  void finish(cudaStream_t s) {
    join(s);
    for (int j = 1; j < nranks_; ++j) {
      const int src = (rank_ - j + nranks_) % nranks_;
      raise_flag(ws_.flag(src, free_flag(rank_)), s, settings_.flags);
    }
  }

  // Flags of rank r's workspace: ready[src] (src's shard is in place),
  // free[dst] (dst has finished reading r's shard in its workspace).
  size_t ready_flag(int src) const { return static_cast<size_t>(src); }
  size_t free_flag(int dst) const { return static_cast<size_t>(nranks_ + dst); }
  static std::vector<uint32_t> initial_flags(int nranks) {
    std::vector<uint32_t> f(2 * static_cast<size_t>(nranks), 0);
    for (int r = 0; r < nranks; ++r) f[nranks + r] = 1;  // every slot starts free
    return f;
  }
  // src's shard of a call with `rows` rows per rank in pe's workspace: at
  // its place in the gathered A, so shards of one call lie back to back.
  char* shard(int pe, int src, size_t rows) const {
    return ws_.data(pe) + static_cast<size_t>(src) * rows * shape().k * elem_;
  }

  void sequential(const Args& x) {
    void* gathered = x.a_gathered ? x.a_gathered : scratch_.get();
    collective(plan::CallKind::kAllGather, x.a, gathered, x.m / nranks_ * shape().k, x.stream);
    gemm_.run(gathered, x.b, nullptr, x.c, x.m, x.stream);
  }

  Workspace ws_;
  device::DeviceMemory scratch_;
  double us_per_row_ = 1;  // max_m's tuned GEMM time per row
  bool two_pieces_ = false;
};

}  // namespace

std::unique_ptr<FusedOp> make_ag_gemm(Comm& comm, const tdmGemmShape_t& shape) {
  return std::make_unique<AgGemm>(comm, shape);
}

}  // namespace tdm::fused
