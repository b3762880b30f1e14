#!/usr/bin/env python3
"""Unmodified PyTorch on Tandem's libnccl.so.2 (issue 14, part 4).

Run by tests/gpu/torch_dropin/run.sh, twice under torchrun with 2 processes:
once on the real NCCL (`--mode record`: results saved per rank), once with
LD_PRELOAD=<build>/nccl/lib/libnccl.so.2 (`--mode check`: the same calls on
the same inputs, each result compared with the real NCCL's and with a
float64 reference computed here from every rank's inputs). Also
`--mode nonblocking` (TORCH_NCCL_USE_COMM_NONBLOCKING=1) and `--mode abort`.

Every failure is printed and counted; the exit code is the count (0 passes).
"""
import argparse
import os
import sys
import zlib

os.environ.setdefault("NCCL_NVLS_ENABLE", "0")
os.environ.setdefault("NVSHMEM_DISABLE_NVLS", "1")
os.environ.setdefault("TORCH_SYMM_MEM_DISABLE_MULTICAST", "1")

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

R = dist.ReduceOp
FLOATS = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
INTS = [torch.int8, torch.uint8, torch.int32, torch.int64]
FP8 = [torch.float8_e4m3fn, torch.float8_e5m2]
N = 1000  # elements per rank in most calls


class Checker:
    def __init__(self, mode, path, rank):
        self.mode, self.path, self.rank = mode, path, rank
        self.results, self.failures, self.checked = {}, 0, 0
        self.ref = torch.load(path, weights_only=False) if mode != "record" and os.path.exists(path) else None
        if mode == "check" and self.ref is None:
            self.fail("setup", f"no record at {path}")

    def fail(self, name, why):
        self.failures += 1
        print(f"[rank {self.rank}] FAIL {name}: {why}", flush=True)

    def close(self, name, got, want, dtype, atol=0.0):
        """got/want on the CPU; tolerance from the dtype (two ranks' values
        summed in float32 and rounded once land within one ulp), plus `atol`
        for results of several rounded steps."""
        got64, want64 = got.double(), want.double()
        if dtype.is_floating_point:
            eps = torch.finfo(dtype).eps
            tol = 2 * eps * want64.abs() + (2 * eps if dtype in FP8 else 1e-30) + atol
            bad = ((got64 - want64).abs() > tol) | torch.isnan(got64)
        else:
            bad = got64 != want64
        if bad.any():
            i = int(bad.nonzero()[0][0]) if bad.dim() else 0
            self.fail(name, f"{int(bad.sum())} of {bad.numel()} wrong, first at {i}: "
                            f"{got64.flatten()[i].item()} vs {want64.flatten()[i].item()}")
            return False
        return True

    def result(self, name, tensor, expected=None, atol=0.0):
        """Record (real NCCL) or compare with the record; and with `expected`
        (float64 reference), when given, in both modes."""
        self.checked += 1
        out = tensor.detach().cpu() if isinstance(tensor, torch.Tensor) else tensor
        if expected is not None and isinstance(out, str):
            self.fail(name, f"{out} where a result was expected")
        elif expected is not None:
            self.close(name + " (vs float64 reference)", out, expected.to(out.dtype), out.dtype, atol)
        if self.mode == "record":
            self.results[name] = out
        elif self.ref is not None:
            if name not in self.ref:
                self.fail(name, "the real NCCL run has no result of that name")
            elif isinstance(out, str) or isinstance(self.ref[name], str):
                if out != self.ref[name]:
                    self.fail(name, f"{out!r} here, {self.ref[name]!r} with NCCL")
            else:
                self.close(name + " (vs NCCL)", out, self.ref[name], out.dtype)

    def save(self):
        if self.mode == "record":
            torch.save(self.results, self.path)


def make(name, rank, n, dtype, lo=-4, hi=5):
    """Rank `rank`'s input of test `name`: the same on every run, computable
    by every rank (for the float64 reference)."""
    g = torch.Generator().manual_seed(zlib.crc32(f"{name}/{rank}".encode()))
    if dtype == torch.bool:
        return torch.randint(0, 2, (n,), generator=g).bool()
    if dtype.is_floating_point:
        x = torch.randn(n, generator=g, dtype=torch.float64)
        return x.to(dtype)
    if dtype == torch.uint8:
        lo = max(lo, 0)
    return torch.randint(lo, hi, (n,), generator=g, dtype=torch.int64).to(dtype)


def all_inputs(name, world, n, dtype, **kw):
    return [make(name, r, n, dtype, **kw) for r in range(world)]


