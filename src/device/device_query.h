// Where a buffer lives: host memory runs on the CPU engine, CUDA memory on the
// CUDA engine. Detected with cudaPointerGetAttributes when CUDA devices exist.
#pragma once

namespace tdm::device {

enum class MemoryType { kHost, kCuda };

MemoryType memory_type(const void* ptr);
// Number of CUDA devices visible (0 without CUDA or without a GPU).
int cuda_device_count();
// The calling thread's current CUDA device, or -1.
int current_cuda_device();
// Makes `device` current for the calling thread (no-op without CUDA devices).
void set_cuda_device(int device);
// PCI bus id ("0000:1b:00.0", lower case) of the current CUDA device into
// `out`; an empty string without one.
void cuda_device_busid(char* out, int size);

}  // namespace tdm::device
