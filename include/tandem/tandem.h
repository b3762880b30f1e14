/*
 * Tandem: collective communication for CPU and GPU clusters.
 *
 * This header mirrors NCCL 2.28's nccl.h with the prefix `tdm` for `nccl` and
 * `TDM_` for `NCCL_`: same types, enumerator values, argument order, in-place
 * rules and group semantics, so code written for NCCL ports by renaming.
 *
 * Memory: host buffers run on the CPU engine and the call returns when the
 * operation is complete (pass a NULL stream). CUDA buffers are enqueued on
 * `stream`.
 */
#ifndef TANDEM_TANDEM_H_
#define TANDEM_TANDEM_H_

#include <limits.h>
#include <stddef.h>

#define TDM_MAJOR 0
#define TDM_MINOR 1
#define TDM_PATCH 0
#define TDM_SUFFIX ""
/* Same encoding as NCCL_VERSION for versions after 2.8: X*10000 + Y*100 + Z. */
#define TDM_VERSION(X, Y, Z) ((X)*10000 + (Y)*100 + (Z))
#define TDM_VERSION_CODE TDM_VERSION(TDM_MAJOR, TDM_MINOR, TDM_PATCH)

#ifdef __cplusplus
extern "C" {
#endif

/* Same type as the CUDA runtime's, so this header does not need CUDA's. */
typedef struct CUstream_st* cudaStream_t;

/* Opaque handle to communicator */
typedef struct tdmComm* tdmComm_t;
typedef struct tdmWindow_vidmem* tdmWindow_t;
#define TDM_COMM_NULL NULL

#define TDM_UNIQUE_ID_BYTES 128
typedef struct {
  char internal[TDM_UNIQUE_ID_BYTES];
} tdmUniqueId;

/* Error type */
typedef enum {
  tdmSuccess = 0,
  tdmUnhandledCudaError = 1,
  tdmSystemError = 2,
  tdmInternalError = 3,
  tdmInvalidArgument = 4,
  tdmInvalidUsage = 5,
  tdmRemoteError = 6, /* a peer failed, disconnected, or did not answer within TANDEM_TIMEOUT */
  tdmInProgress = 7,
  tdmNumResults = 8
} tdmResult_t;

#define TDM_CONFIG_UNDEF_INT INT_MIN
#define TDM_CONFIG_UNDEF_PTR NULL
#define TDM_SPLIT_NOCOLOR -1
#define TDM_UNDEF_FLOAT -1.0f

/* Window Registration flags */
#define TDM_WIN_DEFAULT 0x00
#define TDM_WIN_COLL_SYMMETRIC 0x01
#define TDM_WIN_REQUIRED_ALIGNMENT 4096

/* Performance policy */
#define TDM_CTA_POLICY_DEFAULT 0x00
#define TDM_CTA_POLICY_EFFICIENCY 0x01
#define TDM_CTA_POLICY_ZERO 0x02

/* Communicator configuration, same layout as ncclConfig_t (2.28). */
typedef struct tdmConfig_v22800 {
  /* attributes that users should never touch. */
  size_t size;
  unsigned int magic;
  unsigned int version;
  /* attributes that users are able to customize. */
  int blocking;
  int cgaClusterSize;
  int minCTAs;
  int maxCTAs;
  const char* netName;
  int splitShare;
  int trafficClass;
  const char* commName;
  int collnetEnable;
  int CTAPolicy;
  int shrinkShare;
  int nvlsCTAs;
  int nChannelsPerNetPeer;
  int nvlinkCentricSched;
} tdmConfig_t;

#define TDM_CONFIG_MAGIC 0xcafebeef
/* The config is read by its `size`: a caller built against an older or newer
 * header passes a shorter or longer struct; the fields its size covers are
 * read, the rest keep their defaults. blocking = 0 makes the communicator
 * non-blocking: tdmCommInitRankConfig and tdmCommInitRankScalable return
 * tdmInProgress at once while the communicator forms on a thread of its own;
 * tdmCommGetAsyncError reports tdmInProgress until then, and tdmSuccess or the
 * init's error after (other calls on it fail with tdmInvalidUsage meanwhile).
 * Host operations on a non-blocking communicator complete before they return. */

/* Must be assigned to a tdmConfig_t before use; an uninitialized config is an error. */
#define TDM_CONFIG_INITIALIZER                                                  \
  {                                                                             \
    sizeof(tdmConfig_t),                              /* size */                \
        TDM_CONFIG_MAGIC,                             /* magic */               \
        TDM_VERSION(TDM_MAJOR, TDM_MINOR, TDM_PATCH), /* version */             \
        TDM_CONFIG_UNDEF_INT,                         /* blocking */            \
        TDM_CONFIG_UNDEF_INT,                         /* cgaClusterSize */      \
        TDM_CONFIG_UNDEF_INT,                         /* minCTAs */             \
        TDM_CONFIG_UNDEF_INT,                         /* maxCTAs */             \
        TDM_CONFIG_UNDEF_PTR,                         /* netName */             \
        TDM_CONFIG_UNDEF_INT,                         /* splitShare */          \
        TDM_CONFIG_UNDEF_INT,                         /* trafficClass */        \
        TDM_CONFIG_UNDEF_PTR,                         /* commName */            \
        TDM_CONFIG_UNDEF_INT,                         /* collnetEnable */       \
        TDM_CONFIG_UNDEF_INT,                         /* CTAPolicy */           \
        TDM_CONFIG_UNDEF_INT,                         /* shrinkShare */         \
        TDM_CONFIG_UNDEF_INT,                         /* nvlsCTAs */            \
        TDM_CONFIG_UNDEF_INT,                         /* nChannelsPerNetPeer */ \
        TDM_CONFIG_UNDEF_INT,                         /* nvlinkCentricSched */  \
  }

/* Allocation for Tandem's optimizations: with a current CUDA device, device
 * memory from cuMem (shareable with same-host peers, as ncclMemAlloc);
 * without one, page-aligned host memory. */
tdmResult_t tdmMemAlloc(void** ptr, size_t size);
tdmResult_t tdmMemFree(void* ptr);

/* Registration of user buffers (CUDA memory).
 * tdmCommRegister is local (not collective): it records the buffer and its
 * export handle so later calls can reach it without a new lookup; the handle
 * is released by tdmCommDeregister. tdmCommWindowRegister is collective over
 * the communicator: every rank passes its own buffer of the same size and
 * every same-host peer maps everyone's buffer for load/store (the window's
 * peer pointers are given by tdmWindowPeerPointer, on the host, and by
 * tandem/device/window.cuh in kernels). Buffers from tdmMemAlloc are mapped
 * through cuMem handles; other cudaMalloc memory through CUDA IPC. */
tdmResult_t tdmCommRegister(const tdmComm_t comm, void* buff, size_t size, void** handle);
tdmResult_t tdmCommDeregister(const tdmComm_t comm, void* handle);
tdmResult_t tdmCommWindowRegister(tdmComm_t comm, void* buff, size_t size, tdmWindow_t* win,
                                  int winFlags);
tdmResult_t tdmCommWindowDeregister(tdmComm_t comm, tdmWindow_t win);
/* Tandem extension: address of `offset` bytes into rank `peer`'s buffer of the
 * window, valid in this process (NULL when the peer is not load/store reachable). */
tdmResult_t tdmWindowPeerPointer(tdmWindow_t win, int peer, size_t offset, void** ptr);

/* TDM_VERSION_CODE of the library. */
tdmResult_t tdmGetVersion(int* version);

/* Generates an Id for tdmCommInitRank. The calling process serves the rendezvous
 * of that Id (a background thread) until every rank has joined or the timeout
 * (TANDEM_TIMEOUT) passes. Call once and distribute the Id to all ranks. */
tdmResult_t tdmGetUniqueId(tdmUniqueId* uniqueId);

tdmResult_t tdmCommInitRankConfig(tdmComm_t* comm, int nranks, tdmUniqueId commId, int rank,
                                  tdmConfig_t* config);
tdmResult_t tdmCommInitRank(tdmComm_t* comm, int nranks, tdmUniqueId commId, int rank);
/* As tdmCommInitRankConfig with nId ids, every rank passing the same ids (in
 * NCCL, to spread the rendezvous over several roots). Tandem's rendezvous is
 * one root: commIds[0]'s; the others are only checked to be well-formed. */
tdmResult_t tdmCommInitRankScalable(tdmComm_t* newcomm, int nranks, int myrank, int nId,
                                    tdmUniqueId* commIds, tdmConfig_t* config);

/* Creates ndev communicators in this process. With host buffers, operations on
 * several of them from one thread must be grouped (tdmGroupStart/End). */
tdmResult_t tdmCommInitAll(tdmComm_t* comm, int ndev, const int* devlist);

/* Tandem extension: creates the world communicator from whichever launcher
 * started this process: tandemrun (TANDEM_UNIQUE_ID), torchrun-style
 * environment (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT), or mpirun
 * (OMPI_COMM_WORLD_*, PMI_*; needs Tandem's MPI plugin). Without any, a
 * one-rank communicator. config may be NULL. */
tdmResult_t tdmCommInitWorld(tdmComm_t* comm, tdmConfig_t* config);

tdmResult_t tdmCommFinalize(tdmComm_t comm);
tdmResult_t tdmCommDestroy(tdmComm_t comm);
/* Unblocks any call waiting on comm (from another thread), then frees it. */
tdmResult_t tdmCommAbort(tdmComm_t comm);

/* Ranks with the same color form a new communicator, ordered by key then by
 * rank. TDM_SPLIT_NOCOLOR gives *newcomm = NULL. */
tdmResult_t tdmCommSplit(tdmComm_t comm, int color, int key, tdmComm_t* newcomm,
                         tdmConfig_t* config);

/* Shrink flags */
#define TDM_SHRINK_DEFAULT 0x00
#define TDM_SHRINK_ABORT 0x01

/* The ranks of comm not in excludeRanksList form a new communicator, ranked
 * in their old order. Called by every remaining rank (not by the excluded
 * ones, which may have died): it needs no answer from them. Host operations
 * complete before they return, so none of the parent's is in flight; with
 * TDM_SHRINK_ABORT the parent is aborted once the new communicator exists
 * (a later call on it that waits on a peer fails at once; destroy it). */
tdmResult_t tdmCommShrink(tdmComm_t comm, int* excludeRanksList, int excludeRanksCount,
                          tdmComm_t* newcomm, tdmConfig_t* config, int shrinkFlags);

const char* tdmGetErrorString(tdmResult_t result);
/* A sentence about the last error on this thread (comm may be NULL). */
const char* tdmGetLastError(tdmComm_t comm);

tdmResult_t tdmCommGetAsyncError(tdmComm_t comm, tdmResult_t* asyncError);
tdmResult_t tdmCommCount(const tdmComm_t comm, int* count);
/* -1 for a communicator bound to no CUDA device. */
tdmResult_t tdmCommCuDevice(const tdmComm_t comm, int* device);
tdmResult_t tdmCommUserRank(const tdmComm_t comm, int* rank);

/* Reduction operation selector */
typedef enum { tdmNumOps_dummy = 5 } tdmRedOp_dummy_t;
typedef enum {
  tdmSum = 0,
  tdmProd = 1,
  tdmMax = 2,
  tdmMin = 3,
  tdmAvg = 4,
  tdmNumOps = 5, /* first value for ops made by tdmRedOpCreate* */
  tdmMaxRedOp = 0x7fffffff >> (32 - 8 * sizeof(tdmRedOp_dummy_t))
} tdmRedOp_t;

/* Data types */
typedef enum {
  tdmInt8 = 0,
  tdmChar = 0,
  tdmUint8 = 1,
  tdmInt32 = 2,
  tdmInt = 2,
  tdmUint32 = 3,
  tdmInt64 = 4,
  tdmUint64 = 5,
  tdmFloat16 = 6,
  tdmHalf = 6,
  tdmFloat32 = 7,
  tdmFloat = 7,
  tdmFloat64 = 8,
  tdmDouble = 8,
  tdmBfloat16 = 9,
  tdmFloat8e4m3 = 10,
  tdmFloat8e5m2 = 11,
  tdmNumTypes = 12
} tdmDataType_t;

typedef enum {
  tdmScalarDevice = 0,       /* dereferenced while the collective runs */
  tdmScalarHostImmediate = 1 /* dereferenced before tdmRedOpCreatePreMulSum returns */
} tdmScalarResidence_t;

/* Creates an op that multiplies each rank's input by *scalar (of datatype)
 * before summing. Usable only with comm and datatype. */
tdmResult_t tdmRedOpCreatePreMulSum(tdmRedOp_t* op, void* scalar, tdmDataType_t datatype,
                                    tdmScalarResidence_t residence, tdmComm_t comm);
tdmResult_t tdmRedOpDestroy(tdmRedOp_t op, tdmComm_t comm);

/* Collectives. In-place: sendbuff == recvbuff (for AllGather:
 * sendbuff == recvbuff + rank*sendcount; for ReduceScatter:
 * recvbuff == sendbuff + rank*recvcount). */
tdmResult_t tdmReduce(const void* sendbuff, void* recvbuff, size_t count, tdmDataType_t datatype,
                      tdmRedOp_t op, int root, tdmComm_t comm, cudaStream_t stream);
tdmResult_t tdmBcast(void* buff, size_t count, tdmDataType_t datatype, int root, tdmComm_t comm,
                     cudaStream_t stream);
tdmResult_t tdmBroadcast(const void* sendbuff, void* recvbuff, size_t count, tdmDataType_t datatype,
                         int root, tdmComm_t comm, cudaStream_t stream);
tdmResult_t tdmAllReduce(const void* sendbuff, void* recvbuff, size_t count, tdmDataType_t datatype,
                         tdmRedOp_t op, tdmComm_t comm, cudaStream_t stream);
tdmResult_t tdmReduceScatter(const void* sendbuff, void* recvbuff, size_t recvcount,
                             tdmDataType_t datatype, tdmRedOp_t op, tdmComm_t comm,
                             cudaStream_t stream);
tdmResult_t tdmAllGather(const void* sendbuff, void* recvbuff, size_t sendcount,
                         tdmDataType_t datatype, tdmComm_t comm, cudaStream_t stream);
tdmResult_t tdmAlltoAll(const void* sendbuff, void* recvbuff, size_t count, tdmDataType_t datatype,
                        tdmComm_t comm, cudaStream_t stream);
tdmResult_t tdmGather(const void* sendbuff, void* recvbuff, size_t count, tdmDataType_t datatype,
                      int root, tdmComm_t comm, cudaStream_t stream);
tdmResult_t tdmScatter(const void* sendbuff, void* recvbuff, size_t count, tdmDataType_t datatype,
                       int root, tdmComm_t comm, cudaStream_t stream);

/* Point-to-point; matched in call order per peer. */
tdmResult_t tdmSend(const void* sendbuff, size_t count, tdmDataType_t datatype, int peer,
                    tdmComm_t comm, cudaStream_t stream);
tdmResult_t tdmRecv(void* recvbuff, size_t count, tdmDataType_t datatype, int peer, tdmComm_t comm,
                    cudaStream_t stream);

/* Group semantics as NCCL: calls between Start and End are queued and run
 * together at End, so any send/recv pairing pattern completes. */
tdmResult_t tdmGroupStart(void);
tdmResult_t tdmGroupEnd(void);

/* What tdmGroupSimulateEnd reports, versioned as tdmConfig_t. */
typedef struct tdmSimInfo_v22200 {
  size_t size;
  unsigned int magic;
  unsigned int version;
  float estimatedTime; /* microseconds; TDM_UNDEF_FLOAT: no estimate */
} tdmSimInfo_t;

#define TDM_SIM_INFO_INITIALIZER                                                          \
  {                                                                                       \
    sizeof(tdmSimInfo_t), TDM_CONFIG_MAGIC, TDM_VERSION(TDM_MAJOR, TDM_MINOR, TDM_PATCH), \
        TDM_UNDEF_FLOAT                                                                   \
  }

/* Closes the group as tdmGroupEnd would, without running what it queued (the
 * calls are dropped). Tandem has no cost model: estimatedTime is set to
 * TDM_UNDEF_FLOAT. */
tdmResult_t tdmGroupSimulateEnd(tdmSimInfo_t* simInfo);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* TANDEM_TANDEM_H_ */
