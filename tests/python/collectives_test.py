"""The tandem Python package on CPU tensors, one process per rank.

Run under the launcher (`tandemrun -n 3 -- python3 -m unittest collectives_test`)
or alone (a one-rank communicator). Every rank builds every rank's input from
the same seed, so the expected result is computed here in float64, not by
Tandem; outputs start poisoned so an element Tandem never wrote shows up.
unittest runs the tests in name order on every rank, which keeps the
collectives matched.
"""
from __future__ import annotations

import hashlib
import os
import unittest

import torch

import tandem

COMM: tandem.Communicator
SEED = int(hashlib.sha256(os.environ.get("TANDEM_UNIQUE_ID", "solo").encode()).hexdigest()[:8], 16)
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int8, torch.uint8,
          torch.int32, torch.int64]
COUNTS = [1, 6, 1000]  # one element, less than a rank each, several chunks
POISON = 99


def setUpModule() -> None:
    global COMM
    COMM = tandem.Communicator.from_env()


def tearDownModule() -> None:
    COMM.destroy()


def data(rank: int, count: int, dtype: torch.dtype, salt: int) -> torch.Tensor:
    """Rank's input: small integers (quarters for floats), exact in every
    dtype even after a product over ranks, so the float64 reference matches."""
    g = torch.Generator().manual_seed(SEED + 1000 * rank + salt)
    lo = 0 if dtype == torch.uint8 else -3
    v = torch.randint(lo, 4, (count,), generator=g, dtype=torch.int64).to(torch.float64)
    if dtype.is_floating_point:
        v = v / 4 + (v == 0).to(torch.float64)  # no zeros: prod and avg stay informative
    return v


def reduce_ref(inputs: list[torch.Tensor], op: str) -> torch.Tensor:
    stack = torch.stack(inputs)
    return {"sum": stack.sum(0), "prod": stack.prod(0), "max": stack.max(0).values,
            "min": stack.min(0).values, "avg": stack.mean(0)}[op]


def ops_for(dtype: torch.dtype) -> list[str]:
    return ["sum", "prod", "max", "min"] + (["avg"] if dtype.is_floating_point else [])


