// libnccl.so.2: NCCL's C API over Tandem's (tools/nccl_shim/README.md). Every
// ncclX forwards to tdmX: the generated nccl.h is tandem.h renamed, so types,
// enum values and struct layouts are the same (checked below where a value is
// reinterpreted). Each ncclX has a profiling alias pncclX, as NCCL exports.
// No logic lives here beyond what NCCL reports differently from Tandem: the
// version (the NCCL API level), and the device communicator, which Tandem does
// not implement.
#include <bit>
#include <cstddef>
#include <cstring>
#include <exception>
#include <string>
#include <type_traits>

// clang-format off
#include "nccl.h"  // generated, in <build>/nccl/include
#include "tandem/tandem.h"
// clang-format on

#define SHIM_EXPORT extern "C" __attribute__((visibility("default")))
// pncclX: the same function under NCCL's profiling name.
#define SHIM_ALIAS(name) SHIM_EXPORT decltype(name) p##name __attribute__((alias(#name)));

namespace {

// ---- what is reinterpreted between the two headers must match ----

template <typename A, typename B>
constexpr bool same_shape = sizeof(A) == sizeof(B) && alignof(A) == alignof(B);

static_assert(same_shape<ncclResult_t, tdmResult_t> && same_shape<ncclDataType_t, tdmDataType_t> &&
              same_shape<ncclRedOp_t, tdmRedOp_t> &&
              same_shape<ncclScalarResidence_t, tdmScalarResidence_t> &&
              same_shape<ncclUniqueId, tdmUniqueId> && same_shape<ncclConfig_t, tdmConfig_t> &&
              same_shape<ncclSimInfo_t, tdmSimInfo_t>);
static_assert(ncclSuccess == +tdmSuccess && ncclUnhandledCudaError == +tdmUnhandledCudaError &&
              ncclSystemError == +tdmSystemError && ncclInternalError == +tdmInternalError &&
              ncclInvalidArgument == +tdmInvalidArgument && ncclInvalidUsage == +tdmInvalidUsage &&
              ncclRemoteError == +tdmRemoteError && ncclInProgress == +tdmInProgress &&
              ncclNumResults == +tdmNumResults);
static_assert(ncclInt8 == +tdmInt8 && ncclUint8 == +tdmUint8 && ncclInt32 == +tdmInt32 &&
              ncclUint32 == +tdmUint32 && ncclInt64 == +tdmInt64 && ncclUint64 == +tdmUint64 &&
              ncclFloat16 == +tdmFloat16 && ncclFloat32 == +tdmFloat32 &&
              ncclFloat64 == +tdmFloat64 && ncclBfloat16 == +tdmBfloat16 &&
              ncclFloat8e4m3 == +tdmFloat8e4m3 && ncclFloat8e5m2 == +tdmFloat8e5m2 &&
              ncclNumTypes == +tdmNumTypes);
static_assert(ncclSum == +tdmSum && ncclProd == +tdmProd && ncclMax == +tdmMax &&
              ncclMin == +tdmMin && ncclAvg == +tdmAvg && ncclNumOps == +tdmNumOps &&
              ncclMaxRedOp == +tdmMaxRedOp);
static_assert(ncclScalarDevice == +tdmScalarDevice &&
              ncclScalarHostImmediate == +tdmScalarHostImmediate);
static_assert(NCCL_CONFIG_MAGIC == TDM_CONFIG_MAGIC && NCCL_SPLIT_NOCOLOR == TDM_SPLIT_NOCOLOR &&
              NCCL_WIN_COLL_SYMMETRIC == TDM_WIN_COLL_SYMMETRIC &&
              NCCL_SHRINK_DEFAULT == TDM_SHRINK_DEFAULT && NCCL_SHRINK_ABORT == TDM_SHRINK_ABORT &&
              NCCL_CONFIG_UNDEF_INT == TDM_CONFIG_UNDEF_INT);
#define SHIM_SAME_FIELD(T, U, f) static_assert(offsetof(T, f) == offsetof(U, f), #f)
SHIM_SAME_FIELD(ncclConfig_t, tdmConfig_t, size);
SHIM_SAME_FIELD(ncclConfig_t, tdmConfig_t, magic);
SHIM_SAME_FIELD(ncclConfig_t, tdmConfig_t, version);
SHIM_SAME_FIELD(ncclConfig_t, tdmConfig_t, blocking);
SHIM_SAME_FIELD(ncclConfig_t, tdmConfig_t, netName);
SHIM_SAME_FIELD(ncclConfig_t, tdmConfig_t, commName);
SHIM_SAME_FIELD(ncclConfig_t, tdmConfig_t, CTAPolicy);
SHIM_SAME_FIELD(ncclConfig_t, tdmConfig_t, nvlinkCentricSched);
SHIM_SAME_FIELD(ncclSimInfo_t, tdmSimInfo_t, estimatedTime);
#undef SHIM_SAME_FIELD
static_assert(NCCL_VERSION_CODE == 22809, "the shim implements NCCL 2.28.9's API");

// Enums pass as their bits: an out-of-range int from C reaches Tandem's
// checks (api/validate.h enum_arg) without being loaded as a C++ enum here
// (a load is what UBSan's enum check traps; the bytes are read by memcpy and
// the int converted, which is not a load).
template <typename To, typename From>
To as(const From& value) {
  if constexpr (std::is_enum_v<From>) {
    std::underlying_type_t<From> bits;
    std::memcpy(&bits, &value, sizeof bits);
    return static_cast<To>(bits);
  } else {
    return std::bit_cast<To>(value);
  }
}
tdmComm_t as_tdm(ncclComm_t comm) { return reinterpret_cast<tdmComm_t>(comm); }
tdmComm_t* as_tdm(ncclComm_t* comm) { return reinterpret_cast<tdmComm_t*>(comm); }
tdmWindow_t as_tdm(ncclWindow_t win) { return reinterpret_cast<tdmWindow_t>(win); }
tdmConfig_t* as_tdm(ncclConfig_t* config) { return reinterpret_cast<tdmConfig_t*>(config); }

// ncclGetLastError: the sentence of the latest failure, Tandem's unless the
// latest failed call failed in the shim itself.
thread_local std::string t_shim_error;
thread_local bool t_shim_error_is_latest = false;

ncclResult_t forward(tdmResult_t result) {
  if (result != tdmSuccess && result != tdmInProgress) t_shim_error_is_latest = false;
  return as<ncclResult_t>(result);
}

ncclResult_t refuse(ncclResult_t code, const char* sentence) noexcept {
  try {
    t_shim_error = sentence;
    t_shim_error_is_latest = true;
  } catch (const std::exception&) {
    // Out of memory for the sentence: the code still says what happened.
  }
  return code;
}

}  // namespace

