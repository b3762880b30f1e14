// Device queries of a build without CUDA: no devices, all memory is host memory.
#include "device/device_query.h"

namespace tdm::device {

int cuda_device_count() { return 0; }
int current_cuda_device() { return -1; }
void set_cuda_device(int) {}
void cuda_device_busid(char* out, int) { out[0] = '\0'; }
MemoryType memory_type(const void*) { return MemoryType::kHost; }

}  // namespace tdm::device
