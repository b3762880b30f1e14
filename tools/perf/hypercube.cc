// hypercube_perf: an allgather made of log2(n) grouped send/recv exchanges
// with rank ^ mask (n must be a power of two); as nccl-tests' hypercube.cu:
// count per rank rounded down to a multiple of 4, algbw counts the (n-1)
// blocks each rank receives, busbw = algbw.
#include <cstring>

#include "common.h"

namespace tandem::perf {
namespace {

constexpr size_t kAlign = 4;

class HyperCubeTest final : public Test {
 public:
  tdm::plan::CallKind kind() const override { return tdm::plan::CallKind::kSend; }
  const char* name() const override { return "HyperCube"; }
  Counts counts(size_t count, int nranks) const override {
    const size_t per = count / (kAlign * static_cast<size_t>(nranks)) * kAlign;
    return {.send = per, .recv = per * nranks, .param = per, .sendInplaceOffset = per};
  }
  double algBytes(size_t param, size_t typeSize, int nranks) const override {
    return static_cast<double>(param * typeSize * (nranks - 1));
  }
  const char* unsupported(int nranks) const override {
    return (nranks & (nranks - 1)) == 0 ? nullptr : "the rank count is not a power of 2";
  }
  tdmResult_t run(const Call& c) const override {
    auto* out = static_cast<char*>(c.recv);
    const size_t block = c.count * c.elemBytes;
    char* mine = out + static_cast<size_t>(c.rank) * block;
    if (mine != c.send) copyLocal(c, mine, c.send, block);
    for (int mask = 1; mask < c.nranks; mask <<= 1) {
      const int peer = c.rank ^ mask;
      const size_t sendBlock = static_cast<size_t>(c.rank & ~(mask - 1));
      const size_t recvBlock = sendBlock ^ static_cast<size_t>(mask);
      const size_t n = c.count * static_cast<size_t>(mask);
      tdmResult_t r = c.lib->groupStart();
      if (r != tdmSuccess) return r;
      r = c.lib->send(out + sendBlock * block, n, c.type, peer, c.stream);
      if (r == tdmSuccess) r = c.lib->recv(out + recvBlock * block, n, c.type, peer, c.stream);
      const tdmResult_t end = c.lib->groupEnd();
      if (r != tdmSuccess) return r;
      if (end != tdmSuccess) return end;
    }
    return tdmSuccess;
  }
  size_t checkCount(int /*rank*/, int nranks, int /*root*/, size_t param) const override {
    return param * nranks;
  }
  Source source(int /*rank*/, int /*nranks*/, int /*root*/, size_t param, size_t j) const override {
    return {static_cast<int>(j / param), j % param};
  }
#if TANDEM_PERF_HAVE_MPI
  int runMpi(const MpiCall& m) const override {
    auto* out = static_cast<char*>(m.recv);
    const size_t block = m.count * m.elemBytes;
    char* mine = out + static_cast<size_t>(m.rank) * block;
    if (mine != m.send) std::memcpy(mine, m.send, block);
    for (int mask = 1; mask < m.nranks; mask <<= 1) {
      const int peer = m.rank ^ mask;
      const size_t sendBlock = static_cast<size_t>(m.rank & ~(mask - 1));
      const size_t recvBlock = sendBlock ^ static_cast<size_t>(mask);
      const int n = m.n(m.count * static_cast<size_t>(mask));
      const int rc =
          MPI_Sendrecv(out + sendBlock * block, n, m.type, peer, 0, out + recvBlock * block, n,
                       m.type, peer, 0, m.comm, MPI_STATUS_IGNORE);
      if (rc != MPI_SUCCESS) return rc;
    }
    return MPI_SUCCESS;
  }
#endif
};

}  // namespace
}  // namespace tandem::perf

int main(int argc, char** argv) {
  return tandem::perf::runPerf(argc, argv, tandem::perf::HyperCubeTest{});
}
