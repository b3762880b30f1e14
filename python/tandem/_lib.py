"""Loads libtandem.so and declares the C signatures the package calls.

ctypes rather than a compiled extension: the package then works with any
PyTorch build and any Python without a compiler or a matching ABI.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path
from typing import Callable, Optional

c_void_p = ctypes.c_void_p
c_size_t = ctypes.c_size_t
c_int = ctypes.c_int

RESULT_NAMES = {
    0: "tdmSuccess",
    1: "tdmUnhandledCudaError",
    2: "tdmSystemError",
    3: "tdmInternalError",
    4: "tdmInvalidArgument",
    5: "tdmInvalidUsage",
    6: "tdmRemoteError",
    7: "tdmInProgress",
}
UNIQUE_ID_BYTES = 128


class TandemError(RuntimeError):
    """A non-success tdmResult_t: `code`, its enumerator `name` and the
    library's sentence (tdmGetLastError), so the caller sees why, not a number."""

    def __init__(self, code: int, message: str) -> None:
        self.code = code
        self.name = RESULT_NAMES.get(code, f"tdmResult({code})")
        self.message = message
        super().__init__(f"{self.name}: {message}" if message else self.name)


class UniqueId(ctypes.Structure):
    """tdmUniqueId: 128 opaque bytes, passed by value."""

    _fields_ = [("internal", ctypes.c_char * UNIQUE_ID_BYTES)]


class GemmShape(ctypes.Structure):
    """tdmGemmShape_t of tandem/fused.h."""

    _fields_ = [("max_m", c_size_t), ("n", c_size_t), ("k", c_size_t),
                ("dtype", c_int), ("b_transposed", c_int)]


class EpConfig(ctypes.Structure):
    """tdmEpConfig_t of tandem/ep.h."""

    _fields_ = [("size", c_size_t), ("version", ctypes.c_uint), ("num_experts", c_int),
                ("max_tokens", c_int), ("hidden", c_int), ("max_topk", c_int),
                ("wire", c_int), ("flags", ctypes.c_uint)]


def _candidates() -> list[str]:
    """Where the library may be, in the order the package README documents."""
    env = os.environ.get("TANDEM_LIBRARY")
    if env:
        return [env]  # an explicit choice must not silently fall back
    here = Path(__file__).resolve().parent
    found: list[str] = []
    # Build tree: <build>/python/tandem -> <build>/lib. Installed:
    # <prefix>/lib/python3/dist-packages/tandem -> <prefix>/lib.
    for libdir in (here.parent.parent / "lib", here.parent.parent.parent):
        for name in ("libtandem.so", "libtandem.so.0"):
            if (libdir / name).exists():
                found.append(str(libdir / name))
    system = ctypes.util.find_library("tandem")
    if system:
        found.append(system)
    return found


def _load() -> ctypes.CDLL:
    tried = _candidates()
    errors = []
    for path in tried:
        try:
            return ctypes.CDLL(path)
        except OSError as e:
            errors.append(f"{path}: {e}")
    raise ImportError("tandem: cannot load libtandem.so (set TANDEM_LIBRARY to its path); tried: "
                      + ("; ".join(errors) if errors else "nothing found beside the package "
                         "or by ctypes.util.find_library"))


lib = _load()