class Collectives(unittest.TestCase):
    def setUp(self) -> None:
        self.rank, self.size = COMM.rank, COMM.size

    def inputs(self, count: int, dtype: torch.dtype, salt: int) -> list[torch.Tensor]:
        return [data(r, count, dtype, salt) for r in range(self.size)]

    def assert_close(self, got: torch.Tensor, want: torch.Tensor, what: str) -> None:
        tol = 1e-2 if got.dtype in (torch.float16, torch.bfloat16) else 1e-6
        self.assertTrue(torch.allclose(got.to(torch.float64).flatten(), want.flatten(),
                                       rtol=tol, atol=tol),
                        f"{what} (seed {SEED}): got {got.flatten()[:8]} want {want.flatten()[:8]}")

    def test_all_reduce(self) -> None:
        for dtype in DTYPES:
            for count in COUNTS:
                for op in ops_for(dtype):
                    what = f"all_reduce {op} {dtype} x{count}"
                    ins = self.inputs(count, dtype, 1)
                    want = reduce_ref(ins, op)
                    mine = ins[self.rank].to(dtype, copy=True)
                    out = torch.full((count,), POISON, dtype=dtype)
                    got = COMM.all_reduce(mine, op, out=out)
                    self.assertIs(got, out)
                    self.assert_close(out, want, what + " out of place")
                    self.assert_close(mine, ins[self.rank], what + " input changed")
                    COMM.all_reduce(mine, op)
                    self.assert_close(mine, want, what + " in place")

    def test_all_gather(self) -> None:
        for dtype in DTYPES:
            for count in COUNTS:
                what = f"all_gather {dtype} x{count}"
                ins = self.inputs(count, dtype, 2)
                want = torch.stack(ins)
                out = torch.full((self.size * count,), POISON, dtype=dtype)
                COMM.all_gather(ins[self.rank].to(dtype, copy=True), out=out)
                self.assert_close(out, want, what + " out of place")
                got = COMM.all_gather(ins[self.rank].to(dtype, copy=True).view(1, count))
                self.assertEqual(tuple(got.shape), (self.size, 1, count))
                self.assert_close(got, want, what + " default out")
                out.fill_(POISON)
                out[self.rank * count:(self.rank + 1) * count] = ins[self.rank].to(dtype, copy=True)
                COMM.all_gather(out[self.rank * count:(self.rank + 1) * count], out=out)
                self.assert_close(out, want, what + " in place")

    def test_reduce_scatter(self) -> None:
        for dtype in DTYPES:
            for count in COUNTS:
                for op in ops_for(dtype):
                    what = f"reduce_scatter {op} {dtype} x{count}"
                    ins = self.inputs(self.size * count, dtype, 3)
                    want = reduce_ref(ins, op)[self.rank * count:(self.rank + 1) * count]
                    mine = ins[self.rank].to(dtype, copy=True)
                    out = torch.full((count,), POISON, dtype=dtype)
                    COMM.reduce_scatter(mine, op, out=out)
                    self.assert_close(out, want, what + " out of place")
                    got = COMM.reduce_scatter(mine.view(self.size, count), op)
                    self.assertEqual(tuple(got.shape), (1, count))
                    self.assert_close(got, want, what + " default out")
                    block = mine[self.rank * count:(self.rank + 1) * count]
                    COMM.reduce_scatter(mine, op, out=block)
                    self.assert_close(block, want, what + " in place")

    def test_broadcast_and_reduce(self) -> None:
        for dtype in DTYPES:
            for count in COUNTS:
                for root in {0, self.size - 1}:
                    what = f"{dtype} x{count} root {root}"
                    ins = self.inputs(count, dtype, 4 + root)
                    out = torch.full((count,), POISON, dtype=dtype)
                    COMM.broadcast(ins[self.rank].to(dtype, copy=True), root, out=out)
                    self.assert_close(out, ins[root], "broadcast out of place " + what)
                    mine = ins[self.rank].to(dtype, copy=True)
                    COMM.broadcast(mine, root)
                    self.assert_close(mine, ins[root], "broadcast in place " + what)
                    for op in ops_for(dtype):
                        out = torch.full((count,), POISON, dtype=dtype)
                        COMM.reduce(ins[self.rank].to(dtype, copy=True), root, op, out=out)
                        if self.rank == root:
                            self.assert_close(out, reduce_ref(ins, op), f"reduce {op} " + what)
                        else:
                            self.assertTrue(bool((out == POISON).all()), f"reduce {op} wrote "
                                            "a non-root's out " + what)
                        mine = ins[self.rank].to(dtype, copy=True)
                        COMM.reduce(mine, root, op)
                        if self.rank == root:
                            self.assert_close(mine, reduce_ref(ins, op),
                                              f"reduce in place {op} " + what)

    def test_all_to_all(self) -> None:
        for dtype in DTYPES:
            for count in COUNTS:
                what = f"all_to_all {dtype} x{count}"
                ins = self.inputs(self.size * count, dtype, 6)
                want = torch.cat([ins[r][self.rank * count:(self.rank + 1) * count]
                                  for r in range(self.size)])
                out = torch.full((self.size * count,), POISON, dtype=dtype)
                COMM.all_to_all(ins[self.rank].to(dtype, copy=True), out=out)
                self.assert_close(out, want, what)
                got = COMM.all_to_all(ins[self.rank].to(dtype, copy=True))
                self.assert_close(got, want, what + " default")

    def test_send_recv_ring(self) -> None:
        for dtype in DTYPES:
            for count in COUNTS:
                ins = self.inputs(count, dtype, 7)
                nxt, prev = (self.rank + 1) % self.size, (self.rank - 1) % self.size
                out = torch.full((count,), POISON, dtype=dtype)
                with COMM.group():  # everyone sends first: only a group pairs them
                    COMM.send(ins[self.rank].to(dtype, copy=True), nxt)
                    COMM.recv(out, prev)
                self.assert_close(out, ins[prev], f"send/recv ring {dtype} x{count}")

    def test_group_of_collectives(self) -> None:
        ins = self.inputs(10, torch.float32, 8)
        a, b = ins[self.rank].float(), ins[self.rank].float() * 2
        with tandem.group():
            COMM.all_reduce(a)
            COMM.all_reduce(b, "max")
        self.assert_close(a, reduce_ref(ins, "sum"), "grouped sum")
        self.assert_close(b, reduce_ref([2 * x for x in ins], "max"), "grouped max")

    def test_unique_id(self) -> None:
        # Each rank makes its own one-rank communicator: no peer takes part.
        uid = tandem.get_unique_id()
        self.assertEqual(len(uid), 128)
        with tandem.Communicator.from_unique_id(uid, 0, 1) as solo:
            self.assertEqual((solo.rank, solo.size), (0, 1))
            x = torch.arange(4.0)
            self.assert_close(solo.all_reduce(x, "prod"), torch.arange(4.0).double(), "solo")

    def test_properties(self) -> None:
        self.assertEqual(self.size, int(os.environ.get("TANDEM_WORLD_SIZE", "1")))
        self.assertEqual(self.rank, int(os.environ.get("TANDEM_RANK", "0")))
        # The library binds the current CUDA device when the host has one
        # (whatever torch was built with), so only the kind is checked.
        self.assertIn(COMM.device.type, ("cpu", "cuda"))
        self.assertGreater(tandem.version(), 0)


