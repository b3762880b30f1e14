
/* ---- Declarations the NCCL shim adds (tools/nccl_shim/nccl_extras.h) ---- */

/* NCCL 2.28's device communicator. The types exist so that code written for
 * NCCL's device API (nccl_device.h) compiles; Tandem does not implement that
 * ABI: ncclDevCommCreate returns ncclInvalidUsage and ncclGetLastError says
 * why. Tandem's own device API is tandem/device/ (SHMEM, windows). */
#ifndef __cplusplus
#include <stdbool.h>
#endif

typedef struct ncclDevCommRequirements {
  int lsaBarrierCount;
  bool lsaMultimem;
  int barrierCount;
  int ginSignalCount;
  bool ginForceEnable;
} ncclDevCommRequirements;

typedef struct ncclLsaBarrierHandle {
  unsigned int bufferIndex;
} ncclLsaBarrierHandle;

struct ncclDevComm {
  int rank;
  int nRanks;
  int lsaRank;
  int lsaSize;
  ncclLsaBarrierHandle lsaBarrier;
};
typedef struct ncclDevComm ncclDevComm;

/* Always ncclInvalidUsage (see above); *outDevComm is left untouched. */
ncclResult_t ncclDevCommCreate(ncclComm_t comm, const ncclDevCommRequirements* reqs,
                               struct ncclDevComm* outDevComm);
ncclResult_t ncclDevCommDestroy(ncclComm_t comm, const struct ncclDevComm* devComm);
