// The benchmark tools' resources; see resources.h.
#include "resources.h"

#include <algorithm>
#include <cstdio>

namespace tandem::perf {

void checkTdm(tdmResult_t r, tdmComm_t comm, const char* what, const char* file, int line) {
  if (r == tdmSuccess) return;
  char msg[1024];
  const char* last = tdmGetLastError(comm);
  std::snprintf(msg, sizeof msg, "Tandem failure %s:%d %s: '%s' (%s)", file, line, what,
                tdmGetErrorString(r), last && *last ? last : "no detail");
  throw PerfError(msg);
}

void checkLib(const Lib& lib, tdmResult_t r, const char* what, const char* file, int line) {
  if (r == tdmSuccess) return;
  char msg[1024];
  std::snprintf(msg, sizeof msg, "%s failure %s:%d %s: %s", lib.name(), file, line, what,
                lib.describe(r).c_str());
  throw PerfError(msg);
}

HostBuffer allocHost(size_t bytes) {
  constexpr size_t kAlign = 4096;
  const size_t rounded = std::max<size_t>(kAlign, (bytes + kAlign - 1) / kAlign * kAlign);
  auto* p = static_cast<std::byte*>(std::aligned_alloc(kAlign, rounded));
  if (!p) throw PerfError("out of host memory allocating " + std::to_string(rounded) + " bytes");
  return HostBuffer(p);
}

}  // namespace tandem::perf
