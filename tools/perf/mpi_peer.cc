// MPI as the peer library on host memory; see mpi_peer.h.
#include "mpi_peer.h"

#if TANDEM_PERF_HAVE_MPI

#include <cstdlib>
#include <string>

#include "resources.h"

namespace tandem::perf {

bool launchedByMpirun() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"}) {
    if (std::getenv(v)) return true;
  }
  return false;
}

bool mpiTypeOf(tdmDataType_t t, MPI_Datatype* out) {
  switch (t) {
    case tdmInt8:
      *out = MPI_INT8_T;
      return true;
    case tdmUint8:
      *out = MPI_UINT8_T;
      return true;
    case tdmInt32:
      *out = MPI_INT32_T;
      return true;
    case tdmUint32:
      *out = MPI_UINT32_T;
      return true;
    case tdmInt64:
      *out = MPI_INT64_T;
      return true;
    case tdmUint64:
      *out = MPI_UINT64_T;
      return true;
    case tdmFloat:
      *out = MPI_FLOAT;
      return true;
    case tdmDouble:
      *out = MPI_DOUBLE;
      return true;
    default:
      return false;
  }
}

bool mpiOpOf(int op, MPI_Op* out) {
  switch (op) {
    case tdmSum:
      *out = MPI_SUM;
      return true;
    case tdmProd:
      *out = MPI_PROD;
      return true;
    case tdmMax:
      *out = MPI_MAX;
      return true;
    case tdmMin:
      *out = MPI_MIN;
      return true;
    default:
      return false;
  }
}

void checkMpi(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw PerfError(std::string("MPI failure in ") + what + ": " + std::string(text, len));
}
}  // namespace tandem::perf

#endif  // TANDEM_PERF_HAVE_MPI
