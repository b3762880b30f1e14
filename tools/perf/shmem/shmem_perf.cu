// shmem_perf: bandwidth and latency of Tandem's SHMEM device API
// (tandem/device/shmem.cuh) between two PEs, after NVSHMEM's perftest
// (shmem_put_bw, shmem_get_bw, shmem_put_latency, shmem_signal ping-pong), with
// the copy engine (cudaMemcpyAsync between the same heaps) as baseline.
//
//   mpirun -np 2 build/bin/shmem_perf [-b 8] [-e 1G] [-f 2] [-t all] ...
//
// PE 0 is active, PE 1 the target (and the echo of the ping-pong); only PE 0
// prints. Every row: a warmup run, then -r timed batches on one stream, each
// one kernel looping over its iterations between two CUDA events; the row
// shows the median batch. Looping inside the kernel spreads the launch over
// the iterations; bandwidth batches are capped at 4 GiB so large sizes stay
// quick. Every bandwidth transfer is checked: the destination is poisoned
// before it and compared with the expected pattern (and the untouched guard
// bytes after it) once a barrier has made the data visible.
//
// Bandwidth iterations rotate over regions (see Rotation): repeating one
// transfer would read the same peer bytes every time, and from 128 KiB to a
// few MiB those plain loads then hit in the caches (get_bw showed 3300 GB/s
// over a ~400 GB/s NVLink), measuring the cache rather than the interconnect.
#include <cuda_runtime.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "device.h"
#include "kernels.cuh"
#include "options.h"
#include "report.h"
#include "shmem_options.h"
#include "tandem/device/shmem.cuh"
#include "tandem/shmem.h"
#include "tandem/tandem.h"
#include "tests/common/device_choice.h"

namespace {

using namespace shmem_perf;
namespace cu = tandem::perf::cuda;
using tandem::perf::median;

constexpr int kHelperThreads = 256;               // fill and check kernels
constexpr size_t kHeapReserve = size_t(1) << 20;  // left free of the heap for the small buffers

int g_rank = -1;             // for error messages; set once the communicator exists
int g_cleanup_failures = 0;  // failures in destructors, which cannot throw

// ---- errors ----

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }

std::string last_error(tdmComm_t comm) {
  const char* text = tdmGetLastError(comm);
  return text && *text ? text : "(no detail)";
}

void tdm_check(tdmResult_t r, const char* call, tdmComm_t comm) {
  if (r != tdmSuccess)
    fail(std::string(call) + " failed: " + tdmGetErrorString(r) + ": " + last_error(comm));
}
#define TDMCHECK(call, comm) tdm_check((call), #call, (comm))

// Launch errors (bad configuration) show at once; faults at the next synchronize.
void launched(const char* kernel) { cu::check(cudaGetLastError(), kernel); }

// ---- owned resources ----

// The world communicator. Torn down collectively on a normal exit; after an
// error only locally (the other PE may be anywhere), reporting a device wait
// that timed out, which is what usually causes such an error.
class World {
 public:
  World() {
    TDMCHECK(tdmCommInitWorld(&comm_, nullptr), nullptr);
    TDMCHECK(tdmCommUserRank(comm_, &rank_), comm_);
    TDMCHECK(tdmCommCount(comm_, &size_), comm_);
  }
  World(const World&) = delete;
  World& operator=(const World&) = delete;
  ~World() {
    if (std::uncaught_exceptions() > 0) {
      tdmResult_t async = tdmSuccess;
      if (tdmCommGetAsyncError(comm_, &async) == tdmSuccess && async != tdmSuccess)
        std::fprintf(stderr, "shmem_perf: PE %d: communicator error: %s\n", rank_,
                     last_error(comm_).c_str());
      tdmCommAbort(comm_);
    } else if (tdmCommDestroy(comm_) != tdmSuccess) {
      std::fprintf(stderr, "shmem_perf: PE %d: tdmCommDestroy failed: %s\n", rank_,
                   last_error(comm_).c_str());
      ++g_cleanup_failures;
    }
  }
  tdmComm_t get() const { return comm_; }
  int rank() const { return rank_; }
  int size() const { return size_; }

 private:
  tdmComm_t comm_ = nullptr;
  int rank_ = 0, size_ = 1;
};

