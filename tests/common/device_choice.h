// Which GPU a process drives: one process per GPU (or several per GPU when
// there are more local ranks than GPUs), chosen from the local rank the
// launcher exports. Read in this order, the first set to a non-negative
// integer wins (a variable set to anything else is skipped):
//   TANDEM_LOCAL_RANK            tandemrun, or set by hand
//   LOCAL_RANK                   torchrun
//   OMPI_COMM_WORLD_LOCAL_RANK   Open MPI's mpirun
//   MPI_LOCALRANKID              MPICH / Intel MPI (Hydra)
//   SLURM_LOCALID                srun
// and 0 when none is. The device is local_rank % device_count.
#ifndef TANDEM_TESTS_COMMON_DEVICE_CHOICE_H_
#define TANDEM_TESTS_COMMON_DEVICE_CHOICE_H_

#include <string>

#if defined(__CUDACC__) || defined(TANDEM_HAVE_CUDA)
#include <cuda_runtime_api.h>
#endif

namespace tdm::test {

inline constexpr const char* kLocalRankVariables[] = {"TANDEM_LOCAL_RANK", "LOCAL_RANK",
                                                      "OMPI_COMM_WORLD_LOCAL_RANK",
                                                      "MPI_LOCALRANKID", "SLURM_LOCALID"};

// This process's local rank from the environment (see above).
int local_rank();

// The device of this process among `device_count` (> 0) devices.
inline int device_for_local_rank(int device_count) { return local_rank() % device_count; }

#if defined(__CUDACC__) || defined(TANDEM_HAVE_CUDA)
// Makes this process's GPU current (before any communicator exists: the
// communicator binds to the current device) and returns it; -1 with the
// reason in `error` when there is no device or cudaSetDevice fails.
inline int choose_device(std::string* error = nullptr) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    cudaGetLastError();  // a missing driver's error would stick to later calls
    if (error) {
      *error = e != cudaSuccess ? std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e)
                                : "no CUDA device is visible";
    }
    return -1;
  }
  const int device = device_for_local_rank(count);
  e = cudaSetDevice(device);
  if (e != cudaSuccess) {
    if (error)
      *error = "cudaSetDevice(" + std::to_string(device) + ") failed: " + cudaGetErrorString(e);
    return -1;
  }
  return device;
}
#endif

}  // namespace tdm::test

#endif  // TANDEM_TESTS_COMMON_DEVICE_CHOICE_H_
