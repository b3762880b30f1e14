// C entry points: collectives, point-to-point calls and groups. Each call is
// validated (nothing changes on bad input), then runs at once or joins the
// thread's group; an error inside a group discards the group. Enum arguments
// go on as the ints the caller passed (enum_arg), checked in validate().
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <functional>
#include <span>
#include <vector>

#include "api/guard.h"
#include "api/registry.h"
#include "api/validate.h"
#include "comm/comm.h"
#include "comm/group.h"
#include "tandem/tandem.h"

using namespace tdm;
using namespace tdm::api;
using plan::CallKind;

namespace {

// Handles of the communicators the thread's open group queued calls on. The
// group knows their objects only by address, which a destroy and a create can
// hand to another communicator before tdmGroupEnd: it checks the handles.
thread_local std::vector<tdmComm_t> t_group_handles;

tdmResult_t submit(const char* function, CallKind kind, tdmComm_t handle, const void* send,
                   void* recv, size_t count, int type, int op, int root, cudaStream_t stream) {
  tdmResult_t result = guarded(function, [&] {
    Comm& comm = checked(handle);
    plan::Call call = validate(kind, comm, send, recv, count, type, op, root, stream);
    if (group::active()) {
      if (std::find(t_group_handles.begin(), t_group_handles.end(), handle) ==
          t_group_handles.end())
        t_group_handles.push_back(handle);
      group::submit(call);
      return;
    }
    InFlight busy(comm);
    group::submit(call);
  });
  if (result != tdmSuccess && group::active()) group::poison(last_error());
  return result;
}

}  // namespace

// ---- collectives ----

TDM_EXPORT tdmResult_t tdmAllReduce(const void* sendbuff, void* recvbuff, size_t count,
                                    tdmDataType_t datatype, tdmRedOp_t op, tdmComm_t comm,
                                    cudaStream_t stream) {
  return submit("tdmAllReduce", CallKind::kAllReduce, comm, sendbuff, recvbuff, count,
                enum_arg(datatype), enum_arg(op), 0, stream);
}

TDM_EXPORT tdmResult_t tdmBroadcast(const void* sendbuff, void* recvbuff, size_t count,
                                    tdmDataType_t datatype, int root, tdmComm_t comm,
                                    cudaStream_t stream) {
  return submit("tdmBroadcast", CallKind::kBroadcast, comm, sendbuff, recvbuff, count,
                enum_arg(datatype), tdmSum, root, stream);
}

TDM_EXPORT tdmResult_t tdmBcast(void* buff, size_t count, tdmDataType_t datatype, int root,
                                tdmComm_t comm, cudaStream_t stream) {
  return submit("tdmBcast", CallKind::kBroadcast, comm, buff, buff, count, enum_arg(datatype),
                tdmSum, root, stream);
}

TDM_EXPORT tdmResult_t tdmReduce(const void* sendbuff, void* recvbuff, size_t count,
                                 tdmDataType_t datatype, tdmRedOp_t op, int root, tdmComm_t comm,
                                 cudaStream_t stream) {
  return submit("tdmReduce", CallKind::kReduce, comm, sendbuff, recvbuff, count, enum_arg(datatype),
                enum_arg(op), root, stream);
}

TDM_EXPORT tdmResult_t tdmAllGather(const void* sendbuff, void* recvbuff, size_t sendcount,
                                    tdmDataType_t datatype, tdmComm_t comm, cudaStream_t stream) {
  return submit("tdmAllGather", CallKind::kAllGather, comm, sendbuff, recvbuff, sendcount,
                enum_arg(datatype), tdmSum, 0, stream);
}

TDM_EXPORT tdmResult_t tdmReduceScatter(const void* sendbuff, void* recvbuff, size_t recvcount,
                                        tdmDataType_t datatype, tdmRedOp_t op, tdmComm_t comm,
                                        cudaStream_t stream) {
  return submit("tdmReduceScatter", CallKind::kReduceScatter, comm, sendbuff, recvbuff, recvcount,
                enum_arg(datatype), enum_arg(op), 0, stream);
}

