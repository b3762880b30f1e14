#include "tests/mp/mp_common.h"

#include <cstdio>
#include <random>

namespace mp {

namespace {
tdmComm_t g_world = nullptr;
uint64_t g_seed = 0;
}  // namespace

tdmComm_t world() { return g_world; }
int world_rank() {
  int r = -1;
  tdmCommUserRank(g_world, &r);
  return r;
}
int world_size() {
  int n = 0;
  tdmCommCount(g_world, &n);
  return n;
}
uint64_t shared_seed() { return g_seed; }

bool all_passed(tdmComm_t comm, bool mine) {
  int32_t failed = mine ? 0 : 1, total = -1;
  if (tdmAllReduce(&failed, &total, 1, tdmInt32, tdmSum, comm, nullptr) != tdmSuccess) {
    std::fprintf(stderr, "verdict allreduce failed: %s\n", tdmGetLastError(comm));
    return false;
  }
  return total == 0;
}

size_t type_size(tdmDataType_t t) {
  static const size_t sizes[] = {1, 1, 4, 4, 8, 8, 2, 4, 8, 2, 1, 1};
  return sizes[t];
}
const char* type_name(tdmDataType_t t) {
  static const char* names[] = {"int8", "uint8", "int32",  "uint32", "int64", "uint64",
                                "half", "float", "double", "bf16",   "e4m3",  "e5m2"};
  return names[t];
}
bool is_float(tdmDataType_t t) { return t >= tdmFloat16; }
bool is_signed_int(tdmDataType_t t) { return t == tdmInt8 || t == tdmInt32 || t == tdmInt64; }

uint64_t get_bits(tdmDataType_t t, const void* base, size_t i) {
  uint64_t v = 0;
  std::memcpy(&v, static_cast<const std::byte*>(base) + i * type_size(t), type_size(t));
  return v;
}
void put_bits(tdmDataType_t t, void* base, size_t i, uint64_t bits) {
  std::memcpy(static_cast<std::byte*>(base) + i * type_size(t), &bits, type_size(t));
}

double get(tdmDataType_t t, const void* base, size_t i) {
  uint64_t b = get_bits(t, base, i);
  switch (t) {
    case tdmInt8:
      return static_cast<int8_t>(b);
    case tdmUint8:
      return static_cast<uint8_t>(b);
    case tdmInt32:
      return static_cast<int32_t>(b);
    case tdmUint32:
      return static_cast<uint32_t>(b);
    case tdmInt64:
      return static_cast<double>(static_cast<int64_t>(b));
    case tdmUint64:
      return static_cast<double>(b);
    case tdmFloat16:
      return tdm::half_t{static_cast<uint16_t>(b)}.to_float();
    case tdmFloat32: {
      float f;
      std::memcpy(&f, &b, 4);
      return f;
    }
    case tdmFloat64: {
      double d;
      std::memcpy(&d, &b, 8);
      return d;
    }
    case tdmBfloat16:
      return tdm::bfloat16_t{static_cast<uint16_t>(b)}.to_float();
    case tdmFloat8e4m3:
      return tdm::fp8e4m3_t{static_cast<uint8_t>(b)}.to_float();
    case tdmFloat8e5m2:
      return tdm::fp8e5m2_t{static_cast<uint8_t>(b)}.to_float();
    default:
      return 0;
  }
}

void put(tdmDataType_t t, void* base, size_t i, double v) {
  uint64_t b = 0;
  switch (t) {
    case tdmInt8:
    case tdmInt32:
    case tdmInt64:
      b = static_cast<uint64_t>(static_cast<int64_t>(v));
      break;
    case tdmUint8:
    case tdmUint32:
    case tdmUint64:
      b = static_cast<uint64_t>(v);
      break;
    case tdmFloat16:
      b = tdm::half_t::from_float(float(v)).bits;
      break;
    case tdmFloat32: {
      float f = float(v);
      std::memcpy(&b, &f, 4);
      break;
    }
    case tdmFloat64:
      std::memcpy(&b, &v, 8);
      break;
    case tdmBfloat16:
      b = tdm::bfloat16_t::from_float(float(v)).bits;
      break;
    case tdmFloat8e4m3:
      b = tdm::fp8e4m3_t::from_float(float(v)).bits;
      break;
    case tdmFloat8e5m2:
      b = tdm::fp8e5m2_t::from_float(float(v)).bits;
      break;
    default:
      break;
  }
  put_bits(t, base, i, b);
}

double round_to(tdmDataType_t t, double v) {
  std::vector<std::byte> one(8);
  put(t, one.data(), 0, v);
  return get(t, one.data(), 0);
}

double unit_roundoff(tdmDataType_t t) {
  switch (t) {
    case tdmFloat16:
      return std::ldexp(1.0, -11);
    case tdmFloat32:
      return std::ldexp(1.0, -24);
    case tdmFloat64:
      return std::ldexp(1.0, -53);
    case tdmBfloat16:
      return std::ldexp(1.0, -8);
    case tdmFloat8e4m3:
      return std::ldexp(1.0, -4);
    case tdmFloat8e5m2:
      return std::ldexp(1.0, -3);
    default:
      return 0;
  }
}

}  // namespace mp

// The world communicator comes from whichever launcher started the test.
int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (tdmCommInitWorld(&mp::g_world, nullptr) != tdmSuccess) {
    std::fprintf(stderr, "tdmCommInitWorld failed: %s\n", tdmGetLastError(nullptr));
    return 1;
  }
  uint64_t seed = std::random_device{}() * 0x9e3779b97f4a7c15ULL ^ std::random_device{}();
  tdmBroadcast(&seed, &mp::g_seed, 1, tdmUint64, 0, mp::g_world, nullptr);
  std::printf("rank %d of %d, seed %llu\n", mp::world_rank(), mp::world_size(),
              static_cast<unsigned long long>(mp::g_seed));
  int rc = RUN_ALL_TESTS();
  tdmCommDestroy(mp::g_world);
  return rc;
}
