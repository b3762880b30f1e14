"""Tandem under PyTorch: a communicator and its collectives on torch tensors.

Pure ctypes over libtandem.so (see python/README.md for how the library is
found); CPU tensors use the host engine, CUDA tensors the current stream.
"""
from ._dtypes import DTYPES, ReduceOp
from ._lib import TandemError
from .communicator import Communicator, get_unique_id, group
from .fused import AgGemm, GemmAr, GemmRs
from .ep import ExpertParallel, buffer_size_hint


def version() -> int:
    """TDM_VERSION_CODE of the loaded library (X*10000 + Y*100 + Z)."""
    import ctypes

    from ._lib import call, lib
    v = ctypes.c_int()
    call(lib.tdmGetVersion, ctypes.byref(v))
    return v.value


__all__ = ["AgGemm", "Communicator", "DTYPES", "ExpertParallel", "GemmAr", "GemmRs", "ReduceOp",
           "TandemError", "buffer_size_hint", "get_unique_id", "group", "version"]
