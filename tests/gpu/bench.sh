#!/usr/bin/env bash
# Benchmarks on the lent GPU machine, Tandem and NCCL side by side in one run
# (same process, same buffers, -M 1). Expects a build in build-gpu (run.sh
# makes one); appends every command and its table to $OUT/bench.txt.
# BENCH_SWEEP=1 instead sweeps the engine's block and slot settings.
set -uo pipefail
export NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1 TORCH_SYMM_MEM_DISABLE_MULTICAST=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-$root/gpu-results}
bin=$root/build-gpu/bin
np=${BENCH_NP:-2}
mkdir -p "$out"
status=0
run() {  # log file, command...
  local log=$out/$1; shift
  echo "\$ mpirun -np $np $*" >> "$log"
  timeout 240 mpirun -np "$np" --bind-to none "$@" >> "$log" 2>&1 || { echo "exit $? from: $*" | tee -a "$log"; status=1; }
}
if [[ ${BENCH_SWEEP:-0} == 1 ]]; then
  for blocks in 32 64 128; do
    for slot in 64K 256K; do
      echo "# TANDEM_CUDA_MAX_BLOCKS=$blocks TANDEM_CUDA_SLOT_BYTES=$slot" >> "$out/sweep.txt"
      TANDEM_CUDA_MAX_BLOCKS=$blocks TANDEM_CUDA_SLOT_BYTES=$slot \
        run sweep.txt "$bin/all_reduce_perf" -b 1M -e 512M -f 8 -w 5 -n 20 -d bfloat16 -c 0
    done
  done
  exit $status
fi
# Latency: every power of two up to 64 KiB under CUDA graphs (-G).
run bench.txt "$bin/all_reduce_perf" -b 8 -e 256K -f 2 -w 20 -n 50 -G 10 -d bfloat16 -M 1 -c 1
# Where the LL (one-shot) range should end: allreduce and reduce-scatter
# around the 1 MiB crossover with a larger LL range.
for ll in 512K 1M 2M; do
  echo "# TANDEM_CUDA_LL_MAX_BYTES=$ll" >> "$out/bench.txt"
  for t in all_reduce reduce_scatter; do
    TANDEM_CUDA_LL_MAX_BYTES=$ll run bench.txt "$bin/${t}_perf" -b 256K -e 2M -f 2 -w 10 -n 20 -G 4 \
      -d bfloat16 -M 1 -c 1
  done
done
# Two-shot allreduce at 2 ranks, for the record (auto never picks it there).
echo "# TANDEM_CUDA_ALLREDUCE_ALGO=twoshot TANDEM_CUDA_LL_MAX_BYTES=2M" >> "$out/bench.txt"
TANDEM_CUDA_ALLREDUCE_ALGO=twoshot TANDEM_CUDA_LL_MAX_BYTES=2M run bench.txt \
  "$bin/all_reduce_perf" -b 16K -e 2M -f 4 -w 10 -n 20 -G 4 -d bfloat16 -M 1 -c 1
# Bandwidth, 1 KiB to 1 GiB, each collective, also under graphs. The host-side
# check of a 1 GiB result takes minutes, so sizes from 256 MiB run unchecked
# (the tests check the same kernels).
for t in all_reduce all_gather reduce_scatter alltoall; do
  run bench.txt "$bin/${t}_perf" -b 1K -e 64M -f 4 -w 5 -n 10 -G 4 -d bfloat16 -M 1 -c 1
  run bench.txt "$bin/${t}_perf" -b 256M -e 1G -f 4 -w 2 -n 10 -G 4 -d bfloat16 -M 1 -c 0
done
# Copy-engine allgather into symmetric windows (-R 2; opt-in path, TANDEM_CUDA_CE=1).
TANDEM_CUDA_CE=1 run bench.txt "$bin/all_gather_perf" -R 2 -b 16M -e 1G -f 4 -w 2 -n 10 -G 4 \
  -d bfloat16 -M 1 -c 0
run bench.txt "$bin/sendrecv_perf" -b 1K -e 64M -f 16 -w 5 -n 10 -M 1 -c 1
run shmem.txt "$bin/shmem_perf" -b 8 -e 1G -f 4 -l 64K -n 50 -w 5 -r 3
exit $status
