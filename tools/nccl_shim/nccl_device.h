/*
 * nccl_device.h for Tandem's libnccl.so.2 (tools/nccl_shim): the names of
 * NCCL 2.28's device API, so that sources written for it (nccl-tests'
 * device-kernel variants, selected with -D) compile against the shim.
 *
 * Tandem does not implement NCCL's device API: ncclDevCommCreate (nccl.h)
 * returns ncclInvalidUsage, so no ncclDevComm ever describes a real
 * communicator, and every device function here traps if a kernel reaches it.
 * Tandem's own device API is tandem/device/ (SHMEM, windows, barriers).
 */
#ifndef NCCL_DEVICE_H_
#define NCCL_DEVICE_H_

#include <stddef.h>
#include <stdint.h>

#include "nccl.h"

#if defined(__cplusplus) && defined(__CUDACC__)
#include <cuda/atomic>

#define NCCL_SHIM_UNSUPPORTED_DEVICE_CALL() __trap()

struct ncclCoopCta {};
struct ncclCoopThread {};
struct ncclCoopWarp {};

struct ncclTeam {
  int nRanks;
  int rank;
  int stride;
};
struct ncclTeamTagWorld {};
struct ncclTeamTagLsa {};

__host__ __device__ inline ncclTeam ncclTeamWorld(const ncclDevComm& comm) {
  return ncclTeam{comm.nRanks, comm.rank, 1};
}
__host__ __device__ inline ncclTeam ncclTeamLsa(const ncclDevComm& comm) {
  return ncclTeam{comm.lsaSize, comm.lsaRank, 1};
}

enum class ncclGinFenceLevel { Relaxed };
typedef unsigned int ncclGinSignal_t;
struct ncclGin_SignalInc {
  ncclGinSignal_t signal;
};

struct ncclGin {
  __device__ ncclGin(const ncclDevComm&, int) { NCCL_SHIM_UNSUPPORTED_DEVICE_CALL(); }
  __device__ uint64_t readSignal(ncclGinSignal_t) const {
    NCCL_SHIM_UNSUPPORTED_DEVICE_CALL();
    return 0;
  }
  template <typename Action>
  __device__ void put(ncclTeam, int, ncclWindow_t, size_t, ncclWindow_t, size_t, size_t,
                      Action) const {
    NCCL_SHIM_UNSUPPORTED_DEVICE_CALL();
  }
  template <typename Coop>
  __device__ void waitSignal(Coop, ncclGinSignal_t, uint64_t) const {
    NCCL_SHIM_UNSUPPORTED_DEVICE_CALL();
  }
  template <typename Coop>
  __device__ void flush(Coop) const {
    NCCL_SHIM_UNSUPPORTED_DEVICE_CALL();
  }
};

template <typename Coop>
struct ncclLsaBarrierSession {
  __device__ ncclLsaBarrierSession(Coop, const ncclDevComm&, ncclTeam, ncclLsaBarrierHandle,
                                   uint32_t) {
    NCCL_SHIM_UNSUPPORTED_DEVICE_CALL();
  }
  __device__ ncclLsaBarrierSession(Coop, const ncclDevComm&, ncclTeamTagLsa, uint32_t,
                                   bool = false) {
    NCCL_SHIM_UNSUPPORTED_DEVICE_CALL();
  }
  __device__ void sync(Coop, cuda::memory_order) { NCCL_SHIM_UNSUPPORTED_DEVICE_CALL(); }
};

template <typename Coop>
struct ncclBarrierSession {
  __device__ ncclBarrierSession(Coop, ncclTeamTagWorld, ncclGin&, uint32_t) {
    NCCL_SHIM_UNSUPPORTED_DEVICE_CALL();
  }
  __device__ void sync(Coop, cuda::memory_order, ncclGinFenceLevel) {
    NCCL_SHIM_UNSUPPORTED_DEVICE_CALL();
  }
};

__device__ inline void* ncclGetLsaPointer(ncclWindow_t, size_t, int) {
  NCCL_SHIM_UNSUPPORTED_DEVICE_CALL();
  return nullptr;
}
__device__ inline void* ncclGetLocalPointer(ncclWindow_t, size_t) {
  NCCL_SHIM_UNSUPPORTED_DEVICE_CALL();
  return nullptr;
}
__device__ inline void* ncclGetLsaMultimemPointer(ncclWindow_t, size_t, const ncclDevComm&) {
  NCCL_SHIM_UNSUPPORTED_DEVICE_CALL();
  return nullptr;
}

#endif /* __cplusplus && __CUDACC__ */

#endif /* NCCL_DEVICE_H_ */
