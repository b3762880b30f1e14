// The narrow float formats compile for the GPU and convert there exactly as on
// the host: every code widens to the same float, and a spread of floats
// (including ties, subnormals, overflow) narrows to the same code.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "util/numeric_types.h"

namespace {

template <typename T>
__global__ void widen_all(uint32_t codes, float* out) {
  uint32_t c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c < codes) out[c] = T{static_cast<decltype(T{}.bits)>(c)}.to_float();
}

template <typename T>
__global__ void narrow_all(const float* in, uint32_t n, uint32_t* out) {
  uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = T::from_float(in[i]).bits;
}

template <typename T>
void check(uint32_t codes) {
  float* d_widened = nullptr;
  ASSERT_EQ(cudaMalloc(&d_widened, codes * sizeof(float)), cudaSuccess);
  widen_all<T><<<(codes + 255) / 256, 256>>>(codes, d_widened);
  std::vector<float> widened(codes);
  ASSERT_EQ(cudaMemcpy(widened.data(), d_widened, codes * sizeof(float), cudaMemcpyDeviceToHost),
            cudaSuccess);
  for (uint32_t c = 0; c < codes; ++c) {
    float host = T{static_cast<decltype(T{}.bits)>(c)}.to_float();
    ASSERT_EQ(std::memcmp(&host, &widened[c], sizeof(float)), 0) << "code " << c;
  }
  // Probes: every widened code, midpoints between neighbours, random floats.
  std::vector<float> probes(widened);
  for (uint32_t c = 0; c + 1 < codes; ++c) probes.push_back((widened[c] + widened[c + 1]) / 2);
  std::mt19937 rng(std::random_device{}());
  for (int i = 0; i < 100000; ++i) {
    uint32_t bits = rng();
    float f;
    std::memcpy(&f, &bits, sizeof(f));
    probes.push_back(f);
  }
  const uint32_t n = static_cast<uint32_t>(probes.size());
  float* d_in = nullptr;
  uint32_t* d_out = nullptr;
  ASSERT_EQ(cudaMalloc(&d_in, n * sizeof(float)), cudaSuccess);
  ASSERT_EQ(cudaMalloc(&d_out, n * sizeof(uint32_t)), cudaSuccess);
  ASSERT_EQ(cudaMemcpy(d_in, probes.data(), n * sizeof(float), cudaMemcpyHostToDevice),
            cudaSuccess);
  narrow_all<T><<<(n + 255) / 256, 256>>>(d_in, n, d_out);
  std::vector<uint32_t> narrowed(n);
  ASSERT_EQ(cudaMemcpy(narrowed.data(), d_out, n * sizeof(uint32_t), cudaMemcpyDeviceToHost),
            cudaSuccess);
  for (uint32_t i = 0; i < n; ++i)
    ASSERT_EQ(narrowed[i], uint32_t(T::from_float(probes[i]).bits)) << "probe " << probes[i];
  cudaFree(d_in);
  cudaFree(d_out);
  cudaFree(d_widened);
}

TEST(NumericTypesOnDevice, Half) { check<tdm::half_t>(1u << 16); }
TEST(NumericTypesOnDevice, Bfloat16) { check<tdm::bfloat16_t>(1u << 16); }
TEST(NumericTypesOnDevice, Fp8E4M3) { check<tdm::fp8e4m3_t>(1u << 8); }
TEST(NumericTypesOnDevice, Fp8E5M2) { check<tdm::fp8e5m2_t>(1u << 8); }

}  // namespace
