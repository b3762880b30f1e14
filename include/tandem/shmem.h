/*
 * Tandem SHMEM, host side: the symmetric heap of a communicator and the
 * stream-ordered helpers. Kernels use the device side in tandem/device/shmem.cuh
 * through the handle tdmShmemGetDevice fills.
 *
 * Model (OpenSHMEM / NVSHMEM): every rank of the communicator is a PE. Each PE
 * owns a symmetric heap; tdmShmemMalloc is collective and returns the same
 * offset in every PE's heap, so a local address names the matching object on
 * every PE. Same-host PEs map each other's heap for load/store over NVLink or
 * PCIe (cuMem VMM handles passed as POSIX file descriptors over a Unix
 * socket; legacy CUDA IPC where VMM export is unavailable, TANDEM_SHMEM_IPC=1
 * forces it). TANDEM_SYMMETRIC_SIZE sets the heap size per PE (default 4 GiB
 * of address space with VMM, committed per allocation; 1 GiB committed up
 * front with legacy IPC).
 */
#ifndef TANDEM_SHMEM_H_
#define TANDEM_SHMEM_H_

#include <stddef.h>
#include <stdint.h>

#include "tandem/tandem.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Comparison for wait_until / signal_wait_until (same order as NVSHMEM_CMP_*). */
typedef enum {
  TDM_CMP_EQ = 0,
  TDM_CMP_NE = 1,
  TDM_CMP_GT = 2,
  TDM_CMP_LE = 3,
  TDM_CMP_LT = 4,
  TDM_CMP_GE = 5
} tdmCmp_t;

/* How a signal word is updated by put_signal / signal_op. */
typedef enum { TDM_SIGNAL_SET = 0, TDM_SIGNAL_ADD = 1 } tdmSignalOp_t;

/* The device handle: plain data, passed by value to kernels. Valid until
 * tdmCommDestroy; fields prefixed `internal_` belong to the library. */
typedef struct tdmShmemDevice {
  int my_pe;
  int n_pes;
  char* heap;       /* this PE's heap in this process */
  size_t heap_size; /* bytes of every PE's heap */
  /* PE p's heap is at heap + (p - my_pe) * peer_stride when peer_stride != 0
   * (VMM: one contiguous reservation); otherwise at peer_heaps[p]. */
  long long peer_stride;
  const uintptr_t* peer_heaps;   /* device memory, n_pes entries; 0: not load/store reachable */
  uint64_t* internal_barrier;    /* symmetric: n_pes arrival counters, one per source PE */
  uint64_t* internal_local;      /* this PE's device-local state (barrier epoch, grid barrier) */
  unsigned long long timeout_ns; /* a device wait longer than this traps (TANDEM_TIMEOUT) */
  int* internal_error;           /* host-mapped: nonzero after a device wait timed out */
} tdmShmemDevice_t;

/* Collective: `size` bytes of every PE's symmetric heap, at the same offset on
 * every PE; 256-byte aligned; contents undefined. size 0 gives NULL. */
tdmResult_t tdmShmemMalloc(tdmComm_t comm, size_t size, void** ptr);
/* Collective: frees what tdmShmemMalloc returned (after a device synchronize,
 * so no kernel still uses it). */
tdmResult_t tdmShmemFree(tdmComm_t comm, void* ptr);
/* Address valid in this process of the object at `ptr` on PE `pe`; NULL when
 * that PE is not load/store reachable (another host). */
tdmResult_t tdmShmemPtr(tdmComm_t comm, const void* ptr, int pe, void** peer_ptr);
/* Fills the handle that kernels take by value. */
tdmResult_t tdmShmemGetDevice(tdmComm_t comm, tdmShmemDevice_t* handle);

/* Stream-ordered helpers (capturable in CUDA graphs). Each runs a small
 * kernel on `stream`:
 * - BarrierOnStream: every PE's work enqueued before it (and its puts, which
 *   are completed first) is visible to all PEs before any PE's work after it.
 * - SignalOnStream: after earlier work on the stream (release, system scope),
 *   sets or adds `value` to the signal word `sig_addr` (symmetric) on PE `pe`.
 * - WaitUntilOnStream: later work on the stream waits until the local signal
 *   word compares true against `value` (acquire, system scope). */
tdmResult_t tdmShmemBarrierOnStream(tdmComm_t comm, cudaStream_t stream);
tdmResult_t tdmShmemSignalOnStream(tdmComm_t comm, uint64_t* sig_addr, uint64_t value,
                                   tdmSignalOp_t op, int pe, cudaStream_t stream);
tdmResult_t tdmShmemWaitUntilOnStream(tdmComm_t comm, uint64_t* sig_addr, tdmCmp_t cmp,
                                      uint64_t value, cudaStream_t stream);

/* Device view of a registered window (tdmCommWindowRegister): rank p's
 * buffer is at peer_bases[p] in this process (0: not load/store reachable). */
typedef struct tdmWindowDevice {
  int my_pe;
  int n_pes;
  size_t size;                 /* bytes of every rank's buffer */
  const uintptr_t* peer_bases; /* device memory, n_pes entries */
} tdmWindowDevice_t;
tdmResult_t tdmWindowGetDevice(tdmWindow_t win, tdmWindowDevice_t* handle);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* TANDEM_SHMEM_H_ */
