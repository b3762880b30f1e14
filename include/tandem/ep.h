/*
 * Tandem expert parallelism: low-latency MoE dispatch and combine over NVLink
 * (DeepEP's low-latency semantics; design and inter-node plan in docs/ep.md).
 *
 * R ranks, E experts (E divisible by R), L = E / R local experts per rank:
 * expert e lives on rank e / L as local expert e % L. Each rank has T <= Tmax
 * tokens of H channels (T may differ per rank and per call, 0 included) and
 * routes token t to the experts topk_idx[t, 0..K) (int64, -1: skip).
 *
 *   dispatch: x[T, H] bf16 -> recv_x[L, R*Tmax, H] on each rank: for local
 *     expert l, rows [0, recv_count[l]) are the (token, k) pairs routed to it,
 *     grouped by source rank in rank order (rank r's rows start at
 *     layout_range[l, r] >> 32). Order within one source rank's rows is
 *     unspecified. With TDM_EP_WIRE_FP8, recv_x holds fp8 e4m3 bytes and
 *     recv_scales[L, R*Tmax, ceil(H/128)] fp32 the dequantization scale of
 *     each 128-channel group (the last group covers H % 128 when nonzero):
 *     x ~= fp8 * scale, scale = max(amax, 1e-4) / 448 (DeepEP's scale_inv),
 *     the cast saturating; TDM_EP_ROUND_SCALE rounds the scale up to a power
 *     of two first.
 *   combine: y[L, R*Tmax, H] bf16 (the experts' outputs, rows as dispatch
 *     laid them out) -> out[T, H] bf16 on each rank,
 *     out[t] = sum over k with topk_idx[t, k] != -1 of topk_weights[t, k] *
 *     y_row(t, k), accumulated in fp32 in k order (reproducible); a token with
 *     every index -1 gets zeros. Combine always combines the latest dispatch.
 *
 * Each (token, k) pair is its own row; a token naming one expert twice in its
 * top-k is invalid input (see Device errors).
 *
 * Phases: TDM_EP_SEND issues the sends and returns, TDM_EP_RECV waits for the
 * peers' data and produces the outputs, TDM_EP_BOTH does both in one kernel
 * (fastest). Between the two phases the stream may run other work. Per ep, calls
 * go in the order dispatch send, dispatch recv, [combine send, combine recv];
 * another order is refused with a sentence. Nothing waits on the host: calls
 * are stream-ordered and may be captured in a CUDA graph and replayed with new
 * routing (same T). Keep one ep's calls on one stream (or ordered streams).
 * Every device wait is bounded by TANDEM_TIMEOUT: a missing peer fails the
 * stream instead of hanging it. Every rank must make the same sequence of
 * calls (dispatch and combine are collective), with its own T.
 *
 * Device errors: an expert index outside [-1, E) or repeated within a token's
 * top-k is skipped (never written anywhere) and recorded on the device;
 * tdmEpGetDeviceError reports it once the kernel has run.
 *
 * Buffers are device memory (cudaMalloc or tdmMemAlloc); x, recv_x, y and out
 * must be 16-byte aligned (rows move in 16-byte vectors). Needs every rank on
 * one host with peer access (NVLink or PCIe P2P) and the CUDA engine.
 */
#ifndef TANDEM_EP_H_
#define TANDEM_EP_H_

#include <stddef.h>
#include <stdint.h>

#include "tandem/tandem.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tdmEp* tdmEp_t;

typedef enum { TDM_EP_WIRE_BF16 = 0, TDM_EP_WIRE_FP8 = 1 } tdmEpWire_t;

/* Flags of tdmEpConfig_t. */
#define TDM_EP_ROUND_SCALE 0x1u /* fp8: scales rounded up to powers of two */

typedef enum { TDM_EP_SEND = 1, TDM_EP_RECV = 2, TDM_EP_BOTH = 3 } tdmEpPhase_t;

