#include "collectives/cuda/engine.h"

#if TANDEM_HAVE_CUDA
#include <algorithm>
#include <cstring>

#include "collectives/cuda/launch.h"
#include "comm/comm.h"
#include "mem/memory_type.h"
#include "mem/registration.h"
#include "transports/p2p/cuda_driver.h"
#include "util/dtype.h"
#include "util/env.h"
#include "util/error.h"
#include "util/log.h"

namespace tdm::cuda {

namespace {

size_t align_up(size_t x, size_t to) { return (x + to - 1) / to * to; }

// Settings that shape buffers and piece schedules: rank 0's environment wins.
struct Settings {
  uint64_t ll_max_bytes;       // TANDEM_CUDA_LL_MAX_BYTES
  uint64_t slot_bytes;         // TANDEM_CUDA_SLOT_BYTES
  int32_t depth;               // TANDEM_CUDA_DEPTH
  int32_t channels;            // TANDEM_CUDA_MAX_BLOCKS
  int32_t allreduce_algo;      // TANDEM_CUDA_ALLREDUCE_ALGO (AllReduceAlgo)
  uint64_t oneshot_max_bytes;  // TANDEM_CUDA_ONESHOT_MAX_BYTES
  uint64_t ce_min_bytes;       // TANDEM_CUDA_CE / TANDEM_CUDA_CE_MIN_BYTES (0: off)
};

AllReduceAlgo allreduce_algo_from_env() {
  const auto name = env::get("TANDEM_CUDA_ALLREDUCE_ALGO");
  if (!name || name->empty() || *name == "auto") return AllReduceAlgo::kAuto;
  if (*name == "oneshot") return AllReduceAlgo::kOneShot;
  if (*name == "twoshot") return AllReduceAlgo::kTwoShot;
  if (*name == "pipelined") return AllReduceAlgo::kPipelined;
  throw_error(tdmInvalidArgument, "TANDEM_CUDA_ALLREDUCE_ALGO='", *name,
              "' is not one of auto, oneshot, twoshot, pipelined");
}

// Current device switched to `device` for the scope (the engine may be
// called from a thread whose current device differs).
class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    cudaGetDevice(&previous_);
    if (previous_ != device) TDM_CUDA(cudaSetDevice(device));
  }
  ~DeviceScope() {
    int now = -1;
    cudaGetDevice(&now);
    if (now != previous_) cudaSetDevice(previous_);
  }

 private:
  int previous_ = -1;
};

}  // namespace