def reduce_ref(xs, op, dtype):
    x = torch.stack([v.double() for v in xs])
    if op == R.SUM:
        return x.sum(0)
    if op == R.PRODUCT:
        return x.prod(0)
    if op == R.MAX:
        return x.max(0).values
    if op == R.MIN:
        return x.min(0).values
    if op == R.AVG:
        return x.sum(0) / len(xs)
    raise ValueError(op)


def collectives(c, rank, world, dev, group=None, tag=""):
    """Every collective and point-to-point call of torch.distributed on CUDA
    tensors of every dtype NCCL carries."""
    ops = {"sum": R.SUM, "prod": R.PRODUCT, "max": R.MAX, "min": R.MIN, "avg": R.AVG}
    for dtype in FLOATS + INTS + [torch.bool] + FP8:
        d = str(dtype).split(".")[-1] + tag
        reducible = dtype not in FP8 and dtype != torch.bool
        if reducible:
            for oname, op in ops.items():
                if op == R.AVG and not dtype.is_floating_point:
                    continue
                name = f"all_reduce/{oname}/{d}"
                kw = {"lo": 1, "hi": 3} if op == R.PRODUCT else {}
                xs = all_inputs(name, world, N, dtype, **kw)
                t = xs[rank].to(dev)
                try:
                    dist.all_reduce(t, op=op, group=group)
                    c.result(name, t, reduce_ref(xs, op, dtype))
                except Exception as e:  # record what NCCL refuses too
                    c.result(name, f"error {type(e).__name__}")
            if dtype.is_floating_point:
                name = f"all_reduce/premul/{d}"
                xs = all_inputs(name, world, N, dtype)
                t = xs[rank].to(dev)
                op = dist._make_nccl_premul_sum(0.5)
                dist.all_reduce(t, op=op, group=group)
                # bfloat16: PyTorch 2.11 hands NCCL a scalar that reads as 0
                # in bf16 (the real NCCL returns zeros too, 2026-11-29 run), so
                # that one is compared with NCCL's result only.
                ref = reduce_ref([x.double() * 0.5 for x in xs], R.SUM, dtype)
                c.result(name, t, None if dtype == torch.bfloat16 else ref)
            name = f"reduce/{d}"
            xs = all_inputs(name, world, N, dtype)
            t = xs[rank].to(dev)
            dist.reduce(t, dst=0, op=R.SUM, group=group)
            if rank == 0:
                c.result(name, t, reduce_ref(xs, R.SUM, dtype))
            name = f"reduce_scatter_tensor/{d}"
            xs = all_inputs(name, world, N * world, dtype)
            out = torch.empty(N, dtype=dtype, device=dev)
            dist.reduce_scatter_tensor(out, xs[rank].to(dev), group=group)
            c.result(name, out, reduce_ref(xs, R.SUM, dtype)[rank * N:(rank + 1) * N])
            name = f"reduce_scatter/{d}"
            xs = all_inputs(name, world, N * world, dtype)
            out = torch.empty(N, dtype=dtype, device=dev)
            dist.reduce_scatter(out, list(xs[rank].to(dev).chunk(world)), group=group)
            c.result(name, out, reduce_ref(xs, R.SUM, dtype)[rank * N:(rank + 1) * N])
        name = f"broadcast/{d}"
        xs = all_inputs(name, world, N, dtype)
        t = xs[rank].to(dev)
        dist.broadcast(t, src=world - 1, group=group)
        c.result(name, t, xs[world - 1])
        name = f"all_gather_into_tensor/{d}"
        xs = all_inputs(name, world, N, dtype)
        out = torch.empty(N * world, dtype=dtype, device=dev)
        dist.all_gather_into_tensor(out, xs[rank].to(dev), group=group)
        c.result(name, out, torch.cat(xs))
        name = f"all_gather/{d}"
        xs = all_inputs(name, world, N, dtype)
        outs = [torch.empty(N, dtype=dtype, device=dev) for _ in range(world)]
        dist.all_gather(outs, xs[rank].to(dev), group=group)
        c.result(name, torch.cat(outs), torch.cat(xs))
        name = f"all_to_all_single/{d}"
        xs = all_inputs(name, world, N * world, dtype)
        out = torch.empty(N * world, dtype=dtype, device=dev)
        dist.all_to_all_single(out, xs[rank].to(dev), group=group)
        c.result(name, out, torch.cat([x.chunk(world)[rank] for x in xs]))
        # Uneven splits: rank r sends (r + p + 1) * 10 elements to rank p.
        name = f"all_to_all_single_uneven/{d}"
        split = lambda r, p: (r + p + 1) * 10  # noqa: E731
        xs = [make(name, r, sum(split(r, p) for p in range(world)), dtype) for r in range(world)]
        ins = [split(rank, p) for p in range(world)]
        outs_n = [split(p, rank) for p in range(world)]
        out = torch.empty(sum(outs_n), dtype=dtype, device=dev)
        dist.all_to_all_single(out, xs[rank].to(dev), outs_n, ins, group=group)
        want = torch.cat([xs[p].split([split(p, q) for q in range(world)])[rank] for p in range(world)])
        c.result(name, out, want)
        name = f"all_to_all/{d}"
        xs = all_inputs(name, world, N * world, dtype)
        outs = [torch.empty(N, dtype=dtype, device=dev) for _ in range(world)]
        dist.all_to_all(outs, list(xs[rank].to(dev).chunk(world)), group=group)
        c.result(name, torch.cat(outs), torch.cat([x.chunk(world)[rank] for x in xs]))
        name = f"gather/{d}"
        xs = all_inputs(name, world, N, dtype)
        outs = [torch.empty(N, dtype=dtype, device=dev) for _ in range(world)] if rank == 0 else None
        dist.gather(xs[rank].to(dev), outs, dst=0, group=group)
        if rank == 0:
            c.result(name, torch.cat(outs), torch.cat(xs))
        name = f"scatter/{d}"
        xs = all_inputs(name, world, N * world, dtype)
        out = torch.empty(N, dtype=dtype, device=dev)
        dist.scatter(out, list(xs[world - 1].to(dev).chunk(world)) if rank == world - 1 else None,
                     src=world - 1, group=group)
        c.result(name, out, xs[world - 1].chunk(world)[rank])
        # Point-to-point: a ring, blocking, non-blocking and batched.
        nxt, prv = (rank + 1) % world, (rank - 1) % world
        name = f"send_recv/{d}"
        xs = all_inputs(name, world, N, dtype)
        out = torch.empty(N, dtype=dtype, device=dev)
        if rank % 2 == 0:
            dist.send(xs[rank].to(dev), nxt, group=group)
            dist.recv(out, prv, group=group)
        else:
            dist.recv(out, prv, group=group)
            dist.send(xs[rank].to(dev), nxt, group=group)
        c.result(name, out, xs[prv])
        name = f"isend_irecv/{d}"
        xs = all_inputs(name, world, N, dtype)
        out = torch.empty(N, dtype=dtype, device=dev)
        reqs = [dist.isend(xs[rank].to(dev), nxt, group=group), dist.irecv(out, prv, group=group)]
        for q in reqs:
            q.wait()
        c.result(name, out, xs[prv])
        name = f"batch_isend_irecv/{d}"
        xs = all_inputs(name, world, N, dtype)
        out = torch.empty(N, dtype=dtype, device=dev)
        ops_ = [dist.P2POp(dist.isend, xs[rank].to(dev), nxt, group),
                dist.P2POp(dist.irecv, out, prv, group)]
        for q in dist.batch_isend_irecv(ops_):
            q.wait()
        c.result(name, out, xs[prv])
    torch.cuda.synchronize()


