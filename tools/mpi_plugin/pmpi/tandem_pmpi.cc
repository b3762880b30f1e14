// libtandem_pmpi.so: MPI collectives carried by Tandem through the MPI
// profiling interface. Preloaded into an unmodified MPI program
// (mpirun -x LD_PRELOAD=libtandem_pmpi.so ...), it defines the MPI_* calls
// below; each either runs on Tandem (host buffers on the CPU engine, CUDA
// buffers on the CUDA engine) or calls the PMPI_* entry point unchanged.
// Every other MPI call reaches MPI directly. README.md of this folder.
#include <mpi.h>

#include <cstddef>

#include "call.h"
#include "cuda_runtime.h"
#include "plugin_state.h"

#define TDM_PMPI_EXPORT extern "C" __attribute__((visibility("default")))

using tdm_pmpi::Call;
using tdm_pmpi::Coll;
using tdm_pmpi::Region;
using tdm_pmpi::Route;

namespace {

const std::byte* at(const void* base, size_t offset) {
  return static_cast<const std::byte*>(base) + offset;
}
std::byte* at(void* base, size_t offset) { return static_cast<std::byte*>(base) + offset; }

tdmDataType_t tdm_type(const tdm_pmpi::TypeFacts& t) {
  return static_cast<tdmDataType_t>(t.tdm_type);
}
tdmRedOp_t tdm_op(MPI_Op op) { return static_cast<tdmRedOp_t>(tdm_pmpi::tandem_op(op)); }

}  // namespace

// ---- initialization and finalization ----

TDM_PMPI_EXPORT int MPI_Init(int* argc, char*** argv) {
  const int rc = PMPI_Init(argc, argv);
  if (rc == MPI_SUCCESS) tdm_pmpi::initialize();
  return rc;
}

TDM_PMPI_EXPORT int MPI_Init_thread(int* argc, char*** argv, int required, int* provided) {
  const int rc = PMPI_Init_thread(argc, argv, required, provided);
  if (rc == MPI_SUCCESS) tdm_pmpi::initialize();
  return rc;
}

TDM_PMPI_EXPORT int MPI_Finalize() {
  tdm_pmpi::finalize();
  tdm_pmpi::release_buffers();
  if (tdm_pmpi::Cuda::get().device_count() > 0) tdm_pmpi::Cuda::get().release();
  return PMPI_Finalize();
}

// ---- communicators: Tandem's are made on first use (plugin_state.h) ----

TDM_PMPI_EXPORT int MPI_Comm_split(MPI_Comm comm, int color, int key, MPI_Comm* newcomm) {
  tdm_pmpi::count_comm_call(tdm_pmpi::CommCall::kSplit);
  return PMPI_Comm_split(comm, color, key, newcomm);
}

TDM_PMPI_EXPORT int MPI_Comm_dup(MPI_Comm comm, MPI_Comm* newcomm) {
  tdm_pmpi::count_comm_call(tdm_pmpi::CommCall::kDup);
  return PMPI_Comm_dup(comm, newcomm);
}

TDM_PMPI_EXPORT int MPI_Comm_free(MPI_Comm* comm) {
  tdm_pmpi::count_comm_call(tdm_pmpi::CommCall::kFree);
  return PMPI_Comm_free(comm);  // MPI deletes the attribute: the Tandem comm goes with it
}

// ---- collectives ----

TDM_PMPI_EXPORT int MPI_Barrier(MPI_Comm comm) {
  Call call(Coll::kBarrier, "MPI_Barrier", comm);
  if (call.decide({}) != Call::Way::kTandem) return PMPI_Barrier(comm);
  // An allreduce: no rank's result exists before every rank has entered.
  return call.run([&](tdmComm_t c, cudaStream_t) {
    int token = 0;
    return tdmAllReduce(&token, &token, 1, tdmInt32, tdmSum, c, nullptr);
  });
}

TDM_PMPI_EXPORT int MPI_Bcast(void* buffer, int count, MPI_Datatype datatype, int root,
                              MPI_Comm comm) {
  Call call(Coll::kBcast, "MPI_Bcast", comm);
  const size_t bytes = call.bytes(count, call.type(datatype).size);
  call.require(root >= 0 && root < call.size(), Route::kPassArguments);
  const bool is_root = call.rank() == root;
  switch (call.decide({{buffer, bytes}})) {
    case Call::Way::kTandem:
      return call.run([&](tdmComm_t c, cudaStream_t s) {
        return tdmBcast(buffer, bytes, tdmUint8, root, c, s);
      });
    case Call::Way::kStaged:
      return call.stage(
          {}, {buffer, bytes}, is_root, is_root ? 0 : bytes,
          [&](const void*, void* host) { return PMPI_Bcast(host, count, datatype, root, comm); });
    default:
      return PMPI_Bcast(buffer, count, datatype, root, comm);
  }
}

