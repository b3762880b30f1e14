#include "plugin_state.h"

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include "cuda_runtime.h"

namespace tdm_pmpi {
namespace {

constexpr std::array<const char*, static_cast<int>(Coll::kCount)> kCollNames = {
    "MPI_Allreduce",      "MPI_Allgather", "MPI_Reduce_scatter_block",
    "MPI_Reduce_scatter", "MPI_Alltoall",  "MPI_Bcast",
    "MPI_Reduce",         "MPI_Gather",    "MPI_Scatter",
    "MPI_Barrier"};
constexpr std::array<const char*, static_cast<int>(Route::kCount)> kRouteNames = {
    "tandem-host",  "tandem-cuda", "staged-host", "mpi-not-initialized", "mpi-intercomm",
    "mpi-datatype", "mpi-op",      "mpi-count",   "mpi-mixed-memory",    "mpi-arguments"};

struct State {
  std::atomic<bool> active{false};
  Settings settings;
  int keyval = MPI_KEYVAL_INVALID;
  int world_rank = 0;
  std::array<std::array<std::atomic<unsigned long long>, kRouteNames.size()>, kCollNames.size()>
      counts{};
  std::atomic<unsigned long long> splits{0}, dups{0}, frees{0}, created{0};
  // Entries in creation order: the finalize pass destroys in that order.
  std::mutex mutex;
  std::vector<CommEntry*> live;
};

State& state() {
  static State s;
  return s;
}

void drop_entry(CommEntry* entry) {
  State& s = state();
  {
    std::lock_guard lock(s.mutex);
    std::erase(s.live, entry);
  }
  if (entry->tdm) tdmCommDestroy(entry->tdm);
  delete entry;
}

// MPI calls this when the communicator is freed (MPI_Comm_free,
// MPI_Comm_disconnect, or MPI_Finalize for the predefined ones).
int delete_entry(MPI_Comm, int, void* value, void*) {
  drop_entry(static_cast<CommEntry*>(value));
  return MPI_SUCCESS;
}

[[noreturn]] void stop(const std::string& message) {
  std::fprintf(stderr, "tandem_pmpi: %s\n", message.c_str());
  PMPI_Abort(MPI_COMM_WORLD, 1);
  std::abort();
}

// `name`'s value among `choices` (the first is the default when unset or empty).
int env_choice(const char* name, std::initializer_list<const char*> choices) {
  const char* value = std::getenv(name);
  if (!value || !*value) return 0;
  int i = 0;
  std::string accepted;
  for (const char* c : choices) {
    if (std::strcmp(value, c) == 0) return i;
    accepted += (i ? ", " : "") + std::string(c);
    ++i;
  }
  stop(std::string(name) + "='" + value + "' is not one of: " + accepted);
}

int node_local_rank() {
  MPI_Comm node = MPI_COMM_NULL;
  int rank = 0;
  if (PMPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) !=
      MPI_SUCCESS)
    return 0;
  PMPI_Comm_rank(node, &rank);
  PMPI_Comm_free(&node);
  return rank;
}

enum class Kind { kSigned, kUnsigned, kFloat };
struct Known {
  MPI_Datatype type;
  Kind kind;
};

// The Tandem type that reduces `type` as MPI does, by kind and size.
int reduction_type(MPI_Datatype type, size_t size) {
  // Not MPI_CHAR or MPI_BYTE: MPI allows neither with the arithmetic ops.
  const Known known[] = {{MPI_SIGNED_CHAR, Kind::kSigned},
                         {MPI_INT8_T, Kind::kSigned},
                         {MPI_SHORT, Kind::kSigned},
                         {MPI_INT16_T, Kind::kSigned},
                         {MPI_INT, Kind::kSigned},
                         {MPI_INT32_T, Kind::kSigned},
                         {MPI_LONG, Kind::kSigned},
                         {MPI_LONG_LONG, Kind::kSigned},
                         {MPI_LONG_LONG_INT, Kind::kSigned},
                         {MPI_INT64_T, Kind::kSigned},
                         {MPI_UNSIGNED_CHAR, Kind::kUnsigned},
                         {MPI_UINT8_T, Kind::kUnsigned},
                         {MPI_UNSIGNED_SHORT, Kind::kUnsigned},
                         {MPI_UINT16_T, Kind::kUnsigned},
                         {MPI_UNSIGNED, Kind::kUnsigned},
                         {MPI_UINT32_T, Kind::kUnsigned},
                         {MPI_UNSIGNED_LONG, Kind::kUnsigned},
                         {MPI_UNSIGNED_LONG_LONG, Kind::kUnsigned},
                         {MPI_UINT64_T, Kind::kUnsigned},
                         {MPI_FLOAT, Kind::kFloat},
                         {MPI_DOUBLE, Kind::kFloat}};
  for (const Known& k : known) {
    if (k.type != type) continue;
    switch (k.kind) {
      case Kind::kSigned:
        return size == 1 ? tdmInt8 : size == 4 ? tdmInt32 : size == 8 ? tdmInt64 : -1;
      case Kind::kUnsigned:
        return size == 1 ? tdmUint8 : size == 4 ? tdmUint32 : size == 8 ? tdmUint64 : -1;
      case Kind::kFloat:
        return size == 4 ? tdmFloat32 : size == 8 ? tdmFloat64 : -1;
    }
  }
  return -1;  // 16-bit integers among them: Tandem has none
}

}  // namespace

