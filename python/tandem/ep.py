"""MoE expert-parallel dispatch and combine of tandem/ep.h on CUDA tensors
(DeepEP's low-latency semantics; docs/ep.md).

An ExpertParallel owns one tdmEp_t: creating and destroying it is collective
(it allocates symmetric buffers). dispatch() and combine() are collective and
enqueued on torch's current stream; each takes a phase ("both", or "send"
then "recv" with the same arguments, to overlap other work with the
transfer).
"""
from __future__ import annotations

import ctypes
from typing import Optional

import torch

from ._lib import CollectiveHandle, EpConfig, call, lib

_PHASES = {"send": 1, "recv": 2, "both": 3}
_WIRES = {"bf16": 0, "fp8": 1}
_ROUND_SCALE = 0x1


def _config(num_experts: int, max_tokens: int, hidden: int, max_topk: int, wire: str,
            round_scale: bool) -> EpConfig:
    if wire not in _WIRES:
        raise ValueError(f"tandem: wire must be 'bf16' or 'fp8', not {wire!r}")
    return EpConfig(ctypes.sizeof(EpConfig), 1, num_experts, max_tokens, hidden, max_topk,
                    _WIRES[wire], _ROUND_SCALE if round_scale else 0)


def buffer_size_hint(num_experts: int, max_tokens: int, hidden: int, max_topk: int, nranks: int,
                     wire: str = "bf16", round_scale: bool = False) -> int:
    """Bytes of symmetric memory one ExpertParallel takes per rank
    (tdmEpBufferSizeHint; TANDEM_SYMMETRIC_SIZE must cover it)."""
    cfg = _config(num_experts, max_tokens, hidden, max_topk, wire, round_scale)
    out = ctypes.c_size_t()
    call(lib.tdmEpBufferSizeHint, ctypes.byref(cfg), nranks, ctypes.byref(out))
    return out.value


class ExpertParallel(CollectiveHandle):
    """num_experts E over the communicator's R ranks (E/R local experts each);
    at most max_tokens tokens per rank and call, hidden H, top-k up to max_topk."""

    _destroy_fn = "tdmEpDestroy"
    _what = "ExpertParallel"

    def __init__(self, comm, num_experts: int, max_tokens: int, hidden: int, max_topk: int,
                 wire: str = "bf16", round_scale: bool = False) -> None:
        self.comm = comm
        self.num_experts, self.max_tokens, self.hidden = num_experts, max_tokens, hidden
        self.max_topk, self.wire = max_topk, wire
        cfg = _config(num_experts, max_tokens, hidden, max_topk, wire, round_scale)
        ep = ctypes.c_void_p()
        call(lib.tdmEpCreate, comm.handle, ctypes.byref(cfg), ctypes.byref(ep), comm=comm.handle)
        self._ptr = ep.value
        self.local_experts = num_experts // comm.size
        self.rows_per_expert = comm.size * max_tokens

    @staticmethod
    def _cuda(name: str, t: torch.Tensor, dtype: torch.dtype, shape: tuple) -> None:
        if not isinstance(t, torch.Tensor) or not t.is_cuda or not t.is_contiguous():
            raise ValueError(f"tandem: {name} must be a contiguous CUDA tensor")
        if t.dtype != dtype or tuple(t.shape) != shape:
            raise ValueError(f"tandem: {name} must be {dtype} of shape {shape}, "
                             f"not {t.dtype} {tuple(t.shape)}")

    def dispatch(self, x: torch.Tensor, topk_idx: torch.Tensor, phase: str = "both",
                 out: Optional[tuple] = None) -> tuple:
        """x [T, H] bf16, topk_idx [T, K] int64 (-1 skips). Returns (recv_x
        [L, R*Tmax, H] bf16 or float8_e4m3fn, recv_scales [L, R*Tmax,
        ceil(H/128)] float32 or None, recv_count [L] int32); pass `out` (that
        tuple) to reuse buffers, and the same one to both phases."""
        T, K = (x.shape[0], topk_idx.shape[1]) if topk_idx.dim() == 2 else (-1, -1)
        self._cuda("x", x, torch.bfloat16, (T, self.hidden))
        self._cuda("topk_idx", topk_idx, torch.int64, (T, K))
        L, rows, H = self.local_experts, self.rows_per_expert, self.hidden
        fp8 = self.wire == "fp8"
        if out is None:
            recv = torch.empty((L, rows, H), device=x.device,
                               dtype=torch.float8_e4m3fn if fp8 else torch.bfloat16)
            scales = (torch.empty((L, rows, (H + 127) // 128), device=x.device,
                                  dtype=torch.float32) if fp8 else None)
            count = torch.empty((L,), device=x.device, dtype=torch.int32)
            out = (recv, scales, count)
        recv, scales, count = out
        call(lib.tdmEpDispatch, self._handle(), x.data_ptr(), topk_idx.data_ptr(), T, K,
             recv.data_ptr(), scales.data_ptr() if scales is not None else None,
             count.data_ptr(), None, _PHASES[phase],
             torch.cuda.current_stream(x.device).cuda_stream, comm=self.comm.handle)
        return out

    def combine(self, y: torch.Tensor, topk_idx: torch.Tensor, topk_weights: torch.Tensor,
                phase: str = "both", out: Optional[torch.Tensor] = None) -> torch.Tensor:
        """y [L, R*Tmax, H] bf16 (the experts' outputs in recv_x's rows);
        topk_idx and topk_weights [T, K] (float32) as given to the latest
        dispatch. Returns out [T, H] bf16 = sum over k of w * y row."""
        T, K = (topk_idx.shape[0], topk_idx.shape[1]) if topk_idx.dim() == 2 else (-1, -1)
        self._cuda("y", y, torch.bfloat16, (self.local_experts, self.rows_per_expert, self.hidden))
        self._cuda("topk_idx", topk_idx, torch.int64, (T, K))
        self._cuda("topk_weights", topk_weights, torch.float32, (T, K))
        if out is None:
            out = torch.empty((T, self.hidden), device=y.device, dtype=torch.bfloat16)
        self._cuda("out", out, torch.bfloat16, (T, self.hidden))
        call(lib.tdmEpCombine, self._handle(), y.data_ptr(), topk_idx.data_ptr(),
             topk_weights.data_ptr(), T, K, out.data_ptr(), _PHASES[phase],
             torch.cuda.current_stream(y.device).cuda_stream, comm=self.comm.handle)
        return out

    def device_error(self) -> None:
        """Raises TandemError if the device saw bad routing (an expert index
        out of range, a repeated expert) in the calls run so far."""
        call(lib.tdmEpGetDeviceError, self._handle())
