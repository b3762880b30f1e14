#include "api/validate.h"

#include <cstdint>
#include <limits>
#include <mutex>

#include "comm/cuda_side.h"
#include "device/device_query.h"
#include "util/dtype.h"
#include "util/error.h"

namespace tdm::api {

using plan::CallKind;

void check_not_null(const void* p, const char* name) {
  if (p == nullptr) throw_error(tdmInvalidArgument, name, " is NULL");
}

void check_device_buffer(const void* p, const char* name, const char* takes) {
  check_not_null(p, name);
  if (device::memory_type(p) != device::MemoryType::kCuda)
    throw_error(tdmInvalidArgument, name, " is not device memory (", takes,
                " take cudaMalloc or tdmMemAlloc buffers)");
}

tdmDataType_t checked_type(int type) {
  if (!is_valid_type(type))
    throw_error(tdmInvalidArgument, "datatype ", type, " is not a tdmDataType_t (valid: 0..",
                tdmNumTypes - 1, ")");
  return static_cast<tdmDataType_t>(type);
}

tdmRedOp_t checked_op(Comm& comm, int op, tdmDataType_t type) {
  if (op >= tdmSum && op < tdmNumOps) return static_cast<tdmRedOp_t>(op);
  std::lock_guard lock(comm.ops_mutex);
  auto it = comm.custom_ops.find(op);
  if (it == comm.custom_ops.end())
    throw_error(tdmInvalidArgument, "reduction op ", op,
                " is neither built in nor a live op of this communicator");
  if (it->second.type != type)
    throw_error(tdmInvalidArgument, "reduction op ", op, " was created for ",
                type_name(it->second.type), " but the call uses ", type_name(type));
  return static_cast<tdmRedOp_t>(op);
}

void check_rank_arg(const Comm& comm, int r, const char* name) {
  if (r < 0 || r >= comm.nranks)
    throw_error(tdmInvalidArgument, name, " ", r, " is out of range for a communicator of ",
                comm.nranks, " ranks");
}

namespace {

// Byte size of `count` elements times `blocks`, refusing overflow.
size_t extent(size_t count, size_t blocks, tdmDataType_t type) {
  const size_t size = type_size(type);
  if (count != 0 && (blocks > std::numeric_limits<size_t>::max() / count ||
                     count * blocks > std::numeric_limits<size_t>::max() / size / 2))
    throw_error(tdmInvalidArgument, "count ", count, " overflows the addressable size");
  return count * blocks * size;
}

struct Region {
  const void* base;
  size_t bytes;
  bool overlaps(const Region& o) const {
    auto a = reinterpret_cast<uintptr_t>(base), b = reinterpret_cast<uintptr_t>(o.base);
    return bytes > 0 && o.bytes > 0 && a < b + o.bytes && b < a + bytes;
  }
};

// True for CUDA buffers (enqueued on `stream`), false for host buffers (run
// on the CPU, NULL stream). Mixed buffers are refused.
bool check_stream_and_memory(Comm& comm, const void* send, const void* recv, cudaStream_t stream) {
  // Nothing to move (count 0, or buffers this rank does not use): no memory to
  // check; with a stream it is a stream-ordered no-op, as in NCCL.
  if (!send && !recv) return stream != nullptr && cuda_side::has_engine(comm);
  const bool send_cuda = send && device::memory_type(send) == device::MemoryType::kCuda;
  const bool recv_cuda = recv && device::memory_type(recv) == device::MemoryType::kCuda;
  if (send && recv && send_cuda != recv_cuda)
    throw_error(tdmInvalidUsage, "sendbuff is ", send_cuda ? "CUDA" : "host",
                " memory but recvbuff is ", recv_cuda ? "CUDA" : "host",
                " memory; both must be of one kind");
  if (send_cuda || recv_cuda) {
    if (!cuda_side::has_engine(comm))
      throw_error(tdmInvalidUsage,
                  "CUDA buffers on a communicator without a CUDA engine (some rank had no CUDA ",
                  "device when the communicator was created, or this build has no CUDA)");
    return true;
  }
  if (stream != nullptr)
    throw_error(tdmInvalidUsage,
                "a CUDA stream was passed with host buffers: host-memory operations run on the "
                "CPU and complete before returning, so pass a NULL stream");
  return false;
}

bool is_in_place(plan::InPlace rule, const void* send, const void* recv, size_t block, int rank) {
  const auto* sb = static_cast<const std::byte*>(send);
  const auto* rb = static_cast<const std::byte*>(recv);
  switch (rule) {
    case plan::InPlace::kSameBuffer:
      return send == recv;
    case plan::InPlace::kSendIsOwnRecvBlock:
      return rb && sb == rb + block * rank;
    case plan::InPlace::kRecvIsOwnSendBlock:
      return sb && rb == sb + block * rank;
    default:
      return false;
  }
}

}  // namespace

plan::Call validate(CallKind kind, Comm& comm, const void* send, void* recv, size_t count,
                    int type_arg, int op_arg, int root, cudaStream_t stream) {
  comm.note_device_failure();
  if (const tdmResult_t failed = comm.async_error.code(); failed != tdmSuccess)
    throw_error(failed, "the communicator failed earlier (", comm.async_error.text(),
                "); destroy or abort it");
  if (comm.finalized.load())
    throw_error(tdmInvalidUsage, "the communicator was finalized; no new operations");
  const plan::CallFacts& facts = plan::facts(kind);
  const tdmDataType_t type = checked_type(type_arg);
  const tdmRedOp_t op = facts.reduces ? checked_op(comm, op_arg, type) : tdmSum;
  if (facts.rooted) check_rank_arg(comm, root, "root");
  if (facts.point_to_point) check_rank_arg(comm, root, "peer");
  const bool is_root = root == comm.rank;
  const Region s{send, extent(count, plan::block_count(facts.send, comm.nranks, is_root), type)};
  const Region r{recv, extent(count, plan::block_count(facts.recv, comm.nranks, is_root), type)};
  if (s.bytes > 0) check_not_null(send, "sendbuff");
  if (r.bytes > 0) check_not_null(recv, "recvbuff");
  // In-place forms NCCL allows; any other overlap is refused.
  const size_t block = count * type_size(type);
  if (!is_in_place(facts.in_place, send, recv, block, comm.rank) && s.overlaps(r))
    throw_error(tdmInvalidArgument, "sendbuff and recvbuff overlap without being the in-place ",
                "form of ", facts.name, " (see the in-place rules in tandem.h)");
  const bool device =
      check_stream_and_memory(comm, s.bytes ? send : nullptr, r.bytes ? recv : nullptr, stream);
  plan::Call call;
  call.device = device;
  call.stream = stream;
  call.kind = kind;
  call.team = &comm;
  call.send = send;
  call.recv = recv;
  call.count = count;
  call.type = type;
  call.op = op;
  call.root = root;
  if (facts.reduces && op >= tdmNumOps) {
    std::lock_guard lock(comm.ops_mutex);
    const PremulSumOp& custom = comm.custom_ops.at(op);
    call.scalar = custom.value;
    call.scalar_pointer = custom.pointer;
  }
  return call;
}

}  // namespace tdm::api
