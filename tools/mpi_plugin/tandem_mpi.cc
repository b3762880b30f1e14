// Tandem's MPI plugin: the two MPI services tdmCommInitWorld needs under
// mpirun, in a separate library so libtandem does not link MPI.
#include <mpi.h>

#include <cstdlib>

namespace {
void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}
}  // namespace

extern "C" __attribute__((visibility("default"))) int tandem_mpi_world(int* rank, int* size) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) {
    if (MPI_Init(nullptr, nullptr) != MPI_SUCCESS) return 1;
    // mpirun treats a process that exits without MPI_Finalize as failed.
    std::atexit(finalize_at_exit);
  }
  if (MPI_Comm_rank(MPI_COMM_WORLD, rank) != MPI_SUCCESS) return 1;
  if (MPI_Comm_size(MPI_COMM_WORLD, size) != MPI_SUCCESS) return 1;
  return 0;
}

extern "C" __attribute__((visibility("default"))) int tandem_mpi_bcast(void* data, int bytes,
                                                                       int root) {
  return MPI_Bcast(data, bytes, MPI_BYTE, root, MPI_COMM_WORLD) == MPI_SUCCESS ? 0 : 1;
}
