"""torch dtype <-> tdmDataType_t, and reduction ops by name.

Built from getattr so a torch without a type (float8 before 2.1, uint32/64
before 2.3) simply lacks that entry instead of failing at import.
"""
from __future__ import annotations

import enum
from typing import Union

import torch

_BY_NAME = {
    "int8": 0, "uint8": 1, "int32": 2, "uint32": 3, "int64": 4, "uint64": 5,
    "float16": 6, "float32": 7, "float64": 8, "bfloat16": 9,
    "float8_e4m3fn": 10, "float8_e5m2": 11,
}
DTYPES: dict[torch.dtype, int] = {
    getattr(torch, name): code for name, code in _BY_NAME.items() if hasattr(torch, name)
}


class ReduceOp(enum.IntEnum):
    """tdmRedOp_t's predefined ops (same values)."""

    SUM = 0
    PROD = 1
    MAX = 2
    MIN = 3
    AVG = 4


OpLike = Union[ReduceOp, str]


def op_code(op: OpLike) -> int:
    """Accepts a ReduceOp or its name in any case ("sum", "avg", ...)."""
    if isinstance(op, ReduceOp):
        return int(op)
    if isinstance(op, str) and op.upper() in ReduceOp.__members__:
        return int(ReduceOp[op.upper()])
    raise ValueError(f"tandem: unknown reduction op {op!r}; use one of "
                     f"{', '.join(m.lower() for m in ReduceOp.__members__)}")


def dtype_code(dtype: torch.dtype) -> int:
    """The tdmDataType_t of a torch dtype, or ValueError naming the ones accepted."""
    try:
        return DTYPES[dtype]
    except KeyError:
        names = ", ".join(str(d).replace("torch.", "") for d in DTYPES)
        raise ValueError(f"tandem: dtype {dtype} has no Tandem type; supported: {names}") from None
