"""tandem.Communicator: a tdmComm_t and the collectives on torch tensors.

CPU tensors run on the host engine (NULL stream: the call returns when done);
CUDA tensors are enqueued on torch's current stream of their device, so they
order with the surrounding torch work as NCCL's process group does.
"""
from __future__ import annotations

import contextlib
import ctypes
import threading
from typing import Iterator, Optional, Sequence

import torch

from . import _lib
from ._dtypes import OpLike, ReduceOp, dtype_code, op_code
from ._lib import TandemError, UniqueId, call, lib


def get_unique_id() -> bytes:
    """A fresh 128-byte id; this process serves its rendezvous until every
    rank has joined (or TANDEM_TIMEOUT), so call it on one rank only."""
    uid = UniqueId()
    call(lib.tdmGetUniqueId, ctypes.byref(uid))
    return bytes(uid)  # not uid.internal: a c_char array reads as bytes up to its first NUL


_GROUP = threading.local()  # depth and the tensors a pending group still reads


@contextlib.contextmanager
def group() -> Iterator[None]:
    """tdmGroupStart/End: calls inside run together at the end, so any
    send/recv pairing completes (group state is per thread, not per comm).
    The tensors those calls name are kept alive until the end: a temporary
    like `comm.send(x.float(), 1)` would otherwise be freed before it is sent."""
    call(lib.tdmGroupStart)
    _GROUP.depth = getattr(_GROUP, "depth", 0) + 1
    try:
        yield
    finally:
        _GROUP.depth -= 1
        try:
            call(lib.tdmGroupEnd)
        finally:
            if _GROUP.depth == 0:
                _GROUP.keep = []


def _keep_for_group(*tensors: torch.Tensor) -> None:
    if getattr(_GROUP, "depth", 0) > 0:
        if not hasattr(_GROUP, "keep"):
            _GROUP.keep = []
        _GROUP.keep.extend(tensors)


