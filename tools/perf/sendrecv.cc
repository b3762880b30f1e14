// sendrecv_perf: every rank sends to rank+1 and receives from rank-1 in one
// group; busbw = algbw. In-place (one buffer for both) is run but, as in
// nccl-tests, its errors are not reported.
#include "common.h"

namespace tandem::perf {
namespace {

class SendRecvTest final : public Test {
 public:
  tdm::plan::CallKind kind() const override { return tdm::plan::CallKind::kSend; }
  const char* name() const override { return "SendRecv"; }
  Counts counts(size_t count, int /*nranks*/) const override {
    return {.send = count, .recv = count, .param = count};
  }
  double algBytes(size_t param, size_t typeSize, int /*nranks*/) const override {
    return static_cast<double>(param * typeSize);
  }
  tdmResult_t run(const Call& c) const override {
    const int next = (c.rank + 1) % c.nranks;
    const int prev = (c.rank - 1 + c.nranks) % c.nranks;
    tdmResult_t r = c.lib->groupStart();
    if (r != tdmSuccess) return r;
    r = c.lib->send(c.send, c.count, c.type, next, c.stream);
    if (r == tdmSuccess) r = c.lib->recv(c.recv, c.count, c.type, prev, c.stream);
    const tdmResult_t end = c.lib->groupEnd();
    return r != tdmSuccess ? r : end;
  }
  size_t checkCount(int /*rank*/, int /*nranks*/, int /*root*/, size_t param) const override {
    return param;
  }
  Source source(int rank, int nranks, int /*root*/, size_t /*param*/, size_t j) const override {
    return {(rank - 1 + nranks) % nranks, j};
  }
  bool reportErrors(bool inPlace) const override { return !inPlace; }
#if TANDEM_PERF_HAVE_MPI
  int runMpi(const MpiCall& m) const override {
    const int next = (m.rank + 1) % m.nranks;
    const int prev = (m.rank - 1 + m.nranks) % m.nranks;
    if (m.inPlace) {
      return MPI_Sendrecv_replace(m.recv, m.n(m.count), m.type, next, 0, prev, 0, m.comm,
                                  MPI_STATUS_IGNORE);
    }
    return MPI_Sendrecv(m.send, m.n(m.count), m.type, next, 0, m.recv, m.n(m.count), m.type, prev,
                        0, m.comm, MPI_STATUS_IGNORE);
  }
#endif
};

}  // namespace
}  // namespace tandem::perf

int main(int argc, char** argv) {
  return tandem::perf::runPerf(argc, argv, tandem::perf::SendRecvTest{});
}