void initialize() {
  State& s = state();
  s.settings.stage_host = env_choice("TANDEM_PMPI_STAGE", {"none", "host"}) == 1;
  s.settings.set_device = env_choice("TANDEM_PMPI_DEVICE", {"local", "keep"}) == 0;
  if (const char* debug = std::getenv("TANDEM_DEBUG"))
    s.settings.report = std::strcmp(debug, "INFO") == 0 || std::strcmp(debug, "TRACE") == 0;
  PMPI_Comm_rank(MPI_COMM_WORLD, &s.world_rank);
  // Not copied by MPI_Comm_dup: a duplicate gets its own Tandem communicator.
  if (PMPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, delete_entry, &s.keyval, nullptr) !=
      MPI_SUCCESS)
    stop("MPI_Comm_create_keyval failed");
  Cuda& cuda = Cuda::get();
  if (cuda.device_count() > 0 && s.settings.set_device) {
    // Before the program allocates: IMB-MPI1-GPU, for one, never picks a device.
    const int device = node_local_rank() % cuda.device_count();
    std::string error;
    if (!cuda.set_device(device, &error)) stop(error);
  }
  s.active = true;
}

void finalize() {
  State& s = state();
  if (!s.active.exchange(false)) return;
  if (s.settings.report) {
    std::string text;
    char line[512];
    for (size_t c = 0; c < kCollNames.size(); ++c) {
      unsigned long long total = 0;
      for (auto& n : s.counts[c]) total += n.load();
      if (total == 0) continue;
      int used =
          std::snprintf(line, sizeof(line), "tandem_pmpi: rank %d: %s calls %llu:", s.world_rank,
                        kCollNames[c], total);
      const char* sep = " ";
      for (size_t r = 0; r < kRouteNames.size(); ++r) {
        const unsigned long long n = s.counts[c][r].load();
        if (n == 0 || used >= static_cast<int>(sizeof(line))) continue;
        used +=
            std::snprintf(line + used, sizeof(line) - used, "%s%s %llu", sep, kRouteNames[r], n);
        sep = ", ";
      }
      text += line;
      text += '\n';
    }
    std::snprintf(line, sizeof(line),
                  "tandem_pmpi: rank %d: %llu Tandem communicators created; MPI_Comm_split %llu, "
                  "MPI_Comm_dup %llu, MPI_Comm_free %llu\n",
                  s.world_rank, s.created.load(), s.splits.load(), s.dups.load(), s.frees.load());
    text += line;
    std::fputs(text.c_str(), stderr);
  }
  // Destroy the Tandem communicators now (MPI may not delete the attributes
  // of MPI_COMM_WORLD); the entries go when MPI deletes the attributes.
  std::vector<CommEntry*> entries;
  {
    std::lock_guard lock(s.mutex);
    entries = s.live;
  }
  for (CommEntry* e : entries) {
    if (e->tdm) tdmCommDestroy(e->tdm);
    e->tdm = nullptr;
  }
}

