// scatter_perf: tdmScatter; size = total bytes at the root, count = per rank;
// busbw = algbw * (n-1)/n (as nccl-tests' scatter.cu).
#include "common.h"

namespace tandem::perf {
namespace {

class ScatterTest final : public Test {
 public:
  tdm::plan::CallKind kind() const override { return tdm::plan::CallKind::kScatter; }
  Counts counts(size_t count, int nranks) const override {
    const size_t per = count / static_cast<size_t>(nranks);
    return {.send = per * nranks, .recv = per, .param = per, .recvInplaceOffset = per};
  }
  double algBytes(size_t param, size_t typeSize, int nranks) const override {
    return static_cast<double>(param * typeSize * nranks);
  }
  tdmResult_t run(const Call& c) const override {
    return c.lib->scatter(c.send, c.recv, c.count, c.type, c.root, c.stream);
  }
  size_t checkCount(int /*rank*/, int /*nranks*/, int /*root*/, size_t param) const override {
    return param;
  }
  Source source(int rank, int /*nranks*/, int root, size_t param, size_t j) const override {
    return {root, static_cast<size_t>(rank) * param + j};
  }
#if TANDEM_PERF_HAVE_MPI
  int runMpi(const MpiCall& m) const override {
    const bool root = m.rank == m.root;
    return MPI_Scatter(root ? m.send : nullptr, m.n(m.count), m.type,
                       m.inPlace && root ? MPI_IN_PLACE : m.recv, m.n(m.count), m.type, m.root,
                       m.comm);
  }
#endif
};

}  // namespace
}  // namespace tandem::perf

int main(int argc, char** argv) {
  return tandem::perf::runPerf(argc, argv, tandem::perf::ScatterTest{});
}