// ---- version, errors ----

SHIM_EXPORT ncclResult_t ncclGetVersion(int* version) {
  if (version == nullptr) return refuse(ncclInvalidArgument, "ncclGetVersion: version is NULL");
  *version = NCCL_VERSION_CODE;  // the NCCL API level; Tandem's own: tdmGetVersion
  return ncclSuccess;
}
SHIM_ALIAS(ncclGetVersion)

SHIM_EXPORT const char* ncclGetErrorString(ncclResult_t result) {
  return tdmGetErrorString(as<tdmResult_t>(result));
}
SHIM_ALIAS(ncclGetErrorString)

SHIM_EXPORT const char* ncclGetLastError(ncclComm_t comm) {
  return t_shim_error_is_latest ? t_shim_error.c_str() : tdmGetLastError(as_tdm(comm));
}
SHIM_ALIAS(ncclGetLastError)

// ---- communicators ----

SHIM_EXPORT ncclResult_t ncclGetUniqueId(ncclUniqueId* uniqueId) {
  return forward(tdmGetUniqueId(reinterpret_cast<tdmUniqueId*>(uniqueId)));
}
SHIM_ALIAS(ncclGetUniqueId)

SHIM_EXPORT ncclResult_t ncclCommInitRank(ncclComm_t* comm, int nranks, ncclUniqueId commId,
                                          int rank) {
  return forward(tdmCommInitRank(as_tdm(comm), nranks, as<tdmUniqueId>(commId), rank));
}
SHIM_ALIAS(ncclCommInitRank)

SHIM_EXPORT ncclResult_t ncclCommInitRankConfig(ncclComm_t* comm, int nranks, ncclUniqueId commId,
                                                int rank, ncclConfig_t* config) {
  // Tandem reads the config by its size field, as NCCL does.
  return forward(
      tdmCommInitRankConfig(as_tdm(comm), nranks, as<tdmUniqueId>(commId), rank, as_tdm(config)));
}
SHIM_ALIAS(ncclCommInitRankConfig)

