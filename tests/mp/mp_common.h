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
#include "util/numeric_types.h"

namespace mp {

// The communicator every test starts from (created once in main).
tdmComm_t world();
int world_rank();
int world_size();
// A value every rank agrees on, fresh each run (broadcast from rank 0).
uint64_t shared_seed();

// Every rank's verdict: true only if all ranks passed (so launchers see one outcome).
bool all_passed(tdmComm_t comm, bool mine);

size_t type_size(tdmDataType_t t);
const char* type_name(tdmDataType_t t);
bool is_float(tdmDataType_t t);
bool is_signed_int(tdmDataType_t t);

// Element access in double (exact for every supported type but 64-bit ints
// beyond 2^53, which the tests only produce as raw bit patterns).
double get(tdmDataType_t t, const void* base, size_t i);
void put(tdmDataType_t t, void* base, size_t i, double v);
uint64_t get_bits(tdmDataType_t t, const void* base, size_t i);  // raw, zero-extended
void put_bits(tdmDataType_t t, void* base, size_t i, uint64_t bits);
// Rounds v as storing it in type t would (narrow floats: nearest even).
double round_to(tdmDataType_t t, double v);

// Unit roundoff of a float type (2^-(mantissa bits + 1)); 0 for integers.
double unit_roundoff(tdmDataType_t t);

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
