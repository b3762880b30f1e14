// The few NCCL 2.28 declarations the NCCL comparison needs (-M 1 on CUDA
// memory), so the tools build where nccl.h is absent: libnccl.so.2 is loaded
// at run time (nccl_peer.cc). Layouts and values are NCCL's; the enumerators
// equal tdm's, which nccl_peer.cc checks at compile time.
#ifndef TANDEM_TOOLS_PERF_NCCL_TYPES_H_
#define TANDEM_TOOLS_PERF_NCCL_TYPES_H_

#include <cstddef>

// Same as the CUDA runtime's, as in tandem.h.
typedef struct CUstream_st* cudaStream_t;

namespace tandem::perf::nccl {

inline constexpr int kUniqueIdBytes = 128;  // NCCL_UNIQUE_ID_BYTES
struct ncclUniqueId {
  char internal[kUniqueIdBytes];
};
using ncclComm_t = struct ncclComm*;

// C enums: passed as int.
enum ncclResult_t : int { ncclSuccess = 0 };

enum ncclDataType_t : int {
  ncclInt8 = 0,
  ncclUint8 = 1,
  ncclInt32 = 2,
  ncclUint32 = 3,
  ncclInt64 = 4,
  ncclUint64 = 5,
  ncclFloat16 = 6,
  ncclFloat32 = 7,
  ncclFloat64 = 8,
  ncclBfloat16 = 9,
  ncclFloat8e4m3 = 10,  // NCCL >= 2.24
  ncclFloat8e5m2 = 11,  // NCCL >= 2.24
};

enum ncclRedOp_t : int { ncclSum = 0, ncclProd = 1, ncclMax = 2, ncclMin = 3, ncclAvg = 4 };

enum ncclScalarResidence_t : int { ncclScalarDevice = 0, ncclScalarHostImmediate = 1 };

// The entry points, as nccl.h declares them.
using GetVersionFn = ncclResult_t (*)(int* version);
using GetUniqueIdFn = ncclResult_t (*)(ncclUniqueId* uniqueId);
using CommInitRankFn = ncclResult_t (*)(ncclComm_t* comm, int nranks, ncclUniqueId commId,
                                        int rank);
using CommDestroyFn = ncclResult_t (*)(ncclComm_t comm);
using GetErrorStringFn = const char* (*)(ncclResult_t result);
using GetLastErrorFn = const char* (*)(ncclComm_t comm);
using AllReduceFn = ncclResult_t (*)(const void* sendbuff, void* recvbuff, size_t count,
                                     ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,
                                     cudaStream_t stream);
using BroadcastFn = ncclResult_t (*)(const void* sendbuff, void* recvbuff, size_t count,
                                     ncclDataType_t datatype, int root, ncclComm_t comm,
                                     cudaStream_t stream);
using ReduceFn = ncclResult_t (*)(const void* sendbuff, void* recvbuff, size_t count,
                                  ncclDataType_t datatype, ncclRedOp_t op, int root,
                                  ncclComm_t comm, cudaStream_t stream);
using AllGatherFn = ncclResult_t (*)(const void* sendbuff, void* recvbuff, size_t sendcount,
                                     ncclDataType_t datatype, ncclComm_t comm, cudaStream_t stream);
using ReduceScatterFn = ncclResult_t (*)(const void* sendbuff, void* recvbuff, size_t recvcount,
                                         ncclDataType_t datatype, ncclRedOp_t op, ncclComm_t comm,
                                         cudaStream_t stream);
using AlltoAllFn = ncclResult_t (*)(const void* sendbuff, void* recvbuff, size_t count,
                                    ncclDataType_t datatype, ncclComm_t comm, cudaStream_t stream);
// ncclGather and ncclScatter (2.28).
using RootedCopyFn = ncclResult_t (*)(const void* sendbuff, void* recvbuff, size_t count,
                                      ncclDataType_t datatype, int root, ncclComm_t comm,
                                      cudaStream_t stream);
using SendFn = ncclResult_t (*)(const void* sendbuff, size_t count, ncclDataType_t datatype,
                                int peer, ncclComm_t comm, cudaStream_t stream);
using RecvFn = ncclResult_t (*)(void* recvbuff, size_t count, ncclDataType_t datatype, int peer,
                                ncclComm_t comm, cudaStream_t stream);
using GroupFn = ncclResult_t (*)();
using RedOpCreatePreMulSumFn = ncclResult_t (*)(ncclRedOp_t* op, void* scalar,
                                                ncclDataType_t datatype,
                                                ncclScalarResidence_t residence, ncclComm_t comm);
using RedOpDestroyFn = ncclResult_t (*)(ncclRedOp_t op, ncclComm_t comm);

}  // namespace tandem::perf::nccl

#endif  // TANDEM_TOOLS_PERF_NCCL_TYPES_H_