TDM_PMPI_EXPORT int MPI_Allreduce(const void* sendbuf, void* recvbuf, int count,
                                  MPI_Datatype datatype, MPI_Op op, MPI_Comm comm) {
  Call call(Coll::kAllreduce, "MPI_Allreduce", comm);
  const auto t = call.reduction(datatype, op);
  const size_t bytes = call.bytes(count, t.size);
  const bool in_place = sendbuf == MPI_IN_PLACE;
  const void* send = in_place ? recvbuf : sendbuf;
  switch (call.decide({{send, bytes}, {recvbuf, bytes}})) {
    case Call::Way::kTandem:
      return call.run([&](tdmComm_t c, cudaStream_t s) {
        return tdmAllReduce(send, recvbuf, count, tdm_type(t), tdm_op(op), c, s);
      });
    case Call::Way::kStaged:
      return call.stage(in_place ? Region{} : Region{sendbuf, bytes}, {recvbuf, bytes}, in_place,
                        bytes, [&](const void* hs, void* hr) {
                          return PMPI_Allreduce(in_place ? MPI_IN_PLACE : hs, hr, count, datatype,
                                                op, comm);
                        });
    default:
      return PMPI_Allreduce(sendbuf, recvbuf, count, datatype, op, comm);
  }
}

TDM_PMPI_EXPORT int MPI_Reduce(const void* sendbuf, void* recvbuf, int count, MPI_Datatype datatype,
                               MPI_Op op, int root, MPI_Comm comm) {
  Call call(Coll::kReduce, "MPI_Reduce", comm);
  const auto t = call.reduction(datatype, op);
  const size_t bytes = call.bytes(count, t.size);
  call.require(root >= 0 && root < call.size(), Route::kPassArguments);
  const bool is_root = call.rank() == root;
  const bool in_place = sendbuf == MPI_IN_PLACE;
  call.require(is_root || !in_place, Route::kPassArguments);  // MPI_IN_PLACE only at the root
  const void* send = in_place ? recvbuf : sendbuf;
  void* recv = is_root ? recvbuf : nullptr;  // insignificant elsewhere
  switch (call.decide({{send, bytes}, {recv, bytes}})) {
    case Call::Way::kTandem:
      return call.run([&](tdmComm_t c, cudaStream_t s) {
        return tdmReduce(send, recv, count, tdm_type(t), tdm_op(op), root, c, s);
      });
    case Call::Way::kStaged:
      return call.stage(
          in_place ? Region{} : Region{sendbuf, bytes}, is_root ? Region{recvbuf, bytes} : Region{},
          in_place, is_root ? bytes : 0, [&](const void* hs, void* hr) {
            return PMPI_Reduce(in_place ? MPI_IN_PLACE : hs, hr, count, datatype, op, root, comm);
          });
    default:
      return PMPI_Reduce(sendbuf, recvbuf, count, datatype, op, root, comm);
  }
}

TDM_PMPI_EXPORT int MPI_Allgather(const void* sendbuf, int sendcount, MPI_Datatype sendtype,
                                  void* recvbuf, int recvcount, MPI_Datatype recvtype,
                                  MPI_Comm comm) {
  Call call(Coll::kAllgather, "MPI_Allgather", comm);
  const bool in_place = sendbuf == MPI_IN_PLACE;
  const Call::Blocks blocks = call.blocks(recvcount, recvtype, !in_place, sendcount, sendtype);
  // Named (not a structured binding): the lambdas below capture them.
  const size_t block = blocks.block, total = blocks.total;
  const void* send = in_place ? at(recvbuf, block * call.rank()) : sendbuf;
  switch (call.decide({{send, block}, {recvbuf, total}})) {
    case Call::Way::kTandem:
      return call.run([&](tdmComm_t c, cudaStream_t s) {
        return tdmAllGather(send, recvbuf, block, tdmUint8, c, s);
      });
    case Call::Way::kStaged:
      return call.stage(in_place ? Region{} : Region{sendbuf, block}, {recvbuf, total}, in_place,
                        total, [&](const void* hs, void* hr) {
                          return PMPI_Allgather(in_place ? MPI_IN_PLACE : hs, sendcount, sendtype,
                                                hr, recvcount, recvtype, comm);
                        });
    default:
      return PMPI_Allgather(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, comm);
  }
}

