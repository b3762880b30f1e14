#!/usr/bin/env bash
# Quick start: install what is missing, build, and run the allreduce /
# allgather / alltoall benchmarks over every local GPU, or over 4 local CPU
# ranks when there is no GPU (host memory, OpenMPI side by side).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/tools/install_deps.sh"
build=${TANDEM_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)"
bin=$build/bin
ngpus=0
command -v nvidia-smi >/dev/null 2>&1 && ngpus=$(nvidia-smi -L 2>/dev/null | wc -l || echo 0)
if [ "$ngpus" -gt 0 ] && "$bin/all_reduce_perf" --help 2>&1 | grep -q -- "--mem"; then
  nranks=$ngpus
  mem=(--mem cuda)
else
  nranks=4
  mem=(--mem host)
fi
echo "tandem: benchmarking on $nranks ranks (${mem[1]} memory)"
for tool in all_reduce_perf all_gather_perf alltoall_perf; do
  "$bin/tandemrun" -n "$nranks" -- "$bin/$tool" -b 8 -e 64M -f 4 "${mem[@]}"
done
