#!/usr/bin/env bash
# Builds Tandem with CUDA and runs everything GPU-related on the lent GPU
# machine in one call; results go to $OUT (or ./gpu-results).
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
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DTANDEM_WERROR=ON \
  -DCMAKE_CUDA_ARCHITECTURES=90a > "$out/configure.log" 2>&1 || { tail -50 "$out/configure.log"; exit 1; }
cmake --build "$build" -j 16 > "$out/build.log" 2>&1 || { grep -E "error|Error" "$out/build.log" | head -50; exit 1; }
cd "$build"
status=0
# Topology as Tandem discovers it: this host, and the job of one rank per GPU.
{
  echo "\$ tandem-topo"; ./bin/tandem-topo
  echo; echo "\$ tandem-topo --format matrix"; ./bin/tandem-topo --format matrix
  echo; echo "\$ tandemrun -n 2 -- tandem-topo"; ./bin/tandemrun -n 2 -- ./bin/tandem-topo
  echo; echo "\$ tandem-topo --format json"; ./bin/tandem-topo --format json
} > "$out/topology.txt" 2>&1 || status=1
grep -E "GPU 0 <-> GPU 1|NV18" "$out/topology.txt" | head -3
ctest --output-on-failure -L gpu > "$out/gpu_tests.log" 2>&1 || status=1
tail -5 "$out/gpu_tests.log"
# The CPU suites on this machine too (different compiler and more cores).
ctest --output-on-failure -L unit -j 8 > "$out/unit_tests.log" 2>&1 || status=1
tail -3 "$out/unit_tests.log"
ctest --output-on-failure -L mp -j 2 > "$out/mp_tests.log" 2>&1 || status=1
tail -3 "$out/mp_tests.log"
exit $status
