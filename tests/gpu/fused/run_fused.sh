#!/usr/bin/env bash
# The fused ops on the lent 2-GPU machine in one call: builds only what they
# need (build-gpu), runs fused_test with 2 ranks, fused_perf and PyTorch's
# fused ops side by side, then fused_test with 4 and 8 ranks on the 2 GPUs.
# Logs under $OUT (or ./gpu-results).
set -uo pipefail
export NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1 TORCH_SYMM_MEM_DISABLE_MULTICAST=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 TANDEM_TIMEOUT=120
root=$(cd "$(dirname "$0")/../../.." && pwd)
out=${OUT:-$root/gpu-results}
mkdir -p "$out"
build=$root/build-gpu
{ date -u; nvidia-smi -L; nvidia-smi topo -m; nvcc --version | tail -1; } > "$out/machine.txt" 2>&1
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTANDEM_WERROR=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90a > "$out/configure.log" 2>&1 || { tail -30 "$out/configure.log"; exit 1; }
cmake --build "$build" -j "$(nproc)" --target fused_test fused_perf > "$out/build.log" 2>&1 ||
  { grep -E "error" -A3 "$out/build.log" | head -40; exit 1; }
mpi="mpirun --allow-run-as-root --oversubscribe -x NCCL_NVLS_ENABLE -x NVSHMEM_DISABLE_NVLS -x TANDEM_TIMEOUT"
status=0
timeout ${T2:-150} $mpi -np 2 "$build/bin/fused_test" > "$out/test_np2.log" 2>&1 || status=1
grep -E "^\[  (PASSED|FAILED) |OK \]|FAILED  \]" "$out/test_np2.log" | sort | uniq -c | head -20
TANDEM_SYMMETRIC_SIZE=16G timeout ${TP:-200} $mpi -x TANDEM_SYMMETRIC_SIZE -np 2 \
  "$build/bin/fused_perf" -r 10 -i 15 > "$out/fused_perf.log" 2>&1 || status=1
cat "$out/fused_perf.log" | grep -v "^\[" | head -40
PYTHONUNBUFFERED=1 timeout ${TT:-150} torchrun --nproc-per-node 2 \
  "$root/tools/perf/torch_fused_baseline.py" > "$out/torch_fused.log" 2>&1 || status=1
grep -E "^#|^  " "$out/torch_fused.log" | head -20
for np in 4 8; do
  timeout ${T48:-90} $mpi -np $np "$build/bin/fused_test" --gtest_filter='*SweepFusedPath:*Graph*:*BadInput*' \
    > "$out/test_np$np.log" 2>&1 || status=1
  echo "np$np:"; grep -E "^\[  (PASSED|FAILED) " "$out/test_np$np.log" | sort | uniq -c
done
exit $status