std::unique_ptr<Engine> Engine::create(Comm& comm) {
  std::unique_ptr<Engine> engine(new Engine(comm));
  Engine& e = *engine;
  DeviceScope scope(comm.cuda_device);
  Settings mine{};
  // LL range: with 2 ranks the LL kernels beat the pipelined ones up to 1 MiB
  // (2x H200: allreduce 10.6 us against 17.6, reduce-scatter of a 1 MiB
  // block 10.7 against 12.9; docs/benchmarks-cuda.md); with more ranks
  // one-shot traffic grows with n, and 256 KiB bounds the LL area.
  const uint64_t default_ll = comm.nranks <= 2 ? 1 << 20 : 256 << 10;
  mine.ll_max_bytes = align_up(env::get_size("TANDEM_CUDA_LL_MAX_BYTES", default_ll), 8);
  mine.allreduce_algo = static_cast<int32_t>(allreduce_algo_from_env());
  // One-shot moves (n - 1) x the message out of every rank, two-shot about
  // 2x, in two dependent LL phases: with 2 ranks one-shot always wins; with
  // more, two-shot takes over above 64 KiB (a first guess: only 2 GPUs were
  // lent to measure on; docs/benchmarks-cuda.md).
  const uint64_t default_oneshot = comm.nranks <= 2 ? mine.ll_max_bytes : 64 << 10;
  mine.oneshot_max_bytes = env::get_size("TANDEM_CUDA_ONESHOT_MAX_BYTES", default_oneshot);
  // Copy-engine paths: opt-in. On 2x H200 an in-place allgather into a
  // symmetric window gains 5-7% from 32 MiB per rank (386 against 360 GB/s
  // at 1 GiB), but out of place the local block's copy runs after the peer
  // copy on the stream and loses (300 against 346); the choice cannot depend
  // on placement, which may differ between ranks (docs/benchmarks-cuda.md).
  mine.ce_min_bytes =
      env::get_bool("TANDEM_CUDA_CE", false)
          ? std::max<uint64_t>(env::get_size("TANDEM_CUDA_CE_MIN_BYTES", 32 << 20), 1)
          : 0;
  // Defaults from the sweep on 2x H200 (docs/benchmarks-cuda.md): 128 blocks of
  // 256 KiB slots; slots shrink with more ranks to bound the internal region
  // (channels x ranks x depth x slot bytes per rank).
  const uint64_t default_slot = comm.nranks <= 4 ? 256 << 10 : 128 << 10;
  mine.slot_bytes =
      std::max<uint64_t>(align_up(env::get_size("TANDEM_CUDA_SLOT_BYTES", default_slot), 256), 256);
  mine.depth =
      static_cast<int32_t>(std::clamp<int64_t>(env::get_int("TANDEM_CUDA_DEPTH", 2), 1, 16));
  mine.channels = static_cast<int32_t>(
      std::clamp<int64_t>(env::get_int("TANDEM_CUDA_MAX_BLOCKS", 128), 1, kMaxChannels));
  const Settings s = comm.boot->allgather_value(mine)[0];

  e.heap_ = mem::SymmetricHeap::create(comm);
  const size_t n = comm.nranks, C = s.channels;
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
  const size_t ll_lines = s.ll_max_bytes / 8;
  const size_t ll = take(2 * n * ll_lines * 16);
  const size_t slots = take(C * n * s.depth * s.slot_bytes);
  e.internal_ = e.heap_->allocate(at);
  TDM_CUDA(cudaMemset(e.internal_, 0, at));

  const size_t base = static_cast<size_t>(static_cast<char*>(e.internal_) - e.heap_->base());
  e.barrier_offset_ = base + barrier;
  // Device-local state: LL counter, channel counters, SHMEM epoch and grid barrier.
  const size_t local_bytes = 64 + 2 * C * n * 8 + 64;
  TDM_CUDA(cudaMalloc(&e.local_state_, local_bytes));
  TDM_CUDA(cudaMemset(e.local_state_, 0, local_bytes));
  void* error_host = nullptr;
  TDM_CUDA(cudaHostAlloc(&error_host, sizeof(int), cudaHostAllocMapped));
  e.error_word_ = static_cast<volatile int*>(error_host);
  *e.error_word_ = 0;
  TDM_CUDA(cudaHostGetDevicePointer(reinterpret_cast<void**>(&e.error_device_), error_host, 0));
  TDM_CUDA(cudaDeviceSynchronize());
  comm.boot->barrier();  // every rank's internal region is zero before anyone writes to it

  auto* local = static_cast<char*>(e.local_state_);
  const tdmShmemDevice_t h = e.heap_->device_handle();
  DevComm& d = e.dev_;
  d.rank = comm.rank;
  d.nranks = comm.nranks;
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
  e.ll_max_bytes_ = s.ll_max_bytes;
  e.allreduce_algo_ = static_cast<AllReduceAlgo>(s.allreduce_algo);
  e.ce_min_bytes_ = s.ce_min_bytes;
  e.oneshot_max_bytes_ = std::min(s.oneshot_max_bytes, s.ll_max_bytes);
  e.p2p_channels_ = std::max(1, s.channels / 4);
  TDM_INFO("CUDA", "engine on device ", comm.cuda_device, ": LL up to ", s.ll_max_bytes, " bytes, ",
           s.channels, " channels of ", s.depth, " x ", s.slot_bytes, "-byte slots");
  return engine;
}

Engine::~Engine() {
  // Kernels may still use the buffers: wait for the device, then free.
  cudaDeviceSynchronize();
  if (local_state_) cudaFree(local_state_);
  if (error_word_) cudaFreeHost(const_cast<int*>(error_word_));
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
  if (comm_.nranks > kMaxRanks)
    throw_error(tdmInvalidUsage, what, " on CUDA buffers supports up to ", kMaxRanks,
                " ranks in this version; the communicator has ", comm_.nranks);
  for (int r = 0; r < comm_.nranks; ++r)
    if (!heap_->reachable(r))
      throw_error(tdmInvalidUsage, what, " on CUDA buffers needs every rank on this host (rank ", r,
                  " is on another host; network transports for GPU memory are not built yet)");
  if (timed_out())
    throw_error(tdmRemoteError, "a device wait gave up after TANDEM_TIMEOUT; the CUDA context ",
                "is lost: abort the communicator");
}