// One tdmShmemMalloc allocation. The free is collective too: skipped while
// unwinding after an error, as the other PE may never reach it (process exit
// releases the memory).
class Symmetric {
 public:
  Symmetric(tdmComm_t comm, size_t bytes) : comm_(comm) {
    if (tdmShmemMalloc(comm, bytes, &ptr_) != tdmSuccess)
      fail("tdmShmemMalloc(" + std::to_string(bytes) + " bytes) failed: " + last_error(comm) +
           " (TANDEM_SYMMETRIC_SIZE sets the heap per PE; -e lowers the need)");
  }
  Symmetric(const Symmetric&) = delete;
  Symmetric& operator=(const Symmetric&) = delete;
  ~Symmetric() {
    if (!ptr_ || std::uncaught_exceptions() > 0) return;
    if (tdmShmemFree(comm_, ptr_) != tdmSuccess) {
      std::fprintf(stderr, "shmem_perf: PE %d: tdmShmemFree failed: %s\n", g_rank,
                   last_error(comm_).c_str());
      ++g_cleanup_failures;
    }
  }
  template <typename T = char>
  T* get() const {
    return static_cast<T*>(ptr_);
  }

 private:
  tdmComm_t comm_;
  void* ptr_ = nullptr;
};

struct Control {
  uint64_t signal;            // the ping-pong's signal word
  unsigned long long errors;  // check_kernel's count
};

struct DeviceInfo {  // exchanged for the header
  char name[sizeof(cudaDeviceProp::name)];
  char bus[32];
  int sms;
  int device;
};

// ---- the benchmark ----

tdmShmemDevice_t device_handle(tdmComm_t comm) {
  tdmShmemDevice_t sh{};
  TDMCHECK(tdmShmemGetDevice(comm, &sh), comm);
  return sh;
}

// What each of a and b may take of the heap for rotating regions: half of
// it, less a reserve for the small buffers (a larger -e needs more anyway).
size_t rotation_cap(const tdmShmemDevice_t& sh) {
  return sh.heap_size > kHeapReserve ? (sh.heap_size - kHeapReserve) / 2 / kAlign * kAlign : 0;
}

class Bench {
 public:
  Bench(const World& world, const Options& opt, int device)
      : comm_(world.get()),
        me_(world.rank()),
        peer_(1 - world.rank()),
        opt_(opt),
        sh_(device_handle(comm_)),
        rotation_cap_(rotation_cap(sh_)),
        buffer_bytes_(buffer_bytes_for(opt, rotation_cap_)),
        a_(comm_, buffer_bytes_),
        b_(comm_, buffer_bytes_),
        control_(comm_, sizeof(Control)),
        starts_(std::make_unique<cu::Event[]>(opt.batches)),
        stops_(std::make_unique<cu::Event[]>(opt.batches)) {
    TDMCHECK(tdmShmemPtr(comm_, a_.get(), peer_, reinterpret_cast<void**>(&peer_a_)), comm_);
    TDMCHECK(tdmShmemPtr(comm_, b_.get(), peer_, reinterpret_cast<void**>(&peer_b_)), comm_);
    if (!peer_a_ || !peer_b_)
      fail("PE " + std::to_string(peer_) +
           " is not load/store reachable (another host?): the device API needs both PEs on one "
           "host");
    CUDACHECK(cudaDeviceGetAttribute(&sms_, cudaDevAttrMultiProcessorCount, device));
    blocks_ = opt.blocks ? opt.blocks : sms_;
    helper_blocks_ = 4 * sms_;
    CUDACHECK(cudaMemsetAsync(control_.get(), 0, sizeof(Control), stream_.get()));
    barrier();  // the signal word is zero everywhere before the first ping
    stream_.synchronize();
    print_header(device);
  }

  // The selected tests, in kTests order; false if a transfer arrived wrong.
  bool run() {
    if (opt_.wants("put_bw")) bandwidth(false);
    if (opt_.wants("get_bw")) bandwidth(true);
    if (opt_.wants("ce_bw")) copy_engine();
    if (opt_.wants("put_lat")) latency(false);
    if (opt_.wants("get_lat")) latency(true);
    if (opt_.wants("signal_lat")) signal();
    if (checks_) {
      if (failures_)
        out("# check FAILED: %d of %d transfers arrived wrong\n", failures_, checks_);
      else
        out("# check: all %d transfers arrived intact\n", checks_);
    }
    return failures_ == 0;
  }

 private:
  [[gnu::format(printf, 2, 3)]] void out(const char* format, ...) const {
    if (me_ != 0) return;
    va_list args;
    va_start(args, format);
    std::vprintf(format, args);
    va_end(args);
    std::fflush(stdout);  // rows appear as they are measured
  }