TDM_PMPI_EXPORT int MPI_Alltoall(const void* sendbuf, int sendcount, MPI_Datatype sendtype,
                                 void* recvbuf, int recvcount, MPI_Datatype recvtype,
                                 MPI_Comm comm) {
  Call call(Coll::kAlltoall, "MPI_Alltoall", comm);
  const bool in_place = sendbuf == MPI_IN_PLACE;
  const Call::Blocks blocks = call.blocks(recvcount, recvtype, !in_place, sendcount, sendtype);
  const size_t block = blocks.block, total = blocks.total;
  const void* send = in_place ? recvbuf : sendbuf;
  switch (call.decide({{send, total}, {recvbuf, total}})) {
    case Call::Way::kTandem:
      return call.run([&](tdmComm_t c, cudaStream_t s) {
        return tdmAlltoAll(send, recvbuf, block, tdmUint8, c, s);
      });
    case Call::Way::kStaged:
      return call.stage(in_place ? Region{} : Region{sendbuf, total}, {recvbuf, total}, in_place,
                        total, [&](const void* hs, void* hr) {
                          return PMPI_Alltoall(in_place ? MPI_IN_PLACE : hs, sendcount, sendtype,
                                               hr, recvcount, recvtype, comm);
                        });
    default:
      return PMPI_Alltoall(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, comm);
  }
}

TDM_PMPI_EXPORT int MPI_Gather(const void* sendbuf, int sendcount, MPI_Datatype sendtype,
                               void* recvbuf, int recvcount, MPI_Datatype recvtype, int root,
                               MPI_Comm comm) {
  Call call(Coll::kGather, "MPI_Gather", comm);
  call.require(root >= 0 && root < call.size(), Route::kPassArguments);
  const bool is_root = call.rank() == root;
  const bool in_place = sendbuf == MPI_IN_PLACE;
  call.require(is_root || !in_place, Route::kPassArguments);
  // The root knows the block from its receive side; the others from their send side.
  const Call::Blocks blocks =
      is_root ? call.blocks(recvcount, recvtype, !in_place, sendcount, sendtype)
              : Call::Blocks{call.bytes(sendcount, call.type(sendtype).size), 0};
  const size_t block = blocks.block, total = blocks.total;
  const void* send = in_place ? at(recvbuf, block * call.rank()) : sendbuf;
  void* recv = is_root ? recvbuf : nullptr;
  switch (call.decide({{send, block}, {recv, total}})) {
    case Call::Way::kTandem:
      return call.run([&](tdmComm_t c, cudaStream_t s) {
        return tdmGather(send, recv, block, tdmUint8, root, c, s);
      });
    case Call::Way::kStaged:
      return call.stage(in_place ? Region{} : Region{sendbuf, block}, {recv, total}, in_place,
                        total, [&](const void* hs, void* hr) {
                          return PMPI_Gather(in_place ? MPI_IN_PLACE : hs, sendcount, sendtype, hr,
                                             recvcount, recvtype, root, comm);
                        });
    default:
      return PMPI_Gather(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, root, comm);
  }
}

TDM_PMPI_EXPORT int MPI_Scatter(const void* sendbuf, int sendcount, MPI_Datatype sendtype,
                                void* recvbuf, int recvcount, MPI_Datatype recvtype, int root,
                                MPI_Comm comm) {
  Call call(Coll::kScatter, "MPI_Scatter", comm);
  call.require(root >= 0 && root < call.size(), Route::kPassArguments);
  const bool is_root = call.rank() == root;
  const bool in_place = recvbuf == MPI_IN_PLACE;
  call.require(is_root || !in_place, Route::kPassArguments);
  const Call::Blocks blocks =
      is_root ? call.blocks(sendcount, sendtype, !in_place, recvcount, recvtype)
              : Call::Blocks{call.bytes(recvcount, call.type(recvtype).size), 0};
  const size_t block = blocks.block, total = blocks.total;
  const void* send = is_root ? sendbuf : nullptr;
  void* recv = in_place ? const_cast<std::byte*>(at(sendbuf, block * call.rank())) : recvbuf;
  switch (call.decide({{send, total}, {recv, block}})) {
    case Call::Way::kTandem:
      return call.run([&](tdmComm_t c, cudaStream_t s) {
        return tdmScatter(send, recv, block, tdmUint8, root, c, s);
      });
    case Call::Way::kStaged:
      return call.stage({send, total}, in_place ? Region{} : Region{recvbuf, block}, false,
                        in_place ? 0 : block, [&](const void* hs, void* hr) {
                          return PMPI_Scatter(hs, sendcount, sendtype, in_place ? MPI_IN_PLACE : hr,
                                              recvcount, recvtype, root, comm);
                        });
    default:
      return PMPI_Scatter(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype, root, comm);
  }
}