def objects_and_barrier(c, rank, world, dev):
    objs = [{"rank": rank, "tag": "x" * (rank + 1)}]
    gathered = [None] * world
    dist.all_gather_object(gathered, objs[0])
    c.result("all_gather_object", str(gathered), None)
    lst = [f"from {world - 1}"] if rank == world - 1 else [None]
    dist.broadcast_object_list(lst, src=world - 1)
    c.result("broadcast_object_list", str(lst), None)
    dist.barrier()


def groups(c, rank, world, dev):
    """new_group (ncclCommSplit under eager init), a one-rank group, and
    split_group."""
    g_all = dist.new_group(list(range(world)))
    name = "new_group/all_reduce"
    xs = all_inputs(name, world, N, torch.float32)
    t = xs[rank].to(dev)
    dist.all_reduce(t, group=g_all)
    c.result(name, t, reduce_ref(xs, R.SUM, torch.float32))
    singles = [dist.new_group([r]) for r in range(world)]
    name = "new_group/single/all_reduce"
    x = make(name, rank, N, torch.float32)
    t = x.to(dev)
    dist.all_reduce(t, group=singles[rank])
    c.result(name, t, x)
    if hasattr(dist, "split_group"):
        sub = dist.split_group(split_ranks=[[r] for r in range(world)])
        name = "split_group/all_reduce"
        x = make(name, rank, N, torch.float32)
        t = x.to(dev)
        dist.all_reduce(t, group=sub)
        c.result(name, t, x)
    collectives(c, rank, world, dev, group=g_all, tag="@new_group")