bool active() { return state().active.load(std::memory_order_relaxed); }
const Settings& settings() { return state().settings; }

CommEntry* entry_of(MPI_Comm comm) {
  if (comm == MPI_COMM_NULL) return nullptr;
  State& s = state();
  void* value = nullptr;
  int found = 0;
  if (PMPI_Comm_get_attr(comm, s.keyval, &value, &found) != MPI_SUCCESS) return nullptr;
  if (found) return static_cast<CommEntry*>(value);
  auto* entry = new CommEntry;
  int inter = 0;
  PMPI_Comm_test_inter(comm, &inter);
  entry->inter = inter != 0;
  PMPI_Comm_rank(comm, &entry->rank);
  PMPI_Comm_size(comm, &entry->size);
  {
    std::lock_guard lock(s.mutex);
    s.live.push_back(entry);
  }
  if (PMPI_Comm_set_attr(comm, s.keyval, entry) != MPI_SUCCESS) {
    drop_entry(entry);
    return nullptr;
  }
  return entry;
}

tdmResult_t tandem_comm(MPI_Comm comm, CommEntry& entry, std::string* error) {
  if (entry.tdm) return tdmSuccess;
  tdmUniqueId id{};
  tdmResult_t result = entry.rank == 0 ? tdmGetUniqueId(&id) : tdmSuccess;
  // Every rank learns whether rank 0 got an id: a flag travels with the id.
  char ok = result == tdmSuccess ? 1 : 0;
  std::array<char, sizeof(id) + 1> message{};
  std::memcpy(message.data(), &id, sizeof(id));
  message[sizeof(id)] = ok;
  if (PMPI_Bcast(message.data(), static_cast<int>(message.size()), MPI_BYTE, 0, comm) !=
      MPI_SUCCESS) {
    *error = "MPI_Bcast of the Tandem unique id failed";
    return tdmSystemError;
  }
  if (!message[sizeof(id)]) {
    *error = std::string("tdmGetUniqueId failed on rank 0: ") + tdmGetLastError(nullptr);
    return result == tdmSuccess ? tdmRemoteError : result;
  }
  std::memcpy(&id, message.data(), sizeof(id));
  result = tdmCommInitRank(&entry.tdm, entry.size, id, entry.rank);
  if (result != tdmSuccess) {
    *error = std::string("tdmCommInitRank failed: ") + tdmGetLastError(nullptr);
    entry.tdm = nullptr;
    return result;
  }
  ++state().created;
  return tdmSuccess;
}

bool contiguous_type(MPI_Datatype type, TypeFacts* facts) {
  if (type == MPI_DATATYPE_NULL) return false;
  int integers = 0, addresses = 0, datatypes = 0, combiner = 0;
  if (PMPI_Type_get_envelope(type, &integers, &addresses, &datatypes, &combiner) != MPI_SUCCESS ||
      combiner != MPI_COMBINER_NAMED)
    return false;
  int size = 0;
  MPI_Aint lb = 0, extent = 0;
  if (PMPI_Type_size(type, &size) != MPI_SUCCESS ||
      PMPI_Type_get_true_extent(type, &lb, &extent) != MPI_SUCCESS)
    return false;
  // Pair types (MPI_SHORT_INT, ...) have holes: their size is below their extent.
  if (size <= 0 || lb != 0 || extent != size) return false;
  facts->size = static_cast<size_t>(size);
  facts->tdm_type = reduction_type(type, facts->size);
  return true;
}

int tandem_op(MPI_Op op) {
  if (op == MPI_SUM) return tdmSum;
  if (op == MPI_PROD) return tdmProd;
  if (op == MPI_MAX) return tdmMax;
  if (op == MPI_MIN) return tdmMin;
  return -1;
}

void count(Coll coll, Route route) {
  state().counts[static_cast<int>(coll)][static_cast<int>(route)].fetch_add(
      1, std::memory_order_relaxed);
}

void count_comm_call(CommCall call) {
  State& s = state();
  (call == CommCall::kSplit ? s.splits : call == CommCall::kDup ? s.dups : s.frees)++;
}

}  // namespace tdm_pmpi