namespace {

// Reduce-scatter of `elements` elements (`total` bytes) where this rank keeps
// `own` bytes from byte `offset`; `equal`: every rank keeps as many. In place
// (sendbuf MPI_IN_PLACE), `send` is recvbuf, which holds the input.
struct ReduceScatter {
  const void* send;
  void* recvbuf;
  bool in_place, equal;
  size_t elements, total, own, offset;
  tdmDataType_t type;
  tdmRedOp_t op;
};

tdmResult_t reduce_scatter(Call& call, const ReduceScatter& a, tdmComm_t c, cudaStream_t s) {
  if (a.equal) {
    const size_t own_elements = a.elements / static_cast<size_t>(call.size());
    if (!a.in_place) return tdmReduceScatter(a.send, a.recvbuf, own_elements, a.type, a.op, c, s);
    // Tandem's in-place form leaves the result in the rank's own block; MPI's
    // wants it at the start (the two do not overlap for rank > 0).
    const tdmResult_t r =
        tdmReduceScatter(a.recvbuf, at(a.recvbuf, a.offset), own_elements, a.type, a.op, c, s);
    return r != tdmSuccess || a.offset == 0 ? r
                                            : call.copy(a.recvbuf, at(a.recvbuf, a.offset), a.own);
  }
  // Blocks of different sizes: the whole reduction, then this rank's part.
  void* whole = call.scratch(a.total);
  if (!whole) return tdmUnhandledCudaError;
  const tdmResult_t r = tdmAllReduce(a.send, whole, a.elements, a.type, a.op, c, s);
  return r != tdmSuccess ? r : call.copy(a.recvbuf, at(whole, a.offset), a.own);
}

}  // namespace

TDM_PMPI_EXPORT int MPI_Reduce_scatter_block(const void* sendbuf, void* recvbuf, int recvcount,
                                             MPI_Datatype datatype, MPI_Op op, MPI_Comm comm) {
  Call call(Coll::kReduceScatterBlock, "MPI_Reduce_scatter_block", comm);
  const auto t = call.reduction(datatype, op);
  const size_t own = call.bytes(recvcount, t.size);
  const size_t total = call.bytes(recvcount, t.size, call.size());
  const bool in_place = sendbuf == MPI_IN_PLACE;
  const void* send = in_place ? recvbuf : sendbuf;
  switch (call.decide({{send, total}, {recvbuf, in_place ? total : own}})) {
    case Call::Way::kTandem:
      return call.run([&](tdmComm_t c, cudaStream_t s) {
        const ReduceScatter a{send,  recvbuf, in_place,          true,        total / t.size,
                              total, own,     own * call.rank(), tdm_type(t), tdm_op(op)};
        return reduce_scatter(call, a, c, s);
      });
    case Call::Way::kStaged:
      return call.stage(in_place ? Region{} : Region{sendbuf, total},
                        {recvbuf, in_place ? total : own}, in_place, own,
                        [&](const void* hs, void* hr) {
                          return PMPI_Reduce_scatter_block(in_place ? MPI_IN_PLACE : hs, hr,
                                                           recvcount, datatype, op, comm);
                        });
    default:
      return PMPI_Reduce_scatter_block(sendbuf, recvbuf, recvcount, datatype, op, comm);
  }
}

TDM_PMPI_EXPORT int MPI_Reduce_scatter(const void* sendbuf, void* recvbuf, const int recvcounts[],
                                       MPI_Datatype datatype, MPI_Op op, MPI_Comm comm) {
  Call call(Coll::kReduceScatter, "MPI_Reduce_scatter", comm);
  const auto t = call.reduction(datatype, op);
  // Sums in bytes, each count checked (recvcounts is the same on every rank).
  size_t total = 0, offset = 0, own = 0;
  bool equal = true;
  for (int r = 0; r < call.size(); ++r) {
    const size_t b = call.bytes(recvcounts[r], t.size);
    call.require(!__builtin_add_overflow(total, b, &total), Route::kPassCount);
    if (r < call.rank()) offset += b;
    if (r == call.rank()) own = b;
    equal = equal && recvcounts[r] == recvcounts[0];
  }
  const bool in_place = sendbuf == MPI_IN_PLACE;
  const void* send = in_place ? recvbuf : sendbuf;
  switch (call.decide({{send, total}, {recvbuf, in_place ? total : own}})) {
    case Call::Way::kTandem:
      return call.run([&](tdmComm_t c, cudaStream_t s) {
        const ReduceScatter a{send,  recvbuf, in_place, equal,       total / t.size,
                              total, own,     offset,   tdm_type(t), tdm_op(op)};
        return reduce_scatter(call, a, c, s);
      });
    case Call::Way::kStaged:
      return call.stage(in_place ? Region{} : Region{sendbuf, total},
                        {recvbuf, in_place ? total : own}, in_place, own,
                        [&](const void* hs, void* hr) {
                          return PMPI_Reduce_scatter(in_place ? MPI_IN_PLACE : hs, hr, recvcounts,
                                                     datatype, op, comm);
                        });
    default:
      return PMPI_Reduce_scatter(sendbuf, recvbuf, recvcounts, datatype, op, comm);
  }
}
