// GEMM-RS, fused path (README "GEMM-RS"): the output row blocks are computed
// in the order rank+1, rank+2, ..., own last, each in row chunks into a local
// staging buffer; after each chunk the copy engine pushes it into the
// owner's receive slot for this rank and raises the owner's flag for that
// chunk. The own block comes last, chunk by chunk, with the reduction folded
// into the GEMM's epilogue: C_shard = A_own * B + (what peers pushed), beta 1,
// summed in fp32 by cuBLASLt. With more than two ranks a small kernel first
// sums the peers' pushed chunks into one.
#include "fused/gemm_rs.h"

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

constexpr int kMaxChunks = 16;  // TANDEM_FUSED_RS_CHUNKS' upper bound

class GemmRs final : public OpBase {
 public:
  GemmRs(Comm& comm, const tdmGemmShape_t& shape)
      : OpBase(Kind::kGemmRs, comm, shape, static_cast<size_t>(comm.nranks) * kMaxChunks),
        block_rows_((shape.max_m + nranks_ - 1) / nranks_),
        ws_(comm, 2 * block_rows_ * nranks_ * shape.n * elem_, initial_flags(nranks_)) {
    if (settings_.mode != Mode::kFused)
      scratch_ = device::device_alloc(shape.max_m * shape.n * elem_);
    choose_chunks();
  }

  void run(const Args& x) override {
    if (x.m == 0) return;
    if (!fused_for(x.m)) return sequential(x);
    const size_t rows = x.m / nranks_, k = shape().k, n = shape().n;
    const int chunks = static_cast<int>(std::min<size_t>(chunks_, rows));
    auto chunk_begin = [&](int q) { return rows * q / chunks; };
    const FlagMethod how = settings_.flags;
    cudaStream_t s = x.stream;

    for (int j = 1; j < nranks_; ++j) {
      const int dst = (rank_ + j) % nranks_;
      for (int q = 0; q < chunks; ++q) {
        const size_t r0 = chunk_begin(q), nr = chunk_begin(q + 1) - r0;
        gemm_.run(at(x.a, (dst * rows + r0) * k), x.b, nullptr, staging(dst) + r0 * n * elem_, nr,
                  s);
        follow(side_.get(), s, events_[static_cast<size_t>(j - 1) * kMaxChunks + q].get());
        if (q == 0) await_flag(ws_.flag(rank_, free_flag(dst)), side_.get(), how);
        TDM_CUDA(cudaMemcpyAsync(recv(dst, rank_) + r0 * n * elem_, staging(dst) + r0 * n * elem_,
                                 nr * n * elem_, cudaMemcpyDeviceToDevice, side_.get()));
        raise_flag(ws_.flag(dst, ready_flag(rank_, q)), side_.get(), how);
      }
    }
    for (int q = 0; q < chunks; ++q) {
      const size_t r0 = chunk_begin(q), nr = chunk_begin(q + 1) - r0;
      const void* pushed = nullptr;
      SumInputs in{};
      for (int j = 1; j < nranks_; ++j) {
        const int src = (rank_ - j + nranks_) % nranks_;
        await_flag(ws_.flag(rank_, ready_flag(src, q)), s, how);
        in.src[in.count++] = recv(rank_, src) + r0 * n * elem_;
      }
      if (in.count <= 1) {
        pushed = in.count == 1 ? in.src[0] : nullptr;
      } else {
        // Own staging block is free: it is never pushed anywhere.
        pushed = staging(rank_) + r0 * n * elem_;
        TDM_CUDA(launch_sum(in, const_cast<void*>(pushed), nullptr, nr * n, shape().dtype, 0, s));
      }
      gemm_.run(at(x.a, (rank_ * rows + r0) * k), x.b, pushed, at(x.c, r0 * n), nr, s);
    }
    join(s);  // the pushes are done: staging may be rewritten by the next call
    for (int j = 1; j < nranks_; ++j) {
      const int src = (rank_ - j + nranks_) % nranks_;
      raise_flag(ws_.flag(src, free_flag(rank_)), s, how);
    }
  }