SHIM_EXPORT ncclResult_t ncclCommInitRankScalable(ncclComm_t* newcomm, int nranks, int myrank,
                                                  int nId, ncclUniqueId* commIds,
                                                  ncclConfig_t* config) {
  return forward(tdmCommInitRankScalable(as_tdm(newcomm), nranks, myrank, nId,
                                         reinterpret_cast<tdmUniqueId*>(commIds), as_tdm(config)));
}
SHIM_ALIAS(ncclCommInitRankScalable)

SHIM_EXPORT ncclResult_t ncclCommInitAll(ncclComm_t* comm, int ndev, const int* devlist) {
  return forward(tdmCommInitAll(as_tdm(comm), ndev, devlist));
}
SHIM_ALIAS(ncclCommInitAll)

SHIM_EXPORT ncclResult_t ncclCommInitWorld(ncclComm_t* comm, ncclConfig_t* config) {
  return forward(tdmCommInitWorld(as_tdm(comm), as_tdm(config)));
}
SHIM_ALIAS(ncclCommInitWorld)

SHIM_EXPORT ncclResult_t ncclCommSplit(ncclComm_t comm, int color, int key, ncclComm_t* newcomm,
                                       ncclConfig_t* config) {
  return forward(tdmCommSplit(as_tdm(comm), color, key, as_tdm(newcomm), as_tdm(config)));
}
SHIM_ALIAS(ncclCommSplit)

SHIM_EXPORT ncclResult_t ncclCommShrink(ncclComm_t comm, int* excludeRanksList,
                                        int excludeRanksCount, ncclComm_t* newcomm,
                                        ncclConfig_t* config, int shrinkFlags) {
  return forward(tdmCommShrink(as_tdm(comm), excludeRanksList, excludeRanksCount, as_tdm(newcomm),
                               as_tdm(config), shrinkFlags));
}
SHIM_ALIAS(ncclCommShrink)

SHIM_EXPORT ncclResult_t ncclCommFinalize(ncclComm_t comm) {
  return forward(tdmCommFinalize(as_tdm(comm)));
}
SHIM_ALIAS(ncclCommFinalize)

SHIM_EXPORT ncclResult_t ncclCommDestroy(ncclComm_t comm) {
  return forward(tdmCommDestroy(as_tdm(comm)));
}
SHIM_ALIAS(ncclCommDestroy)

SHIM_EXPORT ncclResult_t ncclCommAbort(ncclComm_t comm) {
  return forward(tdmCommAbort(as_tdm(comm)));
}
SHIM_ALIAS(ncclCommAbort)

SHIM_EXPORT ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t* asyncError) {
  return forward(tdmCommGetAsyncError(as_tdm(comm), reinterpret_cast<tdmResult_t*>(asyncError)));
}
SHIM_ALIAS(ncclCommGetAsyncError)

SHIM_EXPORT ncclResult_t ncclCommCount(const ncclComm_t comm, int* count) {
  return forward(tdmCommCount(as_tdm(comm), count));
}
SHIM_ALIAS(ncclCommCount)

SHIM_EXPORT ncclResult_t ncclCommCuDevice(const ncclComm_t comm, int* device) {
  return forward(tdmCommCuDevice(as_tdm(comm), device));
}
SHIM_ALIAS(ncclCommCuDevice)

SHIM_EXPORT ncclResult_t ncclCommUserRank(const ncclComm_t comm, int* rank) {
  return forward(tdmCommUserRank(as_tdm(comm), rank));
}
SHIM_ALIAS(ncclCommUserRank)

// ---- memory, registration, windows ----

SHIM_EXPORT ncclResult_t ncclMemAlloc(void** ptr, size_t size) {
  return forward(tdmMemAlloc(ptr, size));
}
SHIM_ALIAS(ncclMemAlloc)

SHIM_EXPORT ncclResult_t ncclMemFree(void* ptr) { return forward(tdmMemFree(ptr)); }
SHIM_ALIAS(ncclMemFree)

