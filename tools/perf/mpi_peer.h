// MPI as the peer library of the host-memory comparison (-M 1): the session
// (MPI_Init before tdmCommInitWorld, MPI_Finalize at the end) and MPI's
// names for Tandem's types and ops. Only built with TANDEM_PERF_HAVE_MPI.
#ifndef TANDEM_TOOLS_PERF_MPI_PEER_H_
#define TANDEM_TOOLS_PERF_MPI_PEER_H_

#if TANDEM_PERF_HAVE_MPI

#include <mpi.h>
#include <tandem/tandem.h>

namespace tandem::perf {

// Launched by mpirun (OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK set).
bool launchedByMpirun();

class MpiSession {
 public:
  explicit MpiSession(bool want) {
    if (!want) return;
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) {
      MPI_Init(nullptr, nullptr);
      owned_ = true;
    }
    active_ = true;
  }
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  ~MpiSession() {
    int finalized = 0;
    if (owned_ && (MPI_Finalized(&finalized), !finalized)) MPI_Finalize();
  }
  bool active() const { return active_; }

 private:
  bool active_ = false;
  bool owned_ = false;
};

// MPI's type for reductions; false for types MPI lacks.
bool mpiTypeOf(tdmDataType_t t, MPI_Datatype* out);
// MPI's op for sum, prod, max and min; false for the others.
bool mpiOpOf(int op, MPI_Op* out);
// Throws PerfError with MPI's error string.
void checkMpi(int rc, const char* what);

}  // namespace tandem::perf

#endif  // TANDEM_PERF_HAVE_MPI

#endif  // TANDEM_TOOLS_PERF_MPI_PEER_H_
