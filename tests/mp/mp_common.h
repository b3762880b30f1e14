// Shared pieces of the multi-process tests: the world communicator, typed
// element access, reference values and tolerances.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "tandem/tandem.h"
#include "tests/common/types.h"

namespace mp {

// The communicator every test starts from (created once in main).
tdmComm_t world();
int world_rank();
int world_size();
// A value every rank agrees on, fresh each run (broadcast from rank 0).
uint64_t shared_seed();

// Every rank's verdict: true only if all ranks passed (so launchers see one outcome).
bool all_passed(tdmComm_t comm, bool mine);

using tdm::test::is_float;
using tdm::test::is_signed_int;
using tdm::test::round_to;
using tdm::test::truncate;
using tdm::test::type_size;
using tdm::test::unit_roundoff;
const char* type_name(tdmDataType_t t);

// Element access in double (exact for every supported type but 64-bit ints
// beyond 2^53, which the tests only produce as raw bit patterns), with the
// harness's own codecs (tests/common), not the library's.
inline double get(tdmDataType_t t, const void* base, size_t i) {
  return tdm::test::decode(t, tdm::test::load_bits(t, base, i));
}
inline void put(tdmDataType_t t, void* base, size_t i, double v) {
  tdm::test::store_bits(t, base, i, tdm::test::encode(t, v));
}
// Raw, zero-extended.
inline uint64_t get_bits(tdmDataType_t t, const void* base, size_t i) {
  return tdm::test::load_bits(t, base, i);
}
inline void put_bits(tdmDataType_t t, void* base, size_t i, uint64_t bits) {
  tdm::test::store_bits(t, base, i, bits);
}

// Buffer with guard bytes after the payload, poisoned with 0xFF.
struct Buffer {
  std::vector<std::byte> bytes;
  size_t payload = 0;
  static constexpr size_t kGuard = 64;
  explicit Buffer(size_t payload_bytes)
      : bytes(payload_bytes + kGuard, std::byte{0xff}), payload(payload_bytes) {}
  void* data() { return bytes.data(); }
  bool guard_intact() const {
    for (size_t i = payload; i < bytes.size(); ++i)
      if (bytes[i] != std::byte{0xff}) return false;
    return true;
  }
};

}  // namespace mp
