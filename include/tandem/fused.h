/*
 * Tandem fused compute+communication ops for tensor parallelism: a GEMM whose
 * collective hides under it. Row-major matrices; each of `nranks` ranks holds
 * one shard; n and k below are this rank's local sizes.
 *
 *   AG-GEMM (column-parallel linear):  C[m, n] = AllGather_rows(A_shard[m/nranks, k]) * B
 *   GEMM-RS (row-parallel linear):     C_shard[m/nranks, n] = ReduceScatter_rows(A[m, k] * B)
 *   GEMM-AR (row-parallel, decode):    C[m, n] = AllReduce(A[m, k] * B)
 *
 * B is [k, n], or [n, k] with b_transposed (torch.nn.Linear's weight layout).
 * dtype tdmBfloat16 or tdmFloat16; products accumulate and reductions sum in
 * float. Buffers are ordinary device memory (cudaMalloc or tdmMemAlloc).
 *
 * Create and Destroy are collective over the communicator (they allocate and
 * free the symmetric workspace). The ops are collective too: every rank calls
 * them in the same order with the same m. They are stream-ordered (nothing
 * waits on the host) and may be captured in CUDA graphs; calls on one op run
 * one after another, so enqueue them on one stream (or order the streams).
 * The op needs a communicator with the CUDA engine (a CUDA device on every
 * rank when it was created). Environment: TANDEM_FUSED_* (README).
 */
#ifndef TANDEM_FUSED_H_
#define TANDEM_FUSED_H_

#include <stddef.h>

#include "tandem/tandem.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tdmFusedOp* tdmFusedOp_t;

typedef struct {
  size_t max_m; /* largest m any call will pass (rows of the full A / C) */
  size_t n, k;  /* this rank's local sizes, as in the ops above */
  tdmDataType_t dtype;
  int b_transposed; /* nonzero: B is [n, k] row-major */
} tdmGemmShape_t;

/* Collective over comm; allocates the symmetric workspace once. */
tdmResult_t tdmAgGemmCreate(tdmComm_t comm, const tdmGemmShape_t* shape, tdmFusedOp_t* op);
tdmResult_t tdmGemmRsCreate(tdmComm_t comm, const tdmGemmShape_t* shape, tdmFusedOp_t* op);
tdmResult_t tdmGemmArCreate(tdmComm_t comm, const tdmGemmShape_t* shape, tdmFusedOp_t* op);

/* m <= max_m, m divisible by nranks for AG and RS. a_gathered ([m, k]) may be
 * NULL; when given it receives the gathered A. */
tdmResult_t tdmAgGemm(tdmFusedOp_t op, const void* a_shard, const void* b, void* c,
                      void* a_gathered, size_t m, cudaStream_t stream);
tdmResult_t tdmGemmRs(tdmFusedOp_t op, const void* a, const void* b, void* c_shard, size_t m,
                      cudaStream_t stream);
tdmResult_t tdmGemmAr(tdmFusedOp_t op, const void* a, const void* b, void* c, size_t m,
                      cudaStream_t stream);

/* Collective; call it before destroying the communicator. */
tdmResult_t tdmFusedOpDestroy(tdmFusedOp_t op);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* TANDEM_FUSED_H_ */
