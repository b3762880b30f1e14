// The C boundary: argument checks (nothing changes on bad input), translation
// of exceptions into tdmResult_t plus the thread's last-error sentence, and the
// registry of live communicators that catches use after destroy.
#include <sys/mman.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>

#include "bootstrap/launcher_env.h"
#include "bootstrap/root.h"
#include "collectives/cuda/engine.h"
#if TANDEM_HAVE_CUDA
#include "collectives/cuda/launch.h"
#include "mem/registration.h"
#include "transports/p2p/cuda_driver.h"
#endif
#include "comm/comm.h"
#include "comm/group.h"
#include "mem/memory_type.h"
#include "tandem/shmem.h"
#include "tandem/tandem.h"
#include "util/dtype.h"
#include "util/error.h"
#include "util/log.h"

#define TDM_EXPORT extern "C" __attribute__((visibility("default")))

namespace tdm {
namespace {

// ---- live communicators ----

struct Registry {
  std::mutex mutex;
  std::condition_variable idle;
  std::unordered_set<Comm*> live;
  std::map<Comm*, int> in_flight;  // calls currently running on each comm
};

Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: usable from atexit paths
  return *r;
}

Comm* as_comm(tdmComm_t handle) { return reinterpret_cast<Comm*>(handle); }
tdmComm_t as_handle(Comm* comm) { return reinterpret_cast<tdmComm_t>(comm); }

tdmComm_t publish(std::unique_ptr<Comm> comm) {
  if (!comm) return nullptr;
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  r.live.insert(comm.get());
  return as_handle(comm.release());
}

Comm& checked(tdmComm_t handle, const char* what = "comm") {
  if (handle == nullptr) throw_error(tdmInvalidArgument, what, " is NULL");
  Registry& r = registry();
  std::lock_guard lock(r.mutex);
  if (!r.live.count(as_comm(handle)))
    throw_error(tdmInvalidArgument, what,
                " is not a live communicator (already destroyed, or never created)");
  return *as_comm(handle);
}

// Marks a communicator busy for the duration of a call, so abort can wait for it.
class InFlight {
 public:
  explicit InFlight(std::span<Comm* const> comms) : comms_(comms.begin(), comms.end()) {
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    // Check all first: a throw must not leave some communicators marked busy.
    for (Comm* c : comms_)
      if (!r.live.count(c))
        throw_error(tdmInvalidArgument, "a communicator was destroyed before its group ran");
    for (Comm* c : comms_) ++r.in_flight[c];
  }
  ~InFlight() {
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    for (Comm* c : comms_)
      if (--r.in_flight[c] == 0) r.in_flight.erase(c);
    r.idle.notify_all();
  }

