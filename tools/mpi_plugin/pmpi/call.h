// One intercepted MPI collective: which way it goes (Tandem on host or CUDA
// buffers, staged through host memory to MPI, or MPI unchanged and why), and
// the two ways the plugin runs it itself.
//
// Every rank must reach the same decision, since Tandem and MPI do not talk to
// each other. The plugin decides from what MPI requires to agree across ranks
// (communicator, op, counts, the datatype of reductions, the root) and from
// what programs keep uniform in practice: predefined datatypes on every rank
// or none, host buffers on every rank or CUDA buffers on every rank
// (README.md of this folder, "Limits").
#pragma once

#include <mpi.h>

#include <cstddef>
#include <initializer_list>
#include <string>

#include "cuda_runtime.h"
#include "plugin_state.h"

namespace tdm_pmpi {

// A buffer this rank uses in the call (send or receive side).
struct Region {
  const void* ptr = nullptr;
  size_t bytes = 0;
};

class Call {
 public:
  enum class Way { kMpi, kTandem, kStaged };

  Call(Coll coll, const char* name, MPI_Comm comm);

  // Each check passes the call to MPI (keeping the first reason) when it fails.
  // A count and an element size: their product in bytes times `blocks`;
  // a negative count or an overflow passes the call to MPI.
  size_t bytes(int count, size_t size, size_t blocks = 1);
  // A predefined contiguous datatype (data movement).
  TypeFacts type(MPI_Datatype datatype);
  // A datatype and op Tandem reduces as MPI does.
  TypeFacts reduction(MPI_Datatype datatype, MPI_Op op);
  void require(bool ok, Route otherwise);
  // Data movement with a block per rank: `count` of `datatype` per block, and
  // the whole (blocks for every rank); with `other` the other side's count
  // and datatype, which must come to the same bytes (else MPI judges).
  struct Blocks {
    size_t block = 0, total = 0;
  };
  Blocks blocks(int count, MPI_Datatype datatype, bool other, int other_count,
                MPI_Datatype other_datatype);
  // Host buffers, CUDA buffers, or both (passed to MPI); empty regions do not
  // count. Then counts the call and says which way it goes. When every region
  // is empty (count 0: the same on every rank, as MPI requires the sizes to
  // match), run() returns at once, as MPI does; a barrier passes none.
  Way decide(std::initializer_list<Region> regions);

  const CommEntry& comm() const { return *entry_; }
  int rank() const { return entry_ ? entry_->rank : 0; }
  int size() const { return entry_ ? entry_->size : 1; }
  bool cuda() const { return route_ == Route::kTandemCuda; }

  // Runs `fn(tdm_comm, stream)` (stream null for host buffers), then waits
  // for the stream; a Tandem failure becomes MPI_ERR_OTHER through the
  // communicator's error handler, with a sentence on stderr.
  template <typename Fn>
  int run(Fn fn) {
    if (empty_) return MPI_SUCCESS;
    std::string error;
    tdmResult_t result = tandem_comm(mpi_comm_, *entry_, &error);
    if (result != tdmSuccess) return fail(error);
    cudaStream_t stream = nullptr;
    if (cuda() && !(stream = Cuda::get().stream(&error))) return fail(error);
    result = fn(entry_->tdm, stream);
    if (result != tdmSuccess)
      return fail(error_.empty()
                      ? std::string(tdmGetErrorString(result)) + ": " + tdmGetLastError(entry_->tdm)
                      : error_);
    if (cuda() && !Cuda::get().synchronize(&error)) return fail(error);
    return MPI_SUCCESS;
  }
  // Inside run(): a copy on the call's side (memcpy, or queued on the stream).
  tdmResult_t copy(void* dst, const void* src, size_t bytes);
  // Inside run(): scratch memory of the call's kind (thread's own, reused).
  void* scratch(size_t bytes);

  // Host staging: copies `send` and (when `recv_in`) `recv` to pinned host
  // memory, runs `fn(host_send, host_recv)` (MPI), copies the first
  // `out_bytes` of the host receive buffer back to `recv`.
  template <typename Fn>
  int stage(Region send, Region recv, bool recv_in, size_t out_bytes, Fn fn) {
    void* host_send = nullptr;
    void* host_recv = nullptr;
    if (!stage_in(send, 0, true, &host_send) || !stage_in(recv, 1, recv_in, &host_recv))
      return fail(error_);
    const int rc = fn(static_cast<const void*>(host_send), host_recv);
    if (rc == MPI_SUCCESS && out_bytes > 0 && !stage_out(recv.ptr, host_recv, out_bytes))
      return fail(error_);
    return rc;
  }

 private:
  bool undecided() const { return route_ == Route::kCount; }
  bool stage_in(Region region, int slot, bool copy, void** host);
  bool stage_out(const void* device, const void* host, size_t bytes);
  int fail(const std::string& why);

  Coll coll_;
  const char* name_;
  MPI_Comm mpi_comm_;
  CommEntry* entry_ = nullptr;
  Route route_ = Route::kCount;  // kCount: not decided yet
  bool empty_ = false;
  std::string error_;
};

// Releases this thread's staging and scratch buffers (at MPI_Finalize).
void release_buffers();

}  // namespace tdm_pmpi
