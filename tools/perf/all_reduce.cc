// all_reduce_perf: tdmAllReduce, busbw = algbw * 2(n-1)/n.
#include "common.h"

namespace tandem::perf {
namespace {

class AllReduceTest final : public Test {
 public:
  tdm::plan::CallKind kind() const override { return tdm::plan::CallKind::kAllReduce; }
  Counts counts(size_t count, int /*nranks*/) const override {
    return {.send = count, .recv = count, .param = count};
  }
  double algBytes(size_t param, size_t typeSize, int /*nranks*/) const override {
    return static_cast<double>(param * typeSize);
  }
  tdmResult_t run(const Call& c) const override {
    return c.lib->allReduce(c.send, c.recv, c.count, c.type, c.op, c.stream);
  }
  size_t checkCount(int /*rank*/, int /*nranks*/, int /*root*/, size_t param) const override {
    return param;
  }
  Source source(int /*rank*/, int /*nranks*/, int /*root*/, size_t /*param*/,
                size_t j) const override {
    return {kAllRanks, j};
  }
#if TANDEM_PERF_HAVE_MPI
  int runMpi(const MpiCall& m) const override {
    return MPI_Allreduce(m.inPlace ? MPI_IN_PLACE : m.send, m.recv, m.n(m.count), m.type, m.op,
                         m.comm);
  }
#endif
};

}  // namespace
}  // namespace tandem::perf

int main(int argc, char** argv) {
  return tandem::perf::runPerf(argc, argv, tandem::perf::AllReduceTest{});
}
