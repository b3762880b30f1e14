"""Fused GEMM + collective ops of tandem/fused.h on CUDA tensors.

Each class owns one tdmFusedOp_t: creating and destroying it is collective
(it allocates the symmetric workspace), and every call is collective with the
same m on every rank. Calls are enqueued on torch's current stream.
"""
from __future__ import annotations

import ctypes
from typing import Optional

import torch

from ._dtypes import dtype_code
from ._lib import CollectiveHandle, GemmShape, call, lib

_FUSED_DTYPES = (torch.bfloat16, torch.float16)


class _FusedOp(CollectiveHandle):
    _create = ""
    _destroy_fn = "tdmFusedOpDestroy"
    _what = "fused op"

    def __init__(self, comm, max_m: int, n: int, k: int, dtype: torch.dtype,
                 b_transposed: bool = False) -> None:
        """max_m: largest m of any call; n, k: this rank's local sizes;
        b_transposed: B is [n, k] (torch.nn.Linear's weight layout)."""
        if dtype not in _FUSED_DTYPES:
            raise ValueError(f"tandem: fused ops take bfloat16 or float16, not {dtype}")
        if min(max_m, n, k) <= 0:
            raise ValueError("tandem: max_m, n and k must be positive")
        self.comm, self.max_m, self.n, self.k = comm, max_m, n, k
        self.dtype, self.b_transposed = dtype, b_transposed
        shape = GemmShape(max_m, n, k, dtype_code(dtype), int(b_transposed))
        op = ctypes.c_void_p()
        call(getattr(lib, self._create), comm.handle, ctypes.byref(shape), ctypes.byref(op),
             comm=comm.handle)
        self._ptr = op.value

    def _check(self, name: str, t: torch.Tensor, shape: tuple) -> None:
        if not isinstance(t, torch.Tensor) or not t.is_cuda:
            raise ValueError(f"tandem: {name} must be a CUDA tensor")
        if not t.is_contiguous():
            raise ValueError(f"tandem: {name} must be contiguous")
        if t.dtype != self.dtype:
            raise ValueError(f"tandem: {name} has dtype {t.dtype}, "
                             f"the op was made for {self.dtype}")
        if tuple(t.shape) != shape:
            raise ValueError(f"tandem: {name} has shape {tuple(t.shape)}, expected {shape}")

    def _b_shape(self) -> tuple:
        return (self.n, self.k) if self.b_transposed else (self.k, self.n)

    def _m(self, m: int, sharded: bool) -> None:
        size = self.comm.size
        if not 0 < m <= self.max_m:
            raise ValueError(f"tandem: m={m} is not in [1, max_m={self.max_m}]")
        if sharded and m % size:
            raise ValueError(f"tandem: m={m} must be a multiple of the {size} ranks")

    @staticmethod
    def _stream(t: torch.Tensor) -> int:
        return torch.cuda.current_stream(t.device).cuda_stream


class AgGemm(_FusedOp):
    """C[m, n] = AllGather_rows(A_shard[m/size, k]) @ B (column-parallel linear)."""

    _create = "tdmAgGemmCreate"

    def __call__(self, a_shard: torch.Tensor, b: torch.Tensor, out: Optional[torch.Tensor] = None,
                 a_gathered: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Returns C; a_gathered ([m, k]), when given, receives the gathered A."""
        m = a_shard.shape[0] * self.comm.size if a_shard.dim() == 2 else -1
        self._m(m, True)
        self._check("a_shard", a_shard, (m // self.comm.size, self.k))
        self._check("b", b, self._b_shape())
        if out is None:
            out = torch.empty((m, self.n), dtype=self.dtype, device=a_shard.device)
        self._check("out", out, (m, self.n))
        gathered = 0
        if a_gathered is not None:
            self._check("a_gathered", a_gathered, (m, self.k))
            gathered = a_gathered.data_ptr()
        call(lib.tdmAgGemm, self._handle(), a_shard.data_ptr(), b.data_ptr(), out.data_ptr(),
             gathered or None, m, self._stream(a_shard), comm=self.comm.handle)
        return out


class _RowParallel(_FusedOp):
    """A[m, k] @ B reduced over ranks: each rank keeps its m/size rows of C
    (_sharded, GEMM-RS) or all of them (GEMM-AR)."""

    _sharded = True
    _run = ""

    def __call__(self, a: torch.Tensor, b: torch.Tensor,
                 out: Optional[torch.Tensor] = None) -> torch.Tensor:
        m = a.shape[0] if a.dim() == 2 else -1
        self._m(m, self._sharded)
        self._check("a", a, (m, self.k))
        self._check("b", b, self._b_shape())
        rows = m // self.comm.size if self._sharded else m
        if out is None:
            out = torch.empty((rows, self.n), dtype=self.dtype, device=a.device)
        self._check("out", out, (rows, self.n))
        call(getattr(lib, self._run), self._handle(), a.data_ptr(), b.data_ptr(), out.data_ptr(),
             m, self._stream(a), comm=self.comm.handle)
        return out


class GemmRs(_RowParallel):
    """C_shard[m/size, n] = ReduceScatter_rows(A[m, k] @ B) (row-parallel linear)."""

    _create = "tdmGemmRsCreate"
    _run = "tdmGemmRs"


class GemmAr(_RowParallel):
    """C[m, n] = AllReduce(A[m, k] @ B) (row-parallel linear, decode sizes)."""

    _create = "tdmGemmArCreate"
    _run = "tdmGemmAr"
    _sharded = False
