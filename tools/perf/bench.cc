// The benchmark loop; see bench.h.
#include "bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "tests/common/seeded_data.h"

namespace tandem::perf {
namespace {

int userRank(tdmComm_t comm) {
  int rank = 0;
  TDMCHECK(comm, tdmCommUserRank(comm, &rank));
  return rank;
}

int rankCount(tdmComm_t comm) {
  int n = 1;
  TDMCHECK(comm, tdmCommCount(comm, &n));
  return n;
}

}  // namespace

Bench::Bench(const Test& test, const Options& opt, tdmComm_t comm, Memory mem, bool mpi,
             const PeerLib* nccl)
    : test_(test),
      opt_(opt),
      comm_(comm),
      tandem_(comm),
      mem_(mem),
      mpi_(mpi),
      nccl_(nccl),
      rank_(userRank(comm)),
      nranks_(rankCount(comm)),
      report_(test, opt, comm, rank_, nranks_, mem.device, mpi, nccl) {}

void Bench::barrier() {
  TDMCHECK(comm_, tdmAllReduce(&barrierIn_, &barrierOut_, 1, tdmInt32, tdmSum, comm_, nullptr));
}

double Bench::reduceTime(double sec) {
  if (opt_.average == 0) return sec;
  double out = 0;
  const tdmRedOp_t op = opt_.average == 1 ? tdmSum : opt_.average == 2 ? tdmMin : tdmMax;
  TDMCHECK(comm_, tdmAllReduce(&sec, &out, 1, tdmDouble, op, comm_, nullptr));
  return opt_.average == 1 ? out / nranks_ : out;
}

int64_t Bench::sumAll(int64_t v) {
  int64_t out = 0;
  TDMCHECK(comm_, tdmAllReduce(&v, &out, 1, tdmInt64, tdmSum, comm_, nullptr));
  return out;
}

void Bench::setup(Shape* s, size_t bytes) const {
  s->counts = test_.counts(bytes / s->type->size, nranks_);
}

size_t Bench::totalBytes(const Shape& s) const {
  return std::max(s.counts.send, s.counts.recv) * s.type->size;
}

Call Bench::callFor(const Lib& lib, const Shape& s, bool inPlace, size_t iter) const {
  const size_t total = totalBytes(s);
  const size_t steps = total ? std::max<size_t>(1, opt_.maxBytes / total) : 1;
  const size_t shift = total * (iter % steps);
  const size_t ts = s.type->size;
  Call c;
  std::byte* recvBase = recv_ + shift;
  if (inPlace) {
    c.send = recvBase + static_cast<size_t>(rank_) * s.counts.sendInplaceOffset * ts;
    c.recv = recvBase + static_cast<size_t>(rank_) * s.counts.recvInplaceOffset * ts;
  } else {
    c.send = send_ + shift;
    c.recv = recvBase;
  }
  c.count = s.counts.param;
  c.type = s.type->type;
  c.elemBytes = ts;
  c.root = s.root;
  c.rank = rank_;
  c.nranks = nranks_;
  c.inPlace = inPlace;
  c.lib = &lib;
  c.stream = mem_.stream;
  c.device = mem_.device;
  return c;
}

void Bench::issue(const Lib& lib, const Shape& s, bool inPlace, size_t iter) {
  Call c = callFor(lib, s, inPlace, iter);
  ScopedOp op(s.op, *s.type, rank_, lib);
  c.op = op.get();
  LIBCHECK(lib, test_.run(c));
  op.destroy();
}

double Bench::timeHost(const Lib& lib, const Shape& s, bool inPlace) {
  issue(lib, s, inPlace, 0);  // sync
  barrier();
  const auto t0 = std::chrono::steady_clock::now();
  for (int iter = 0; iter < opt_.iters; ++iter) {
    if (opt_.aggIters > 1) LIBCHECK(lib, lib.groupStart());
    for (int a = 0; a < opt_.aggIters; ++a) {
      issue(lib, s, inPlace, static_cast<size_t>(iter) * opt_.aggIters + a);
    }
    if (opt_.aggIters > 1) LIBCHECK(lib, lib.groupEnd());
    if (opt_.blocking) barrier();
  }
  const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
  return reduceTime(dt.count() / (static_cast<double>(opt_.iters) * opt_.aggIters));
}

#if TANDEM_HAVE_CUDA
void Bench::blockingPoint() {
  sync();
  barrier();
}

void Bench::enqueueIters(const Lib& lib, const Shape& s, bool inPlace, bool blocking) {
  for (int iter = 0; iter < opt_.iters; ++iter) {
    if (opt_.aggIters > 1) LIBCHECK(lib, lib.groupStart());
    for (int a = 0; a < opt_.aggIters; ++a) {
      issue(lib, s, inPlace, static_cast<size_t>(iter) * opt_.aggIters + a);
    }
    if (opt_.aggIters > 1) LIBCHECK(lib, lib.groupEnd());
    if (blocking) blockingPoint();
  }
}

double Bench::timeDevice(const Lib& lib, const Shape& s, bool inPlace) {
  issue(lib, s, inPlace, 0);
  sync();
  barrier();
  std::unique_ptr<cuda::GraphExec> graph;
  if (opt_.graph > 0) {
    cuda::Capture capture(mem_.stream);
    enqueueIters(lib, s, inPlace, false);  // nothing can wait inside a capture
    graph = capture.finish();
  }
  const double calls = static_cast<double>(opt_.iters) * opt_.aggIters * (graph ? opt_.graph : 1);
  const cuda::Event start, stop;
  std::vector<double> batches;
  for (int b = 0; b < kTimedBatches; ++b) {
    barrier();
    start.record(mem_.stream);
    if (graph) {
      for (int l = 0; l < opt_.graph; ++l) {
        graph->launch(mem_.stream);
        if (opt_.blocking) blockingPoint();
      }
    } else {
      enqueueIters(lib, s, inPlace, opt_.blocking != 0);
    }
    stop.record(mem_.stream);
    stop.synchronize();
    batches.push_back(stop.secondsSince(start) / calls);
  }
  return reduceTime(median(std::move(batches)));
}

void Bench::fillRandom(const TypeInfo& t) {
  const size_t n = bufBytes_ / t.size;
  for (std::byte* dst : {send_, recv_}) {
    const uint64_t seed = tdm::test::mix64(++rep_ ^ (static_cast<uint64_t>(rank_) << 32));
    perf::fillRandom(t, stage_.get(), n, seed);
    CUDACHECK(cudaMemcpyAsync(dst, stage_.get(), n * t.size, cudaMemcpyHostToDevice, mem_.stream));
    sync();  // stage_ is reused for the next buffer
  }
}

int64_t Bench::checkDevice(const Lib& lib, const Shape& s, bool inPlace, const DataModel& model) {
  const size_t ts = s.type->size;
  const Call c = callFor(lib, s, inPlace, 0);
  // Every rank's earlier calls are complete before any buffer changes.
  sync();
  barrier();
  const size_t poisonBytes = inPlace ? totalBytes(s) : s.counts.recv * ts;
  CUDACHECK(cudaMemsetAsync(recv_, 0xAB, poisonBytes, mem_.stream));
  model.fill(stage_.get(), rank_, s.counts.send);
  CUDACHECK(cudaMemcpyAsync(const_cast<void*>(c.send), stage_.get(), s.counts.send * ts,
                            cudaMemcpyHostToDevice, mem_.stream));
  sync();
  issue(lib, s, inPlace, 0);
  const size_t n = test_.checkCount(rank_, nranks_, s.root, s.counts.param);
  if (n) {
    CUDACHECK(cudaMemcpyAsync(stage_.get(), c.recv, n * ts, cudaMemcpyDeviceToHost, mem_.stream));
  }
  sync();
  return countWrong(s, model, stage_.get());
}

#endif

int64_t Bench::countWrong(const Shape& s, const DataModel& model, const std::byte* out) const {
  const size_t ts = s.type->size;
  const size_t n = test_.checkCount(rank_, nranks_, s.root, s.counts.param);
  int64_t wrong = 0;
  for (size_t j = 0; j < n; ++j) {
    const Source src = test_.source(rank_, nranks_, s.root, s.counts.param, j);
    if (!model.matches(out + j * ts, src)) ++wrong;
  }
  return wrong;
}

int64_t Bench::checkOnce(const Lib& lib, const Shape& s, bool inPlace) {
  const DataModel model(*s.type, test_.hasOp(), s.op, nranks_, ++rep_);
  int64_t wrong = 0;
  if (mem_.device) {
#if TANDEM_HAVE_CUDA
    wrong = checkDevice(lib, s, inPlace, model);
#endif
  } else {
    const size_t ts = s.type->size;
    const Call c = callFor(lib, s, inPlace, 0);
    // Poison the outputs, then write the inputs (which in place overlap them).
    const size_t poisonBytes = inPlace ? totalBytes(s) : s.counts.recv * ts;
    std::memset(recv_, 0xAB, poisonBytes);
    model.fill(static_cast<std::byte*>(const_cast<void*>(c.send)), rank_, s.counts.send);
    issue(lib, s, inPlace, 0);
    wrong = countWrong(s, model, static_cast<const std::byte*>(c.recv));
  }
  return sumAll(wrong);
}

Result Bench::bench(const Lib& lib, const Shape& s, bool inPlace) {
  Result r;
  if (mem_.device) {
#if TANDEM_HAVE_CUDA
    r.sec = timeDevice(lib, s, inPlace);
#endif
  } else {
    r.sec = timeHost(lib, s, inPlace);
  }
  int64_t wrong = 0;
  for (int c = 0; c < opt_.check && wrong == 0; ++c) wrong = checkOnce(lib, s, inPlace);
  if (opt_.check > 0 && test_.reportErrors(inPlace)) r.wrong = wrong;
  return r;
}

#if TANDEM_PERF_HAVE_MPI
void Bench::issueMpi(const Shape& s, bool inPlace, size_t iter) {
  const Call c = callFor(tandem_, s, inPlace, iter);
  MpiCall m;
  m.send = c.send;
  m.recv = c.recv;
  m.count = c.count;
  m.root = c.root;
  m.rank = rank_;
  m.nranks = nranks_;
  m.inPlace = inPlace;
  m.elemBytes = s.type->size;
  if (test_.hasOp()) {
    mpiTypeOf(s.type->type, &m.type);
    mpiOpOf(s.op, &m.op);
    m.scale = 1;
  } else {
    m.type = MPI_BYTE;
    m.scale = s.type->size;
  }
  checkMpi(test_.runMpi(m), test_.name());
}

double Bench::timeMpi(const Shape& s, bool inPlace) {
  issueMpi(s, inPlace, 0);
  MPI_Barrier(MPI_COMM_WORLD);
  const auto t0 = std::chrono::steady_clock::now();
  for (int iter = 0; iter < opt_.iters; ++iter) {
    for (int a = 0; a < opt_.aggIters; ++a) {
      issueMpi(s, inPlace, static_cast<size_t>(iter) * opt_.aggIters + a);
    }
    if (opt_.blocking) MPI_Barrier(MPI_COMM_WORLD);
  }
  const std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
  return reduceTime(dt.count() / (static_cast<double>(opt_.iters) * opt_.aggIters));
}

#endif

void Bench::fillOnes(const TypeInfo& t) {
  for (std::byte* b : {send_, recv_}) perf::fillOnes(t, b, bufBytes_);
}

// nccl-tests allocates maxBytes for both buffers; every size fits in them.
void Bench::allocate() {
  bufBytes_ = std::max<size_t>(opt_.maxBytes, 64);
  if (mem_.device) {
#if TANDEM_HAVE_CUDA
    devSend_ = cuda::allocDevice(bufBytes_);
    devRecv_ = cuda::allocDevice(bufBytes_);
    send_ = devSend_.get();
    recv_ = devRecv_.get();
    stage_ = allocHost(bufBytes_);
    if (opt_.registration == 2) {
      sendWindow_ = SymmetricWindow(comm_, send_, bufBytes_);
      recvWindow_ = SymmetricWindow(comm_, recv_, bufBytes_);
    }
#endif
  } else {
    hostSend_ = allocHost(bufBytes_);
    hostRecv_ = allocHost(bufBytes_);
    send_ = hostSend_.get();
    recv_ = hostRecv_.get();
  }
}

void Bench::sweep(const TypeInfo& t, int op, int root) {
  Shape s;
  s.type = &t;
  s.op = op;
  s.root = root < 0 ? 0 : root;
  s.printRoot = test_.hasRoot() ? root : -1;
  const char* opName = test_.hasOp() ? kOpNames[op] : "none";
#if TANDEM_PERF_HAVE_MPI
  if (mpi_) {
    MPI_Datatype dt;
    MPI_Op mop;
    s.peerOk = !test_.hasOp() || (mpiTypeOf(t.type, &dt) && mpiOpOf(op, &mop));
    if (!s.peerOk && main()) {
      std::printf("# MPI skipped for %s/%s: %s\n", t.name, kOpNames[op],
                  !mpiOpOf(op, &mop) ? "no MPI equivalent of the op" : "no MPI equivalent type");
    }
  }
#endif
  if (nccl_) {
    const char* why = nccl_->unsupported(t.type, test_.hasOp() && op == kPreMulSum);
    s.peerOk = why == nullptr;
    if (why && main()) std::printf("# NCCL skipped for %s/%s: %s\n", t.name, opName, why);
  }
  if (mem_.device) {
#if TANDEM_HAVE_CUDA
    fillRandom(t);
#endif
  } else {
    fillOnes(t);
  }
  barrier();

  // Warm-up at the largest then the smallest size (out-of-place).
  for (size_t bytes : {opt_.maxBytes, opt_.minBytes}) {
    setup(&s, bytes);
    for (int i = 0; i < opt_.warmupIters; ++i) issue(tandem_, s, false, static_cast<size_t>(i));
#if TANDEM_PERF_HAVE_MPI
    if (mpi_ && s.peerOk) {
      for (int i = 0; i < opt_.warmupIters; ++i) issueMpi(s, false, static_cast<size_t>(i));
    }
#endif
    if (nccl_ && s.peerOk) {
      for (int i = 0; i < opt_.warmupIters; ++i) issue(*nccl_, s, false, static_cast<size_t>(i));
    }
  }
#if TANDEM_HAVE_CUDA
  if (mem_.device) sync();
#endif

  for (size_t size : sweepSizes(opt_.minBytes, opt_.maxBytes, opt_.stepFactor, opt_.stepBytes)) {
    setup(&s, size);
    report_.rowStart(s, totalBytes(s), opName);
    Result res[2];
    for (int inPlace = 0; inPlace < 2; ++inPlace) {
      res[inPlace] = bench(tandem_, s, inPlace != 0);
      if (res[inPlace].wrong > 0) ++errors_;
      report_.result(s, res[inPlace]);
    }
#if TANDEM_PERF_HAVE_MPI
    if (mpi_) {
      for (int inPlace = 0; inPlace < 2; ++inPlace) {
        Result m;
        if (s.peerOk) m.sec = timeMpi(s, inPlace != 0);
        report_.peerResult(s, m, res[inPlace].sec);
      }
    }
#endif
    if (nccl_) {
      for (int inPlace = 0; inPlace < 2; ++inPlace) {
        Result n;
        if (s.peerOk) n = bench(*nccl_, s, inPlace != 0);
        if (n.wrong > 0) ++peerErrors_;
        report_.peerResult(s, n, res[inPlace].sec);
      }
    }
    report_.rowEnd();
  }
}

int Bench::run(const char* prog) {
  report_.header(prog);
  if (test_.hasRoot() && opt_.root >= nranks_) {
    if (main()) std::printf("# invalid root %d for %d ranks\n", opt_.root, nranks_);
    return 1;
  }
  allocate();

  std::vector<int> types, ops, roots;
  for (int t = 0; t < tdmNumTypes; ++t) {
    if (opt_.type == -1 || opt_.type == t) types.push_back(t);
  }
  if (test_.hasOp()) {
    for (int o = 0; o < kNumOps; ++o) {
      if (opt_.op == -1 || opt_.op == o) ops.push_back(o);
    }
  } else {
    ops.push_back(tdmSum);
  }
  if (!test_.hasRoot()) {
    roots.push_back(-1);
  } else if (opt_.root == -1) {
    for (int r = 0; r < nranks_; ++r) roots.push_back(r);
  } else {
    roots.push_back(opt_.root);
  }

  // Like nccl-tests' hypercube: an unsupported rank count skips every sweep.
  const char* why = test_.unsupported(nranks_);
  if (why && main()) std::printf("# nRanks %d: %s, skipping\n", nranks_, why);
  for (int cycle = 0; !why && (opt_.cycles == 0 || cycle < opt_.cycles); ++cycle) {
    for (int t : types) {
      for (int o : ops) {
        for (int r : roots) sweep(typeInfo(t), o, r);
      }
    }
  }

  const bool bwOk = report_.footer(prog, errors_, peerErrors_);
  return errors_ || peerErrors_ || !bwOk ? 1 : 0;
}

}  // namespace tandem::perf
