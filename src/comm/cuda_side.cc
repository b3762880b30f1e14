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
#include "util/handle_token.h"

namespace tdm {

struct CudaSide {
  // Declared first, destroyed last: windows and registrations go before it.
  std::unique_ptr<cuda::Engine> engine;
  std::mutex mutex;
  std::map<uint64_t, std::unique_ptr<mem::Export>> registrations;  // by handle token
  std::map<const mem::Window*, std::unique_ptr<mem::Window>> windows;
  ~CudaSide();
};

using cuda_side::has_engine;

namespace {

// Live windows of every communicator, by handle token: tdmWindowPeerPointer
// and tdmWindowGetDevice take a window without its communicator.
struct LiveWindow {
  mem::Window* window;
  Comm* owner;
};
struct LiveWindows {
  std::mutex mutex;
  std::unordered_map<uint64_t, LiveWindow> by_token;
};
LiveWindows& live_windows() {
  static LiveWindows* w = new LiveWindows();  // never destroyed: used from atexit paths
  return *w;
}

// The window behind a handle, or tdmInvalidArgument.
LiveWindow checked_window(tdmWindow_t win) {
  if (win == nullptr) throw_error(tdmInvalidArgument, "win is NULL");
  LiveWindows& live = live_windows();
  std::lock_guard lock(live.mutex);
  auto it = live.by_token.find(token_of(win));
  if (it == live.by_token.end())
    throw_error(tdmInvalidArgument,
                "win is not a live window (it was deregistered, or never registered)");
  return it->second;
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
  std::erase_if(live.by_token,
                [&](const auto& entry) { return windows.count(entry.second.window) != 0; });
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
  const uint64_t token = new_handle_token();
  std::lock_guard lock(side.mutex);
  side.registrations.emplace(token, std::move(described));
  return as_handle<void*>(token);
}

void deregister_buffer(Comm& comm, void* handle) {
  const bool removed = comm.cuda && [&] {
    std::lock_guard lock(comm.cuda->mutex);
    return comm.cuda->registrations.erase(token_of(handle)) == 1;
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
  const uint64_t token = new_handle_token();
  LiveWindows& live = live_windows();
  std::lock_guard lock(live.mutex);
  live.by_token.emplace(token, LiveWindow{w, &comm});
  return as_handle<tdmWindow_t>(token);
}

void deregister_window(Comm& comm, tdmWindow_t win) {
  const LiveWindow w = checked_window(win);
  if (w.owner != &comm) throw_error(tdmInvalidArgument, "win belongs to another communicator");
  comm.boot->barrier();  // collective: no peer still writes through it
  CudaSide& side = *comm.cuda;
  side.engine->remove_symmetric_window(w.window);
  {
    LiveWindows& live = live_windows();
    std::lock_guard lock(live.mutex);
    live.by_token.erase(token_of(win));
  }
  std::unique_ptr<mem::Window> owned;
  {
    std::lock_guard lock(side.mutex);
    auto it = side.windows.find(w.window);
    owned = std::move(it->second);
    side.windows.erase(it);
  }
}

void* window_peer_pointer(tdmWindow_t win, int peer, size_t offset) {
  return checked_window(win).window->peer(peer, offset);
}

tdmWindowDevice_t window_device(tdmWindow_t win) {
  return checked_window(win).window->device_handle();
}

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