class Misuse(unittest.TestCase):
    """Local errors only: no rank enters a collective, so ranks stay matched."""

    def test_value_errors(self) -> None:
        x = torch.zeros(6 * COMM.size)
        cases = {
            "dtype": lambda: COMM.all_reduce(x, out=torch.zeros(x.numel(), dtype=torch.float64)),
            "contiguous": lambda: COMM.all_reduce(torch.zeros(4, 4).t()),
            "elements": lambda: COMM.all_reduce(x, out=torch.zeros(x.numel() + 1)),
            "elements ": lambda: COMM.all_gather(x, out=torch.zeros(x.numel())) if COMM.size > 1
            else COMM.all_gather(x, out=torch.zeros(x.numel() + 1)),
            "no Tandem type": lambda: COMM.all_reduce(torch.zeros(3, dtype=torch.complex64)),
            "unknown reduction": lambda: COMM.all_reduce(x, "mean"),
            "torch.Tensor": lambda: COMM.broadcast([1, 2, 3]),  # type: ignore[arg-type]
            "128 bytes": lambda: tandem.Communicator.from_unique_id(b"short", 0, 1),
            "CUDA device": lambda: COMM.symmetric_empty(4, torch.float32),
        }
        if COMM.size > 1:  # with one rank every count divides
            cases["multiple of"] = lambda: COMM.reduce_scatter(torch.zeros(COMM.size * 2 + 1))
        for needle, fn in cases.items():
            with self.assertRaises(ValueError, msg=needle) as ctx:
                fn()
            self.assertIn(needle.strip(), str(ctx.exception))

    def test_tandem_error_from_c(self) -> None:
        # A root outside the communicator is rejected by the C API before any
        # communication; the error must carry the code name and the sentence.
        with self.assertRaises(tandem.TandemError) as ctx:
            COMM.broadcast(torch.zeros(4), root=COMM.size + 5)
        err = ctx.exception
        self.assertEqual(err.name, "tdmInvalidArgument")
        self.assertIn("root", err.message)
        self.assertIn("tdmInvalidArgument", str(err))

    def test_fused_ops_need_cuda(self) -> None:
        # The ctypes signatures of the create calls are exercised; the C API
        # refuses a communicator without the CUDA engine before any exchange.
        if COMM.device.type != "cpu":
            self.skipTest("the communicator has a GPU: tests/gpu covers fused ops")
        for cls, fn in ((tandem.AgGemm, "tdmAgGemmCreate"), (tandem.GemmRs, "tdmGemmRsCreate"),
                        (tandem.GemmAr, "tdmGemmArCreate")):
            with self.assertRaises(tandem.TandemError) as ctx:
                cls(COMM, 64, 32, 16, torch.bfloat16, b_transposed=True)
            self.assertEqual(ctx.exception.name, "tdmInvalidUsage")
            self.assertIn(fn, ctx.exception.message)
        with self.assertRaises(ValueError):
            tandem.GemmAr(COMM, 64, 32, 16, torch.float32)

    def test_expert_parallel_needs_cuda(self) -> None:
        # tdmEpBufferSizeHint checks the config as tdmEpCreate does; create
        # refuses a communicator without the CUDA engine, naming CUDA.
        E = 8 * COMM.size  # divisible by the ranks
        small = tandem.buffer_size_hint(E, 16, 256, 2, COMM.size)
        large = tandem.buffer_size_hint(E, 64, 256, 2, COMM.size)
        self.assertGreater(small, 0)
        self.assertGreater(large, small)  # more tokens per call, more buffer
        # fp8 rows carry half the payload (plus scales): a smaller buffer.
        self.assertLess(tandem.buffer_size_hint(E, 16, 256, 2, COMM.size, wire="fp8"), small)
        with self.assertRaises(tandem.TandemError) as ctx:
            tandem.buffer_size_hint(E, 16, 250, 2, COMM.size)  # not a multiple of 32
        self.assertEqual(ctx.exception.name, "tdmInvalidArgument")
        self.assertIn("hidden", ctx.exception.message)
        with self.assertRaises(ValueError):
            tandem.buffer_size_hint(E, 16, 256, 2, COMM.size, wire="fp16")
        if COMM.device.type != "cpu":
            self.skipTest("the communicator has a GPU: tests/gpu covers dispatch and combine")
        with self.assertRaises(tandem.TandemError) as ctx:
            tandem.ExpertParallel(COMM, E, 16, 256, 2)
        self.assertEqual(ctx.exception.name, "tdmInvalidUsage")
        self.assertIn("CUDA", ctx.exception.message)

    def test_destroyed(self) -> None:
        c = tandem.Communicator(0)
        c._handle = None
        with self.assertRaises(ValueError):
            c.all_reduce(torch.zeros(1))


if __name__ == "__main__":
    unittest.main()
