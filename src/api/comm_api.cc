// C entry points: creating, splitting, querying and destroying communicators,
// and their custom reduction ops.
#include <cstring>
#include <optional>
#include <span>
#include <thread>

#include "api/guard.h"
#include "api/registry.h"
#include "api/validate.h"
#include "bootstrap/launcher_env.h"
#include "bootstrap/root.h"
#include "comm/comm.h"
#include "comm/group.h"
#include "device/device_query.h"
#include "tandem/tandem.h"
#include "util/dtype.h"

using namespace tdm;
using namespace tdm::api;

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

tdmResult_t init_rank(const char* function, tdmComm_t* comm, int nranks, tdmUniqueId id, int rank,
                      const tdmConfig_t* config) {
  bool in_progress = false;
  tdmResult_t result = guarded(function, [&] {
    check_init_args(comm, nranks, rank);
    bootstrap::decode(id);  // reject a bad id before anything else
    const std::optional<tdmConfig_t> copy = read_config(config);  // by the caller's size
    auto create = [nranks, id, rank, copy] {
      return create_comm(id, nranks, rank, copy ? &*copy : nullptr);
    };
    if (group::active()) {
      group::submit_init([comm, create] { *comm = publish(create()); });
    } else if (copy && copy->blocking == 0) {
      // Other ranks may be initialized by this same thread next: return now.
      const int device = device::current_cuda_device();
      *comm = publish_pending([device, create] {
        if (device >= 0) device::set_cuda_device(device);  // the caller's, as a group's init
        return create();
      });
      in_progress = true;
    } else {
      *comm = publish(create());
    }
  });
  if (result != tdmSuccess && group::active()) group::poison(last_error());
  return result == tdmSuccess && in_progress ? tdmInProgress : result;
}
}  // namespace

TDM_EXPORT tdmResult_t tdmCommInitRank(tdmComm_t* comm, int nranks, tdmUniqueId commId, int rank) {
  return init_rank("tdmCommInitRank", comm, nranks, commId, rank, nullptr);
}

TDM_EXPORT tdmResult_t tdmCommInitRankConfig(tdmComm_t* comm, int nranks, tdmUniqueId commId,
                                             int rank, tdmConfig_t* config) {
  return init_rank("tdmCommInitRankConfig", comm, nranks, commId, rank, config);
}

TDM_EXPORT tdmResult_t tdmCommInitRankScalable(tdmComm_t* newcomm, int nranks, int myrank, int nId,
                                               tdmUniqueId* commIds, tdmConfig_t* config) {
  const char* function = "tdmCommInitRankScalable";
  tdmResult_t checked_ids = guarded(function, [&] {
    check_not_null(commIds, "commIds");
    if (nId < 1) throw_error(tdmInvalidArgument, "nId must be at least 1, got ", nId);
    for (int i = 0; i < nId; ++i) bootstrap::decode(commIds[i]);
  });
  if (checked_ids != tdmSuccess) {
    if (group::active()) group::poison(last_error());
    return checked_ids;
  }
  // One rendezvous is enough for Tandem's bootstrap: every rank has every id.
  return init_rank(function, newcomm, nranks, commIds[0], myrank, config);
}

