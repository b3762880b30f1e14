#include "collectives/cuda/engine.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "collectives/cuda/launch.h"
#include "device/device_query.h"
#include "device/device_scope.h"
#include "device/driver.h"
#include "device/memory.h"
#include "mem/registration.h"
#include "util/dtype.h"
#include "util/env.h"
#include "util/error.h"
#include "util/log.h"

namespace tdm::cuda {

namespace {

size_t align_up(size_t x, size_t to) { return (x + to - 1) / to * to; }

// Settings that shape buffers and piece schedules, and the algorithm choice:
// rank 0's environment wins. The process id rides along (every rank's).
struct Settings {
  plan::CudaSettings choice;
  uint64_t slot_bytes;  // TANDEM_CUDA_SLOT_BYTES
  int32_t depth;        // TANDEM_CUDA_DEPTH
  int32_t channels;     // TANDEM_CUDA_MAX_BLOCKS
  int64_t pid;
};

// Lets this thread make calls that are not stream work (handles, mappings)
// while its stream captures: the global capture mode refuses them.
struct RelaxedCapture {
  cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
  RelaxedCapture() { TDM_CUDA(cudaThreadExchangeStreamCaptureMode(&mode)); }
  ~RelaxedCapture() { cudaThreadExchangeStreamCaptureMode(&mode); }
  RelaxedCapture(const RelaxedCapture&) = delete;
  RelaxedCapture& operator=(const RelaxedCapture&) = delete;
};

// Where one rank's receive buffer of the direct all-to-all lies, allgathered.
struct DirectWhere {
  uint64_t base, offset, buffer_id, span;
  uint32_t refuse, padding;
};

// This rank's receive buffer as peers could map it: device memory from
// cudaMalloc (CUDA IPC) or tdmMemAlloc (cuMem FDs), with a buffer id. Any
// other memory (managed, memory pools, other cuMem mappings) is refused
// here, locally, so that every rank learns it from the allgather and takes
// the pipelined kernel instead of failing on the way.
DirectWhere direct_where(const void* recv, size_t total) {
  DirectWhere w{};
  try {
    const mem::Export ex = mem::describe(recv, total);
    w.base = ex.base;
    w.offset = ex.offset;
    w.span = ex.span;
    cudaIpcMemHandle_t handle;
    if (ex.kind == mem::Export::kIpc &&
        cudaIpcGetMemHandle(&handle, reinterpret_cast<void*>(ex.base)) != cudaSuccess) {
      cudaGetLastError();
      w.refuse = 1;
    }
    if (device::driver().cuPointerGetAttribute(&w.buffer_id, CU_POINTER_ATTRIBUTE_BUFFER_ID,
                                               static_cast<CUdeviceptr>(ex.base)) != CUDA_SUCCESS)
      w.refuse = 1;
  } catch (const Error&) {
    w.refuse = 1;
  }
  return w;
}

}  // namespace

std::unique_ptr<Engine> Engine::create(bootstrap::Bootstrap& boot, int device) {
  std::unique_ptr<Engine> engine(new Engine(boot, device));
  Engine& e = *engine;
  device::DeviceScope scope(device);
  const int nranks = boot.nranks();
  Settings mine{};
  mine.choice = plan::cuda_settings_from_env(nranks);
  // Defaults from the sweep on 2x H200 (docs/benchmarks-cuda.md): 128 blocks of
  // 256 KiB slots; slots shrink with more ranks to bound the internal region
  // (channels x ranks x depth x slot bytes per rank).
  const uint64_t default_slot = nranks <= 4 ? 256 << 10 : 128 << 10;
  // Out-of-range values are errors rather than clamped, so a sweep never
  // measures a setting other than the one it names.
  mine.slot_bytes =
      align_up(env::get_size("TANDEM_CUDA_SLOT_BYTES", default_slot, 256, 1 << 30), 256);
  mine.depth = static_cast<int32_t>(env::get_int("TANDEM_CUDA_DEPTH", 2, 1, 16));
  mine.channels =
      static_cast<int32_t>(env::get_int("TANDEM_CUDA_MAX_BLOCKS", 128, 1, kMaxChannels));
  mine.pid = getpid();
  const std::vector<Settings> every = boot.allgather_value(mine);
  const Settings s = every[0];
  // The direct all-to-all makes a host allgather inside enqueue, which one
  // thread driving several ranks in a group (nccl-tests -g 2) could never
  // complete: only where no two ranks share a process.
  std::vector<int64_t> pids;
  for (const Settings& r : every) pids.push_back(r.pid);
  std::sort(pids.begin(), pids.end());
  e.direct_allowed_ = std::adjacent_find(pids.begin(), pids.end()) == pids.end();

  e.heap_ = mem::SymmetricHeap::create(boot, device);
  const size_t n = nranks, C = s.channels;
  // Internal region: SHMEM barrier counters, channel counters, LL lines, slots.
  size_t at = 0;
  auto take = [&](size_t bytes) {
    const size_t offset = at;
    at = align_up(at + bytes, 256);
    return offset;
  };
  const size_t barrier = take(n * 8);
  const size_t ready = take(C * n * 8);
  const size_t ack = take(C * n * 8);
  const size_t ll_lines = s.choice.ll_max_bytes / 8;
  const size_t ll = take(2 * n * ll_lines * 16);
  const size_t slots = take(C * n * s.depth * s.slot_bytes);
  e.internal_ = e.heap_->allocate(at);
  TDM_CUDA(cudaMemset(e.internal_, 0, at));

  const size_t base = static_cast<size_t>(static_cast<char*>(e.internal_) - e.heap_->base());
  e.barrier_offset_ = base + barrier;
  // Device-local state: LL counter, channel counters, SHMEM epoch and grid barrier.
  const size_t local_bytes = 64 + 2 * C * n * 8 + 64;
  e.local_state_ = device::device_alloc(local_bytes);
  TDM_CUDA(cudaMemset(e.local_state_.get(), 0, local_bytes));
  e.error_word_ = device::mapped_host_alloc(sizeof(int));
  *static_cast<volatile int*>(e.error_word_.get()) = 0;
  TDM_CUDA(
      cudaHostGetDevicePointer(reinterpret_cast<void**>(&e.error_device_), e.error_word_.get(), 0));
  TDM_CUDA(cudaDeviceSynchronize());
  boot.barrier();  // every rank's internal region is zero before anyone writes to it

  auto* local = static_cast<char*>(e.local_state_.get());
  const tdmShmemDevice_t h = e.heap_->device_handle();
  DevComm& d = e.dev_;
  d.rank = boot.rank();
  d.nranks = nranks;
  d.heap = h.heap;
  d.peer_stride = h.peer_stride;
  d.peer_heaps = h.peer_heaps;
  d.ll_offset = base + ll;
  d.ll_lines = ll_lines;
  d.slots_offset = base + slots;
  d.slot_bytes = s.slot_bytes;
  d.depth = s.depth;
  d.channels = s.channels;
  d.ready_offset = base + ready;
  d.ack_offset = base + ack;
  d.ll_counter = reinterpret_cast<uint32_t*>(local);
  d.sent = reinterpret_cast<uint64_t*>(local + 64);
  d.received = reinterpret_cast<uint64_t*>(local + 64 + C * n * 8);
  e.shmem_local_ = reinterpret_cast<uint64_t*>(local + 64 + 2 * C * n * 8);
  const double timeout = env::timeout_seconds();
  d.timeout_ns = timeout > 0 ? static_cast<unsigned long long>(timeout * 1e9) : 0;
  d.error = e.error_device_;
  e.choice_ = s.choice;
  e.p2p_channels_ = std::max(1, s.channels / 4);
  TDM_INFO("CUDA", "engine on device ", device, ": LL up to ", s.choice.ll_max_bytes, " bytes, ",
           s.channels, " channels of ", s.depth, " x ", s.slot_bytes, "-byte slots");
  return engine;
}

Engine::~Engine() {
  // Kernels may still use the buffers the members free: wait for the device
  // (best effort: a destructor must not throw).
  cudaDeviceSynchronize();
  cudaGetLastError();
}

tdmShmemDevice_t Engine::shmem_handle() const {
  tdmShmemDevice_t h = heap_->device_handle();
  h.internal_barrier = reinterpret_cast<uint64_t*>(heap_->base() + barrier_offset_);
  h.internal_local = shmem_local_;
  h.timeout_ns = dev_.timeout_ns;
  h.internal_error = error_device_;
  return h;
}

void Engine::check_reachable(const char* what) const {
  if (boot_.nranks() > kMaxRanks)
    throw_error(tdmInvalidUsage, what, " on CUDA buffers supports up to ", kMaxRanks,
                " ranks in this version; the communicator has ", boot_.nranks());
  for (int r = 0; r < boot_.nranks(); ++r)
    if (!heap_->reachable(r))
      throw_error(tdmInvalidUsage, what, " on CUDA buffers needs every rank on this host (rank ", r,
                  " is on another host; network transports for GPU memory are not built yet)");
  if (timed_out())
    throw_error(tdmRemoteError, "a device wait gave up after TANDEM_TIMEOUT; the CUDA context ",
                "is lost: abort the communicator");
}

void Engine::enqueue(const plan::Call& call) {
  check_reachable(plan::call_name(call.kind));
  if (call.count == 0) return;
  device::DeviceScope scope(device_);
  const size_t message = call.count * type_size(call.type);
  if (enqueue_direct(call, message) || enqueue_copy_engine(call, message)) return;
  CollArgs a{};
  a.kind = call.kind;
  a.type = static_cast<int>(call.type);
  a.root = call.root;
  a.send = call.send;
  a.recv = call.recv;
  a.count = call.count;
  a.channels = dev_.channels;
  const plan::ReductionOf red = plan::reduction_of(call.op, boot_.nranks());
  a.red = red.kind;
  a.divisor = red.divisor;
  if (red.premul) {  // the scalar as resolved by the API
    a.premul = 1;
    if (call.scalar_pointer &&
        device::memory_type(call.scalar_pointer) == device::MemoryType::kCuda)
      a.scalar_ptr = call.scalar_pointer;  // read by the kernel, in stream order
    else if (call.scalar_pointer)
      std::memcpy(&a.scalar_bits, call.scalar_pointer, type_size(call.type));
    else
      std::memcpy(&a.scalar_bits, call.scalar.data(), type_size(call.type));
  }
  const plan::CudaKernel kernel =
      plan::choose_cuda_kernel(choice_, call.kind, message, boot_.nranks());
  TDM_TRACE("CUDA", plan::call_name(call.kind), " of ", message, " bytes: ",
            kernel == plan::CudaKernel::kOneShotLL   ? "one-shot LL"
            : kernel == plan::CudaKernel::kTwoShotLL ? "two-shot LL"
                                                     : "pipelined");
  TDM_CUDA(kernel == plan::CudaKernel::kOneShotLL   ? launch_ll(dev_, a, call.stream)
           : kernel == plan::CudaKernel::kTwoShotLL ? launch_ll_two_shot(dev_, a, call.stream)
                                                    : launch_bulk(dev_, a, call.stream));
}

void Engine::add_symmetric_window(const mem::Window* window) {
  std::lock_guard lock(windows_mutex_);
  symmetric_windows_.push_back(window);
}

void Engine::remove_symmetric_window(const mem::Window* window) {
  std::lock_guard lock(windows_mutex_);
  std::erase(symmetric_windows_, window);
}

// Copy-engine path of allgather and broadcast (TANDEM_CUDA_CE=1): taken when
// the receive buffer lies in a symmetric window (every rank passes the same
// offset into its window, NCCL's rule for TDM_WIN_COLL_SYMMETRIC) and the
// block is at least TANDEM_CUDA_CE_MIN_BYTES. A barrier on the stream (every
// peer reached the call, so its buffer is free), one cudaMemcpyAsync per peer
// straight into the peer's buffer, and a barrier (every copy into this rank's
// buffer is done). Every rank takes the same decision: the inputs are the
// same everywhere under that rule. Not all-to-all: its own block always needs
// a local copy, serialized after the peer copies, and it lost to the kernels.
bool Engine::enqueue_copy_engine(const plan::Call& call, size_t bytes) {
  if (!plan::copy_engine_eligible(choice_, call.kind, bytes)) return false;
  const int n = boot_.nranks(), me = boot_.rank();
  const bool gather = call.kind == plan::CallKind::kAllGather;
  const size_t total = gather ? bytes * n : bytes;
  auto* recv = static_cast<char*>(call.recv);
  const auto* send = static_cast<const char*>(call.send);
  const mem::Window* window = nullptr;
  {
    std::lock_guard lock(windows_mutex_);
    for (const mem::Window* w : symmetric_windows_)
      if (recv >= w->local() && recv + total <= w->local() + w->size(me)) window = w;
  }
  if (!window) return false;
  const size_t offset = static_cast<size_t>(recv - window->local());
  for (int p = 0; p < n; ++p)
    if (offset + total > window->size(p) || !window->peer(p, offset))
      throw_error(tdmInvalidUsage, plan::call_name(call.kind), " into a symmetric window: rank ", p,
                  "'s window does not hold bytes [", offset, ", ", offset + total,
                  ") (every rank must pass the same offset into a window as large)");
  TDM_TRACE("CUDA", plan::call_name(call.kind), " of ", bytes, " bytes per block via copy engines");
  const tdmShmemDevice_t sh = shmem_handle();
  TDM_CUDA(launch_shmem_barrier(sh, call.stream));
  auto copy = [&](void* dst, const void* src) {
    if (dst != src)
      TDM_CUDA(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, call.stream));
  };
  const bool sends = gather || me == call.root;
  for (int k = 1; k < n && sends; ++k) {  // from the next rank on, so peers spread their writes
    const int p = (me + k) % n;
    copy(window->peer(p, offset + (gather ? me * bytes : 0)), send);
  }
  if (sends) copy(recv + (gather ? me * bytes : 0), send);
  TDM_CUDA(launch_shmem_barrier(sh, call.stream));
  return true;
}

