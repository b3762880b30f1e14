// reduce_scatter_perf: tdmReduceScatter; size = total send bytes, count = per
// rank; busbw = algbw * (n-1)/n.
#include "common.h"

namespace tandem::perf {
namespace {

class ReduceScatterTest final : public Test {
 public:
  tdm::plan::CallKind kind() const override { return tdm::plan::CallKind::kReduceScatter; }
  Counts counts(size_t count, int nranks) const override {
    const size_t per = count / static_cast<size_t>(nranks);
    return {.send = per * nranks, .recv = per, .param = per, .recvInplaceOffset = per};
  }
  double algBytes(size_t param, size_t typeSize, int nranks) const override {
    return static_cast<double>(param * typeSize * nranks);
  }
  tdmResult_t run(const Call& c) const override {
    return c.lib->reduceScatter(c.send, c.recv, c.count, c.type, c.op, c.stream);
  }
  size_t checkCount(int /*rank*/, int /*nranks*/, int /*root*/, size_t param) const override {
    return param;
  }
  Source source(int rank, int /*nranks*/, int /*root*/, size_t param, size_t j) const override {
    return {kAllRanks, static_cast<size_t>(rank) * param + j};
  }
#if TANDEM_PERF_HAVE_MPI
  // In place, MPI reads the whole buffer and leaves this rank's block at its
  // start (Tandem: at offset rank * count).
  int runMpi(const MpiCall& m) const override {
    if (m.inPlace) {
      auto* base = static_cast<char*>(m.recv) - static_cast<size_t>(m.rank) * m.count * m.elemBytes;
      return MPI_Reduce_scatter_block(MPI_IN_PLACE, base, m.n(m.count), m.type, m.op, m.comm);
    }
    return MPI_Reduce_scatter_block(m.send, m.recv, m.n(m.count), m.type, m.op, m.comm);
  }
#endif
};

}  // namespace
}  // namespace tandem::perf

int main(int argc, char** argv) {
  return tandem::perf::runPerf(argc, argv, tandem::perf::ReduceScatterTest{});
}
