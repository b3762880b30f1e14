// How a device buffer can be shared with processes of the same host: the
// description tdmCommRegister keeps and windows exchange.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tdm::mem {

struct Export {
  enum Kind : int32_t { kVmm = 0, kIpc = 1 } kind;
  uintptr_t base;  // start of the underlying allocation
  size_t span;     // its size
  size_t offset;   // of the buffer inside it
  unsigned long long vmm_handle;
};
// Throws tdmInvalidArgument when `buff` is not CUDA device memory or the
// buffer runs past its allocation.
Export describe(const void* buff, size_t size);

}  // namespace tdm::mem