  cudaStream_t stream() const { return stream_.get(); }
  void barrier() const { TDMCHECK(tdmShmemBarrierOnStream(comm_, stream()), comm_); }
  int threads_of(Scope s) const {
    return s == Scope::kThread ? 1 : s == Scope::kWarp ? 32 : opt_.threads;
  }
  size_t groups_of(Scope s) const {
    const size_t threads = size_t(blocks_) * opt_.threads;
    return s == Scope::kThread ? threads : s == Scope::kWarp ? threads / 32 : size_t(blocks_);
  }
  Rotation rotation(size_t bytes) const { return rotation_for(opt_, rotation_cap_, bytes); }
  std::vector<size_t> latency_sizes() const {
    return sizes(opt_.min_bytes, std::min(opt_.max_bytes, opt_.lat_max), opt_.factor);
  }

  void print_header(int device) {
    DeviceInfo mine{};
    cudaDeviceProp prop{};
    CUDACHECK(cudaGetDeviceProperties(&prop, device));
    std::memcpy(mine.name, prop.name, sizeof(mine.name));
    mine.name[sizeof(mine.name) - 1] = '\0';
    CUDACHECK(cudaDeviceGetPCIBusId(mine.bus, sizeof(mine.bus), device));
    mine.sms = sms_;
    mine.device = device;
    std::array<DeviceInfo, 2> all{};
    TDMCHECK(tdmAllGather(&mine, all.data(), sizeof(mine), tdmUint8, comm_, nullptr), comm_);
    out("# %s\n", opt_.command.c_str());
    out("# PE 0: GPU %d %s (%s, %d SMs) -> PE 1: GPU %d %s (%s); heap %zu MiB per PE, %s\n",
        all[0].device, all[0].name, all[0].bus, all[0].sms, all[1].device, all[1].name, all[1].bus,
        sh_.heap_size >> 20,
        sh_.peer_stride ? "contiguous peer heaps (VMM)" : "peer table (CUDA IPC)");
    if (std::strcmp(all[0].bus, all[1].bus) == 0)
      out("# WARNING: both PEs share one GPU; numbers include time slicing\n");
    if (opt_.any_bandwidth()) {
      out("# bandwidth sizes %zu .. %zu B (x%zu), grid %d x %d threads\n", opt_.min_bytes,
          opt_.max_bytes, opt_.factor, blocks_, opt_.threads);
      out("# bandwidth rows rotate over regions so that no iteration finds its bytes in a cache: "
          "iteration i (warmup and batches counted on) moves region i %% n of source and "
          "destination, each region with its own pattern and all n checked; n covers %zu MiB "
          "where the row's iterations and the heap (%zu MiB for each of source and destination) "
          "allow\n",
          kRotateBytes >> 20, rotation_cap_ >> 20);
      std::string line = "# regions per size (size:n):";
      for (size_t bytes : sizes(opt_.min_bytes, opt_.max_bytes, opt_.factor)) {
        const std::string item =
            " " + std::to_string(bytes) + ":" + std::to_string(rotation(bytes).regions);
        if (line.size() + item.size() > 100) {
          out("%s\n", line.c_str());
          line = "#";
        }
        line += item;
      }
      out("%s\n", line.c_str());
    }
    if ((opt_.wants("put_lat") || opt_.wants("get_lat") || opt_.wants("signal_lat")) &&
        !latency_sizes().empty())
      out("# latency sizes %zu .. %zu B (x%zu), one thread, warp or block of %d threads\n",
          opt_.min_bytes, latency_sizes().back(), opt_.factor, opt_.threads);
    out("# each row: %d warmup iterations, then the median of %d batches of %d in-kernel "
        "iterations (bandwidth: at most 4 GiB per batch), timed by CUDA events\n",
        opt_.warmup, opt_.batches, opt_.iters);
  }

  // Median seconds of one batch: `prologue` (untimed) and `body(iters)`
  // enqueued on the stream per batch, after one warmup run of body(warmup).
  template <typename Prologue, typename Body>
  double median_seconds(Prologue&& prologue, Body&& body, int iters, int warmup) {
    if (warmup > 0) {
      prologue();
      body(warmup);
    }
    for (int k = 0; k < opt_.batches; ++k) {
      prologue();
      starts_[k].record(stream());
      body(iters);
      stops_[k].record(stream());
    }
    stops_[opt_.batches - 1].synchronize();
    std::vector<double> seconds(opt_.batches);
    for (int k = 0; k < opt_.batches; ++k) seconds[k] = stops_[k].secondsSince(starts_[k]);
    return median(seconds);
  }