TDM_EXPORT tdmResult_t tdmAlltoAll(const void* sendbuff, void* recvbuff, size_t count,
                                   tdmDataType_t datatype, tdmComm_t comm, cudaStream_t stream) {
  return submit("tdmAlltoAll", CallKind::kAlltoAll, comm, sendbuff, recvbuff, count,
                enum_arg(datatype), tdmSum, 0, stream);
}

TDM_EXPORT tdmResult_t tdmGather(const void* sendbuff, void* recvbuff, size_t count,
                                 tdmDataType_t datatype, int root, tdmComm_t comm,
                                 cudaStream_t stream) {
  return submit("tdmGather", CallKind::kGather, comm, sendbuff, recvbuff, count, enum_arg(datatype),
                tdmSum, root, stream);
}

TDM_EXPORT tdmResult_t tdmScatter(const void* sendbuff, void* recvbuff, size_t count,
                                  tdmDataType_t datatype, int root, tdmComm_t comm,
                                  cudaStream_t stream) {
  return submit("tdmScatter", CallKind::kScatter, comm, sendbuff, recvbuff, count,
                enum_arg(datatype), tdmSum, root, stream);
}

TDM_EXPORT tdmResult_t tdmSend(const void* sendbuff, size_t count, tdmDataType_t datatype, int peer,
                               tdmComm_t comm, cudaStream_t stream) {
  return submit("tdmSend", CallKind::kSend, comm, sendbuff, nullptr, count, enum_arg(datatype),
                tdmSum, peer, stream);
}

TDM_EXPORT tdmResult_t tdmRecv(void* recvbuff, size_t count, tdmDataType_t datatype, int peer,
                               tdmComm_t comm, cudaStream_t stream) {
  return submit("tdmRecv", CallKind::kRecv, comm, nullptr, recvbuff, count, enum_arg(datatype),
                tdmSum, peer, stream);
}

// ---- groups ----

TDM_EXPORT tdmResult_t tdmGroupStart(void) {
  return guarded("tdmGroupStart", [] { group::start(); });
}

TDM_EXPORT tdmResult_t tdmGroupEnd(void) {
  return guarded("tdmGroupEnd", [] {
    struct ForgetAtOutermostEnd {
      ~ForgetAtOutermostEnd() {
        if (!group::active()) t_group_handles.clear();
      }
    } forget;
    // The communicators of queued calls stay busy (abortable) while the group
    // runs. They are those of t_group_handles (every queued call went through
    // submit), checked by handle rather than by the group's addresses.
    group::end_with([](std::span<Comm* const>, const std::function<void()>& run) {
      const InFlight busy{std::span<const tdmComm_t>(t_group_handles)};
      run();
    });
  });
}

TDM_EXPORT tdmResult_t tdmGroupSimulateEnd(tdmSimInfo_t* simInfo) {
  return guarded("tdmGroupSimulateEnd", [&] {
    // Read by size and magic as tdmConfig_t (callers of other header versions).
    if (simInfo != nullptr) {
      size_t size = 0;
      unsigned magic = 0;
      std::memcpy(&size, &simInfo->size, sizeof size);
      std::memcpy(&magic, &simInfo->magic, sizeof magic);
      if (magic != TDM_CONFIG_MAGIC || size < offsetof(tdmSimInfo_t, estimatedTime) + sizeof(float))
        throw_error(
            tdmInvalidArgument,
            "simInfo was not initialized with TDM_SIM_INFO_INITIALIZER (bad magic or size)");
    }
    struct ForgetAtOutermostEnd {
      ~ForgetAtOutermostEnd() {
        if (!group::active()) t_group_handles.clear();
      }
    } forget;
    group::end_without_running();
    if (simInfo != nullptr) simInfo->estimatedTime = TDM_UNDEF_FLOAT;  // no cost model
  });
}
