#include "call.h"

#include <cstdio>
#include <cstring>
#include <vector>

namespace tdm_pmpi {
namespace {

// Per thread: MPI_THREAD_MULTIPLE programs may run collectives on several
// communicators at once.
struct Buffers {
  Scratch staging[2] = {Scratch(Scratch::Kind::kPinnedHost), Scratch(Scratch::Kind::kPinnedHost)};
  Scratch device{Scratch::Kind::kDevice};
  std::vector<std::byte> host;
};

Buffers& buffers() {
  thread_local Buffers b;
  return b;
}

}  // namespace

void release_buffers() {
  Buffers& b = buffers();
  for (Scratch& s : b.staging) s.release();
  b.device.release();
  std::vector<std::byte>().swap(b.host);
}

Call::Call(Coll coll, const char* name, MPI_Comm comm) : coll_(coll), name_(name), mpi_comm_(comm) {
  if (!active()) {
    route_ = Route::kPassNotInit;
    return;
  }
  entry_ = entry_of(comm);
  if (!entry_ || entry_->inter) route_ = Route::kPassIntercomm;
}

void Call::require(bool ok, Route otherwise) {
  if (!ok && undecided()) route_ = otherwise;
}

size_t Call::bytes(int count, size_t size, size_t blocks) {
  size_t one = 0, all = 0;
  const bool ok = count >= 0 && !__builtin_mul_overflow(static_cast<size_t>(count), size, &one) &&
                  !__builtin_mul_overflow(one, blocks, &all);
  require(ok, Route::kPassCount);
  return ok ? all : 0;
}

TypeFacts Call::type(MPI_Datatype datatype) {
  TypeFacts facts;
  if (undecided()) require(contiguous_type(datatype, &facts), Route::kPassDatatype);
  return facts;
}

Call::Blocks Call::blocks(int count, MPI_Datatype datatype, bool other, int other_count,
                          MPI_Datatype other_datatype) {
  const size_t size = type(datatype).size;
  Blocks b{bytes(count, size), bytes(count, size, static_cast<size_t>(this->size()))};
  if (other)  // different datatypes are fine when the bytes agree
    require(bytes(other_count, type(other_datatype).size) == b.block, Route::kPassArguments);
  return b;
}

TypeFacts Call::reduction(MPI_Datatype datatype, MPI_Op op) {
  TypeFacts facts = type(datatype);
  require(facts.tdm_type >= 0, Route::kPassDatatype);
  require(tandem_op(op) >= 0, Route::kPassOp);
  return facts;
}

Call::Way Call::decide(std::initializer_list<Region> regions) {
  if (undecided()) {
    bool host = false, device = false;
    const Cuda& cuda = Cuda::get();
    empty_ = regions.size() > 0;
    for (const Region& r : regions) {
      empty_ = empty_ && r.bytes == 0;
      if (r.bytes == 0 || r.ptr == nullptr) continue;
      (cuda.is_device(r.ptr) ? device : host) = true;
    }
    if (host && device)
      route_ = Route::kPassMixedMemory;
    else if (device)
      route_ = settings().stage_host ? Route::kStagedHost : Route::kTandemCuda;
    else
      route_ = Route::kTandemHost;
  }
  count(coll_, route_);
  switch (route_) {
    case Route::kTandemHost:
    case Route::kTandemCuda:
      return Way::kTandem;
    case Route::kStagedHost:
      return Way::kStaged;
    default:
      return Way::kMpi;
  }
}

tdmResult_t Call::copy(void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return tdmSuccess;
  if (!cuda()) {
    std::memcpy(dst, src, bytes);
    return tdmSuccess;
  }
  return Cuda::get().copy(dst, src, bytes, &error_) ? tdmSuccess : tdmUnhandledCudaError;
}

void* Call::scratch(size_t bytes) {
  Buffers& b = buffers();
  if (cuda()) return b.device.get(bytes, &error_);
  if (b.host.size() < bytes) b.host.resize(bytes);
  return b.host.data();
}

bool Call::stage_in(Region region, int slot, bool copy, void** host) {
  *host = nullptr;
  if (region.bytes == 0) return true;
  if (!(*host = buffers().staging[slot].get(region.bytes, &error_))) return false;
  Cuda& cuda = Cuda::get();
  return !copy ||
         (cuda.copy(*host, region.ptr, region.bytes, &error_) && cuda.synchronize(&error_));
}

bool Call::stage_out(const void* device, const void* host, size_t bytes) {
  Cuda& cuda = Cuda::get();
  return cuda.copy(const_cast<void*>(device), host, bytes, &error_) && cuda.synchronize(&error_);
}

int Call::fail(const std::string& why) {
  std::fprintf(stderr, "tandem_pmpi: %s on rank %d of %d failed: %s\n", name_, rank(), size(),
               why.c_str());
  PMPI_Comm_call_errhandler(mpi_comm_, MPI_ERR_OTHER);
  return MPI_ERR_OTHER;
}

}  // namespace tdm_pmpi
