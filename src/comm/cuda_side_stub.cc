// The CUDA side of a build without CUDA: no communicator has one, and every
// entry point says so.
#include "comm/cuda_side.h"
#include "util/error.h"

namespace tdm {

struct CudaSide {};
void CudaSideDeleter::operator()(CudaSide* side) const { delete side; }

namespace cuda_side {

namespace {
[[noreturn]] void no_symmetric_heap() {
  throw_error(tdmInvalidUsage, "this build of Tandem has no CUDA support, hence no symmetric heap");
}
[[noreturn]] void not_a_window() { throw_error(tdmInvalidArgument, "win is not a live window"); }
}  // namespace

CudaSidePtr create(Comm&, bool) { return nullptr; }
bool has_engine(const Comm&) { return false; }
bool timed_out(const Comm&) { return false; }

void enqueue(std::span<const plan::Call> calls) {
  if (!calls.empty()) throw_error(tdmInvalidUsage, "this build of Tandem has no CUDA engine");
}

void* mem_alloc(size_t) { return nullptr; }
bool mem_free(void*) { return false; }

void* register_buffer(Comm&, void*, size_t) {
  throw_error(tdmInvalidUsage, "registration needs CUDA memory; this build has no CUDA");
}
void deregister_buffer(Comm&, void*) {
  throw_error(tdmInvalidArgument, "handle is not a live registration of this communicator");
}

tdmWindow_t register_window(Comm&, void*, size_t, bool) {
  throw_error(tdmInvalidUsage, "windows need CUDA memory; this build has no CUDA");
}
void deregister_window(Comm&, tdmWindow_t) { not_a_window(); }
void* window_peer_pointer(tdmWindow_t, int, size_t) { not_a_window(); }
tdmWindowDevice_t window_device(tdmWindow_t) { not_a_window(); }

void* shmem_malloc(Comm&, size_t) { no_symmetric_heap(); }
void shmem_free(Comm&, void*) { no_symmetric_heap(); }
void* shmem_ptr(Comm&, const void*, int) { no_symmetric_heap(); }
tdmShmemDevice_t shmem_device(Comm&) { no_symmetric_heap(); }
void shmem_barrier_on_stream(Comm&, cudaStream_t) { no_symmetric_heap(); }
void shmem_signal_on_stream(Comm&, uint64_t*, uint64_t, tdmSignalOp_t, int, cudaStream_t) {
  no_symmetric_heap();
}
void shmem_wait_on_stream(Comm&, uint64_t*, tdmCmp_t, uint64_t, cudaStream_t) {
  no_symmetric_heap();
}

}  // namespace cuda_side
}  // namespace tdm
