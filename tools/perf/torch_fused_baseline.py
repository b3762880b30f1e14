#!/usr/bin/env python3
"""PyTorch's fused ops on the shapes of fused_perf, for the side-by-side run.

torchrun --nproc-per-node 2 tools/perf/torch_fused_baseline.py
Times torch.ops.symm_mem.fused_all_gather_matmul and
fused_matmul_reduce_scatter (NVLink multicast off:
TORCH_SYMM_MEM_DISABLE_MULTICAST=1, set here too) and the sequential pair
(NCCL collective + torch.matmul), bf16, median microseconds of CUDA-event
times over replays after warm-up. Shapes as BASELINES.md: M, K, N global; AG
splits N, RS splits K.
"""
import os

os.environ.setdefault("TORCH_SYMM_MEM_DISABLE_MULTICAST", "1")
os.environ.setdefault("NCCL_NVLS_ENABLE", "0")
os.environ.setdefault("NVSHMEM_DISABLE_NVLS", "1")

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.distributed._symmetric_memory as symm_mem  # noqa: E402

SHAPES = [
    ("ag", 8192, 4096, 11008), ("ag", 8192, 8192, 29568), ("ag", 8192, 12288, 49152),
    ("ag", 4096, 5120, 25600), ("ag", 2048, 5120, 51200), ("ag", 2048, 5120, 25600),
    ("rs", 8192, 4096, 11008), ("rs", 8192, 8192, 29568), ("rs", 8192, 12288, 49152),
    ("rs", 4096, 5120, 25600), ("rs", 2048, 5120, 51200), ("rs", 2048, 25600, 5120),
    ("rs", 4096, 25600, 5120),
]


def median_us(fn, warmup=5, iters=15, reps=10):
    """Median per-call time of `reps` back-to-back calls (as fused_perf's
    graph of 10 calls), so the host's launch time of PyTorch's fused ops,
    which are many kernels each, hides behind the GPU's queue."""
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        dist.barrier()
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(reps):
            fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) * 1000.0 / reps)
    times.sort()
    return times[len(times) // 2]


def main():
    dist.init_process_group("nccl")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", rank)))
    group = dist.group.WORLD
    symm_mem.enable_symm_mem_for_group(group.group_name)
    if rank == 0:
        print(f"# torch {torch.__version__}, {world} ranks, bf16, us (median)")
        print(f"# {'op':7} {'M':>6} {'K':>6} {'N':>6} {'gemm':>9} {'seq':>9} {'torch':>9}")
    for op, m, k, n in SHAPES:
        dt = torch.bfloat16
        if op == "ag":
            a = torch.randn(m // world, k, device="cuda", dtype=dt)
            b = torch.randn(k, n // world, device="cuda", dtype=dt)
            full = torch.randn(m, k, device="cuda", dtype=dt)

            def seq():
                dist.all_gather_into_tensor(full, a)
                return full @ b

            def fused():
                return torch.ops.symm_mem.fused_all_gather_matmul(a, [b], 0, group.group_name)

            gemm = median_us(lambda: full @ b)
        else:
            a = torch.randn(m, k // world, device="cuda", dtype=dt)
            b = torch.randn(k // world, n, device="cuda", dtype=dt)
            out = torch.empty(m // world, n, device="cuda", dtype=dt)

            def seq():
                dist.reduce_scatter_tensor(out, a @ b)
                return out

            def fused():
                return torch.ops.symm_mem.fused_matmul_reduce_scatter(a, b, "sum", 0, group.group_name)

            gemm = median_us(lambda: a @ b)
        t_seq = median_us(seq)
        try:
            t_fused = median_us(fused)
        except Exception as e:  # report, keep going
            if rank == 0:
                print(f"# {op} {m} {k} {n}: torch fused failed: {e}")
            t_fused = float("nan")
        if rank == 0:
            name = "AG-GEMM" if op == "ag" else "GEMM-RS"
            print(f"  {name:7} {m:6} {k:6} {n:6} {gemm:9.1f} {t_seq:9.1f} {t_fused:9.1f}", flush=True)
        del a, b
        torch.cuda.empty_cache()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