TDM_EXPORT tdmResult_t tdmCommInitAll(tdmComm_t* comms, int ndev, const int* devlist) {
  return guarded("tdmCommInitAll", [&] {
    check_not_null(comms, "comm");
    if (ndev < 1) throw_error(tdmInvalidArgument, "ndev must be at least 1, got ", ndev);
    if (devlist) {
      for (int i = 0; i < ndev; ++i) {
        if (devlist[i] < 0 ||
            (device::cuda_device_count() > 0 && devlist[i] >= device::cuda_device_count()))
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
          const int device = devlist ? devlist[i] : (device::cuda_device_count() > 0 ? i : -1);
          if (device >= 0) device::set_cuda_device(device);
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
    InFlight busy(parent);
    *newcomm = publish(split_comm(parent, color, key, config));
  });
}

TDM_EXPORT tdmResult_t tdmCommShrink(tdmComm_t comm, int* excludeRanksList, int excludeRanksCount,
                                     tdmComm_t* newcomm, tdmConfig_t* config, int shrinkFlags) {
  return guarded("tdmCommShrink", [&] {
    Comm& parent = checked(comm);
    check_not_null(newcomm, "newcomm");
    if (excludeRanksCount < 0)
      throw_error(tdmInvalidArgument, "excludeRanksCount must not be negative, got ",
                  excludeRanksCount);
    if (excludeRanksCount > 0) check_not_null(excludeRanksList, "excludeRanksList");
    if (shrinkFlags != TDM_SHRINK_DEFAULT && shrinkFlags != TDM_SHRINK_ABORT)
      throw_error(tdmInvalidArgument, "shrinkFlags ", shrinkFlags,
                  " is not TDM_SHRINK_DEFAULT or TDM_SHRINK_ABORT");
    std::span<const int> exclude(excludeRanksList, static_cast<size_t>(excludeRanksCount));
    {
      InFlight busy(parent);
      *newcomm = publish(shrink_comm(parent, exclude, config));
    }
    if (shrinkFlags == TDM_SHRINK_ABORT) parent.abort.store(true);
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
  return guarded("tdmCommDestroy", [&] { retire(comm, /*abort=*/false); });
}

TDM_EXPORT tdmResult_t tdmCommAbort(tdmComm_t comm) {
  if (comm == nullptr) return tdmSuccess;
  return guarded("tdmCommAbort", [&] { retire(comm, /*abort=*/true); });
}

TDM_EXPORT tdmResult_t tdmCommGetAsyncError(tdmComm_t comm, tdmResult_t* asyncError) {
  return guarded("tdmCommGetAsyncError", [&] {
    check_not_null(asyncError, "asyncError");
    if (comm != nullptr) {
      // A non-blocking init: in progress, or its error (the last-error sentence set).
      if (const tdmResult_t state = init_state(comm); state != tdmSuccess) {
        *asyncError = state;
        return;
      }
    }
    Comm& c = checked(comm);
    c.note_device_failure();
    *asyncError = c.async_error.code();
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

TDM_EXPORT tdmResult_t tdmRedOpCreatePreMulSum(tdmRedOp_t* op, void* scalar,
                                               tdmDataType_t datatype_arg,
                                               tdmScalarResidence_t residence_arg, tdmComm_t comm) {
  return guarded("tdmRedOpCreatePreMulSum", [&] {
    Comm& c = checked(comm);
    check_not_null(op, "op");
    check_not_null(scalar, "scalar");
    const tdmDataType_t datatype = checked_type(enum_arg(datatype_arg));
    const int raw_residence = enum_arg(residence_arg);
    if (raw_residence != tdmScalarDevice && raw_residence != tdmScalarHostImmediate)
      throw_error(tdmInvalidArgument, "residence ", raw_residence,
                  " is not a tdmScalarResidence_t (tdmScalarDevice or tdmScalarHostImmediate)");
    const auto residence = static_cast<tdmScalarResidence_t>(raw_residence);
    if (residence == tdmScalarHostImmediate &&
        device::memory_type(scalar) == device::MemoryType::kCuda)
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

TDM_EXPORT tdmResult_t tdmRedOpDestroy(tdmRedOp_t op_arg, tdmComm_t comm) {
  return guarded("tdmRedOpDestroy", [&] {
    Comm& c = checked(comm);
    const int op = enum_arg(op_arg);
    if (op < 0)
      throw_error(tdmInvalidArgument, "op ", op, " is not a tdmRedOp_t (built-in ops are 0..",
                  tdmNumOps - 1, ", user ops come from tdmRedOpCreatePreMulSum)");
    if (op < tdmNumOps)
      throw_error(tdmInvalidArgument, "op ", op, " is built in and cannot be destroyed");
    std::lock_guard lock(c.ops_mutex);
    // User op numbers are never reused (next_custom_op only grows): a
    // destroyed op stays unknown.
    if (c.custom_ops.erase(op) == 0)
      throw_error(tdmInvalidArgument, "op ", op, " is not a live op of this communicator");
  });
}