SHIM_EXPORT ncclResult_t ncclCommRegister(const ncclComm_t comm, void* buff, size_t size,
                                          void** handle) {
  return forward(tdmCommRegister(as_tdm(comm), buff, size, handle));
}
SHIM_ALIAS(ncclCommRegister)

SHIM_EXPORT ncclResult_t ncclCommDeregister(const ncclComm_t comm, void* handle) {
  return forward(tdmCommDeregister(as_tdm(comm), handle));
}
SHIM_ALIAS(ncclCommDeregister)

SHIM_EXPORT ncclResult_t ncclCommWindowRegister(ncclComm_t comm, void* buff, size_t size,
                                                ncclWindow_t* win, int winFlags) {
  return forward(tdmCommWindowRegister(as_tdm(comm), buff, size,
                                       reinterpret_cast<tdmWindow_t*>(win), winFlags));
}
SHIM_ALIAS(ncclCommWindowRegister)

SHIM_EXPORT ncclResult_t ncclCommWindowDeregister(ncclComm_t comm, ncclWindow_t win) {
  return forward(tdmCommWindowDeregister(as_tdm(comm), as_tdm(win)));
}
SHIM_ALIAS(ncclCommWindowDeregister)

SHIM_EXPORT ncclResult_t ncclWindowPeerPointer(ncclWindow_t win, int peer, size_t offset,
                                               void** ptr) {
  return forward(tdmWindowPeerPointer(as_tdm(win), peer, offset, ptr));
}
SHIM_ALIAS(ncclWindowPeerPointer)

// ---- reduction ops ----

SHIM_EXPORT ncclResult_t ncclRedOpCreatePreMulSum(ncclRedOp_t* op, void* scalar,
                                                  ncclDataType_t datatype,
                                                  ncclScalarResidence_t residence,
                                                  ncclComm_t comm) {
  return forward(tdmRedOpCreatePreMulSum(reinterpret_cast<tdmRedOp_t*>(op), scalar,
                                         as<tdmDataType_t>(datatype),
                                         as<tdmScalarResidence_t>(residence), as_tdm(comm)));
}
SHIM_ALIAS(ncclRedOpCreatePreMulSum)

SHIM_EXPORT ncclResult_t ncclRedOpDestroy(ncclRedOp_t op, ncclComm_t comm) {
  return forward(tdmRedOpDestroy(as<tdmRedOp_t>(op), as_tdm(comm)));
}
SHIM_ALIAS(ncclRedOpDestroy)

// ---- collectives, point-to-point ----

SHIM_EXPORT ncclResult_t ncclReduce(const void* sendbuff, void* recvbuff, size_t count,
                                    ncclDataType_t datatype, ncclRedOp_t op, int root,
                                    ncclComm_t comm, cudaStream_t stream) {
  return forward(tdmReduce(sendbuff, recvbuff, count, as<tdmDataType_t>(datatype),
                           as<tdmRedOp_t>(op), root, as_tdm(comm), stream));
}
SHIM_ALIAS(ncclReduce)

SHIM_EXPORT ncclResult_t ncclBcast(void* buff, size_t count, ncclDataType_t datatype, int root,
                                   ncclComm_t comm, cudaStream_t stream) {
  return forward(tdmBcast(buff, count, as<tdmDataType_t>(datatype), root, as_tdm(comm), stream));
}
SHIM_ALIAS(ncclBcast)

SHIM_EXPORT ncclResult_t ncclBroadcast(const void* sendbuff, void* recvbuff, size_t count,
                                       ncclDataType_t datatype, int root, ncclComm_t comm,
                                       cudaStream_t stream) {
  return forward(tdmBroadcast(sendbuff, recvbuff, count, as<tdmDataType_t>(datatype), root,
                              as_tdm(comm), stream));
}
SHIM_ALIAS(ncclBroadcast)

SHIM_EXPORT ncclResult_t ncclAllReduce(const void* sendbuff, void* recvbuff, size_t count,
                                       ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,
                                       cudaStream_t stream) {
  return forward(tdmAllReduce(sendbuff, recvbuff, count, as<tdmDataType_t>(datatype),
                              as<tdmRedOp_t>(op), as_tdm(comm), stream));
}
SHIM_ALIAS(ncclAllReduce)

