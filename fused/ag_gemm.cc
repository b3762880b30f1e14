// AG-GEMM, fused path (README "AG-GEMM"): each rank pushes its shard with the
// copy engine into slot `rank` of every peer's workspace and raises that
// peer's ready flag; meanwhile the caller's stream multiplies the local shard
// (straight from a_shard, nothing to wait for), then each peer's slot as its
// flag comes up, in the order peers push to us (rank-1 first). At the end it
// tells every peer that their slot here is free again.
#include "fused/ag_gemm.h"

#include <cuda_runtime_api.h>

#include <vector>

#include "fused/op_base.h"
#include "fused/signal.h"
#include "fused/workspace.h"

namespace tdm::fused {

namespace {

class AgGemm final : public OpBase {
 public:
  AgGemm(Comm& comm, const tdmGemmShape_t& shape)
      : OpBase(Kind::kAgGemm, comm, shape, 0),
        slot_rows_((shape.max_m + nranks_ - 1) / nranks_),
        ws_(comm, slot_rows_ * nranks_ * shape.k * elem_, initial_flags(nranks_)) {
    // The sequential pair gathers into its own buffer: the workspace may be
    // receiving a peer's push of the next fused call meanwhile.
    if (settings_.mode != Mode::kFused)
      scratch_ = device::device_alloc(shape.max_m * shape.k * elem_);
    // Tune the GEMMs of max_m now (a call may be captured in a graph). Auto
    // fuses when nranks GEMMs of a shard's rows beat the whole GEMM plus the
    // allgather (at 2048x5120x25600 the halves lost 467 us to 443 before
    // tuning).
    const size_t rows = shape.max_m / nranks_;
    const double t_part = settings_.mode != Mode::kSequential ? gemm_.prepare(rows, false) : 0;
    const double t_whole = settings_.mode != Mode::kFused ? gemm_.prepare(shape.max_m, false) : 0;
    if (settings_.mode == Mode::kAuto) {
      const double fused = nranks_ * t_part + 5.0 * nranks_;
      const double seq = t_whole + link_us(rows * shape.k * elem_ * (nranks_ - 1));
      decide(fused < seq);
    }
  }

  void run(const Args& x) override {
    if (x.m == 0) return;
    if (!fused_for(x.m)) return sequential(x);
    const size_t rows = x.m / nranks_, k = shape().k, n = shape().n;
    const size_t shard_bytes = rows * k * elem_;
    const FlagMethod how = settings_.flags;
    cudaStream_t s = x.stream;
    fork(s);
    for (int j = 1; j < nranks_; ++j) {
      const int dst = (rank_ + j) % nranks_;
      await_flag(ws_.flag(rank_, free_flag(dst)), side_.get(), how);
      TDM_CUDA(cudaMemcpyAsync(slot(dst, rank_), x.a, shard_bytes, cudaMemcpyDeviceToDevice,
                               side_.get()));
      raise_flag(ws_.flag(dst, ready_flag(rank_)), side_.get(), how);
    }
    if (x.a_gathered)
      TDM_CUDA(cudaMemcpyAsync(at(x.a_gathered, rank_ * rows * k), x.a, shard_bytes,
                               cudaMemcpyDeviceToDevice, side_.get()));

    gemm_.run(x.a, x.b, nullptr, at(x.c, rank_ * rows * n), rows, s);
    for (int j = 1; j < nranks_; ++j) {
      const int src = (rank_ - j + nranks_) % nranks_;
      await_flag(ws_.flag(rank_, ready_flag(src)), s, how);
      if (x.a_gathered) {
        // The copy out runs on the side stream, beside the GEMM.
        fork(s);
        TDM_CUDA(cudaMemcpyAsync(at(x.a_gathered, src * rows * k), slot(rank_, src), shard_bytes,
                                 cudaMemcpyDeviceToDevice, side_.get()));
      }
      gemm_.run(slot(rank_, src), x.b, nullptr, at(x.c, src * rows * n), rows, s);
    }
    join(s);
    for (int j = 1; j < nranks_; ++j) {
      const int src = (rank_ - j + nranks_) % nranks_;
      raise_flag(ws_.flag(src, free_flag(rank_)), s, how);
    }
  }

 private:
  // Flags of rank r's workspace: ready[src] (src's shard is in slot src),
  // free[dst] (dst has finished reading slot r of its workspace).
  size_t ready_flag(int src) const { return static_cast<size_t>(src); }
  size_t free_flag(int dst) const { return static_cast<size_t>(nranks_ + dst); }
  static std::vector<uint32_t> initial_flags(int nranks) {
    std::vector<uint32_t> f(2 * static_cast<size_t>(nranks), 0);
    for (int r = 0; r < nranks; ++r) f[nranks + r] = 1;  // every slot starts free
    return f;
  }
  char* slot(int pe, int src) const { return ws_.data(pe) + src * slot_rows_ * shape().k * elem_; }

  void sequential(const Args& x) {
    void* gathered = x.a_gathered ? x.a_gathered : scratch_.get();
    collective(plan::CallKind::kAllGather, x.a, gathered, x.m / nranks_ * shape().k, x.stream);
    gemm_.run(gathered, x.b, nullptr, x.c, x.m, x.stream);
  }

  size_t slot_rows_;
  Workspace ws_;
  device::DeviceMemory scratch_;
};

}  // namespace

std::unique_ptr<FusedOp> make_ag_gemm(Comm& comm, const tdmGemmShape_t& shape) {
  return std::make_unique<AgGemm>(comm, shape);
}

}  // namespace tdm::fused
