#include "tests/common/device_choice.h"

#include <cerrno>
#include <climits>
#include <cstdlib>

namespace tdm::test {

int local_rank() {
  for (const char* name : kLocalRankVariables) {
    const char* value = std::getenv(name);
    if (!value || !*value) continue;
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(value, &end, 10);
    if (*end == '\0' && errno == 0 && v >= 0 && v <= INT_MAX) return static_cast<int>(v);
  }
  return 0;
}

}  // namespace tdm::test
