"""Symmetric-heap tensors: torch tensors over memory tdmShmemMalloc returned.

torch cannot wrap a raw device pointer directly; it can wrap any object with a
__cuda_array_interface__, and it keeps that object alive as long as the
tensor. The heap memory is viewed as bytes and then reinterpreted, because
the interface has no type string for bfloat16 or float8.
"""
from __future__ import annotations

import ctypes
import math
from typing import Sequence

import torch

from ._dtypes import dtype_code
from ._lib import call, lib


class _DeviceBytes:
    """A __cuda_array_interface__ (version 3) of `nbytes` bytes at `ptr`."""

    def __init__(self, ptr: int, nbytes: int) -> None:
        self.__cuda_array_interface__ = {
            "shape": (nbytes,), "typestr": "|u1", "data": (ptr, False),
            "version": 3, "strides": None, "stream": None,
        }


def _wrap(ptr: int, nbytes: int, shape: tuple, dtype: torch.dtype,
          device: torch.device) -> torch.Tensor:
    with torch.cuda.device(device):
        raw = torch.as_tensor(_DeviceBytes(ptr, nbytes), device=device)
    return raw.view(dtype).view(shape)


def empty(comm, shape: Sequence[int] | int, dtype: torch.dtype) -> torch.Tensor:
    """See Communicator.symmetric_empty."""
    dtype_code(dtype)  # a dtype Tandem cannot name is a misuse here too
    dev = comm.device
    if dev.type != "cuda":
        raise ValueError("tandem: symmetric tensors need a communicator bound to a CUDA device")
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    nbytes = math.prod(shape) * torch.empty((), dtype=dtype).element_size()
    ptr = ctypes.c_void_p()
    call(lib.tdmShmemMalloc, comm.handle, nbytes, ctypes.byref(ptr), comm=comm.handle)
    if not ptr.value:  # size 0 gives NULL
        return torch.empty(shape, dtype=dtype, device=dev)
    comm._symmetric[ptr.value] = nbytes
    return _wrap(ptr.value, nbytes, shape, dtype, dev)


def free(comm, tensor: torch.Tensor) -> None:
    """See Communicator.symmetric_free."""
    ptr = tensor.data_ptr()
    if ptr not in comm._symmetric:
        raise ValueError("tandem: symmetric_free takes a tensor that symmetric_empty returned")
    del comm._symmetric[ptr]
    call(lib.tdmShmemFree, comm.handle, ptr, comm=comm.handle)


def peer(comm, tensor: torch.Tensor, pe: int) -> torch.Tensor:
    """See Communicator.symmetric_peer."""
    if not tensor.is_cuda or not tensor.is_contiguous():
        raise ValueError("tandem: symmetric_peer takes a contiguous CUDA tensor on the heap")
    out = ctypes.c_void_p()
    call(lib.tdmShmemPtr, comm.handle, tensor.data_ptr(), pe, ctypes.byref(out),
         comm=comm.handle)
    if not out.value:
        raise ValueError(f"tandem: rank {pe}'s heap is not load/store reachable from here")
    nbytes = tensor.numel() * tensor.element_size()
    return _wrap(out.value, nbytes, tuple(tensor.shape), tensor.dtype, tensor.device)