def ddp(c, rank, world, dev):
    torch.manual_seed(1234)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 16)).to(dev)
    ddp_model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[dev.index])
    opt = torch.optim.SGD(ddp_model.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(99 + rank)
    for _ in range(3):
        x = torch.randn(32, 64, generator=g).to(dev)
        y = torch.randn(32, 16, generator=g).to(dev)
        opt.zero_grad()
        torch.nn.functional.mse_loss(ddp_model(x), y).backward()
        opt.step()
    for i, p in enumerate(model.parameters()):
        c.result(f"ddp/param{i}", p, None)
        c.result(f"ddp/grad{i}", p.grad, None)


def compiled(c, rank, world, dev):
    import torch.distributed._functional_collectives as fc

    @torch.compile(fullgraph=True)
    def step(x):
        y = fc.all_reduce(x * 2, "sum", dist.group.WORLD)
        return fc.all_gather_tensor(y + 1, 0, dist.group.WORLD)

    name = "compile/all_reduce+all_gather"
    xs = all_inputs(name, world, N, torch.float32)
    out = step(xs[rank].to(dev))
    red = reduce_ref([x * 2 for x in xs], R.SUM, torch.float32) + 1
    # Three float32 roundings (x*2, the sum, +1) against one in float64.
    c.result(name, out, torch.cat([red] * world), atol=4 * torch.finfo(torch.float32).eps)


def graphs(c, rank, world, dev):
    t = torch.zeros(N, device=dev)
    out = torch.empty(N * world, device=dev)
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):  # warm up outside the capture
        dist.all_reduce(t)
        dist.all_gather_into_tensor(out, t)
    torch.cuda.current_stream().wait_stream(s)
    torch.cuda.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        dist.all_reduce(t)
        dist.all_gather_into_tensor(out, t)
    for replay in range(3):
        name = f"cuda_graph/replay{replay}"
        xs = all_inputs(name, world, N, torch.float32)
        t.copy_(xs[rank].to(dev))
        graph.replay()
        torch.cuda.synchronize()
        red = reduce_ref(xs, R.SUM, torch.float32)
        c.result(name + "/all_reduce", t, red)
        c.result(name + "/all_gather", out, torch.cat([red] * world))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["record", "check", "nonblocking", "abort"], required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--expect-version", default="")
    args = ap.parse_args()
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    torch.cuda.set_device(local)
    dev = torch.device("cuda", local)
    os.makedirs(args.dir, exist_ok=True)
    c = Checker("record" if args.mode == "record" else "check",
                os.path.join(args.dir, f"rank{rank}.pt"), rank)
    # Which NCCL is this? The shim reports the API level it implements.
    version = ".".join(map(str, torch.cuda.nccl.version()))
    libs = sorted({line.split()[-1] for line in open("/proc/self/maps") if "libnccl" in line})
    print(f"[rank {rank}] mode {args.mode}: ncclGetVersion {version}, mapped {libs}", flush=True)
    if args.expect_version and version != args.expect_version:
        c.fail("version", f"ncclGetVersion says {version}, expected {args.expect_version}")
    dist.init_process_group("nccl", device_id=dev)
    if args.mode == "abort":
        xs = all_inputs("abort/all_reduce", world, N, torch.float32)
        t = xs[rank].to(dev)
        dist.all_reduce(t)
        c.close("abort/all_reduce", t.cpu(), reduce_ref(xs, R.SUM, torch.float32), torch.float32)
        from torch.distributed.distributed_c10d import _abort_process_group
        _abort_process_group()
        print(f"[rank {rank}] aborted the default group", flush=True)
        sys.exit(c.failures)
    if args.mode == "nonblocking":
        xs = all_inputs("nonblocking/all_reduce", world, N, torch.float32)
        t = xs[rank].to(dev)
        dist.all_reduce(t)
        c.close("nonblocking/all_reduce", t.cpu(), reduce_ref(xs, R.SUM, torch.float32), torch.float32)
        sub = dist.new_group(list(range(world)))
        t2 = xs[rank].to(dev)
        dist.all_reduce(t2, group=sub)
        c.close("nonblocking/new_group", t2.cpu(), reduce_ref(xs, R.SUM, torch.float32), torch.float32)
        dist.destroy_process_group()
        print(f"[rank {rank}] nonblocking: {c.failures} failures", flush=True)
        sys.exit(c.failures)
    for part in (collectives, objects_and_barrier, groups, ddp, compiled, graphs):
        try:
            part(c, rank, world, dev)
        except Exception as e:
            c.fail(part.__name__, f"raised {type(e).__name__}: {e}")
    c.save()
    dist.destroy_process_group()
    print(f"[rank {rank}] {args.mode}: {c.checked} results, {c.failures} failures", flush=True)
    sys.exit(min(c.failures, 100))


if __name__ == "__main__":
    main()
