// broadcast_perf: tdmBroadcast; busbw = algbw.
#include "common.h"

namespace tandem::perf {
namespace {

class BroadcastTest final : public Test {
 public:
  tdm::plan::CallKind kind() const override { return tdm::plan::CallKind::kBroadcast; }
  Counts counts(size_t count, int /*nranks*/) const override {
    return {.send = count, .recv = count, .param = count};
  }
  double algBytes(size_t param, size_t typeSize, int /*nranks*/) const override {
    return static_cast<double>(param * typeSize);
  }
  tdmResult_t run(const Call& c) const override {
    return c.lib->broadcast(c.send, c.recv, c.count, c.type, c.root, c.stream);
  }
  size_t checkCount(int /*rank*/, int /*nranks*/, int /*root*/, size_t param) const override {
    return param;
  }
  Source source(int /*rank*/, int /*nranks*/, int root, size_t /*param*/, size_t j) const override {
    return {root, j};
  }
#if TANDEM_PERF_HAVE_MPI
  // MPI_Bcast has one buffer: the root sends from its send buffer, the others
  // receive into their receive buffer.
  int runMpi(const MpiCall& m) const override {
    void* buf = m.rank == m.root ? const_cast<void*>(m.send) : m.recv;
    return MPI_Bcast(buf, m.n(m.count), m.type, m.root, m.comm);
  }
#endif
};

}  // namespace
}  // namespace tandem::perf

int main(int argc, char** argv) {
  return tandem::perf::runPerf(argc, argv, tandem::perf::BroadcastTest{});
}
