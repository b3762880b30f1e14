// Makes a CUDA device current for a scope and restores the previous one: the
// engine may be called from a thread whose current device differs from the
// communicator's.
#pragma once

#include <cuda_runtime_api.h>

#include "device/driver.h"

namespace tdm::device {

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
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int previous_ = -1;
};

}  // namespace tdm::device
