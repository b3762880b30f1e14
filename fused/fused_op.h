// What the C API sees of the fused ops (include/tandem/fused.h): one abstract
// op per handle, created collectively over a communicator. fused_op.cc builds
// the CUDA implementations; fused_op_stub.cc, compiled instead in builds
// without CUDA, refuses with a sentence, so the api layer has no #if.
#pragma once

#include <cstddef>
#include <memory>

#include "comm/comm.h"
#include "tandem/fused.h"

namespace tdm::fused {

enum class Kind { kAgGemm, kGemmRs, kGemmAr };
constexpr const char* kind_name(Kind kind) {
  return kind == Kind::kAgGemm ? "AG-GEMM" : kind == Kind::kGemmRs ? "GEMM-RS" : "GEMM-AR";
}

// The buffers and size of one call, already checked by the api layer.
struct Args {
  const void* a = nullptr;  // AG: a_shard
  const void* b = nullptr;
  void* c = nullptr;           // RS: c_shard
  void* a_gathered = nullptr;  // AG only; may be null
  size_t m = 0;
  cudaStream_t stream = nullptr;
};

class FusedOp {
 public:
  virtual ~FusedOp() = default;
  virtual void run(const Args& args) = 0;
  Kind kind() const { return kind_; }
  Comm& comm() const { return comm_; }
  const tdmGemmShape_t& shape() const { return shape_; }

 protected:
  FusedOp(Kind kind, Comm& comm, const tdmGemmShape_t& shape)
      : kind_(kind), comm_(comm), shape_(shape) {}

 private:
  Kind kind_;
  Comm& comm_;
  tdmGemmShape_t shape_;
};

// Collective over `comm`; `shape` already checked (dtype, sizes, max_m).
// Throws tdmInvalidUsage when the communicator has no CUDA engine.
std::unique_ptr<FusedOp> create(Kind kind, Comm& comm, const tdmGemmShape_t& shape);

}  // namespace tdm::fused
