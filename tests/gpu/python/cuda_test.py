"""The tandem Python package on CUDA tensors (issue 14, part 6), one process
per rank on the GPU machine:

  tandemrun -n 2 -- python3 -m unittest -v cuda_test      (tests/gpu/python)

Every rank rebuilds every rank's input from one seed, so references are
computed here in float64 (GEMMs in float64 on the CPU), not by Tandem;
outputs start poisoned. Covers the collectives on CUDA tensors on torch's
current stream, symmetric tensors (peer loads), the three fused ops against
a float64 GEMM of the gathered inputs, and ExpertParallel dispatch/combine
against a routing reference.
"""
from __future__ import annotations

import hashlib
import os
import unittest

import torch

import tandem

COMM: tandem.Communicator
SEED = int(hashlib.sha256(os.environ.get("TANDEM_UNIQUE_ID", "solo").encode()).hexdigest()[:8], 16)
DEV: torch.device


def setUpModule() -> None:
    global COMM, DEV
    local = int(os.environ.get("LOCAL_RANK", os.environ.get("TANDEM_LOCAL_RANK", "0")))
    torch.cuda.set_device(local % torch.cuda.device_count())
    COMM = tandem.Communicator.from_env()
    DEV = COMM.device
    assert DEV.type == "cuda", f"the communicator is bound to {DEV}, not a GPU"


def tearDownModule() -> None:
    COMM.destroy()


def gen(rank: int, salt: int) -> torch.Generator:
    return torch.Generator().manual_seed(SEED + 7919 * rank + salt)


def small_ints(rank: int, n: int, salt: int) -> torch.Tensor:
    """Exact in every dtype and in sums over ranks: the float64 reference matches."""
    return torch.randint(-3, 4, (n,), generator=gen(rank, salt)).to(torch.float64)


class Collectives(unittest.TestCase):
    def test_all_reduce_all_gather_reduce_scatter_broadcast_all_to_all(self) -> None:
        R, me = COMM.size, COMM.rank
        for dtype in (torch.float32, torch.bfloat16, torch.float16, torch.int32):
            for n in (1, 1000, 1 << 20):
                what = f"{dtype} x{n}"
                ins = [small_ints(r, n * R, 1) for r in range(R)]
                x = ins[me].to(dtype).to(DEV)
                out = torch.full_like(x, 99)
                COMM.all_reduce(x, out=out)
                torch.cuda.current_stream().synchronize()
                self.assertTrue(torch.equal(out.cpu().double(), sum(ins)), "all_reduce " + what)
                shard = ins[me][:n].to(dtype).to(DEV)
                gathered = torch.full((n * R,), 99, dtype=dtype, device=DEV)
                COMM.all_gather(shard, out=gathered)
                want = torch.cat([i[:n] for i in ins])
                self.assertTrue(torch.equal(gathered.cpu().double(), want), "all_gather " + what)
                rs = torch.full((n,), 99, dtype=dtype, device=DEV)
                COMM.reduce_scatter(x, out=rs)
                self.assertTrue(torch.equal(rs.cpu().double(), sum(ins)[me * n:(me + 1) * n]),
                                "reduce_scatter " + what)
                b = ins[me].to(dtype).to(DEV)
                COMM.broadcast(b, root=R - 1)
                self.assertTrue(torch.equal(b.cpu().double(), ins[R - 1]), "broadcast " + what)
                a2a = torch.full_like(x, 99)
                COMM.all_to_all(x, out=a2a)
                want = torch.cat([ins[p][me * n:(me + 1) * n] for p in range(R)])
                self.assertTrue(torch.equal(a2a.cpu().double(), want), "all_to_all " + what)

    def test_symmetric_tensor_peer_loads(self) -> None:
        R, me = COMM.size, COMM.rank
        t = COMM.symmetric_empty(4096, torch.float32)
        t.copy_(small_ints(me, 4096, 2).float().to(DEV))
        COMM.all_reduce(torch.zeros(1, device=DEV))  # every rank wrote before anyone reads
        torch.cuda.synchronize()
        peer = (me + 1) % R
        got = COMM.symmetric_peer(t, peer).clone()
        torch.cuda.synchronize()
        self.assertTrue(torch.equal(got.cpu().double(), small_ints(peer, 4096, 2)))
        COMM.all_reduce(torch.zeros(1, device=DEV))  # nobody reads after the free
        torch.cuda.synchronize()
        COMM.symmetric_free(t)