// Direct all-to-all (TANDEM_CUDA_DIRECT_MIN_BYTES per peer, out of place,
// captured in a CUDA graph): every rank's receive allocation is mapped here
// once, from a host allgather at capture of where each rank's buffer lies;
// then a barrier on the stream (every peer reached the call, so its buffer
// is free), one kernel storing each block straight into its peer's buffer
// and the own block locally, and a barrier (every store into this rank's
// buffer has landed). One NVLink copy instead of a slot and a copy out.
// Every rank decides alike from the allgathered values; as with any
// collective, every rank must capture the call if one does. Not where two
// ranks share a process (see create).
bool Engine::enqueue_direct(const plan::Call& call, size_t bytes) {
  if (!direct_allowed_ || !plan::direct_eligible(choice_, call.kind, bytes)) return false;
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  TDM_CUDA(cudaStreamIsCapturing(call.stream, &status));
  if (status != cudaStreamCaptureStatusActive) return false;
  const int n = boot_.nranks(), me = boot_.rank();
  const size_t total = bytes * static_cast<size_t>(n);
  auto* recv = static_cast<char*>(call.recv);
  const auto* send = static_cast<const char*>(call.send);
  DirectWhere mine;
  {
    const RelaxedCapture relaxed;
    mine = direct_where(recv, total);
  }
  // In place, a peer's block would land where this rank still reads its own.
  if (send < recv + total && recv < send + total) mine.refuse = 1;
  const std::vector<DirectWhere> all = boot_.allgather_value(mine);
  std::vector<uint64_t> key;
  for (const DirectWhere& w : all) {
    if (w.refuse) return false;
    key.push_back(w.base);
    key.push_back(w.buffer_id);
  }
  auto it = direct_windows_.find(key);
  if (it == direct_windows_.end()) {
    // A bound on mappings kept for graphs: past it, the pipelined kernel.
    constexpr size_t kMaxDirectWindows = 64;
    if (direct_windows_.size() >= kMaxDirectWindows) return false;
    const RelaxedCapture relaxed;
    auto window = mem::Window::create(boot_, *heap_, device_, reinterpret_cast<void*>(mine.base),
                                      mine.span, /*device_handle=*/false);
    it = direct_windows_.emplace(std::move(key), std::move(window)).first;
  }
  CopyList list;
  list.n = n;
  list.bytes = bytes;
  for (int p = 0; p < n; ++p) {
    list.src[p] = send + p * bytes;
    list.dst[p] = p == me ? recv + me * bytes
                          : static_cast<char*>(it->second->peer(p, all[p].offset + me * bytes));
  }
  TDM_TRACE("CUDA", "all-to-all of ", bytes, " bytes per peer straight into the peers' buffers");
  const tdmShmemDevice_t sh = shmem_handle();
  TDM_CUDA(launch_shmem_barrier(sh, call.stream));
  TDM_CUDA(launch_copy_list(list, call.stream));
  TDM_CUDA(launch_shmem_barrier(sh, call.stream));
  return true;
}