# (name, argtypes); every one returns tdmResult_t except where set below.
_SIGNATURES: dict[str, list] = {
    "tdmGetVersion": [ctypes.POINTER(c_int)],
    "tdmGetUniqueId": [ctypes.POINTER(UniqueId)],
    "tdmCommInitRank": [ctypes.POINTER(c_void_p), c_int, UniqueId, c_int],
    "tdmCommInitWorld": [ctypes.POINTER(c_void_p), c_void_p],
    "tdmCommFinalize": [c_void_p],
    "tdmCommDestroy": [c_void_p],
    "tdmCommAbort": [c_void_p],
    "tdmCommCount": [c_void_p, ctypes.POINTER(c_int)],
    "tdmCommCuDevice": [c_void_p, ctypes.POINTER(c_int)],
    "tdmCommUserRank": [c_void_p, ctypes.POINTER(c_int)],
    "tdmCommGetAsyncError": [c_void_p, ctypes.POINTER(c_int)],
    "tdmAllReduce": [c_void_p, c_void_p, c_size_t, c_int, c_int, c_void_p, c_void_p],
    "tdmReduce": [c_void_p, c_void_p, c_size_t, c_int, c_int, c_int, c_void_p, c_void_p],
    "tdmBroadcast": [c_void_p, c_void_p, c_size_t, c_int, c_int, c_void_p, c_void_p],
    "tdmReduceScatter": [c_void_p, c_void_p, c_size_t, c_int, c_int, c_void_p, c_void_p],
    "tdmAllGather": [c_void_p, c_void_p, c_size_t, c_int, c_void_p, c_void_p],
    "tdmAlltoAll": [c_void_p, c_void_p, c_size_t, c_int, c_void_p, c_void_p],
    "tdmSend": [c_void_p, c_size_t, c_int, c_int, c_void_p, c_void_p],
    "tdmRecv": [c_void_p, c_size_t, c_int, c_int, c_void_p, c_void_p],
    "tdmGroupStart": [],
    "tdmGroupEnd": [],
    "tdmShmemMalloc": [c_void_p, c_size_t, ctypes.POINTER(c_void_p)],
    "tdmShmemFree": [c_void_p, c_void_p],
    "tdmShmemPtr": [c_void_p, c_void_p, c_int, ctypes.POINTER(c_void_p)],
    "tdmShmemBarrierOnStream": [c_void_p, c_void_p],
    "tdmAgGemmCreate": [c_void_p, ctypes.POINTER(GemmShape), ctypes.POINTER(c_void_p)],
    "tdmGemmRsCreate": [c_void_p, ctypes.POINTER(GemmShape), ctypes.POINTER(c_void_p)],
    "tdmGemmArCreate": [c_void_p, ctypes.POINTER(GemmShape), ctypes.POINTER(c_void_p)],
    "tdmAgGemm": [c_void_p, c_void_p, c_void_p, c_void_p, c_void_p, c_size_t, c_void_p],
    "tdmGemmRs": [c_void_p, c_void_p, c_void_p, c_void_p, c_size_t, c_void_p],
    "tdmGemmAr": [c_void_p, c_void_p, c_void_p, c_void_p, c_size_t, c_void_p],
    "tdmFusedOpDestroy": [c_void_p],
    "tdmEpBufferSizeHint": [ctypes.POINTER(EpConfig), c_int, ctypes.POINTER(c_size_t)],
    "tdmEpCreate": [c_void_p, ctypes.POINTER(EpConfig), ctypes.POINTER(c_void_p)],
    "tdmEpDispatch": [c_void_p, c_void_p, c_void_p, c_int, c_int, c_void_p, c_void_p, c_void_p,
                      c_void_p, c_int, c_void_p],
    "tdmEpCombine": [c_void_p, c_void_p, c_void_p, c_void_p, c_int, c_int, c_void_p, c_int,
                     c_void_p],
    "tdmEpGetDeviceError": [c_void_p],
    "tdmEpDestroy": [c_void_p],
}
for _name, _args in _SIGNATURES.items():
    _fn = getattr(lib, _name)
    _fn.argtypes = _args
    _fn.restype = c_int
lib.tdmGetLastError.argtypes = [c_void_p]
lib.tdmGetLastError.restype = ctypes.c_char_p


def last_error(comm: Optional[int]) -> str:
    """The sentence for this thread's last error (comm may be None)."""
    raw = lib.tdmGetLastError(comm)
    return raw.decode(errors="replace") if raw else ""


def check(result: int, comm: Optional[int] = None) -> None:
    """Raises TandemError for anything but tdmSuccess."""
    if result != 0:
        raise TandemError(result, last_error(comm))


def call(fn: Callable[..., int], *args, comm: Optional[int] = None) -> None:
    """Calls one C function and raises on failure."""
    check(fn(*args), comm)


class CollectiveHandle:
    """A C object made and destroyed collectively (a fused op, an ep): the
    subclass sets _ptr at creation; destroy() (also on leaving a with block)
    runs the C destroy call once, before the communicator's destroy."""

    _destroy_fn = ""  # the C destroy call
    _what = ""        # what it is, for the error after destroy
    _ptr: Optional[int] = None

    def destroy(self) -> None:
        if self._ptr is not None:
            ptr, self._ptr = self._ptr, None
            call(getattr(lib, self._destroy_fn), ptr)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.destroy()

    def _handle(self) -> int:
        if self._ptr is None:
            raise ValueError(f"tandem: the {self._what} was destroyed")
        return self._ptr