SHIM_EXPORT ncclResult_t ncclReduceScatter(const void* sendbuff, void* recvbuff, size_t recvcount,
                                           ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,
                                           cudaStream_t stream) {
  return forward(tdmReduceScatter(sendbuff, recvbuff, recvcount, as<tdmDataType_t>(datatype),
                                  as<tdmRedOp_t>(op), as_tdm(comm), stream));
}
SHIM_ALIAS(ncclReduceScatter)

SHIM_EXPORT ncclResult_t ncclAllGather(const void* sendbuff, void* recvbuff, size_t sendcount,
                                       ncclDataType_t datatype, ncclComm_t comm,
                                       cudaStream_t stream) {
  return forward(tdmAllGather(sendbuff, recvbuff, sendcount, as<tdmDataType_t>(datatype),
                              as_tdm(comm), stream));
}
SHIM_ALIAS(ncclAllGather)

SHIM_EXPORT ncclResult_t ncclAlltoAll(const void* sendbuff, void* recvbuff, size_t count,
                                      ncclDataType_t datatype, ncclComm_t comm,
                                      cudaStream_t stream) {
  return forward(
      tdmAlltoAll(sendbuff, recvbuff, count, as<tdmDataType_t>(datatype), as_tdm(comm), stream));
}
SHIM_ALIAS(ncclAlltoAll)

SHIM_EXPORT ncclResult_t ncclGather(const void* sendbuff, void* recvbuff, size_t count,
                                    ncclDataType_t datatype, int root, ncclComm_t comm,
                                    cudaStream_t stream) {
  return forward(tdmGather(sendbuff, recvbuff, count, as<tdmDataType_t>(datatype), root,
                           as_tdm(comm), stream));
}
SHIM_ALIAS(ncclGather)

SHIM_EXPORT ncclResult_t ncclScatter(const void* sendbuff, void* recvbuff, size_t count,
                                     ncclDataType_t datatype, int root, ncclComm_t comm,
                                     cudaStream_t stream) {
  return forward(tdmScatter(sendbuff, recvbuff, count, as<tdmDataType_t>(datatype), root,
                            as_tdm(comm), stream));
}
SHIM_ALIAS(ncclScatter)

SHIM_EXPORT ncclResult_t ncclSend(const void* sendbuff, size_t count, ncclDataType_t datatype,
                                  int peer, ncclComm_t comm, cudaStream_t stream) {
  return forward(tdmSend(sendbuff, count, as<tdmDataType_t>(datatype), peer, as_tdm(comm), stream));
}
SHIM_ALIAS(ncclSend)

SHIM_EXPORT ncclResult_t ncclRecv(void* recvbuff, size_t count, ncclDataType_t datatype, int peer,
                                  ncclComm_t comm, cudaStream_t stream) {
  return forward(tdmRecv(recvbuff, count, as<tdmDataType_t>(datatype), peer, as_tdm(comm), stream));
}
SHIM_ALIAS(ncclRecv)

// ---- groups ----

SHIM_EXPORT ncclResult_t ncclGroupStart(void) { return forward(tdmGroupStart()); }
SHIM_ALIAS(ncclGroupStart)

SHIM_EXPORT ncclResult_t ncclGroupEnd(void) { return forward(tdmGroupEnd()); }
SHIM_ALIAS(ncclGroupEnd)

SHIM_EXPORT ncclResult_t ncclGroupSimulateEnd(ncclSimInfo_t* simInfo) {
  return forward(tdmGroupSimulateEnd(reinterpret_cast<tdmSimInfo_t*>(simInfo)));
}
SHIM_ALIAS(ncclGroupSimulateEnd)

// ---- NCCL's device communicator: not implemented by Tandem ----

SHIM_EXPORT ncclResult_t ncclDevCommCreate(ncclComm_t, const ncclDevCommRequirements*,
                                           ncclDevComm*) {
  return refuse(ncclInvalidUsage,
                "ncclDevCommCreate: Tandem does not implement NCCL's device API (nccl_device.h); "
                "use the host collectives, or Tandem's own device API (tandem/device/)");
}
SHIM_ALIAS(ncclDevCommCreate)

SHIM_EXPORT ncclResult_t ncclDevCommDestroy(ncclComm_t, const ncclDevComm*) {
  return refuse(ncclInvalidUsage,
                "ncclDevCommDestroy: no device communicator exists (ncclDevCommCreate always "
                "fails under Tandem)");
}
SHIM_ALIAS(ncclDevCommDestroy)
