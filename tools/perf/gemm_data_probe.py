#!/usr/bin/env python3
"""How much a bf16 GEMM's time depends on its data, on one GPU.

python3 tools/perf/gemm_data_probe.py
Times torch.matmul (cuBLAS) on the GEMM halves of the AG-GEMM and GEMM-RS
rows of fused_perf with zeros, torch.randn, and the uniform grid fused_perf
fills (k/1000, k in -1000..1000), interleaved, median microseconds of CUDA
events over back-to-back products after warm-up. A product on zeros draws
less power and can run faster (METHOD.md), so a bar measured on such data
is not one random data can reach.
"""
import torch

SHAPES = [(8192, 4096, 5504), (8192, 2048, 11008), (4096, 5120, 12800), (2048, 5120, 25600)]


def timed(fn, iters=30, warmup=10):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    t = []
    for _ in range(iters):
        s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record()
        fn()
        e.record()
        e.synchronize()
        t.append(s.elapsed_time(e) * 1000.0)
    t.sort()
    return t[len(t) // 2]


def main():
    dev = torch.device("cuda", 0)
    print(f"# {torch.cuda.get_device_name(0)}, torch {torch.__version__}, bf16, us (median of 30)")
    print(f"# {'M':>6} {'K':>6} {'N':>6} {'zeros':>9} {'randn':>9} {'grid':>9} {'TF/s grid':>9}")
    for m, k, n in SHAPES:
        sets = {}
        sets["zeros"] = (torch.zeros(m, k, device=dev, dtype=torch.bfloat16),
                         torch.zeros(k, n, device=dev, dtype=torch.bfloat16))
        sets["randn"] = (torch.randn(m, k, device=dev, dtype=torch.bfloat16),
                         torch.randn(k, n, device=dev, dtype=torch.bfloat16))
        grid = lambda *s: (torch.randint(-1000, 1001, s, device=dev).float() / 1000).bfloat16()
        sets["grid"] = (grid(m, k), grid(k, n))
        res = {}
        for rnd in range(2):
            for name, (a, b) in sets.items():
                t = timed(lambda: torch.matmul(a, b))
                res[name] = min(res.get(name, 1e30), t)
        tf = 2.0 * m * n * k / (res["grid"] * 1e-6) / 1e12
        print(f"  {m:6d} {k:6d} {n:6d} {res['zeros']:9.1f} {res['randn']:9.1f} {res['grid']:9.1f} {tf:9.0f}")


if __name__ == "__main__":
    main()