class Communicator:
    """One rank's view of a Tandem communicator."""

    def __init__(self, handle: int) -> None:
        """Wraps a tdmComm_t; use the from_* constructors instead."""
        self._handle: Optional[int] = handle
        self._symmetric: dict[int, object] = {}

    # ---- construction ----
    @classmethod
    def from_env(cls) -> "Communicator":
        """tdmCommInitWorld: tandemrun, torchrun-style variables or mpirun;
        a one-rank communicator when no launcher is seen."""
        handle = ctypes.c_void_p()
        call(lib.tdmCommInitWorld, ctypes.byref(handle), None)
        return cls(handle.value)

    @classmethod
    def from_unique_id(cls, uid: bytes, rank: int, nranks: int) -> "Communicator":
        """tdmCommInitRank with an id from get_unique_id() on one rank."""
        if not isinstance(uid, (bytes, bytearray)) or len(uid) != _lib.UNIQUE_ID_BYTES:
            raise ValueError(f"tandem: a unique id is {_lib.UNIQUE_ID_BYTES} bytes "
                             "(from tandem.get_unique_id())")
        if not 0 <= rank < nranks:
            raise ValueError(f"tandem: rank {rank} is not in [0, {nranks})")
        handle = ctypes.c_void_p()
        call(lib.tdmCommInitRank, ctypes.byref(handle), nranks,
             UniqueId.from_buffer_copy(bytes(uid)), rank)
        return cls(handle.value)

    @classmethod
    def from_process_group(cls, pg=None) -> "Communicator":
        """A communicator over the ranks of a torch.distributed group (default
        WORLD): its rank 0 makes the id and broadcasts it through the group
        itself, which works for gloo and NCCL groups alike."""
        import torch.distributed as dist
        rank = dist.get_rank(pg)
        size = dist.get_world_size(pg)
        uid = get_unique_id() if rank == 0 else bytes(_lib.UNIQUE_ID_BYTES)
        src = 0
        if pg is not None and pg is not dist.group.WORLD:
            get_global = getattr(dist, "get_global_rank", None) or \
                dist.distributed_c10d._get_global_rank
            src = get_global(pg, 0)
        box = [uid]
        dist.broadcast_object_list(box, src=src, group=pg)
        return cls.from_unique_id(box[0], rank, size)

    # ---- lifetime ----
    @property
    def handle(self) -> int:
        """The tdmComm_t as an integer, for code that calls the C API itself."""
        if self._handle is None:
            raise ValueError("tandem: the communicator was destroyed")
        return self._handle

    def destroy(self) -> None:
        """tdmCommDestroy (frees the symmetric heap too); idempotent."""
        if self._handle is not None:
            handle, self._handle = self._handle, None
            self._symmetric.clear()
            call(lib.tdmCommDestroy, handle)

    def abort(self) -> None:
        """tdmCommAbort: unblocks calls waiting on this communicator, then frees it."""
        if self._handle is not None:
            handle, self._handle = self._handle, None
            self._symmetric.clear()
            call(lib.tdmCommAbort, handle)

    def __enter__(self) -> "Communicator":
        return self

    def __exit__(self, *exc) -> None:
        self.destroy()

    # ---- properties ----
    def _int_query(self, fn) -> int:
        value = ctypes.c_int()
        call(fn, self.handle, ctypes.byref(value), comm=self._handle)
        return value.value

    @property
    def rank(self) -> int:
        return self._int_query(lib.tdmCommUserRank)

    @property
    def size(self) -> int:
        return self._int_query(lib.tdmCommCount)

    @property
    def device(self) -> torch.device:
        """cuda:N for a communicator bound to a GPU, else cpu."""
        dev = self._int_query(lib.tdmCommCuDevice)
        return torch.device("cpu") if dev < 0 else torch.device("cuda", dev)

    def check_async_error(self) -> None:
        """Raises the asynchronous error of a CUDA-side operation, if any."""
        err = self._int_query(lib.tdmCommGetAsyncError)
        _lib.check(err, self._handle)

    # ---- argument checks (before C, so a misuse names the Python argument) ----
    def _check(self, name: str, t: torch.Tensor, dtype: Optional[torch.dtype] = None,
               numel: Optional[int] = None) -> int:
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"tandem: {name} must be a torch.Tensor, not {type(t).__name__}")
        if not t.is_contiguous():
            raise ValueError(f"tandem: {name} must be contiguous (call .contiguous())")
        if dtype is not None and t.dtype != dtype:
            raise ValueError(f"tandem: {name} has dtype {t.dtype}, expected {dtype}")
        if numel is not None and t.numel() != numel:
            raise ValueError(f"tandem: {name} has {t.numel()} elements, expected {numel}")
        if t.is_cuda:
            dev = self.device
            if dev.type != "cuda" or dev.index != t.device.index:
                raise ValueError(f"tandem: {name} is on {t.device} but the communicator is "
                                 f"bound to {dev}")
        return dtype_code(t.dtype)

    def _output(self, tensor: torch.Tensor, out: torch.Tensor, numel: int) -> torch.Tensor:
        """out checked against the input: tensor's dtype, numel elements, same device."""
        self._check("out", out, tensor.dtype, numel)
        if tensor.device != out.device:
            raise ValueError(f"tandem: tensors on {tensor.device} and {out.device}; "
                             "use one device")
        return out

    @staticmethod
    def _stream(t: torch.Tensor) -> Optional[int]:
        return torch.cuda.current_stream(t.device).cuda_stream if t.is_cuda else None

    def _run(self, fn, tensors: tuple, *args) -> None:
        _keep_for_group(*tensors)
        call(fn, *args, comm=self._handle)

    # ---- collectives ----
    def all_reduce(self, tensor: torch.Tensor, op: OpLike = ReduceOp.SUM,
                   out: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Reduces over all ranks; in place unless out is given. Returns the result."""
        dt = self._check("tensor", tensor)
        code = op_code(op)
        out = self._output(tensor, tensor if out is None else out, tensor.numel())
        self._run(lib.tdmAllReduce, (tensor, out),
                  tensor.data_ptr(), out.data_ptr(), tensor.numel(), dt,
                  code, self.handle, self._stream(tensor))
        return out

    def all_gather(self, tensor: torch.Tensor,
                   out: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Concatenates every rank's tensor in rank order into out (size *
        numel elements; default shape (size, *tensor.shape)). In place when
        tensor is out's slice at this rank."""
        dt = self._check("tensor", tensor)
        size = self.size
        if out is None:
            out = torch.empty((size, *tensor.shape), dtype=tensor.dtype, device=tensor.device)
        self._output(tensor, out, size * tensor.numel())
        self._run(lib.tdmAllGather, (tensor, out),
                  tensor.data_ptr(), out.data_ptr(), tensor.numel(), dt,
                  self.handle, self._stream(tensor))
        return out

    def reduce_scatter(self, tensor: torch.Tensor, op: OpLike = ReduceOp.SUM,
                       out: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Reduces tensor (size * n elements) over ranks; this rank keeps block
        `rank` of n elements in out (default: tensor.shape[0] / size rows when
        that divides, else a flat tensor)."""
        dt = self._check("tensor", tensor)
        code = op_code(op)
        size = self.size
        if tensor.numel() % size:
            raise ValueError(f"tandem: reduce_scatter needs a multiple of {size} elements, "
                             f"got {tensor.numel()}")
        n = tensor.numel() // size
        if out is None:
            shape = ((tensor.shape[0] // size, *tensor.shape[1:])
                     if tensor.dim() > 0 and tensor.shape[0] % size == 0 else (n,))
            out = torch.empty(shape, dtype=tensor.dtype, device=tensor.device)
        self._output(tensor, out, n)
        self._run(lib.tdmReduceScatter, (tensor, out),
                  tensor.data_ptr(), out.data_ptr(), n, dt, code,
                  self.handle, self._stream(tensor))
        return out

    def broadcast(self, tensor: torch.Tensor, root: int = 0,
                  out: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Root's tensor to every rank; in place unless out is given."""
        dt = self._check("tensor", tensor)
        out = self._output(tensor, tensor if out is None else out, tensor.numel())
        self._run(lib.tdmBroadcast, (tensor, out),
                  tensor.data_ptr(), out.data_ptr(), tensor.numel(), dt,
                  root, self.handle, self._stream(tensor))
        return out

    def reduce(self, tensor: torch.Tensor, root: int = 0, op: OpLike = ReduceOp.SUM,
               out: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Reduces into root's out (in place by default); other ranks' out is untouched."""
        dt = self._check("tensor", tensor)
        code = op_code(op)
        out = self._output(tensor, tensor if out is None else out, tensor.numel())
        self._run(lib.tdmReduce, (tensor, out),
                  tensor.data_ptr(), out.data_ptr(), tensor.numel(), dt, code,
                  root, self.handle, self._stream(tensor))
        return out

    def all_to_all(self, tensor: torch.Tensor,
                   out: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Block j (numel / size elements) of this rank's tensor goes to rank j,
        which stores it as its block `rank` of out."""
        dt = self._check("tensor", tensor)
        size = self.size
        if tensor.numel() % size:
            raise ValueError(f"tandem: all_to_all needs a multiple of {size} elements, "
                             f"got {tensor.numel()}")
        out = self._output(tensor, torch.empty_like(tensor) if out is None else out,
                           tensor.numel())
        self._run(lib.tdmAlltoAll, (tensor, out),
                  tensor.data_ptr(), out.data_ptr(), tensor.numel() // size,
                  dt, self.handle, self._stream(tensor))
        return out

    def send(self, tensor: torch.Tensor, peer: int) -> None:
        """Matched with peer's recv in call order; pair them inside group()
        when both sides send first."""
        dt = self._check("tensor", tensor)
        self._run(lib.tdmSend, (tensor,), tensor.data_ptr(), tensor.numel(), dt, peer,
                  self.handle, self._stream(tensor))

    def recv(self, tensor: torch.Tensor, peer: int) -> torch.Tensor:
        """Receives tensor.numel() elements from peer into tensor."""
        dt = self._check("tensor", tensor)
        self._run(lib.tdmRecv, (tensor,), tensor.data_ptr(), tensor.numel(), dt, peer,
                  self.handle, self._stream(tensor))
        return tensor

    def group(self):
        """Same as tandem.group(); here so code reads comm.group()."""
        return group()

    # ---- symmetric heap (CUDA only) ----
    def symmetric_empty(self, shape: Sequence[int] | int, dtype: torch.dtype) -> torch.Tensor:
        """A CUDA tensor on the symmetric heap (tdmShmemMalloc, collective:
        every rank calls it with the same shape and dtype). Free it with
        symmetric_free (collective too); the heap goes with destroy()."""
        from ._symmetric import empty
        return empty(self, shape, dtype)

    def symmetric_free(self, tensor: torch.Tensor) -> None:
        """tdmShmemFree of a tensor from symmetric_empty (collective)."""
        from ._symmetric import free
        free(self, tensor)

    def symmetric_peer(self, tensor: torch.Tensor, pe: int) -> torch.Tensor:
        """The same symmetric tensor on rank pe, for loads and stores from this GPU."""
        from ._symmetric import peer
        return peer(self, tensor, pe)
