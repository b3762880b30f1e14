// C entry points of tandem/shmem.h: the symmetric heap and its stream helpers.
#include "api/guard.h"
#include "api/registry.h"
#include "api/validate.h"
#include "comm/comm.h"
#include "comm/cuda_side.h"
#include "tandem/shmem.h"
#include "tandem/tandem.h"

using namespace tdm;
using namespace tdm::api;

TDM_EXPORT tdmResult_t tdmShmemMalloc(tdmComm_t comm, size_t size, void** ptr) {
  return guarded("tdmShmemMalloc", [&] {
    Comm& c = checked(comm);
    check_not_null(ptr, "ptr");
    InFlight busy(c);
    *ptr = cuda_side::shmem_malloc(c, size);
  });
}

TDM_EXPORT tdmResult_t tdmShmemFree(tdmComm_t comm, void* ptr) {
  return guarded("tdmShmemFree", [&] {
    Comm& c = checked(comm);
    if (ptr == nullptr) return;
    InFlight busy(c);
    cuda_side::shmem_free(c, ptr);
  });
}

TDM_EXPORT tdmResult_t tdmShmemPtr(tdmComm_t comm, const void* ptr, int pe, void** peer_ptr) {
  return guarded("tdmShmemPtr", [&] {
    Comm& c = checked(comm);
    check_not_null(peer_ptr, "peer_ptr");
    check_rank_arg(c, pe, "pe");
    *peer_ptr = cuda_side::shmem_ptr(c, ptr, pe);
  });
}

TDM_EXPORT tdmResult_t tdmShmemGetDevice(tdmComm_t comm, tdmShmemDevice_t* handle) {
  return guarded("tdmShmemGetDevice", [&] {
    Comm& c = checked(comm);
    check_not_null(handle, "handle");
    *handle = cuda_side::shmem_device(c);
  });
}

TDM_EXPORT tdmResult_t tdmShmemBarrierOnStream(tdmComm_t comm, cudaStream_t stream) {
  return guarded("tdmShmemBarrierOnStream", [&] {
    Comm& c = checked(comm);
    cuda_side::shmem_barrier_on_stream(c, stream);
  });
}

TDM_EXPORT tdmResult_t tdmShmemSignalOnStream(tdmComm_t comm, uint64_t* sig_addr, uint64_t value,
                                              tdmSignalOp_t op_arg, int pe, cudaStream_t stream) {
  return guarded("tdmShmemSignalOnStream", [&] {
    Comm& c = checked(comm);
    check_rank_arg(c, pe, "pe");
    const int op = enum_arg(op_arg);
    if (op != TDM_SIGNAL_SET && op != TDM_SIGNAL_ADD)
      throw_error(tdmInvalidArgument, "signal op ", op,
                  " is not a tdmSignalOp_t (TDM_SIGNAL_SET or TDM_SIGNAL_ADD)");
    cuda_side::shmem_signal_on_stream(c, sig_addr, value, static_cast<tdmSignalOp_t>(op), pe,
                                      stream);
  });
}

TDM_EXPORT tdmResult_t tdmShmemWaitUntilOnStream(tdmComm_t comm, uint64_t* sig_addr,
                                                 tdmCmp_t cmp_arg, uint64_t value,
                                                 cudaStream_t stream) {
  return guarded("tdmShmemWaitUntilOnStream", [&] {
    Comm& c = checked(comm);
    const int cmp = enum_arg(cmp_arg);
    if (cmp < TDM_CMP_EQ || cmp > TDM_CMP_GE)
      throw_error(tdmInvalidArgument, "comparison ", cmp,
                  " is not a tdmCmp_t (valid: ", int(TDM_CMP_EQ), "..", int(TDM_CMP_GE), ")");
    cuda_side::shmem_wait_on_stream(c, sig_addr, static_cast<tdmCmp_t>(cmp), value, stream);
  });
}