#define TDM_EP_CONFIG_VERSION 1
typedef struct {
  size_t size;          /* sizeof(tdmEpConfig_t) */
  unsigned int version; /* TDM_EP_CONFIG_VERSION */
  int num_experts;      /* E: 1 to 512, divisible by the ranks */
  int max_tokens;       /* Tmax: most tokens per rank in one call, 1 to 65536 */
  int hidden;           /* H: multiple of 32, 32 to 8192 */
  int max_topk;         /* K_max: 1 to 16 */
  tdmEpWire_t wire;     /* dispatch payload: bf16, or fp8 e4m3 with scales */
  unsigned int flags;   /* TDM_EP_* flags */
} tdmEpConfig_t;

/* Where the latest dispatch put each row, device memory owned by the ep,
 * valid until its next dispatch (overwritten by that call's recv phase). For
 * local expert l and row i of recv_x (i < recv_count[l]): the row came from
 * token src_token[l * R * Tmax + i], top-k position src_k[...] of rank
 * src_rank[...]; layout_range[l * R + r] = begin << 32 | count of rank r's
 * rows for l (DeepEP's layout). */
typedef struct {
  const int32_t* src_token;
  const int32_t* src_k;
  const int32_t* src_rank;
  const int64_t* layout_range;
  int num_local_experts; /* L */
  int rows_per_expert;   /* R * Tmax */
} tdmEpHandle_t;

/* Bytes of symmetric memory one ep takes on each rank for `config` and
 * `nranks` ranks (as DeepEP's get_low_latency_rdma_size_hint): size
 * TANDEM_SYMMETRIC_SIZE to cover it. Checks the config as tdmEpCreate does. */
tdmResult_t tdmEpBufferSizeHint(const tdmEpConfig_t* config, int nranks, size_t* bytes);

/* Collective over comm; allocates the symmetric buffers once. */
tdmResult_t tdmEpCreate(tdmComm_t comm, const tdmEpConfig_t* config, tdmEp_t* ep);

/* x: [T, H] bf16; topk_idx: [T, K] int64 (K <= K_max); recv_x: [L, R*Tmax, H]
 * (bf16, or fp8 bytes); recv_scales: [L, R*Tmax, ceil(H/128)] fp32 with the
 * fp8 wire, NULL with bf16; recv_count: [L] int32. handle may be NULL; when
 * given it is filled (host memory, at the call). The send phase reads x and
 * topk_idx; the recv phase writes recv_x, recv_scales, recv_count: pass the
 * same arguments to both phases. */
tdmResult_t tdmEpDispatch(tdmEp_t ep, const void* x, const int64_t* topk_idx, int num_tokens,
                          int num_topk, void* recv_x, float* recv_scales, int32_t* recv_count,
                          tdmEpHandle_t* handle, tdmEpPhase_t phase, cudaStream_t stream);

/* y: [L, R*Tmax, H] bf16; topk_idx [T, K] int64 and topk_weights [T, K] fp32
 * as given to the latest dispatch (same T and K); out: [T, H] bf16. The send
 * phase reads y, the recv phase reads topk_idx and topk_weights and writes out. */
tdmResult_t tdmEpCombine(tdmEp_t ep, const void* y, const int64_t* topk_idx,
                         const float* topk_weights, int num_tokens, int num_topk, void* out,
                         tdmEpPhase_t phase, cudaStream_t stream);

/* tdmSuccess, or tdmInvalidArgument with a sentence naming what the device
 * saw in the calls run so far (an expert index out of range, a repeated
 * expert); clears the record. Reads host-mapped memory: synchronize the
 * stream first to include the latest calls. */
tdmResult_t tdmEpGetDeviceError(tdmEp_t ep);

/* Collective; call it before destroying the communicator. */
tdmResult_t tdmEpDestroy(tdmEp_t ep);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* TANDEM_EP_H_ */
