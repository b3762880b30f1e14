#!/usr/bin/env bash
# Expert-parallel dispatch and combine on the lent GPU machine in one call:
# builds only what they need (BUILD, default build-gpu), runs ep_test with 2
# ranks, ep_perf (DeepEP's reference point and a sweep of T, beside
# tdmAlltoAll and NCCL), then ep_test with 4 and 8 ranks on the GPUs there.
# Logs under $OUT (or ./gpu-results); a short summary at the end.
set -uo pipefail
export NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1 TORCH_SYMM_MEM_DISABLE_MULTICAST=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 TANDEM_TIMEOUT=${TANDEM_TIMEOUT:-15} GTEST_COLOR=no
root=$(cd "$(dirname "$0")/../../.." && pwd)
out=${OUT:-$root/gpu-results}
build=${BUILD:-$root/build-gpu}
mkdir -p "$out"
{ date -u; nvidia-smi -L; nvidia-smi topo -m; nvcc --version | tail -1; } > "$out/machine.txt" 2>&1
generator=()
command -v ninja > /dev/null && generator=(-G Ninja)  # as tests/gpu/run.sh
cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DTANDEM_WERROR=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90a > "$out/configure.log" 2>&1 || { tail -30 "$out/configure.log"; exit 1; }
cmake --build "$build" -j "$(nproc)" --target ep_test ep_perf tandem_mpi > "$out/build.log" 2>&1 ||
  { grep -E "error" -A3 "$out/build.log" | head -40; exit 1; }
mpi="mpirun --allow-run-as-root --oversubscribe -x NCCL_NVLS_ENABLE -x NVSHMEM_DISABLE_NVLS -x TANDEM_TIMEOUT -x GTEST_COLOR"
status=0
summary=()
start=$SECONDS
timeout ${T2:-150} $mpi -np 2 "$build/bin/ep_test" > "$out/ep_test_np2.log" 2>&1
rc=$?
[[ $rc == 0 ]] || status=1
summary+=("np2: rc $rc, $((SECONDS - start)) s, $(grep -cE '^\[       OK \]' "$out/ep_test_np2.log") ok lines, $(grep -cE '^\[  FAILED  \]' "$out/ep_test_np2.log") failed lines")
grep -E "Failure|error was|rank [0-9]+:" "$out/ep_test_np2.log" | head -20
TANDEM_SYMMETRIC_SIZE=8G timeout ${TP:-200} $mpi -x TANDEM_SYMMETRIC_SIZE -np 2 \
  "$build/bin/ep_perf" -r 20 -i 30 > "$out/ep_perf_np2.log" 2>&1 || status=1
grep -v "^\[" "$out/ep_perf_np2.log" | head -30
for np in 4 8; do
  start=$SECONDS
  timeout ${T48:-240} $mpi -np $np "$build/bin/ep_test" > "$out/ep_test_np$np.log" 2>&1
  rc=$?
  [[ $rc == 0 ]] || status=1
  summary+=("np$np: rc $rc, $((SECONDS - start)) s, $(grep -cE '^\[       OK \]' "$out/ep_test_np$np.log") ok lines, $(grep -cE '^\[  FAILED  \]' "$out/ep_test_np$np.log") failed lines")
  grep -E "Failure|error was|rank [0-9]+:" "$out/ep_test_np$np.log" | head -10
done
echo "== summary"
printf '%s\n' "${summary[@]}"
grep -E "^# reference point" "$out/ep_perf_np2.log" || echo "ep_perf: no reference line (see ep_perf_np2.log)"
exit $status