void Engine::enqueue_p2p(std::span<const plan::Call> calls) {
  if (calls.empty()) return;
  device::DeviceScope scope(device_);
  cudaStream_t stream = calls.front().stream;
  for (const plan::Call& c : calls)
    if (c.stream != stream)
      throw_error(tdmInvalidUsage, "sends and receives of one group on one communicator must ",
                  "use the same stream on CUDA buffers");
  P2pArgs args{};
  args.channels = p2p_channels_;
  std::vector<const plan::Call*> self_sends, self_recvs;
  for (const plan::Call& c : calls) {
    const size_t bytes = c.count * type_size(c.type);
    if (c.root == boot_.rank()) {
      (c.kind == plan::CallKind::kSend ? self_sends : self_recvs).push_back(&c);
      continue;
    }
    if (bytes == 0) continue;
    if (args.nops == kMaxP2pOps)
      throw_error(tdmInvalidUsage, "more than ", kMaxP2pOps,
                  " sends and receives to other ranks in one group on CUDA buffers");
    P2pOp& op = args.ops[args.nops++];
    op.peer = c.root;
    op.is_send = c.kind == plan::CallKind::kSend;
    op.buffer =
        static_cast<char*>(c.kind == plan::CallKind::kSend ? const_cast<void*>(c.send) : c.recv);
    op.bytes = bytes;
  }
  if (self_sends.size() != self_recvs.size())
    throw_error(tdmInvalidUsage, "a send to self needs a matching receive from self in the group");
  if (args.nops > 0) check_reachable("send/recv");
  for (size_t i = 0; i < self_sends.size(); ++i) {
    const size_t bytes = self_sends[i]->count * type_size(self_sends[i]->type);
    if (bytes != self_recvs[i]->count * type_size(self_recvs[i]->type))
      throw_error(tdmInvalidArgument, "send to self of ", bytes,
                  " bytes does not match the receive from self");
    if (bytes)
      TDM_CUDA(cudaMemcpyAsync(self_recvs[i]->recv, self_sends[i]->send, bytes,
                               cudaMemcpyDeviceToDevice, stream));
  }
  if (args.nops > 0) TDM_CUDA(launch_p2p(dev_, args, stream));
}

}  // namespace tdm::cuda