  // Writes the pattern of `tag` into every region of `rot` in buf.
  void fill(char* buf, size_t bytes, const Rotation& rot, uint64_t tag) {
    fill_kernel<<<helper_blocks_, kHelperThreads, 0, stream()>>>(buf, bytes, rot.stride,
                                                                 rot.regions, tag);
    launched("fill_kernel");
  }

  // All PEs: `checker` compares its `buf` with the pattern of `tag`; everyone
  // learns the verdict, so the PEs stay in step whatever it is.
  bool verify(int checker, const char* buf, size_t bytes, const Rotation& rot, uint64_t tag) {
    unsigned long long mine = 0, total = 0;
    if (me_ == checker) {
      auto* errors = &control_.get<Control>()->errors;
      CUDACHECK(cudaMemsetAsync(errors, 0, sizeof(*errors), stream()));
      check_kernel<<<helper_blocks_, kHelperThreads, 0, stream()>>>(buf, bytes, rot.stride,
                                                                    rot.regions, tag, errors);
      launched("check_kernel");
      CUDACHECK(cudaMemcpyAsync(&mine, errors, sizeof(mine), cudaMemcpyDeviceToHost, stream()));
    }
    stream_.synchronize();
    TDMCHECK(tdmAllReduce(&mine, &total, 1, tdmUint64, tdmSum, comm_, nullptr), comm_);
    ++checks_;
    failures_ += total != 0;
    return total == 0;
  }

  // One checked transfer into `dest_pe`'s b (every region of `rot` in a holds
  // its pattern of `tag` on both PEs): b's regions are poisoned, PE 0 times
  // `body`, then `dest_pe` checks them all. Returns PE 0's median seconds (0
  // elsewhere) and the verdict.
  template <typename Body>
  std::pair<double, bool> transfer_into_b(int dest_pe, size_t bytes, const Rotation& rot,
                                          uint64_t tag, Body&& body) {
    if (me_ == dest_pe) CUDACHECK(cudaMemsetAsync(b_.get(), kPoison, rot.span(), stream()));
    barrier();  // poison and pattern in place on both PEs
    double seconds = 0;
    if (me_ == 0)
      seconds = median_seconds([] {}, body, capped(opt_.iters, bytes), capped(opt_.warmup, bytes));
    barrier();  // PE 0's transfers visible to PE 1
    return {seconds, verify(dest_pe, b_.get(), bytes, rot, tag)};
  }

  // put_bw / get_bw: PE 0 moves a -> PE 1's b (put) or PE 1's a -> its b (get).
  void bandwidth(bool get) {
    const char* name = get ? "get_bw" : "put_bw";
    out("#\n# %s: PE 0 %s with %s<scope> (blocking) or %s_nbi<scope> per iteration, quiet at "
        "the end; %zu threads, %zu warps or %d blocks each move a contiguous chunk; GB/s = 1e9 "
        "B/s\n",
        name, get ? "reads PE 1's heap" : "writes PE 1's heap", get ? "get" : "put",
        get ? "get" : "put", groups_of(Scope::kThread), groups_of(Scope::kWarp), blocks_);
    out("# %10s %8s", "size", "iters");
    for (const Variant& v : kVariants) out(" %11s", v.name);
    out("  check\n");
    auto& best = get ? best_get_ : best_put_;
    const int dest_pe = get ? 0 : 1;
    for (size_t bytes : sizes(opt_.min_bytes, opt_.max_bytes, opt_.factor)) {
      const uint64_t tag = ++tag_;
      const Rotation rot = rotation(bytes);
      fill(a_.get(), bytes, rot, tag);
      std::array<double, kVariants.size()> gbps{};
      std::string failed;
      for (size_t i = 0; i < kVariants.size(); ++i) {
        const Variant& v = kVariants[i];
        const BandwidthKernel kernel =
            get ? bandwidth_kernel_for<true>(v) : bandwidth_kernel_for<false>(v);
        const size_t groups = groups_of(v.scope);
        // 16-byte multiples keep every chunk on the copy's vector path.
        const size_t chunk = ((bytes + groups - 1) / groups + 15) / 16 * 16;
        size_t next = 0;  // the region the next iteration moves
        auto body = [&](int iters) {
          kernel<<<blocks_, opt_.threads, 0, stream()>>>(
              sh_, b_.get(), a_.get(), bytes, chunk, rot.stride, rot.regions, next, iters, peer_);
          launched(name);
          next = (next + size_t(iters)) % rot.regions;
        };
        const auto [seconds, ok] = transfer_into_b(dest_pe, bytes, rot, tag, body);
        if (me_ == 0) gbps[i] = double(bytes) * capped(opt_.iters, bytes) / seconds / 1e9;
        if (!ok) failed += failed.empty() ? v.name : std::string(",") + v.name;
      }
      best[bytes] = std::ranges::max(gbps);
      out("  %10zu %8d", bytes, capped(opt_.iters, bytes));
      for (double g : gbps) out(" %11.2f", g);
      out("  %s\n", failed.empty() ? "ok" : ("check failed: " + failed).c_str());
    }
  }

