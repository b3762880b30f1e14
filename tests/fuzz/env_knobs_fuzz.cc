// libFuzzer target: the input is the value of every TANDEM_* knob, read
// through the same env:: calls and ranges the library uses. No input may crash
// or reach undefined behaviour; a value is either accepted inside the range
// asked or rejected with tdmInvalidArgument and a sentence naming the variable.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "util/env.h"
#include "util/error.h"
#include "util/log.h"

namespace {

// Every knob read through get_size, with the range its caller passes.
struct SizeKnob {
  const char* name;
  uint64_t min, max;
};
constexpr SizeKnob kSizes[] = {
    {"TANDEM_SHM_BUFFER_SIZE", 4 << 10, 1 << 30}, {"TANDEM_SOCKET_BUFFER_SIZE", 4 << 10, 1 << 30},
    {"TANDEM_CHUNK_SIZE", 64, 1 << 30},           {"TANDEM_ONESHOT_MAX_BYTES", 0, 1ull << 40},
    {"TANDEM_CUDA_LL_MAX_BYTES", 0, 1 << 30},     {"TANDEM_CUDA_SLOT_BYTES", 256, 1 << 30},
    {"TANDEM_SYMMETRIC_SIZE", 0, 1ull << 40},     {"TANDEM_FUZZ_ANY_SIZE", 0, UINT64_MAX},
};
struct IntKnob {
  const char* name;
  int64_t min, max;
};
constexpr IntKnob kInts[] = {
    {"TANDEM_RANK", 0, INT32_MAX - 1},
    {"TANDEM_WORLD_SIZE", 1, INT32_MAX},
    {"MASTER_PORT", 1, 65535},
    {"TANDEM_RANKS_PER_HOST", 0, INT32_MAX},
    {"TANDEM_SPIN", 0, UINT32_MAX},
    {"TANDEM_CUDA_DEPTH", 1, 16},
    {"TANDEM_FUZZ_ANY_INT", INT64_MIN, INT64_MAX},
};

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "env_knobs_fuzz: %s\n", what);
  std::abort();
}

// Runs read(); accepts success or tdmInvalidArgument whose sentence names `name`.
template <typename F>
void guarded(const char* name, F read) {
  try {
    read();
  } catch (const tdm::Error& e) {
    if (e.code() != tdmInvalidArgument) fail("error other than tdmInvalidArgument");
    if (std::string_view(e.what()).find(name) == std::string_view::npos)
      fail("the error does not name the variable");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // An environment value ends at the first NUL; the parsers see the same text.
  std::string value(reinterpret_cast<const char*>(data), size);
  value.resize(value.find('\0') == std::string::npos ? value.size() : value.find('\0'));
  for (const SizeKnob& k : kSizes) {
    ::setenv(k.name, value.c_str(), 1);
    guarded(k.name, [&] {
      const uint64_t v = tdm::env::get_size(k.name, k.min, k.min, k.max);
      if (v < k.min || v > k.max) fail("size outside the range asked");
      // Accepted text means the same number written in decimal.
      if (tdm::env::parse_size(k.name, std::to_string(v), k.min, k.max) != v)
        fail("size does not round-trip");
    });
    ::unsetenv(k.name);
  }
  for (const IntKnob& k : kInts) {
    ::setenv(k.name, value.c_str(), 1);
    guarded(k.name, [&] {
      const int64_t v = tdm::env::get_int(k.name, k.min, k.min, k.max);
      if (v < k.min || v > k.max) fail("integer outside the range asked");
    });
    ::unsetenv(k.name);
  }
  ::setenv("TANDEM_TIMEOUT", value.c_str(), 1);
  guarded("TANDEM_TIMEOUT", [] {
    const double t = tdm::env::timeout_seconds();
    if (!(t >= tdm::env::kMinTimeout && t <= tdm::env::kMaxTimeout)) fail("timeout out of range");
  });
  ::unsetenv("TANDEM_TIMEOUT");
  guarded("TANDEM_FUZZ_DOUBLE", [&] {
    const double d = tdm::env::parse_double("TANDEM_FUZZ_DOUBLE", value, -1e300, 1e300);
    if (!(d >= -1e300 && d <= 1e300)) fail("double out of range");
  });
  for (const char* name : {"TANDEM_SHM_DISABLE", "TANDEM_CUDA_CE"}) {
    ::setenv(name, value.c_str(), 1);
    guarded(name, [&] { tdm::env::get_bool(name, false); });
    ::unsetenv(name);
  }
  ::setenv("TANDEM_ALLREDUCE_ALGO", value.c_str(), 1);
  guarded("TANDEM_ALLREDUCE_ALGO", [&] {
    const std::string c =
        tdm::env::get_choice("TANDEM_ALLREDUCE_ALGO", "auto", {"oneshot", "ring", "hier"});
    if (!value.empty() && c != value) fail("choice other than the value");
  });
  ::unsetenv("TANDEM_ALLREDUCE_ALGO");
  for (const char* name : {"TANDEM_DEBUG", "TANDEM_DEBUG_SUBSYS"}) {
    ::setenv(name, value.c_str(), 1);
    guarded(name, [] { tdm::log::check_env(); });
    ::unsetenv(name);
  }
  return 0;
}