class Fused(unittest.TestCase):
    def check(self, got: torch.Tensor, want: torch.Tensor, k: int, what: str) -> None:
        err = (got.cpu().double() - want).norm() / want.norm()
        self.assertLess(float(err), 2e-2, f"{what}: relative error {float(err):.3g} (K={k})")
        self.assertFalse(torch.isnan(got).any(), what + ": NaN (an unwritten element)")

    def test_fused_ops_against_float64(self) -> None:
        R, me = COMM.size, COMM.rank
        m, n, k = 64 * R, 96, 128
        for bt in (False, True):
            what = f"B{'^T' if bt else ''}"
            # AG-GEMM: A shards gathered, times this rank's B.
            shards = [torch.randn(m // R, k, generator=gen(r, 3), dtype=torch.float64)
                      for r in range(R)]
            bm = torch.randn(k, n, generator=gen(me, 4), dtype=torch.float64)
            b = (bm.t().contiguous() if bt else bm).to(torch.bfloat16).to(DEV)
            with tandem.AgGemm(COMM, m, n, k, torch.bfloat16, b_transposed=bt) as op:
                out = op(shards[me].to(torch.bfloat16).to(DEV), b)
                torch.cuda.synchronize()
            ref = torch.cat([s.to(torch.bfloat16).double() for s in shards]) @ \
                bm.to(torch.bfloat16).double()
            self.check(out, ref, k, "AgGemm " + what)
            # GEMM-RS and GEMM-AR: every rank's A[m, k] B_r summed.
            a_all = [torch.randn(m, k, generator=gen(r, 5), dtype=torch.float64) for r in range(R)]
            b_all = [torch.randn(k, n, generator=gen(r, 6), dtype=torch.float64) for r in range(R)]
            total = sum(a.to(torch.bfloat16).double() @ bb.to(torch.bfloat16).double()
                        for a, bb in zip(a_all, b_all))
            bme = b_all[me].t().contiguous() if bt else b_all[me]
            a_dev, b_dev = a_all[me].to(torch.bfloat16).to(DEV), bme.to(torch.bfloat16).to(DEV)
            with tandem.GemmRs(COMM, m, n, k, torch.bfloat16, b_transposed=bt) as op:
                rs = op(a_dev, b_dev)
                torch.cuda.synchronize()
            self.check(rs, total[me * (m // R):(me + 1) * (m // R)], k * R, "GemmRs " + what)
            with tandem.GemmAr(COMM, m, n, k, torch.bfloat16, b_transposed=bt) as op:
                ar = op(a_dev, b_dev)
                torch.cuda.synchronize()
            self.check(ar, total, k * R, "GemmAr " + what)


class ExpertParallel(unittest.TestCase):
    def test_dispatch_and_combine_bf16(self) -> None:
        R, me = COMM.size, COMM.rank
        E, T, H, K = 4 * R, 24, 256, 2
        L = E // R
        xs, idxs, ws = [], [], []
        for r in range(R):
            g = gen(r, 8)
            xs.append(torch.randn(T, H, generator=g).to(torch.bfloat16))
            idx = torch.stack([torch.randperm(E, generator=g)[:K] for _ in range(T)])
            idx[0] = -1  # a token routed nowhere
            idxs.append(idx)
            ws.append(torch.rand(T, K, generator=g))
        with tandem.ExpertParallel(COMM, E, T, H, K) as ep:
            recv, scales, count = ep.dispatch(xs[me].to(DEV), idxs[me].to(DEV))
            torch.cuda.synchronize()
            self.assertIsNone(scales)
            # Per local expert: the (rank, token) rows routed to it, as a set.
            for l in range(L):
                e = me * L + l
                want = sorted(tuple(xs[r][t].float().tolist()) for r in range(R) for t in range(T)
                              if e in idxs[r][t].tolist())
                self.assertEqual(int(count[l]), len(want), f"recv_count of expert {e}")
                got = sorted(tuple(row.float().tolist()) for row in recv[l, :len(want)].cpu())
                self.assertEqual(got, want, f"rows of expert {e}")
            # Expert e multiplies by (1 + e); combine weighs and sums.
            factor = (1 + me * L + torch.arange(L, device=DEV)).view(L, 1, 1).to(torch.float32)
            y = (recv.float() * factor).to(torch.bfloat16)
            out = torch.full((T, H), float("nan"), dtype=torch.bfloat16, device=DEV)
            ep.combine(y, idxs[me].to(DEV), ws[me].to(DEV), out=out)
            torch.cuda.synchronize()
            ep.device_error()
        want = torch.zeros(T, H, dtype=torch.float64)
        for t in range(T):
            for j in range(K):
                e = int(idxs[me][t, j])
                if e >= 0:
                    row = (xs[me][t].float() * (1 + e)).to(torch.bfloat16).double()
                    want[t] += float(ws[me][t, j]) * row
        got = out.cpu().double()
        self.assertFalse(torch.isnan(got).any(), "combine left an element unwritten")
        self.assertTrue(torch.equal(got[0], torch.zeros(H, dtype=torch.float64)),
                        "a token routed nowhere must come back as zeros")
        err = (got - want).norm() / want.norm()
        self.assertLess(float(err), 1e-2, f"combine: relative error {float(err):.3g}")


if __name__ == "__main__":
    unittest.main()