  // ce_bw: cudaMemcpyAsync on PE 0's stream between the same heap buffers.
  void copy_engine() {
    out("#\n# ce_bw: cudaMemcpyAsync on PE 0's stream (copy engine, one call per iteration), "
        "PE 0's a -> PE 1's b (ce_put) and PE 1's a -> PE 0's b (ce_get); ratio: best of "
        "put_bw (get_bw) at that size / CE\n");
    out("# %10s %8s %11s %8s %11s %8s  check\n", "size", "iters", "ce_put", "put/CE", "ce_get",
        "get/CE");
    auto ratio = [](const std::map<size_t, double>& best, size_t bytes, double ce) {
      char text[16] = "-";
      if (auto it = best.find(bytes); it != best.end() && ce > 0)
        std::snprintf(text, sizeof(text), "%.2f", it->second / ce);
      return std::string(text);
    };
    for (size_t bytes : sizes(opt_.min_bytes, opt_.max_bytes, opt_.factor)) {
      const uint64_t tag = ++tag_;
      const Rotation rot = rotation(bytes);
      fill(a_.get(), bytes, rot, tag);
      const int iters = capped(opt_.iters, bytes);
      // The copies rotate over the regions as the kernels do.
      auto copies = [&](char* dst, const char* src) {
        return [=, this, next = size_t(0)](int n) mutable {
          for (int i = 0; i < n; ++i, next = (next + 1) % rot.regions)
            CUDACHECK(cudaMemcpyAsync(dst + next * rot.stride, src + next * rot.stride, bytes,
                                      cudaMemcpyDefault, stream()));
        };
      };
      const auto [put_s, put_ok] = transfer_into_b(1, bytes, rot, tag, copies(peer_b_, a_.get()));
      const auto [get_s, get_ok] = transfer_into_b(0, bytes, rot, tag, copies(b_.get(), peer_a_));
      const double put = me_ == 0 ? double(bytes) * iters / put_s / 1e9 : 0;
      const double get = me_ == 0 ? double(bytes) * iters / get_s / 1e9 : 0;
      const char* check = put_ok && get_ok ? "ok"
                          : put_ok         ? "check failed: ce_get"
                          : get_ok         ? "check failed: ce_put"
                                           : "check failed: ce_put,ce_get";
      out("  %10zu %8d %11.2f %8s %11.2f %8s  %s\n", bytes, iters, put,
          ratio(best_put_, bytes, put).c_str(), get, ratio(best_get_, bytes, get).c_str(), check);
    }
  }

  // put_lat / get_lat: one group on PE 0, each transfer complete before the next.
  void latency(bool get) {
    out("#\n# %s: one thread, warp or block (%d threads) of PE 0; %s; microseconds per "
        "operation\n",
        get ? "get_lat" : "put_lat", opt_.threads,
        get ? "get<scope> per iteration (blocking: data in place on return)"
            : "put<scope> + quiet (every thread) per iteration");
    out("# %10s %8s %10s %10s %10s\n", "size", "iters", "thread", "warp", "block");
    for (size_t bytes : latency_sizes()) {
      barrier();  // PE 1 stays in step (and idle) row by row
      std::array<double, kScopes.size()> us{};
      if (me_ == 0) {
        for (size_t i = 0; i < kScopes.size(); ++i) {
          const LatencyKernel kernel =
              get ? latency_kernel_for<true>(kScopes[i]) : latency_kernel_for<false>(kScopes[i]);
          auto body = [&](int iters) {
            kernel<<<1, threads_of(kScopes[i]), 0, stream()>>>(sh_, b_.get(), a_.get(), bytes,
                                                               iters, peer_);
            launched(get ? "get_lat" : "put_lat");
          };
          us[i] = median_seconds([] {}, body, opt_.iters, opt_.warmup) / opt_.iters * 1e6;
        }
      }
      out("  %10zu %8d %10.3f %10.3f %10.3f\n", bytes, opt_.iters, us[0], us[1], us[2]);
    }
  }