 private:
  std::vector<Comm*> comms_;
};

// Unregisters and frees; with `abort`, first stops and waits for running calls.
void retire(Comm& comm, bool abort) {
  Registry& r = registry();
  std::unique_lock lock(r.mutex);
  if (abort) {
    comm.abort.store(true);
    r.idle.wait(lock, [&] { return !r.in_flight.count(&comm); });
  } else if (r.in_flight.count(&comm)) {
    throw_error(tdmInvalidUsage,
                "tdmCommDestroy while another thread runs an operation on the communicator; "
                "use tdmCommAbort to interrupt it");
  }
  r.live.erase(&comm);
  lock.unlock();
  delete &comm;  // owned since publish() released it
}

// ---- error translation ----

template <typename F>
tdmResult_t guarded(const char* function, F&& body) {
  try {
    body();
    return tdmSuccess;
  } catch (const Error& e) {
    set_last_error(std::string(function) + ": " + e.what());
    TDM_INFO("API", function, " failed: ", e.what());
    return e.code();
  } catch (const std::bad_alloc&) {
    set_last_error(std::string(function) + ": out of memory");
    return tdmSystemError;
  } catch (const std::exception& e) {
    set_last_error(std::string(function) + ": internal error: " + e.what());
    return tdmInternalError;
  }
}

// A device wait that gave up leaves the CUDA context unusable: report it as
// the communicator's asynchronous error.
void note_device_timeout(Comm& comm) {
#if TANDEM_HAVE_CUDA
  if (comm.engine && comm.engine->timed_out() && comm.async_error.load() == tdmSuccess) {
    comm.async_error_text = "a device wait on a peer gave up after TANDEM_TIMEOUT";
    comm.async_error.store(tdmRemoteError);
  }
#else
  (void)comm;
#endif
}

// ---- argument checks ----

void check_not_null(const void* p, const char* name) {
  if (p == nullptr) throw_error(tdmInvalidArgument, name, " is NULL");
}

void check_type(tdmDataType_t type) {
  if (!is_valid_type(static_cast<int>(type)))
    throw_error(tdmInvalidArgument, "datatype ", static_cast<int>(type),
                " is not a tdmDataType_t (valid: 0..", tdmNumTypes - 1, ")");
}

void check_op(Comm& comm, tdmRedOp_t op, tdmDataType_t type) {
  if (op >= tdmSum && op < tdmNumOps) return;
  std::lock_guard lock(comm.ops_mutex);
  auto it = comm.custom_ops.find(op);
  if (it == comm.custom_ops.end())
    throw_error(tdmInvalidArgument, "reduction op ", static_cast<int>(op),
                " is neither built in nor a live op of this communicator");
  if (it->second.type != type)
    throw_error(tdmInvalidArgument, "reduction op ", static_cast<int>(op), " was created for ",
                type_name(it->second.type), " but the call uses ", type_name(type));
}

void check_rank_arg(const Comm& comm, int r, const char* name) {
  if (r < 0 || r >= comm.nranks)
    throw_error(tdmInvalidArgument, name, " ", r, " is out of range for a communicator of ",
                comm.nranks, " ranks");
}

// Byte size of `count` elements times `blocks`, refusing overflow.
size_t extent(size_t count, size_t blocks, tdmDataType_t type) {
  size_t size = type_size(type);
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
  if (!send && !recv) return stream != nullptr && comm.engine != nullptr;
  const bool send_cuda = send && mem::memory_type(send) == mem::MemoryType::kCuda;
  const bool recv_cuda = recv && mem::memory_type(recv) == mem::MemoryType::kCuda;
  if (send && recv && send_cuda != recv_cuda)
    throw_error(tdmInvalidUsage, "sendbuff is ", send_cuda ? "CUDA" : "host",
                " memory but recvbuff is ", recv_cuda ? "CUDA" : "host",
                " memory; both must be of one kind");
  if (send_cuda || recv_cuda) {
    if (!comm.engine)
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

// Validates a call and returns it ready to submit. `send_blocks`/`recv_blocks`:
// how many `count`-sized blocks each buffer spans on this rank (0 = unused).
Call validate(CallKind kind, Comm& comm, const void* send, void* recv, size_t count,
              tdmDataType_t type, tdmRedOp_t op, int root, cudaStream_t stream) {
  note_device_timeout(comm);
  if (comm.async_error.load() != tdmSuccess)
    throw_error(comm.async_error.load(), "the communicator failed earlier (", comm.async_error_text,
                "); destroy or abort it");
  if (comm.finalized)
    throw_error(tdmInvalidUsage, "the communicator was finalized; no new operations");
  check_type(type);
  const bool reduces =
      kind == CallKind::kAllReduce || kind == CallKind::kReduce || kind == CallKind::kReduceScatter;
  if (reduces) check_op(comm, op, type);
  const bool rooted = kind == CallKind::kBroadcast || kind == CallKind::kReduce ||
                      kind == CallKind::kGather || kind == CallKind::kScatter;
  if (rooted) check_rank_arg(comm, root, "root");
  if (kind == CallKind::kSend || kind == CallKind::kRecv) check_rank_arg(comm, root, "peer");
  const bool is_root = root == comm.rank;
  const size_t n = static_cast<size_t>(comm.nranks);
  size_t send_blocks = 0, recv_blocks = 0;
  switch (kind) {
    case CallKind::kAllReduce:
      send_blocks = recv_blocks = 1;
      break;
    case CallKind::kBroadcast:
      send_blocks = is_root;
      recv_blocks = 1;
      break;
    case CallKind::kReduce:
      send_blocks = 1;
      recv_blocks = is_root;
      break;
    case CallKind::kAllGather:
      send_blocks = 1;
      recv_blocks = n;
      break;
    case CallKind::kReduceScatter:
      send_blocks = n;
      recv_blocks = 1;
      break;
    case CallKind::kAlltoAll:
      send_blocks = recv_blocks = n;
      break;
    case CallKind::kGather:
      send_blocks = 1;
      recv_blocks = is_root ? n : 0;
      break;
    case CallKind::kScatter:
      send_blocks = is_root ? n : 0;
      recv_blocks = 1;
      break;
    case CallKind::kSend:
      send_blocks = 1;
      break;
    case CallKind::kRecv:
      recv_blocks = 1;
      break;
  }
  Region s{send, extent(count, send_blocks, type)}, r{recv, extent(count, recv_blocks, type)};
  if (s.bytes > 0) check_not_null(send, "sendbuff");
  if (r.bytes > 0) check_not_null(recv, "recvbuff");
  // In-place forms NCCL allows; any other overlap is refused.
  const size_t block = count * type_size(type);
  const auto* sb = static_cast<const std::byte*>(send);
  const auto* rb = static_cast<const std::byte*>(recv);
  bool in_place = false;
  switch (kind) {
    case CallKind::kAllReduce:
    case CallKind::kBroadcast:
    case CallKind::kReduce:
    case CallKind::kAlltoAll:
      in_place = send == recv;
      break;
    case CallKind::kAllGather:
    case CallKind::kGather:
      in_place = rb && sb == rb + block * comm.rank;
      break;
    case CallKind::kReduceScatter:
    case CallKind::kScatter:
      in_place = sb && rb == sb + block * comm.rank;
      break;
    default:
      break;
  }
  if (!in_place && s.overlaps(r))
    throw_error(tdmInvalidArgument, "sendbuff and recvbuff overlap without being the in-place ",
                "form of ", call_name(kind), " (see the in-place rules in tandem.h)");
  const bool device =
      check_stream_and_memory(comm, s.bytes ? send : nullptr, r.bytes ? recv : nullptr, stream);
  Call call;
  call.device = device;
  call.stream = stream;
  call.kind = kind;
  call.comm = &comm;
  call.send = send;
  call.recv = recv;
  call.count = count;
  call.type = type;
  call.op = reduces ? op : tdmSum;
  call.root = root;
  if (reduces && op >= tdmNumOps) {
    std::lock_guard lock(comm.ops_mutex);
    const PremulSumOp& custom = comm.custom_ops.at(op);
    call.scalar = custom.value;
    call.scalar_pointer = custom.pointer;
  }
  return call;
}

// Validates then runs or queues; errors inside a group poison the group.
tdmResult_t submit(const char* function, CallKind kind, tdmComm_t handle, const void* send,
                   void* recv, size_t count, tdmDataType_t type, tdmRedOp_t op, int root,
                   cudaStream_t stream) {
  tdmResult_t result = guarded(function, [&] {
    Comm& comm = checked(handle);
    Call call = validate(kind, comm, send, recv, count, type, op, root, stream);
    if (group::active()) {
      group::submit(call);
      return;
    }
    Comm* comms[] = {&comm};
    InFlight busy(comms);
    group::submit(call);
  });
  if (result != tdmSuccess && group::active()) group::poison(last_error());
  return result;
}

std::map<void*, size_t>& allocations() {
  static std::map<void*, size_t> map;
  return map;
}
std::mutex& allocations_mutex() {
  static std::mutex m;
  return m;
}

}  // namespace
}  // namespace tdm

using namespace tdm;

// ---- versions, errors ----

TDM_EXPORT tdmResult_t tdmGetVersion(int* version) {
  return guarded("tdmGetVersion", [&] {
    check_not_null(version, "version");
    *version = TDM_VERSION_CODE;
  });
}

TDM_EXPORT const char* tdmGetErrorString(tdmResult_t result) {
  switch (result) {
    case tdmSuccess:
      return "no error";
    case tdmUnhandledCudaError:
      return "unhandled cuda error (run with TANDEM_DEBUG=INFO for details)";
    case tdmSystemError:
      return "unhandled system error (run with TANDEM_DEBUG=INFO for details)";
    case tdmInternalError:
      return "internal error - please report this issue to the Tandem developers";
    case tdmInvalidArgument:
      return "invalid argument (run with TANDEM_DEBUG=WARN for details)";
    case tdmInvalidUsage:
      return "invalid usage (run with TANDEM_DEBUG=WARN for details)";
    case tdmRemoteError:
      return "remote process exited or there was a network error";
    case tdmInProgress:
      return "Tandem operation in progress";
    default:
      return "unknown result code";
  }
}

TDM_EXPORT const char* tdmGetLastError(tdmComm_t) { return last_error(); }

// ---- communicators ----

TDM_EXPORT tdmResult_t tdmGetUniqueId(tdmUniqueId* uniqueId) {
  return guarded("tdmGetUniqueId", [&] {
    check_not_null(uniqueId, "uniqueId");
    auto server = bootstrap::RootServer::start(1);
    *uniqueId = server->id();
    bootstrap::RootServer::detach(std::move(server));
  });
}

namespace {
void check_init_args(tdmComm_t* comm, int nranks, int rank) {
  check_not_null(comm, "comm");
  if (nranks < 1) throw_error(tdmInvalidArgument, "nranks must be at least 1, got ", nranks);
  if (rank < 0 || rank >= nranks)
    throw_error(tdmInvalidArgument, "rank ", rank, " is out of range for nranks ", nranks);
}

tdmResult_t init_rank(tdmComm_t* comm, int nranks, tdmUniqueId id, int rank, tdmConfig_t* config) {
  tdmResult_t result = guarded("tdmCommInitRank", [&] {
    check_init_args(comm, nranks, rank);
    bootstrap::decode(id);  // reject a bad id before anything else
    std::optional<tdmConfig_t> copy;
    if (config) copy = *config;
    auto init = [comm, nranks, id, rank, copy] {
      auto created = create_comm(id, nranks, rank, copy ? &*copy : nullptr);
      *comm = publish(std::move(created));
    };
    if (group::active())
      group::submit_init(init);
    else
      init();
  });
  if (result != tdmSuccess && group::active()) group::poison(last_error());
  return result;
}
}  // namespace

TDM_EXPORT tdmResult_t tdmCommInitRank(tdmComm_t* comm, int nranks, tdmUniqueId commId, int rank) {
  return init_rank(comm, nranks, commId, rank, nullptr);
}

TDM_EXPORT tdmResult_t tdmCommInitRankConfig(tdmComm_t* comm, int nranks, tdmUniqueId commId,
                                             int rank, tdmConfig_t* config) {
  return init_rank(comm, nranks, commId, rank, config);
}

TDM_EXPORT tdmResult_t tdmCommInitAll(tdmComm_t* comms, int ndev, const int* devlist) {
  return guarded("tdmCommInitAll", [&] {
    check_not_null(comms, "comm");
    if (ndev < 1) throw_error(tdmInvalidArgument, "ndev must be at least 1, got ", ndev);
    if (devlist) {
      for (int i = 0; i < ndev; ++i) {
        if (devlist[i] < 0 ||
            (mem::cuda_device_count() > 0 && devlist[i] >= mem::cuda_device_count()))
          throw_error(tdmInvalidArgument, "devlist[", i, "] = ", devlist[i],
                      " is not a CUDA device");
        for (int j = 0; j < i; ++j)
          if (devlist[j] == devlist[i])
            throw_error(tdmInvalidUsage, "devlist names device ", devlist[i], " twice");
      }
    }
    auto server = bootstrap::RootServer::start(1, nullptr);
    tdmUniqueId id = server->id();
    std::vector<std::unique_ptr<Comm>> created(ndev);
    std::vector<std::exception_ptr> errors(ndev);
    std::vector<std::thread> threads;
    for (int i = 0; i < ndev; ++i)
      threads.emplace_back([&, i] {
        try {
          // Each rank's thread works on its own device (the engine is set up on it).
          const int device = devlist ? devlist[i] : (mem::cuda_device_count() > 0 ? i : -1);
          if (device >= 0) mem::set_cuda_device(device);
          created[i] = create_comm(id, ndev, i, nullptr);
          created[i]->cuda_device = device;
        } catch (...) {
          errors[i] = std::current_exception();
        }
      });
    for (auto& t : threads) t.join();
    for (auto& e : errors)
      if (e) std::rethrow_exception(e);
    for (int i = 0; i < ndev; ++i) comms[i] = publish(std::move(created[i]));
  });
}

TDM_EXPORT tdmResult_t tdmCommInitWorld(tdmComm_t* comm, tdmConfig_t* config) {
  return guarded("tdmCommInitWorld", [&] {
    check_not_null(comm, "comm");
    bootstrap::World world = bootstrap::resolve_world();
    TDM_INFO("INIT", "world from ", world.launcher, ": rank ", world.rank, " of ", world.nranks);
    auto created = create_comm(world.id, world.nranks, world.rank, config);
    *comm = publish(std::move(created));
  });
}

TDM_EXPORT tdmResult_t tdmCommSplit(tdmComm_t comm, int color, int key, tdmComm_t* newcomm,
                                    tdmConfig_t* config) {
  return guarded("tdmCommSplit", [&] {
    Comm& parent = checked(comm);
    check_not_null(newcomm, "newcomm");
    Comm* comms[] = {&parent};
    InFlight busy(comms);
    *newcomm = publish(split_comm(parent, color, key, config));
  });
}

TDM_EXPORT tdmResult_t tdmCommFinalize(tdmComm_t comm) {
  return guarded("tdmCommFinalize", [&] {
    Comm& c = checked(comm);
    // Host operations complete before they return: nothing is left to flush.
    c.finalized = true;
  });
}

TDM_EXPORT tdmResult_t tdmCommDestroy(tdmComm_t comm) {
  if (comm == nullptr) return tdmSuccess;  // as NCCL: destroying NULL is a no-op
  return guarded("tdmCommDestroy", [&] { retire(checked(comm), /*abort=*/false); });
}

TDM_EXPORT tdmResult_t tdmCommAbort(tdmComm_t comm) {
  if (comm == nullptr) return tdmSuccess;
  return guarded("tdmCommAbort", [&] { retire(checked(comm), /*abort=*/true); });
}

TDM_EXPORT tdmResult_t tdmCommGetAsyncError(tdmComm_t comm, tdmResult_t* asyncError) {
  return guarded("tdmCommGetAsyncError", [&] {
    Comm& c = checked(comm);
    check_not_null(asyncError, "asyncError");
    note_device_timeout(c);
    *asyncError = c.async_error.load();
  });
}

TDM_EXPORT tdmResult_t tdmCommCount(const tdmComm_t comm, int* count) {
  return guarded("tdmCommCount", [&] {
    Comm& c = checked(comm);
    check_not_null(count, "count");
    *count = c.nranks;
  });
}

TDM_EXPORT tdmResult_t tdmCommCuDevice(const tdmComm_t comm, int* device) {
  return guarded("tdmCommCuDevice", [&] {
    Comm& c = checked(comm);
    check_not_null(device, "device");
    *device = c.cuda_device;
  });
}

TDM_EXPORT tdmResult_t tdmCommUserRank(const tdmComm_t comm, int* rank) {
  return guarded("tdmCommUserRank", [&] {
    Comm& c = checked(comm);
    check_not_null(rank, "rank");
    *rank = c.rank;
  });
}

// ---- custom reduction ops ----

TDM_EXPORT tdmResult_t tdmRedOpCreatePreMulSum(tdmRedOp_t* op, void* scalar, tdmDataType_t datatype,
                                               tdmScalarResidence_t residence, tdmComm_t comm) {
  return guarded("tdmRedOpCreatePreMulSum", [&] {
    Comm& c = checked(comm);
    check_not_null(op, "op");
    check_not_null(scalar, "scalar");
    check_type(datatype);
    if (residence != tdmScalarDevice && residence != tdmScalarHostImmediate)
      throw_error(tdmInvalidArgument, "residence ", static_cast<int>(residence),
                  " is not a tdmScalarResidence_t");
    if (residence == tdmScalarHostImmediate && mem::memory_type(scalar) == mem::MemoryType::kCuda)
      throw_error(tdmInvalidArgument,
                  "tdmScalarHostImmediate needs the scalar in host memory; use tdmScalarDevice for "
                  "a scalar in CUDA memory");
    PremulSumOp created{datatype, residence, {}, nullptr};
    if (residence == tdmScalarHostImmediate)
      std::memcpy(created.value.data(), scalar, type_size(datatype));
    else
      created.pointer = scalar;  // read at each call, as NCCL reads device scalars
    std::lock_guard lock(c.ops_mutex);
    if (c.next_custom_op >= tdmMaxRedOp)
      throw_error(tdmInvalidUsage, "too many live reduction ops on this communicator");
    int id = c.next_custom_op++;
    c.custom_ops[id] = created;
    *op = static_cast<tdmRedOp_t>(id);
  });
}

TDM_EXPORT tdmResult_t tdmRedOpDestroy(tdmRedOp_t op, tdmComm_t comm) {
  return guarded("tdmRedOpDestroy", [&] {
    Comm& c = checked(comm);
    if (op < tdmNumOps)
      throw_error(tdmInvalidArgument, "op ", static_cast<int>(op),
                  " is built in and cannot be destroyed");
    std::lock_guard lock(c.ops_mutex);
    if (c.custom_ops.erase(op) == 0)
      throw_error(tdmInvalidArgument, "op ", static_cast<int>(op),
                  " is not a live op of this communicator");
  });
}

// ---- collectives ----

TDM_EXPORT tdmResult_t tdmAllReduce(const void* sendbuff, void* recvbuff, size_t count,
                                    tdmDataType_t datatype, tdmRedOp_t op, tdmComm_t comm,
                                    cudaStream_t stream) {
  return submit("tdmAllReduce", CallKind::kAllReduce, comm, sendbuff, recvbuff, count, datatype, op,
                0, stream);
}

TDM_EXPORT tdmResult_t tdmBroadcast(const void* sendbuff, void* recvbuff, size_t count,
                                    tdmDataType_t datatype, int root, tdmComm_t comm,
                                    cudaStream_t stream) {
  return submit("tdmBroadcast", CallKind::kBroadcast, comm, sendbuff, recvbuff, count, datatype,
                tdmSum, root, stream);
}

TDM_EXPORT tdmResult_t tdmBcast(void* buff, size_t count, tdmDataType_t datatype, int root,
                                tdmComm_t comm, cudaStream_t stream) {
  return submit("tdmBcast", CallKind::kBroadcast, comm, buff, buff, count, datatype, tdmSum, root,
                stream);
}

TDM_EXPORT tdmResult_t tdmReduce(const void* sendbuff, void* recvbuff, size_t count,
                                 tdmDataType_t datatype, tdmRedOp_t op, int root, tdmComm_t comm,
                                 cudaStream_t stream) {
  return submit("tdmReduce", CallKind::kReduce, comm, sendbuff, recvbuff, count, datatype, op, root,
                stream);
}

TDM_EXPORT tdmResult_t tdmAllGather(const void* sendbuff, void* recvbuff, size_t sendcount,
                                    tdmDataType_t datatype, tdmComm_t comm, cudaStream_t stream) {
  return submit("tdmAllGather", CallKind::kAllGather, comm, sendbuff, recvbuff, sendcount, datatype,
                tdmSum, 0, stream);
}

TDM_EXPORT tdmResult_t tdmReduceScatter(const void* sendbuff, void* recvbuff, size_t recvcount,
                                        tdmDataType_t datatype, tdmRedOp_t op, tdmComm_t comm,
                                        cudaStream_t stream) {
  return submit("tdmReduceScatter", CallKind::kReduceScatter, comm, sendbuff, recvbuff, recvcount,
                datatype, op, 0, stream);
}

TDM_EXPORT tdmResult_t tdmAlltoAll(const void* sendbuff, void* recvbuff, size_t count,
                                   tdmDataType_t datatype, tdmComm_t comm, cudaStream_t stream) {
  return submit("tdmAlltoAll", CallKind::kAlltoAll, comm, sendbuff, recvbuff, count, datatype,
                tdmSum, 0, stream);
}

TDM_EXPORT tdmResult_t tdmGather(const void* sendbuff, void* recvbuff, size_t count,
                                 tdmDataType_t datatype, int root, tdmComm_t comm,
                                 cudaStream_t stream) {
  return submit("tdmGather", CallKind::kGather, comm, sendbuff, recvbuff, count, datatype, tdmSum,
                root, stream);
}

TDM_EXPORT tdmResult_t tdmScatter(const void* sendbuff, void* recvbuff, size_t count,
                                  tdmDataType_t datatype, int root, tdmComm_t comm,
                                  cudaStream_t stream) {
  return submit("tdmScatter", CallKind::kScatter, comm, sendbuff, recvbuff, count, datatype, tdmSum,
                root, stream);
}

TDM_EXPORT tdmResult_t tdmSend(const void* sendbuff, size_t count, tdmDataType_t datatype, int peer,
                               tdmComm_t comm, cudaStream_t stream) {
  return submit("tdmSend", CallKind::kSend, comm, sendbuff, nullptr, count, datatype, tdmSum, peer,
                stream);
}

TDM_EXPORT tdmResult_t tdmRecv(void* recvbuff, size_t count, tdmDataType_t datatype, int peer,
                               tdmComm_t comm, cudaStream_t stream) {
  return submit("tdmRecv", CallKind::kRecv, comm, nullptr, recvbuff, count, datatype, tdmSum, peer,
                stream);
}

// ---- groups ----

TDM_EXPORT tdmResult_t tdmGroupStart(void) {
  return guarded("tdmGroupStart", [] { group::start(); });
}

TDM_EXPORT tdmResult_t tdmGroupEnd(void) {
  return guarded("tdmGroupEnd", [] {
    // The communicators of queued calls stay busy (abortable) while the group runs.
    group::end_with([](std::span<Comm* const> comms, const std::function<void()>& run) {
      InFlight busy(comms);
      run();
    });
  });
}

// ---- memory ----

TDM_EXPORT tdmResult_t tdmMemAlloc(void** ptr, size_t size) {
  return guarded("tdmMemAlloc", [&] {
    check_not_null(ptr, "ptr");
    if (size == 0) throw_error(tdmInvalidArgument, "size must be positive");
#if TANDEM_HAVE_CUDA
    // With a device: cuMem memory that windows can share through POSIX FDs.
    if (mem::current_cuda_device() >= 0) {
      *ptr = mem::vmm_alloc(size);
      return;
    }
#endif
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw_system_error("mmap of " + std::to_string(size) + " bytes", errno);
    std::lock_guard lock(allocations_mutex());
    allocations()[p] = size;
    *ptr = p;
  });
}

TDM_EXPORT tdmResult_t tdmMemFree(void* ptr) {
  return guarded("tdmMemFree", [&] {
    if (ptr == nullptr) return;
#if TANDEM_HAVE_CUDA
    if (mem::vmm_free(ptr)) return;
#endif
    std::lock_guard lock(allocations_mutex());
    auto it = allocations().find(ptr);
    if (it == allocations().end())
      throw_error(tdmInvalidArgument, "pointer was not returned by tdmMemAlloc (or freed twice)");
    ::munmap(it->first, it->second);
    allocations().erase(it);
  });
}

// ---- registration and windows ----

namespace {

#if TANDEM_HAVE_CUDA
struct Registration {
  Comm* comm;
  void* buff;
  size_t size;
  mem::Export how;
};
#endif

struct Registrations {
  std::mutex mutex;
  std::unordered_set<void*> handles;  // Registration* and mem::Window*
};
[[maybe_unused]] Registrations& registrations() {  // used with CUDA only
  static Registrations* r = new Registrations();
  return *r;
}

}  // namespace

TDM_EXPORT tdmResult_t tdmCommRegister(const tdmComm_t comm, void* buff, size_t size,
                                       void** handle) {
  return guarded("tdmCommRegister", [&] {
    Comm& c = checked(comm);
    check_not_null(buff, "buff");
    check_not_null(handle, "handle");
    if (size == 0) throw_error(tdmInvalidArgument, "size must be positive");
#if TANDEM_HAVE_CUDA
    auto reg =
        std::make_unique<Registration>(Registration{&c, buff, size, mem::describe(buff, size)});
    std::lock_guard lock(registrations().mutex);
    registrations().handles.insert(reg.get());
    *handle = reg.release();
#else
    (void)c;
    throw_error(tdmInvalidUsage, "registration needs CUDA memory; this build has no CUDA");
#endif
  });
}

TDM_EXPORT tdmResult_t tdmCommDeregister(const tdmComm_t comm, void* handle) {
  return guarded("tdmCommDeregister", [&] {
    Comm& c = checked(comm);
    check_not_null(handle, "handle");
#if TANDEM_HAVE_CUDA
    std::lock_guard lock(registrations().mutex);
    if (!registrations().handles.count(handle) || static_cast<Registration*>(handle)->comm != &c)
      throw_error(tdmInvalidArgument, "handle is not a live registration of this communicator");
    registrations().handles.erase(handle);
    std::unique_ptr<Registration> owned(static_cast<Registration*>(handle));
#else
    (void)c;
    throw_error(tdmInvalidArgument, "handle is not a live registration of this communicator");
#endif
  });
}

TDM_EXPORT tdmResult_t tdmCommWindowRegister(tdmComm_t comm, void* buff, size_t size,
                                             tdmWindow_t* win, int winFlags) {
  return guarded("tdmCommWindowRegister", [&] {
    Comm& c = checked(comm);
    check_not_null(buff, "buff");
    check_not_null(win, "win");
    if (size == 0) throw_error(tdmInvalidArgument, "size must be positive");
    if (winFlags != TDM_WIN_DEFAULT && winFlags != TDM_WIN_COLL_SYMMETRIC)
      throw_error(tdmInvalidArgument, "winFlags ", winFlags, " is not a TDM_WIN_* value");
#if TANDEM_HAVE_CUDA
    Comm* comms[] = {&c};
    InFlight busy(comms);
    auto window = mem::Window::create(c, buff, size);
    // Symmetric windows can take collectives on the copy-engine paths.
    if (winFlags == TDM_WIN_COLL_SYMMETRIC) c.engine->add_symmetric_window(window.get());
    std::lock_guard lock(registrations().mutex);
    registrations().handles.insert(window.get());
    *win = reinterpret_cast<tdmWindow_t>(window.release());
#else
    (void)c;
    throw_error(tdmInvalidUsage, "windows need CUDA memory; this build has no CUDA");
#endif
  });
}

#if TANDEM_HAVE_CUDA
namespace {
mem::Window& checked_window(tdmWindow_t win) {
  check_not_null(win, "win");
  std::lock_guard lock(registrations().mutex);
  if (!registrations().handles.count(win))
    throw_error(tdmInvalidArgument, "win is not a live window");
  return *reinterpret_cast<mem::Window*>(win);
}
}  // namespace
#endif

TDM_EXPORT tdmResult_t tdmCommWindowDeregister(tdmComm_t comm, tdmWindow_t win) {
  return guarded("tdmCommWindowDeregister", [&] {
    Comm& c = checked(comm);
#if TANDEM_HAVE_CUDA
    mem::Window& w = checked_window(win);
    if (&w.comm() != &c) throw_error(tdmInvalidArgument, "win belongs to another communicator");
    c.boot->barrier();  // collective: no peer still writes through it
    c.engine->remove_symmetric_window(&w);
    std::lock_guard lock(registrations().mutex);
    registrations().handles.erase(win);
    std::unique_ptr<mem::Window> owned(&w);
#else
    (void)c;
    (void)win;
    throw_error(tdmInvalidArgument, "win is not a live window");
#endif
  });
}

TDM_EXPORT tdmResult_t tdmWindowPeerPointer(tdmWindow_t win, int peer, size_t offset, void** ptr) {
  return guarded("tdmWindowPeerPointer", [&] {
    check_not_null(ptr, "ptr");
#if TANDEM_HAVE_CUDA
    *ptr = checked_window(win).peer(peer, offset);
#else
    (void)win;
    (void)peer;
    (void)offset;
    throw_error(tdmInvalidArgument, "win is not a live window");
#endif
  });
}

TDM_EXPORT tdmResult_t tdmWindowGetDevice(tdmWindow_t win, tdmWindowDevice_t* handle) {
  return guarded("tdmWindowGetDevice", [&] {
    check_not_null(handle, "handle");
#if TANDEM_HAVE_CUDA
    *handle = checked_window(win).device_handle();
#else
    (void)win;
    throw_error(tdmInvalidArgument, "win is not a live window");
#endif
  });
}

// ---- SHMEM (tandem/shmem.h) ----

namespace {

#if TANDEM_HAVE_CUDA
cuda::Engine& engine_of(Comm& comm) {
  if (!comm.engine)
    throw_error(tdmInvalidUsage,
                "this communicator has no symmetric heap: every rank needs a current CUDA device "
                "when the communicator is created");
  return *comm.engine;
}
#else
[[noreturn]] void no_cuda() {
  throw_error(tdmInvalidUsage, "this build of Tandem has no CUDA support, hence no symmetric heap");
}
#endif

}  // namespace

TDM_EXPORT tdmResult_t tdmShmemMalloc(tdmComm_t comm, size_t size, void** ptr) {
  return guarded("tdmShmemMalloc", [&] {
    Comm& c = checked(comm);
    check_not_null(ptr, "ptr");
#if TANDEM_HAVE_CUDA
    Comm* comms[] = {&c};
    InFlight busy(comms);
    *ptr = engine_of(c).heap().allocate(size);
#else
    (void)c;
    (void)size;
    no_cuda();
#endif
  });
}

TDM_EXPORT tdmResult_t tdmShmemFree(tdmComm_t comm, void* ptr) {
  return guarded("tdmShmemFree", [&] {
    Comm& c = checked(comm);
    if (ptr == nullptr) return;
#if TANDEM_HAVE_CUDA
    Comm* comms[] = {&c};
    InFlight busy(comms);
    engine_of(c).heap().release(ptr);
#else
    (void)c;
    no_cuda();
#endif
  });
}

TDM_EXPORT tdmResult_t tdmShmemPtr(tdmComm_t comm, const void* ptr, int pe, void** peer_ptr) {
  return guarded("tdmShmemPtr", [&] {
    Comm& c = checked(comm);
    check_not_null(peer_ptr, "peer_ptr");
    check_rank_arg(c, pe, "pe");
#if TANDEM_HAVE_CUDA
    mem::SymmetricHeap& heap = engine_of(c).heap();
    if (!heap.owns(ptr))
      throw_error(tdmInvalidArgument, "pointer ", ptr, " is not inside a symmetric allocation");
    *peer_ptr = heap.peer_pointer(ptr, pe);
#else
    (void)ptr;
    no_cuda();
#endif
  });
}

TDM_EXPORT tdmResult_t tdmShmemGetDevice(tdmComm_t comm, tdmShmemDevice_t* handle) {
  return guarded("tdmShmemGetDevice", [&] {
    Comm& c = checked(comm);
    check_not_null(handle, "handle");
#if TANDEM_HAVE_CUDA
    *handle = engine_of(c).shmem_handle();
#else
    (void)c;
    no_cuda();
#endif
  });
}

TDM_EXPORT tdmResult_t tdmShmemBarrierOnStream(tdmComm_t comm, cudaStream_t stream) {
  return guarded("tdmShmemBarrierOnStream", [&] {
    Comm& c = checked(comm);
#if TANDEM_HAVE_CUDA
    TDM_CUDA(cuda::launch_shmem_barrier(engine_of(c).shmem_handle(), stream));
#else
    (void)c;
    (void)stream;
    no_cuda();
#endif
  });
}

TDM_EXPORT tdmResult_t tdmShmemSignalOnStream(tdmComm_t comm, uint64_t* sig_addr, uint64_t value,
                                              tdmSignalOp_t op, int pe, cudaStream_t stream) {
  return guarded("tdmShmemSignalOnStream", [&] {
    Comm& c = checked(comm);
    check_rank_arg(c, pe, "pe");
    if (op != TDM_SIGNAL_SET && op != TDM_SIGNAL_ADD)
      throw_error(tdmInvalidArgument, "signal op ", static_cast<int>(op),
                  " is not a tdmSignalOp_t");
#if TANDEM_HAVE_CUDA
    cuda::Engine& e = engine_of(c);
    if (!e.heap().owns(sig_addr))
      throw_error(tdmInvalidArgument, "sig_addr is not inside a symmetric allocation");
    if (!e.heap().reachable(pe))
      throw_error(tdmInvalidUsage, "PE ", pe, " is not load/store reachable from this PE");
    TDM_CUDA(cuda::launch_shmem_signal(e.shmem_handle(), sig_addr, value, op, pe, stream));
#else
    (void)c;
    (void)sig_addr;
    (void)value;
    (void)stream;
    no_cuda();
#endif
  });
}

TDM_EXPORT tdmResult_t tdmShmemWaitUntilOnStream(tdmComm_t comm, uint64_t* sig_addr, tdmCmp_t cmp,
                                                 uint64_t value, cudaStream_t stream) {
  return guarded("tdmShmemWaitUntilOnStream", [&] {
    Comm& c = checked(comm);
    if (cmp < TDM_CMP_EQ || cmp > TDM_CMP_GE)
      throw_error(tdmInvalidArgument, "comparison ", static_cast<int>(cmp), " is not a tdmCmp_t");
#if TANDEM_HAVE_CUDA
    cuda::Engine& e = engine_of(c);
    if (!e.heap().owns(sig_addr))
      throw_error(tdmInvalidArgument, "sig_addr is not inside a symmetric allocation");
    TDM_CUDA(cuda::launch_shmem_wait(e.shmem_handle(), sig_addr, cmp, value, stream));
#else
    (void)c;
    (void)sig_addr;
    (void)value;
    (void)stream;
    no_cuda();
#endif
  });
}
