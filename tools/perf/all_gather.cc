// all_gather_perf: tdmAllGather; size = total received bytes, count = per
// rank; busbw = algbw * (n-1)/n.
#include "common.h"

namespace tandem::perf {
namespace {

class AllGatherTest final : public Test {
 public:
  tdm::plan::CallKind kind() const override { return tdm::plan::CallKind::kAllGather; }
  Counts counts(size_t count, int nranks) const override {
    const size_t per = count / static_cast<size_t>(nranks);
    return {.send = per, .recv = per * nranks, .param = per, .sendInplaceOffset = per};
  }
  double algBytes(size_t param, size_t typeSize, int nranks) const override {
    return static_cast<double>(param * typeSize * nranks);
  }
  tdmResult_t run(const Call& c) const override {
    return c.lib->allGather(c.send, c.recv, c.count, c.type, c.stream);
  }
  size_t checkCount(int /*rank*/, int nranks, int /*root*/, size_t param) const override {
    return param * nranks;
  }
  Source source(int /*rank*/, int /*nranks*/, int /*root*/, size_t param, size_t j) const override {
    return {static_cast<int>(j / param), j % param};
  }
#if TANDEM_PERF_HAVE_MPI
  int runMpi(const MpiCall& m) const override {
    return MPI_Allgather(m.inPlace ? MPI_IN_PLACE : m.send, m.n(m.count), m.type, m.recv,
                         m.n(m.count), m.type, m.comm);
  }
#endif
};

}  // namespace
}  // namespace tandem::perf

int main(int argc, char** argv) {
  return tandem::perf::runPerf(argc, argv, tandem::perf::AllGatherTest{});
}
