// Everything a communicator does with CUDA, behind one seam: cuda_side.cc
// implements it over the CUDA engine, symmetric heap and windows;
// cuda_side_stub.cc, compiled instead in builds without CUDA, refuses every
// call with a sentence saying so. The layers above have no #if for CUDA.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "plan/call.h"
#include "tandem/shmem.h"
#include "tandem/tandem.h"

namespace tdm {

struct Comm;

// Per-communicator CUDA state (engine, registrations, windows); opaque here.
struct CudaSide;
struct CudaSideDeleter {
  void operator()(CudaSide* side) const;
};
using CudaSidePtr = std::unique_ptr<CudaSide, CudaSideDeleter>;

namespace cuda_side {

// Collective at init, after the transports. With CUDA: registrations, and the
// engine when every rank has a CUDA device (`every_rank_has_gpu`, agreed).
// Without CUDA: null.
CudaSidePtr create(Comm& comm, bool every_rank_has_gpu);
// Whether CUDA buffers, windows and SHMEM work on this communicator.
bool has_engine(const Comm& comm);
// True once a device wait gave up after TANDEM_TIMEOUT.
bool timed_out(const Comm& comm);

// Enqueues calls on device buffers: collectives in call order; each
// communicator's sends and receives as one launch, at its first one.
void enqueue(std::span<const plan::Call> calls);

// tdmMemAlloc with a current CUDA device: shareable cuMem memory. Null
// without a device (the caller then allocates host memory).
void* mem_alloc(size_t size);
// False when `ptr` is not device memory from mem_alloc.
bool mem_free(void* ptr);

// tdmCommRegister / tdmCommDeregister: handles owned by the communicator.
void* register_buffer(Comm& comm, void* buff, size_t size);
void deregister_buffer(Comm& comm, void* handle);

// Collective windows (tdmCommWindowRegister): owned by the communicator;
// symmetric ones (TDM_WIN_COLL_SYMMETRIC) also take the copy-engine paths.
tdmWindow_t register_window(Comm& comm, void* buff, size_t size, bool symmetric);
// Collective: a barrier, so no peer still writes through it.
void deregister_window(Comm& comm, tdmWindow_t win);
void* window_peer_pointer(tdmWindow_t win, int peer, size_t offset);
tdmWindowDevice_t window_device(tdmWindow_t win);

// SHMEM (tandem/shmem.h) on the communicator's symmetric heap.
void* shmem_malloc(Comm& comm, size_t size);
void shmem_free(Comm& comm, void* ptr);
void* shmem_ptr(Comm& comm, const void* ptr, int pe);
tdmShmemDevice_t shmem_device(Comm& comm);
void shmem_barrier_on_stream(Comm& comm, cudaStream_t stream);
void shmem_signal_on_stream(Comm& comm, uint64_t* sig_addr, uint64_t value, tdmSignalOp_t op,
                            int pe, cudaStream_t stream);
void shmem_wait_on_stream(Comm& comm, uint64_t* sig_addr, tdmCmp_t cmp, uint64_t value,
                          cudaStream_t stream);

}  // namespace cuda_side
}  // namespace tdm
