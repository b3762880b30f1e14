// The GPU tests' world: this process's GPU chosen from its local rank
// (device_choice.h), then the world communicator created on it with
// tdmCommInitWorld (mpirun, tandemrun or torchrun-style environments).
// Header-only; compiled by nvcc in the GPU tests.
#ifndef TANDEM_TESTS_COMMON_WORLD_H_
#define TANDEM_TESTS_COMMON_WORLD_H_

#include <cuda_runtime_api.h>

#include <cstdio>
#include <string>

#include "tandem/tandem.h"
#include "tests/common/device_choice.h"

namespace tdm::test {

struct GpuWorld {
  tdmComm_t comm = nullptr;
  int rank = 0;
  int size = 1;
  int device = -1;  // this process's GPU
  int devices = 0;  // GPUs visible
};

// False, with the reason on stderr, when there is no GPU or the communicator
// cannot be created. `program` names the binary in the messages.
inline bool init_gpu_world(const char* program, GpuWorld* world) {
  if (cudaGetDeviceCount(&world->devices) != cudaSuccess || world->devices == 0) {
    std::fprintf(stderr, "%s needs a GPU\n", program);
    return false;
  }
  std::string why;
  world->device = choose_device(&why);
  if (world->device < 0) {
    std::fprintf(stderr, "%s: %s\n", program, why.c_str());
    return false;
  }
  if (tdmCommInitWorld(&world->comm, nullptr) != tdmSuccess) {
    std::fprintf(stderr, "tdmCommInitWorld failed: %s\n", tdmGetLastError(nullptr));
    return false;
  }
  tdmCommUserRank(world->comm, &world->rank);
  tdmCommCount(world->comm, &world->size);
  return true;
}

}  // namespace tdm::test

#endif  // TANDEM_TESTS_COMMON_WORLD_H_
