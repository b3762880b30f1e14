#include "comm/cuda_side.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "collectives/cuda/engine.h"
#include "collectives/cuda/launch.h"
#include "comm/comm.h"
#include "device/device_query.h"
#include "device/driver.h"
#include "mem/registration.h"
#include "mem/shareable_alloc.h"
#include "mem/window.h"
#include "util/error.h"

namespace tdm {

struct CudaSide {
  // Declared first, destroyed last: windows and registrations go before it.
  std::unique_ptr<cuda::Engine> engine;
  std::mutex mutex;
  std::map<const void*, std::unique_ptr<mem::Export>> registrations;  // by handle
  std::map<const mem::Window*, std::unique_ptr<mem::Window>> windows;
  ~CudaSide();
};

using cuda_side::has_engine;

namespace {

// Live windows of every communicator: tdmWindowPeerPointer and
// tdmWindowGetDevice take a window without its communicator.
struct LiveWindows {
  std::mutex mutex;
  std::unordered_map<const mem::Window*, Comm*> owner;
};
LiveWindows& live_windows() {
  static LiveWindows* w = new LiveWindows();  // never destroyed: used from atexit paths
  return *w;
}

mem::Window* as_window(tdmWindow_t win) { return reinterpret_cast<mem::Window*>(win); }

// The window behind a handle, or tdmInvalidArgument.
mem::Window& checked_window(tdmWindow_t win) {
  if (win == nullptr) throw_error(tdmInvalidArgument, "win is NULL");
  LiveWindows& live = live_windows();
  std::lock_guard lock(live.mutex);
  if (!live.owner.count(as_window(win)))
    throw_error(tdmInvalidArgument, "win is not a live window");
  return *as_window(win);
}

CudaSide& side_of(Comm& comm) {
  if (!has_engine(comm))
    throw_error(tdmInvalidUsage,
                "this communicator has no symmetric heap: every rank needs a current CUDA device "
                "when the communicator is created");
  return *comm.cuda;
}

}  // namespace

namespace cuda_side {
bool has_engine(const Comm& comm) { return comm.cuda && comm.cuda->engine; }
}  // namespace cuda_side

CudaSide::~CudaSide() {
  LiveWindows& live = live_windows();
  std::lock_guard lock(live.mutex);
  for (const auto& [window, owned] : windows) live.owner.erase(window);
}

void CudaSideDeleter::operator()(CudaSide* side) const { delete side; }

namespace cuda_side {

CudaSidePtr create(Comm& comm, bool every_rank_has_gpu) {
  CudaSidePtr side(new CudaSide());  // registrations need no engine
  // The engine's setup is collective: every rank takes the same decision.
  if (every_rank_has_gpu && comm.cuda_device >= 0)
    side->engine = cuda::Engine::create(*comm.boot, comm.cuda_device);
  return side;
}

bool timed_out(const Comm& comm) { return has_engine(comm) && comm.cuda->engine->timed_out(); }

void enqueue(std::span<const plan::Call> calls) {
  std::vector<const plan::Team*> p2p_done;
  for (const plan::Call& call : calls) {
    cuda::Engine& engine = *side_of(comm_of(*call.team)).engine;
    if (!plan::is_point_to_point(call)) {
      engine.enqueue(call);
      continue;
    }
    if (std::find(p2p_done.begin(), p2p_done.end(), call.team) != p2p_done.end()) continue;
    p2p_done.push_back(call.team);
    std::vector<plan::Call> p2p;
    for (const plan::Call& c : calls)
      if (c.team == call.team && plan::is_point_to_point(c)) p2p.push_back(c);
    engine.enqueue_p2p(p2p);
  }
}

void* mem_alloc(size_t size) {
  if (device::current_cuda_device() < 0) return nullptr;
  return mem::shareable_alloc(size);
}

bool mem_free(void* ptr) { return mem::shareable_free(ptr); }

void* register_buffer(Comm& comm, void* buff, size_t size) {
  auto described = std::make_unique<mem::Export>(mem::describe(buff, size));
  CudaSide& side = *comm.cuda;
  void* handle = described.get();
  std::lock_guard lock(side.mutex);
  side.registrations.emplace(handle, std::move(described));
  return handle;
}

void deregister_buffer(Comm& comm, void* handle) {
  const bool removed = comm.cuda && [&] {
    std::lock_guard lock(comm.cuda->mutex);
    return comm.cuda->registrations.erase(handle) == 1;
  }();
  if (!removed)
    throw_error(tdmInvalidArgument, "handle is not a live registration of this communicator");
}

tdmWindow_t register_window(Comm& comm, void* buff, size_t size, bool symmetric) {
  if (!has_engine(comm))
    throw_error(tdmInvalidUsage, "windows need the CUDA engine (a CUDA device on every rank)");
  CudaSide& side = *comm.cuda;
  auto window = mem::Window::create(*comm.boot, side.engine->heap(), comm.cuda_device, buff, size);
  mem::Window* w = window.get();
  if (symmetric) side.engine->add_symmetric_window(w);
  {
    std::lock_guard lock(side.mutex);
    side.windows.emplace(w, std::move(window));
  }
  LiveWindows& live = live_windows();
  std::lock_guard lock(live.mutex);
  live.owner[w] = &comm;
  return reinterpret_cast<tdmWindow_t>(w);
}

void deregister_window(Comm& comm, tdmWindow_t win) {
  mem::Window& w = checked_window(win);
  {
    LiveWindows& live = live_windows();
    std::lock_guard lock(live.mutex);
    if (live.owner.at(&w) != &comm)
      throw_error(tdmInvalidArgument, "win belongs to another communicator");
  }
  comm.boot->barrier();  // collective: no peer still writes through it
  CudaSide& side = *comm.cuda;
  side.engine->remove_symmetric_window(&w);
  {
    LiveWindows& live = live_windows();
    std::lock_guard lock(live.mutex);
    live.owner.erase(&w);
  }
  std::unique_ptr<mem::Window> owned;
  {
    std::lock_guard lock(side.mutex);
    auto it = side.windows.find(&w);
    owned = std::move(it->second);
    side.windows.erase(it);
  }
}

void* window_peer_pointer(tdmWindow_t win, int peer, size_t offset) {
  return checked_window(win).peer(peer, offset);
}

tdmWindowDevice_t window_device(tdmWindow_t win) { return checked_window(win).device_handle(); }

void* shmem_malloc(Comm& comm, size_t size) { return side_of(comm).engine->heap().allocate(size); }

void shmem_free(Comm& comm, void* ptr) { side_of(comm).engine->heap().release(ptr); }

void* shmem_ptr(Comm& comm, const void* ptr, int pe) {
  mem::SymmetricHeap& heap = side_of(comm).engine->heap();
  if (!heap.owns(ptr))
    throw_error(tdmInvalidArgument, "pointer ", ptr, " is not inside a symmetric allocation");
  return heap.peer_pointer(ptr, pe);
}

tdmShmemDevice_t shmem_device(Comm& comm) { return side_of(comm).engine->shmem_handle(); }

void shmem_barrier_on_stream(Comm& comm, cudaStream_t stream) {
  TDM_CUDA(cuda::launch_shmem_barrier(shmem_device(comm), stream));
}

void shmem_signal_on_stream(Comm& comm, uint64_t* sig_addr, uint64_t value, tdmSignalOp_t op,
                            int pe, cudaStream_t stream) {
  cuda::Engine& e = *side_of(comm).engine;
  if (!e.heap().owns(sig_addr))
    throw_error(tdmInvalidArgument, "sig_addr is not inside a symmetric allocation");
  if (!e.heap().reachable(pe))
    throw_error(tdmInvalidUsage, "PE ", pe, " is not load/store reachable from this PE");
  TDM_CUDA(cuda::launch_shmem_signal(e.shmem_handle(), sig_addr, value, op, pe, stream));
}

void shmem_wait_on_stream(Comm& comm, uint64_t* sig_addr, tdmCmp_t cmp, uint64_t value,
                          cudaStream_t stream) {
  cuda::Engine& e = *side_of(comm).engine;
  if (!e.heap().owns(sig_addr))
    throw_error(tdmInvalidArgument, "sig_addr is not inside a symmetric allocation");
  TDM_CUDA(cuda::launch_shmem_wait(e.shmem_handle(), sig_addr, cmp, value, stream));
}

}  // namespace cuda_side
}  // namespace tdm
