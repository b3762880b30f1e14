// reduce_perf: tdmReduce; busbw = algbw.
#include "common.h"

namespace tandem::perf {
namespace {

class ReduceTest final : public Test {
 public:
  tdm::plan::CallKind kind() const override { return tdm::plan::CallKind::kReduce; }
  Counts counts(size_t count, int /*nranks*/) const override {
    return {.send = count, .recv = count, .param = count};
  }
  double algBytes(size_t param, size_t typeSize, int /*nranks*/) const override {
    return static_cast<double>(param * typeSize);
  }
  tdmResult_t run(const Call& c) const override {
    return c.lib->reduce(c.send, c.recv, c.count, c.type, c.op, c.root, c.stream);
  }
  size_t checkCount(int rank, int /*nranks*/, int root, size_t param) const override {
    return rank == root ? param : 0;
  }
  Source source(int /*rank*/, int /*nranks*/, int /*root*/, size_t /*param*/,
                size_t j) const override {
    return {kAllRanks, j};
  }
#if TANDEM_PERF_HAVE_MPI
  int runMpi(const MpiCall& m) const override {
    const bool root = m.rank == m.root;
    return MPI_Reduce(m.inPlace && root ? MPI_IN_PLACE : m.send, root ? m.recv : nullptr,
                      m.n(m.count), m.type, m.op, m.root, m.comm);
  }
#endif
};

}  // namespace
}  // namespace tandem::perf

int main(int argc, char** argv) {
  return tandem::perf::runPerf(argc, argv, tandem::perf::ReduceTest{});
}
