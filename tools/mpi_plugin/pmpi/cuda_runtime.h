// The CUDA runtime as the MPI plugin uses it, loaded with dlopen at first use:
// the plugin is preloaded into programs that may have no GPU and no CUDA
// (CI, host-only clusters), so it must not need libcudart to load. When the
// process already has a libcudart (the program's or libtandem's), that copy
// is used, so the plugin sees the same device and the same streams.
//
// Only CUDA 11 and later runtimes (libcudart.so.11.0, .12, .13): their
// cudaPointerAttributes layout is the one declared in cuda_runtime.cc.
#pragma once

#include <cstddef>
#include <string>

#include "tandem/tandem.h"  // cudaStream_t without CUDA's headers

namespace tdm_pmpi {

class Cuda {
 public:
  // The process's runtime, loaded on the first call (thread-safe).
  static Cuda& get();

  // Visible devices; 0 without libcudart, a driver or a GPU.
  int device_count() const { return device_count_; }
  // Whether `ptr` is CUDA device or managed memory (false without devices).
  bool is_device(const void* ptr) const;
  // cudaSetDevice; false with the reason in `error`.
  bool set_device(int device, std::string* error);

  // The plugin's stream (created on the current device at first use): every
  // CUDA collective and copy of the plugin runs on it, and the plugin waits
  // for it before returning, as MPI calls are blocking. Created blocking with
  // respect to the legacy default stream, so work the program queued there
  // before the MPI call is ordered before the collective.
  cudaStream_t stream(std::string* error);
  // Queues a copy of `bytes` (any direction) on stream().
  bool copy(void* dst, const void* src, size_t bytes, std::string* error);
  bool synchronize(std::string* error);

  // Pinned host memory and device memory; nullptr with the reason in `error`.
  void* host_alloc(size_t bytes, std::string* error);
  void host_free(void* ptr);
  void* device_alloc(size_t bytes, std::string* error);
  void device_free(void* ptr);

  // Destroys the stream (at MPI_Finalize).
  void release();

  Cuda(const Cuda&) = delete;
  Cuda& operator=(const Cuda&) = delete;

 private:
  Cuda();
  struct Api;
  bool check(int code, const char* call, std::string* error) const;

  void* handle_ = nullptr;
  const Api* api_ = nullptr;
  int device_count_ = 0;
  cudaStream_t stream_ = nullptr;
};

// A CUDA buffer reused across calls and grown as needed: pinned host memory
// (host staging) or device memory (scratch of the CUDA collectives). Freed by
// release() or at destruction.
class Scratch {
 public:
  enum class Kind { kPinnedHost, kDevice };
  explicit Scratch(Kind kind) : kind_(kind) {}
  ~Scratch() { release(); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  // At least `bytes` bytes (nullptr with the reason in `error`).
  void* get(size_t bytes, std::string* error);
  void release();

 private:
  Kind kind_;
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace tdm_pmpi
