// C entry points of tandem/fused.h. Every argument is checked here, before
// anything is enqueued or allocated; the ops themselves live in fused/.
#include <algorithm>
#include <memory>

#include "api/guard.h"
#include "api/registry.h"
#include "api/validate.h"
#include "comm/comm.h"
#include "device/device_query.h"
#include "fused/fused_op.h"
#include "tandem/fused.h"

using namespace tdm;
using namespace tdm::api;

namespace {

// Elements of any one operand: cuBLASLt takes 64-bit sizes, but a
// max_m * n product that wraps would size the workspace wrongly.
constexpr size_t kMaxElements = size_t{1} << 40;

void check_shape(const Comm& comm, fused::Kind kind, const tdmGemmShape_t* shape) {
  check_not_null(shape, "shape");
  if (shape->dtype != tdmBfloat16 && shape->dtype != tdmFloat16)
    throw_error(tdmInvalidArgument, "shape->dtype ", static_cast<int>(shape->dtype),
                " is not supported: the fused ops take tdmBfloat16 or tdmFloat16");
  if (shape->max_m == 0 || shape->n == 0 || shape->k == 0)
    throw_error(tdmInvalidArgument, "shape has a zero size (max_m ", shape->max_m, ", n ", shape->n,
                ", k ", shape->k, ")");
  const size_t widest = std::max(shape->n, shape->k);
  if (shape->max_m > kMaxElements / widest || shape->n > kMaxElements / shape->k)
    throw_error(tdmInvalidArgument, "shape (max_m ", shape->max_m, ", n ", shape->n, ", k ",
                shape->k, ") has an operand of more than 2^40 elements");
  if (kind != fused::Kind::kGemmAr && shape->max_m < static_cast<size_t>(comm.nranks))
    throw_error(tdmInvalidArgument, "shape->max_m ", shape->max_m, " is below the ", comm.nranks,
                " ranks: ", fused::kind_name(kind), " needs at least one row per rank");
}

tdmResult_t create(const char* function, fused::Kind kind, tdmComm_t comm,
                   const tdmGemmShape_t* shape, tdmFusedOp_t* op) {
  return guarded(function, [&] {
    Comm& c = checked(comm);
    check_not_null(op, "op");
    check_shape(c, kind, shape);
    InFlight busy(c);
    *op = publish(fused::create(kind, c, *shape));
  });
}

void check_device(const void* p, const char* name) {
  check_device_buffer(p, name, "the fused ops");
}

fused::FusedOp& checked_call(tdmFusedOp_t handle, fused::Kind kind, size_t m) {
  fused::FusedOp& op = checked(handle);
  if (op.kind() != kind)
    throw_error(tdmInvalidArgument, "op is a ", fused::kind_name(op.kind()), " op, not ",
                fused::kind_name(kind));
  if (m > op.shape().max_m)
    throw_error(tdmInvalidArgument, "m ", m, " is above the op's max_m ", op.shape().max_m);
  const size_t nranks = static_cast<size_t>(op.comm().nranks);
  if (kind != fused::Kind::kGemmAr && m % nranks != 0)
    throw_error(tdmInvalidArgument, "m ", m, " is not divisible by the ", nranks, " ranks");
  return op;
}

void run(fused::FusedOp& op, const fused::Args& args) {
  InFlight busy(op.comm());
  op.run(args);
}

}  // namespace

TDM_EXPORT tdmResult_t tdmAgGemmCreate(tdmComm_t comm, const tdmGemmShape_t* shape,
                                       tdmFusedOp_t* op) {
  return create("tdmAgGemmCreate", fused::Kind::kAgGemm, comm, shape, op);
}

TDM_EXPORT tdmResult_t tdmGemmRsCreate(tdmComm_t comm, const tdmGemmShape_t* shape,
                                       tdmFusedOp_t* op) {
  return create("tdmGemmRsCreate", fused::Kind::kGemmRs, comm, shape, op);
}

TDM_EXPORT tdmResult_t tdmGemmArCreate(tdmComm_t comm, const tdmGemmShape_t* shape,
                                       tdmFusedOp_t* op) {
  return create("tdmGemmArCreate", fused::Kind::kGemmAr, comm, shape, op);
}

TDM_EXPORT tdmResult_t tdmAgGemm(tdmFusedOp_t op, const void* a_shard, const void* b, void* c,
                                 void* a_gathered, size_t m, cudaStream_t stream) {
  return guarded("tdmAgGemm", [&] {
    fused::FusedOp& o = checked_call(op, fused::Kind::kAgGemm, m);
    check_device(a_shard, "a_shard");
    check_device(b, "b");
    check_device(c, "c");
    if (a_gathered) check_device(a_gathered, "a_gathered");
    run(o, {a_shard, b, c, a_gathered, m, stream});
  });
}

TDM_EXPORT tdmResult_t tdmGemmRs(tdmFusedOp_t op, const void* a, const void* b, void* c_shard,
                                 size_t m, cudaStream_t stream) {
  return guarded("tdmGemmRs", [&] {
    fused::FusedOp& o = checked_call(op, fused::Kind::kGemmRs, m);
    check_device(a, "a");
    check_device(b, "b");
    check_device(c_shard, "c_shard");
    run(o, {a, b, c_shard, nullptr, m, stream});
  });
}

TDM_EXPORT tdmResult_t tdmGemmAr(tdmFusedOp_t op, const void* a, const void* b, void* c, size_t m,
                                 cudaStream_t stream) {
  return guarded("tdmGemmAr", [&] {
    fused::FusedOp& o = checked_call(op, fused::Kind::kGemmAr, m);
    check_device(a, "a");
    check_device(b, "b");
    check_device(c, "c");
    run(o, {a, b, c, nullptr, m, stream});
  });
}

TDM_EXPORT tdmResult_t tdmFusedOpDestroy(tdmFusedOp_t op) {
  return guarded("tdmFusedOpDestroy", [&] {
    std::unique_ptr<fused::FusedOp> owned = take(op);
    InFlight busy(owned->comm());
    owned.reset();  // collective: waits for the device and the peers, frees the workspace
  });
}
