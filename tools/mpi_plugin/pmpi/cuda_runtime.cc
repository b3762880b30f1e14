#include "cuda_runtime.h"

#include <dlfcn.h>

#include <cstdint>
#include <type_traits>

namespace tdm_pmpi {
namespace {

// The CUDA 11+ runtime's declarations the plugin needs (cudaError_t is an
// int-sized enum; 0 is cudaSuccess).
constexpr int kCudaMemcpyDefault = 4;
constexpr int kCudaMemoryTypeDevice = 2;
constexpr int kCudaMemoryTypeManaged = 3;
struct PointerAttributes {
  int type;
  int device;
  void* device_pointer;
  void* host_pointer;
  // Room for fields a later runtime may append; the runtime writes only its own.
  unsigned char reserved[64];
};

}  // namespace

struct Cuda::Api {
  int (*get_device_count)(int*);
  int (*set_device)(int);
  int (*pointer_get_attributes)(PointerAttributes*, const void*);
  int (*get_last_error)();
  const char* (*get_error_string)(int);
  int (*stream_create)(cudaStream_t*);
  int (*stream_destroy)(cudaStream_t);
  int (*stream_synchronize)(cudaStream_t);
  int (*memcpy_async)(void*, const void*, size_t, int, cudaStream_t);
  int (*malloc_host)(void**, size_t);
  int (*free_host)(void*);
  int (*malloc_device)(void**, size_t);
  int (*free_device)(void*);
};

Cuda& Cuda::get() {
  static Cuda cuda;
  return cuda;
}

Cuda::Cuda() {
  static Api api{};
  // A copy already in the process first (RTLD_NOLOAD), then any on the path.
  // RTLD_NODELETE: the runtime registers exit handlers that must stay mapped.
  const char* names[] = {"libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0", "libcudart.so"};
  for (int pass = 0; pass < 2 && !handle_; ++pass)
    for (const char* name : names) {
      const int flags = RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE | (pass == 0 ? RTLD_NOLOAD : 0);
      if ((handle_ = dlopen(name, flags))) break;
    }
  if (!handle_) return;
  bool all = true;
  auto bind = [&](auto& fn, const char* symbol) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(handle_, symbol));
    all = all && fn != nullptr;
  };
  bind(api.get_device_count, "cudaGetDeviceCount");
  bind(api.set_device, "cudaSetDevice");
  bind(api.pointer_get_attributes, "cudaPointerGetAttributes");
  bind(api.get_last_error, "cudaGetLastError");
  bind(api.get_error_string, "cudaGetErrorString");
  bind(api.stream_create, "cudaStreamCreate");
  bind(api.stream_destroy, "cudaStreamDestroy");
  bind(api.stream_synchronize, "cudaStreamSynchronize");
  bind(api.memcpy_async, "cudaMemcpyAsync");
  bind(api.malloc_host, "cudaMallocHost");
  bind(api.free_host, "cudaFreeHost");
  bind(api.malloc_device, "cudaMalloc");
  bind(api.free_device, "cudaFree");
  if (!all) return;
  api_ = &api;
  int count = 0;
  if (api.get_device_count(&count) != 0) {
    api.get_last_error();  // no driver or no device: clear the sticky error
    count = 0;
  }
  device_count_ = count;
}

bool Cuda::check(int code, const char* call, std::string* error) const {
  if (code == 0) return true;
  if (error) *error = std::string(call) + " failed: " + api_->get_error_string(code);
  api_->get_last_error();
  return false;
}

bool Cuda::is_device(const void* ptr) const {
  if (device_count_ == 0 || ptr == nullptr) return false;
  PointerAttributes attributes{};
  if (api_->pointer_get_attributes(&attributes, ptr) != 0) {
    api_->get_last_error();  // a pointer CUDA does not know: host memory
    return false;
  }
  return attributes.type == kCudaMemoryTypeDevice || attributes.type == kCudaMemoryTypeManaged;
}

bool Cuda::set_device(int device, std::string* error) {
  if (device_count_ == 0) {
    if (error) *error = "no CUDA device";
    return false;
  }
  return check(api_->set_device(device), "cudaSetDevice", error);
}

cudaStream_t Cuda::stream(std::string* error) {
  if (!stream_ && device_count_ > 0 &&
      !check(api_->stream_create(&stream_), "cudaStreamCreate", error))
    stream_ = nullptr;
  return stream_;
}

bool Cuda::copy(void* dst, const void* src, size_t bytes, std::string* error) {
  if (bytes == 0) return true;
  cudaStream_t s = stream(error);
  if (!s) return false;
  return check(api_->memcpy_async(dst, src, bytes, kCudaMemcpyDefault, s), "cudaMemcpyAsync",
               error);
}

bool Cuda::synchronize(std::string* error) {
  cudaStream_t s = stream(error);
  return s && check(api_->stream_synchronize(s), "cudaStreamSynchronize", error);
}

void* Cuda::host_alloc(size_t bytes, std::string* error) {
  void* ptr = nullptr;
  if (device_count_ == 0 || !check(api_->malloc_host(&ptr, bytes), "cudaMallocHost", error))
    return nullptr;
  return ptr;
}

void Cuda::host_free(void* ptr) {
  if (ptr && api_) api_->free_host(ptr);
}

void* Cuda::device_alloc(size_t bytes, std::string* error) {
  void* ptr = nullptr;
  if (device_count_ == 0 || !check(api_->malloc_device(&ptr, bytes), "cudaMalloc", error))
    return nullptr;
  return ptr;
}

void Cuda::device_free(void* ptr) {
  if (ptr && api_) api_->free_device(ptr);
}

void Cuda::release() {
  if (stream_) api_->stream_destroy(stream_);
  stream_ = nullptr;
}

void* Scratch::get(size_t bytes, std::string* error) {
  if (bytes <= bytes_ && ptr_) return ptr_;
  release();
  // Grow by at least half again, so a sweep of rising sizes reallocates
  // a logarithmic number of times.
  const size_t want = bytes < SIZE_MAX / 2 ? bytes + bytes / 2 : bytes;
  Cuda& cuda = Cuda::get();
  ptr_ = kind_ == Kind::kPinnedHost ? cuda.host_alloc(want, error) : cuda.device_alloc(want, error);
  bytes_ = ptr_ ? want : 0;
  return ptr_;
}

void Scratch::release() {
  if (!ptr_) return;
  Cuda& cuda = Cuda::get();
  if (kind_ == Kind::kPinnedHost)
    cuda.host_free(ptr_);
  else
    cuda.device_free(ptr_);
  ptr_ = nullptr;
  bytes_ = 0;
}

}  // namespace tdm_pmpi
