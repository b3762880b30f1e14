// GEMM-AR, fused path (README "GEMM-AR"): the GEMM writes this rank's partial
// product into its symmetric workspace; a load/store kernel reads all
// partials over NVLink (peer pointers of the symmetric heap) and sums them in
// fp32. One-shot: every rank sums everything into C, in one kernel that
// synchronizes with the peers' by flags in memory (launch_ar_one_shot): the
// stream-memop flags it replaced cost ~20 us per call at decode sizes
// (fused 38 us against 22 for GEMM + allreduce at M=1, H200 pair). Two-shot (more ranks, larger
// C): each rank sums its 1/nranks of the elements into its workspace and C,
// raises a second flag, and copies the other parts out of the peers'
// workspaces with the copy engine. Last, each rank tells every peer that it
// has finished reading that peer's workspace.
#include "fused/gemm_ar.h"

#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "fused/kernels.h"
#include "fused/op_base.h"
#include "fused/signal.h"
#include "fused/workspace.h"
#include "util/error.h"

namespace tdm::fused {

namespace {

class GemmAr final : public OpBase {
 public:
  GemmAr(Comm& comm, const tdmGemmShape_t& shape)
      : OpBase(Kind::kGemmAr, comm, shape, 0),
        ws_(comm, 2 * shape.max_m * shape.n * elem_, initial_flags(nranks_)) {
    if (nranks_ > kMaxRanks)
      throw_error(tdmInvalidUsage, "the fused GEMM-AR supports up to ", kMaxRanks, " ranks, not ",
                  nranks_);
    gemm_.prepare(shape.max_m, false);  // a call may be captured in a graph
  }

  void run(const Args& x) override {
    if (x.m == 0) return;
    cudaStream_t s = x.stream;
    const size_t elems = x.m * shape().n;
    if (!fused_for(x.m)) {
      gemm_.run(x.a, x.b, nullptr, x.c, x.m, s);
      collective(plan::CallKind::kAllReduce, x.c, x.c, elems, s);
      return;
    }
    const FlagMethod how = settings_.flags;
    const bool two_shot = nranks_ > 1 && elems * elem_ >= settings_.ar_two_shot_bytes;
    if (!two_shot && how == FlagMethod::kMemop && (reinterpret_cast<uintptr_t>(x.c) & 15u) == 0) {
      // The kernel's end barrier frees the partial for the next call.
      gemm_.run(x.a, x.b, nullptr, partial(rank_), x.m, s);
      ArArgs args{};
      for (int p = 0; p < nranks_; ++p) {
        args.partial[p] = partial(p);
        args.flags[p] = ws_.flag(p, barrier_words());
      }
      args.counters = ws_.flag(rank_, counter_words());
      args.rank = rank_;
      args.nranks = nranks_;
      TDM_CUDA(launch_ar_one_shot(args, x.c, elems, shape().dtype, settings_.ar_blocks, s));
      return;
    }
    for (int p = 0; p < nranks_; ++p)
      if (p != rank_) await_flag(ws_.flag(rank_, free_flag(p)), s, how);
    gemm_.run(x.a, x.b, nullptr, partial(rank_), x.m, s);
    exchange(
        ready_flag(rank_), [&](int p) { return ready_flag(p); }, s);

    if (!two_shot) {
      TDM_CUDA(launch_sum(inputs(0), x.c, nullptr, elems, shape().dtype, settings_.ar_blocks, s));
    } else {
      const size_t mine0 = part_begin(elems, rank_), mine1 = part_begin(elems, rank_ + 1);
      TDM_CUDA(launch_sum(inputs(mine0), result(rank_) + mine0 * elem_, at(x.c, mine0),
                          mine1 - mine0, shape().dtype, settings_.ar_blocks, s));
      exchange(
          ready2_flag(rank_), [&](int p) { return ready2_flag(p); }, s);
      for (int j = 1; j < nranks_; ++j) {
        const int p = (rank_ + j) % nranks_;
        const size_t b0 = part_begin(elems, p), b1 = part_begin(elems, p + 1);
        TDM_CUDA(cudaMemcpyAsync(at(x.c, b0), result(p) + b0 * elem_, (b1 - b0) * elem_,
                                 cudaMemcpyDeviceToDevice, s));
      }
    }
    for (int p = 0; p < nranks_; ++p)
      if (p != rank_) raise_flag(ws_.flag(p, free_flag(rank_)), s, how);
  }

 private:
  // Flags of rank r's workspace: ready[p] (p's partial is in p's workspace),
  // ready2[p] (two-shot: p's summed part is in p's result), free[p] (p has
  // finished reading r's workspace).
  size_t ready_flag(int p) const { return static_cast<size_t>(p); }
  size_t ready2_flag(int p) const { return static_cast<size_t>(nranks_ + p); }
  size_t free_flag(int p) const { return static_cast<size_t>(2 * nranks_ + p); }
  // Then the one-shot kernel's per-block epochs and its barrier words.
  size_t counter_words() const { return 3 * static_cast<size_t>(nranks_); }
  size_t barrier_words() const { return counter_words() + kArMaxBlocks; }
  static std::vector<uint32_t> initial_flags(int nranks) {
    std::vector<uint32_t> f(3 * static_cast<size_t>(nranks) + kArMaxBlocks + ar_flag_words(), 0);
    for (int p = 0; p < nranks; ++p) f[2 * nranks + p] = 1;
    return f;
  }
  char* partial(int pe) const { return ws_.data(pe); }
  char* result(int pe) const { return ws_.data(pe) + shape().max_m * shape().n * elem_; }
  // Part boundaries on 8-element (16-byte) multiples, so every part but the
  // last takes the sum kernel's vector path.
  size_t part_begin(size_t elems, int p) const {
    const size_t vecs = (elems + 7) / 8;
    const size_t b = vecs * static_cast<size_t>(p) / nranks_ * 8;
    return b < elems ? b : elems;
  }
  // Every rank's partial from element `offset` on, own first (any order sums
  // the same in fp32 up to rounding; this one reads local memory first).
  SumInputs inputs(size_t offset) const {
    SumInputs in{};
    for (int j = 0; j < nranks_; ++j)
      in.src[in.count++] = partial((rank_ + j) % nranks_) + offset * elem_;
    return in;
  }
  // Raises flag `mine` on every peer, then waits for every peer's.
  template <typename PeerFlag>
  void exchange(size_t mine, PeerFlag peer_flag, cudaStream_t s) {
    for (int p = 0; p < nranks_; ++p)
      if (p != rank_) raise_flag(ws_.flag(p, mine), s, settings_.flags);
    for (int p = 0; p < nranks_; ++p)
      if (p != rank_) await_flag(ws_.flag(rank_, peer_flag(p)), s, settings_.flags);
  }

  Workspace ws_;
};

}  // namespace

std::unique_ptr<FusedOp> make_gemm_ar(Comm& comm, const tdmGemmShape_t& shape) {
  return std::make_unique<GemmAr>(comm, shape);
}

}  // namespace tdm::fused