  // signal_lat: ping-pong; both PEs run a kernel per batch, started together
  // by a barrier, and PE 0's events time it.
  void signal() {
    out("#\n# signal_lat: PE 0 put_signal<scope> -> PE 1 signal_wait_until, put_signal back -> "
        "PE 0 signal_wait_until (one thread, warp or block of %d threads on each PE); half "
        "round trip in microseconds; size 0: signal only\n",
        opt_.threads);
    out("# %10s %8s %10s %10s %10s\n", "size", "iters", "thread", "warp", "block");
    std::vector<size_t> list = latency_sizes();
    list.insert(list.begin(), 0);
    uint64_t* sig = &control_.get<Control>()->signal;
    for (size_t bytes : list) {
      std::array<double, kScopes.size()> us{};
      for (size_t i = 0; i < kScopes.size(); ++i) {
        const PingPongKernel kernel = pingpong_kernel_for(kScopes[i]);
        auto body = [&](int iters) {
          kernel<<<1, threads_of(kScopes[i]), 0, stream()>>>(sh_, b_.get(), a_.get(), bytes, sig,
                                                             signal_base_, iters, peer_, me_ == 0);
          launched("signal_lat");
          signal_base_ += static_cast<uint64_t>(iters);
        };
        us[i] = median_seconds([&] { barrier(); }, body, opt_.iters, opt_.warmup) / opt_.iters / 2 *
                1e6;
      }
      out("  %10zu %8d %10.3f %10.3f %10.3f\n", bytes, opt_.iters, us[0], us[1], us[2]);
    }
  }

  tdmComm_t comm_;
  int me_, peer_;
  const Options& opt_;
  tdmShmemDevice_t sh_;
  size_t rotation_cap_;  // bytes of a (and b) that rotating regions may span
  size_t buffer_bytes_;
  cu::Stream stream_;
  // a: sources (pattern), b: destinations, each buffer_bytes_ on every PE;
  // a bandwidth row uses rotation(size).span() of each.
  Symmetric a_, b_, control_;
  std::unique_ptr<cu::Event[]> starts_, stops_;
  char* peer_a_ = nullptr;  // the peer's a and b, mapped here (copy-engine test)
  char* peer_b_ = nullptr;
  int sms_ = 0, blocks_ = 0, helper_blocks_ = 0;
  uint64_t tag_ = 0;          // pattern of the current transfer (same on both PEs)
  uint64_t signal_base_ = 0;  // last signal value sent (same on both PEs)
  int checks_ = 0, failures_ = 0;
  std::map<size_t, double> best_put_, best_get_;  // GB/s per size, for the CE ratios
};

int run(int argc, char** argv) {
  // The GPU first: the communicator binds to the current device. One GPU per
  // PE by local rank (mpirun, tandemrun or torchrun style launchers).
  std::string why;
  const int device = tdm::test::choose_device(&why);
  if (device < 0) fail("CUDA device: " + why);

  World world;
  g_rank = world.rank();
  Options opt;
  try {
    opt = parse_options(argc, argv);
  } catch (const std::exception& e) {
    // Every PE parsed the same argv: all stop, only PE 0 explains.
    if (world.rank() == 0) std::fprintf(stderr, "shmem_perf: %s\n", e.what());
    return 2;
  }
  if (opt.help) {
    if (world.rank() == 0) std::fputs(kUsage, stdout);
    return 0;
  }
  if (world.size() != 2) {
    if (world.rank() == 0)
      std::fprintf(stderr, "shmem_perf: needs exactly 2 PEs (mpirun -np 2), got %d\n",
                   world.size());
    return 2;
  }
  bool ok = false;
  {
    Bench bench(world, opt, device);
    ok = bench.run();
  }  // frees the heap buffers (collective) before the communicator goes
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  int rc = 1;
  try {
    rc = run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "shmem_perf: PE %d: %s\n", g_rank, e.what());
    return 1;
  }
  return g_cleanup_failures ? 1 : rc;
}
