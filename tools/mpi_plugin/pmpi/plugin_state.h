// What the MPI plugin keeps between calls: its settings, the Tandem
// communicator of each MPI communicator (cached on the communicator as an MPI
// attribute, so every way a communicator is freed drops it), the mapping of
// MPI datatypes and ops to Tandem's, and the per-call counts it reports at
// MPI_Finalize under TANDEM_DEBUG=INFO.
#pragma once

#include <mpi.h>

#include <cstddef>
#include <string>

#include "tandem/tandem.h"

namespace tdm_pmpi {

// The collectives the plugin intercepts (the report's rows).
enum class Coll {
  kAllreduce,
  kAllgather,
  kReduceScatterBlock,
  kReduceScatter,
  kAlltoall,
  kBcast,
  kReduce,
  kGather,
  kScatter,
  kBarrier,
  kCount
};

// Where a call went: the first three carried or staged by the plugin, the
// rest passed to MPI unchanged, each for one reason.
enum class Route {
  kTandemHost,       // Tandem, host buffers
  kTandemCuda,       // Tandem, CUDA buffers (on the plugin's stream, waited for)
  kStagedHost,       // TANDEM_PMPI_STAGE=host: CUDA buffers copied to host for MPI
  kPassNotInit,      // before MPI_Init or after MPI_Finalize, or the plugin is off
  kPassIntercomm,    // an intercommunicator (or MPI_COMM_NULL)
  kPassDatatype,     // not a predefined contiguous datatype, or none Tandem reduces
  kPassOp,           // not MPI_SUM/PROD/MAX/MIN
  kPassCount,        // a negative count, or sizes that overflow
  kPassMixedMemory,  // host and CUDA buffers in one call
  kPassArguments,    // arguments MPI must judge (send and receive sizes differ, bad root)
  kCount
};

struct Settings {
  bool stage_host = false;  // TANDEM_PMPI_STAGE=host
  bool set_device = true;   // TANDEM_PMPI_DEVICE=local (default) or keep
  bool report = false;      // TANDEM_DEBUG=INFO or TRACE
};

// After PMPI_Init: reads the settings (a bad value stops the job with a
// sentence naming it), creates the attribute key, and with CUDA devices and
// TANDEM_PMPI_DEVICE=local makes device (node-local rank % devices) current.
void initialize();
// Before PMPI_Finalize: prints the report (TANDEM_DEBUG=INFO) and destroys
// every Tandem communicator; the plugin passes every later call to MPI.
void finalize();
bool active();
const Settings& settings();

// The plugin's view of an MPI communicator; the Tandem communicator is
// created at the first call that needs it (collective over `comm`: rank 0's
// tdmGetUniqueId is broadcast with PMPI_Bcast).
struct CommEntry {
  int rank = 0;
  int size = 0;
  bool inter = false;
  tdmComm_t tdm = nullptr;
};
// Null for MPI_COMM_NULL.
CommEntry* entry_of(MPI_Comm comm);
// The Tandem communicator of `entry` (created now if needed); tdmSuccess or
// the error with its sentence in `error`.
tdmResult_t tandem_comm(MPI_Comm comm, CommEntry& entry, std::string* error);

// A predefined datatype whose elements lie back to back: its size in bytes,
// and the Tandem type that reduces it like MPI does (-1 if none).
struct TypeFacts {
  size_t size = 0;
  int tdm_type = -1;
};
bool contiguous_type(MPI_Datatype type, TypeFacts* facts);
// MPI_SUM, MPI_PROD, MPI_MAX, MPI_MIN; -1 for the others.
int tandem_op(MPI_Op op);

void count(Coll coll, Route route);
enum class CommCall { kSplit, kDup, kFree };
void count_comm_call(CommCall call);

}  // namespace tdm_pmpi