 private:
  // Tunes the GEMMs of max_m now (a call may be captured in a graph) and picks
  // the chunk count (TANDEM_FUSED_RS_CHUNKS, else the fastest estimate of 1,
  // 2 or 4) and, under auto, fused or sequential. Estimates from tuned GEMM
  // times: fused = nranks * chunks GEMMs of a chunk (one chunk exposes its
  // whole push); sequential = the whole GEMM + the reduce-scatter. Small n
  // with large k is where it matters: at 2048x25600x5120 four chunks of 256
  // rows lost 560 us to 428 for the sequential pair.
  void choose_chunks() {
    const size_t rows = block_rows_, n = shape().n;
    auto chunk_rows = [&](int c) { return (rows + c - 1) / c; };
    auto estimate = [&](int c) {
      const double push = link_us(rows * n * elem_ * (nranks_ - 1));
      return nranks_ * c * gemm_.prepare(chunk_rows(c), false) + (c == 1 ? push : 0.0) +
             5.0 * nranks_ * c;
    };
    double fused = 0;
    if (settings_.mode != Mode::kSequential) {
      if (settings_.rs_chunks > 0) {
        chunks_ = settings_.rs_chunks;
        fused = estimate(chunks_);
      } else {
        chunks_ = 1;
        fused = estimate(1);
        for (int c : {2, 4}) {
          if (chunk_rows(c) < 64) break;
          const double t = estimate(c);
          if (t < fused) fused = t, chunks_ = c;
        }
      }
      gemm_.prepare(chunk_rows(chunks_), true);
      if (rows % chunks_) gemm_.prepare(rows / chunks_, true), gemm_.prepare(rows / chunks_, false);
    }
    // Every rank must chunk alike (the flags are per chunk).
    chunks_ = comm().boot->allgather_value(chunks_).at(0);
    if (settings_.mode != Mode::kSequential)
      TDM_INFO("CUDA", "GEMM-RS max_m ", shape().max_m, " n ", n, " k ", shape().k, ": ", chunks_,
               " row chunks per block");
    if (settings_.mode == Mode::kFused) return;
    const double seq =
        gemm_.prepare(shape().max_m, false) + link_us(rows * n * elem_ * (nranks_ - 1));
    // The estimate misses what the fused path loses where the reduce-scatter
    // is small beside the GEMM: measured, fused lost at 2048x25600x5120 (450
    // against 432 us) and 4096x25600x5120 (896 against 880), where the
    // reduce-scatter is under a fifth of the GEMM, and won everywhere else.
    const double comm = link_us(rows * n * elem_ * (nranks_ - 1));
    if (settings_.mode == Mode::kAuto)
      decide(fused < seq && comm >= 0.2 * gemm_.prepare(shape().max_m, false), fused, seq);
  }

  // Flags of rank r's workspace: ready[src][q] (src pushed chunk q of block r),
  // free[dst] (dst has finished with what r pushed to it).
  size_t ready_flag(int src, int q) const { return static_cast<size_t>(src) * kMaxChunks + q; }
  size_t free_flag(int dst) const {
    return static_cast<size_t>(nranks_) * kMaxChunks + static_cast<size_t>(dst);
  }
  static std::vector<uint32_t> initial_flags(int nranks) {
    const size_t ready = static_cast<size_t>(nranks) * kMaxChunks;
    std::vector<uint32_t> f(ready + nranks, 0);
    std::fill(f.begin() + static_cast<long>(ready), f.end(), 1u);
    return f;
  }
  // Rank pe's receive slot for blocks pushed by src, and this rank's staging
  // for block dst: the workspace's first and second halves.
  char* recv(int pe, int src) const {
    return ws_.data(pe) + static_cast<size_t>(src) * block_rows_ * shape().n * elem_;
  }
  char* staging(int dst) const {
    return ws_.data(rank_) + (nranks_ + static_cast<size_t>(dst)) * block_rows_ * shape().n * elem_;
  }

  void sequential(const Args& x) {
    gemm_.run(x.a, x.b, nullptr, scratch_.get(), x.m, x.stream);
    collective(plan::CallKind::kReduceScatter, scratch_.get(), x.c, x.m / nranks_ * shape().n,
               x.stream);
  }

  size_t block_rows_;
  int chunks_ = 1;
  Workspace ws_;
  device::DeviceMemory scratch_;
};

}  // namespace

std::unique_ptr<FusedOp> make_gemm_rs(Comm& comm, const tdmGemmShape_t& shape) {
  return std::make_unique<GemmRs>(comm, shape);
}

}  // namespace tdm::fused