void Engine::enqueue(const Call& call) {
  check_reachable(call_name(call.kind));
  if (call.count == 0) return;
  DeviceScope scope(comm_.cuda_device);
  CollArgs a{};
  a.kind = static_cast<int>(call.kind);
  a.type = static_cast<int>(call.type);
  a.root = call.root;
  a.send = call.send;
  a.recv = call.recv;
  a.count = call.count;
  a.channels = dev_.channels;
  switch (call.op) {
    case tdmSum:
      a.red = RedKind::kSum;
      break;
    case tdmProd:
      a.red = RedKind::kProd;
      break;
    case tdmMax:
      a.red = RedKind::kMax;
      break;
    case tdmMin:
      a.red = RedKind::kMin;
      break;
    case tdmAvg:
      a.red = RedKind::kSum;
      a.divisor = comm_.nranks;
      break;
    default:  // premulsum: the scalar as resolved by the API
      a.red = RedKind::kSum;
      a.premul = 1;
      if (call.scalar_pointer && mem::memory_type(call.scalar_pointer) == mem::MemoryType::kCuda)
        a.scalar_ptr = call.scalar_pointer;  // read by the kernel, in stream order
      else if (call.scalar_pointer)
        std::memcpy(&a.scalar_bits, call.scalar_pointer, type_size(call.type));
      else
        std::memcpy(&a.scalar_bits, call.scalar.data(), type_size(call.type));
  }
  const size_t message = call.count * type_size(call.type);
  if (enqueue_copy_engine(call, message)) return;
  const bool ll_kind = call.kind == CallKind::kAllReduce || call.kind == CallKind::kReduceScatter ||
                       call.kind == CallKind::kAllGather || call.kind == CallKind::kAlltoAll;
  if (call.kind == CallKind::kAllReduce) {
    const AllReduceAlgo algo = allreduce_algo(message);
    TDM_TRACE("CUDA", "allreduce of ", message, " bytes: ", algo_name(algo));
    TDM_CUDA(algo == AllReduceAlgo::kOneShot   ? launch_ll(dev_, a, call.stream)
             : algo == AllReduceAlgo::kTwoShot ? launch_ll_two_shot(dev_, a, call.stream)
                                               : launch_bulk(dev_, a, call.stream));
    return;
  }
  const bool ll = ll_kind && message <= ll_max_bytes_;
  TDM_TRACE("CUDA", call_name(call.kind), " of ", message, " bytes via ", ll ? "LL" : "bulk");
  TDM_CUDA(ll ? launch_ll(dev_, a, call.stream) : launch_bulk(dev_, a, call.stream));
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
bool Engine::enqueue_copy_engine(const Call& call, size_t bytes) {
  const bool kind_ok = call.kind == CallKind::kAllGather || call.kind == CallKind::kBroadcast;
  if (!kind_ok || ce_min_bytes_ == 0 || bytes < ce_min_bytes_) return false;
  const int n = comm_.nranks, me = comm_.rank;
  const bool gather = call.kind == CallKind::kAllGather;
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
      throw_error(tdmInvalidUsage, call_name(call.kind), " into a symmetric window: rank ", p,
                  "'s window does not hold bytes [", offset, ", ", offset + total,
                  ") (every rank must pass the same offset into a window as large)");
  TDM_TRACE("CUDA", call_name(call.kind), " of ", bytes, " bytes per block via copy engines");
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

// By size and rank count, or as forced by TANDEM_CUDA_ALLREDUCE_ALGO; a
// forced LL algorithm whose message does not fit the LL area falls back to
// the pipelined kernel (two-shot fits n / 2 times as much as one-shot).
AllReduceAlgo Engine::allreduce_algo(size_t message) const {
  const bool one_fits = message <= ll_max_bytes_;
  const bool two_fits = 2 * two_shot_shard_bytes(message, comm_.nranks) <= ll_max_bytes_;
  switch (allreduce_algo_) {
    case AllReduceAlgo::kOneShot:
      return one_fits ? AllReduceAlgo::kOneShot : AllReduceAlgo::kPipelined;
    case AllReduceAlgo::kTwoShot:
      return two_fits ? AllReduceAlgo::kTwoShot : AllReduceAlgo::kPipelined;
    case AllReduceAlgo::kPipelined:
      return AllReduceAlgo::kPipelined;
    default:
      // With 2 ranks two-shot fits exactly what one-shot does, so by default
      // it is never picked there.
      if (message <= oneshot_max_bytes_) return AllReduceAlgo::kOneShot;
      return two_fits ? AllReduceAlgo::kTwoShot : AllReduceAlgo::kPipelined;
  }
}

const char* algo_name(AllReduceAlgo algo) {
  switch (algo) {
    case AllReduceAlgo::kOneShot:
      return "one-shot LL";
    case AllReduceAlgo::kTwoShot:
      return "two-shot LL";
    case AllReduceAlgo::kPipelined:
      return "pipelined";
    default:
      return "auto";
  }
}

void Engine::enqueue_p2p(std::span<const Call> calls) {
  if (calls.empty()) return;
  DeviceScope scope(comm_.cuda_device);
  cudaStream_t stream = calls.front().stream;
  for (const Call& c : calls)
    if (c.stream != stream)
      throw_error(tdmInvalidUsage, "sends and receives of one group on one communicator must ",
                  "use the same stream on CUDA buffers");
  P2pArgs args{};
  args.channels = p2p_channels_;
  std::vector<const Call*> self_sends, self_recvs;
  for (const Call& c : calls) {
    const size_t bytes = c.count * type_size(c.type);
    if (c.root == comm_.rank) {
      (c.kind == CallKind::kSend ? self_sends : self_recvs).push_back(&c);
      continue;
    }
    if (bytes == 0) continue;
    if (args.nops == kMaxP2pOps)
      throw_error(tdmInvalidUsage, "more than ", kMaxP2pOps,
                  " sends and receives to other ranks in one group on CUDA buffers");
    P2pOp& op = args.ops[args.nops++];
    op.peer = c.root;
    op.is_send = c.kind == CallKind::kSend;
    op.buffer = static_cast<char*>(c.kind == CallKind::kSend ? const_cast<void*>(c.send) : c.recv);
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
#endif
