// gather_perf: tdmGather; size = total bytes at the root, count = per rank;
// busbw = algbw * (n-1)/n (as nccl-tests' gather.cu).
#include "common.h"

namespace tandem::perf {
namespace {

class GatherTest final : public Test {
 public:
  tdm::plan::CallKind kind() const override { return tdm::plan::CallKind::kGather; }
  Counts counts(size_t count, int nranks) const override {
    const size_t per = count / static_cast<size_t>(nranks);
    return {.send = per, .recv = per * nranks, .param = per, .sendInplaceOffset = per};
  }
  double algBytes(size_t param, size_t typeSize, int nranks) const override {
    return static_cast<double>(param * typeSize * nranks);
  }
  tdmResult_t run(const Call& c) const override {
    return c.lib->gather(c.send, c.recv, c.count, c.type, c.root, c.stream);
  }
  size_t checkCount(int rank, int nranks, int root, size_t param) const override {
    return rank == root ? param * nranks : 0;
  }
  Source source(int /*rank*/, int /*nranks*/, int /*root*/, size_t param, size_t j) const override {
    return {static_cast<int>(j / param), j % param};
  }
#if TANDEM_PERF_HAVE_MPI
  int runMpi(const MpiCall& m) const override {
    const bool root = m.rank == m.root;
    return MPI_Gather(m.inPlace && root ? MPI_IN_PLACE : m.send, m.n(m.count), m.type,
                      root ? m.recv : nullptr, m.n(m.count), m.type, m.root, m.comm);
  }
#endif
};

}  // namespace
}  // namespace tandem::perf

int main(int argc, char** argv) {
  return tandem::perf::runPerf(argc, argv, tandem::perf::GatherTest{});
}
