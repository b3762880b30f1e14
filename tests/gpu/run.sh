#!/usr/bin/env bash
# Builds Tandem with CUDA and runs everything GPU-related on the lent GPU
# machine in one call: the gpu-labelled tests (2 ranks first, then the
# 4 and 8 ranks on 2 GPUs runs), then the benchmarks against NCCL (bench.sh),
# then, with DROPIN=1, the drop-in proofs: PyTorch on the NCCL shim
# (torch_dropin/run.sh), nccl-tests on it (nccl_tests.sh) and IMB-MPI1-GPU
# through the MPI plugin (imb_gpu.sh); those need the third-party suites in
# <repo>/third_party (a git-ignored copy of ../shared/third_party, carried
# to the machine) and say NOT RUN without them.
# Logs go to $OUT (or ./gpu-results); with PACK=1 (the default) the
# subfolders end up in $OUT/logs.tgz, since the device tool returns only so
# many files. RUN_CPU_SUITES=1 adds the unit and mp suites; NO_BENCH=1 skips
# the benchmarks, SKIP_NP48=1 the 4 and 8 rank tests (NP48_TIMEOUT: seconds
# each of those may take, default 400), NO_GPU_TESTS=1 the 2-rank tests.
# Everything does not fit one device call (10 minutes): run the tests in one
# (NO_BENCH=1) and the drop-in proofs in the next
# (NO_GPU_TESTS=1 SKIP_NP48=1 NO_BENCH=1 DROPIN=1).
set -uo pipefail
export NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1 TORCH_SYMM_MEM_DISABLE_MULTICAST=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-$root/gpu-results}
mkdir -p "$out"
build=$root/build-gpu
{
  date -u; hostname; nvidia-smi -L; nvidia-smi topo -m
  cmake --version | head -1; g++ --version | head -1; nvcc --version | tail -2
} > "$out/machine.txt" 2>&1
# Ninja when the machine has it: ep/run_ep.sh shares this build folder.
generator=()
command -v ninja > /dev/null && generator=(-G Ninja)
cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DTANDEM_WERROR=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90a > "$out/configure.log" 2>&1 || { tail -50 "$out/configure.log"; exit 1; }
cmake --build "$build" -j "$(nproc)" > "$out/build.log" 2>&1 || { grep -E "error|Error" "$out/build.log" | head -50; exit 1; }
cd "$build"
status=0
./bin/tandem-topo --format matrix > "$out/topology.txt" 2>&1 || status=1
log=$out/gpu_tests.log
if [[ ${NO_GPU_TESTS:-0} != 1 ]]; then
  ctest --output-on-failure -L gpu -E "np4|np8" >> "$log" 2>&1 || status=1
  grep -E "tests passed|Failed|\*\*\*" "$log" | tail -12
  # The Python package on CUDA tensors (the machine's python3 has torch).
  (cd "$root/tests/gpu/python" && PYTHONPATH=$build/python PYTHONDONTWRITEBYTECODE=1 \
    timeout 300 "$build/bin/tandemrun" -n 2 -- python3 -m unittest -v cuda_test) \
    > "$out/python_cuda.log" 2>&1 || status=1
  grep -E "^(OK|FAILED)|Error|Fail" "$out/python_cuda.log" | head -12
fi
[[ ${NO_BENCH:-0} == 1 ]] || bash "$root/tests/gpu/bench.sh" || status=1
if [[ ${SKIP_NP48:-0} != 1 ]]; then
  ctest --output-on-failure -L gpu -R "np4|np8" --timeout "${NP48_TIMEOUT:-400}" >> "$log" 2>&1 || status=1
  grep -E "tests passed|Failed|\*\*\*" "$log" | tail -6
fi
if [[ ${RUN_CPU_SUITES:-0} == 1 ]]; then
  ctest --output-on-failure -L unit -j 8 > "$out/unit_tests.log" 2>&1 || status=1
  ctest --output-on-failure -L mp -j 2 > "$out/mp_tests.log" 2>&1 || status=1
fi
if [[ ${DROPIN:-0} == 1 ]]; then
  OUT=$out bash "$root/tests/gpu/torch_dropin/run.sh" "$build" > "$out/torch_dropin.txt" 2>&1 || status=1
  tail -12 "$out/torch_dropin.txt"
  if [[ -d $root/third_party/nccl-tests ]]; then
    OUT=$out bash "$root/tests/gpu/nccl_tests.sh" "$build" > "$out/nccl_tests.txt" 2>&1 || status=1
    grep -v " PASS$" "$out/nccl_tests.txt" | tail -40
  else
    echo "nccl-tests NOT RUN: no $root/third_party/nccl-tests" | tee "$out/nccl_tests.txt"; status=1
  fi
  if [[ -d $root/third_party/mpi-benchmarks ]]; then
    OUT=$out TANDEM_BUILD=$build bash "$root/tests/gpu/imb_gpu.sh" > "$out/imb_gpu.txt" 2>&1 || status=1
    grep -E "exit|FAIL|check:|imb_gpu:" "$out/imb_gpu.txt" | tail -12
  else
    echo "IMB-MPI1-GPU NOT RUN: no $root/third_party/mpi-benchmarks" | tee "$out/imb_gpu.txt"; status=1
  fi
fi
if [[ ${PACK:-1} == 1 ]]; then
  (cd "$out" && find . -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | tar czf logs.tgz --exclude='build-*' --exclude=system-nccl -T - &&
    find . -mindepth 1 -maxdepth 1 -type d -exec rm -rf {} +)
fi
exit $status
