#!/usr/bin/env bash
# Unmodified IMB-MPI1-GPU (CUDA buffers) through the MPI plugin on the GPU
# machine, 2 ranks. That machine's OpenMPI is not CUDA-aware, so:
#   plain   IMB without the plugin: expected to fail (MPI cannot read device
#           memory); run once, small, to record that it does
#   tandem  with libtandem_pmpi.so: Tandem's CUDA engine carries the collectives
#   staged  the plugin with TANDEM_PMPI_STAGE=host: CUDA buffers copied to pinned
#           host memory, OpenMPI on host memory, copied back (the baseline a
#           program without a CUDA-aware MPI would write)
#   check   IMB built with -DCHECK on managed memory (-mem_alloc_type shared:
#           Tandem takes it as CUDA memory, IMB's checker can read it): defects 0
#   nccl    Tandem and NCCL side by side on the same buffers (tools/perf, -M 1)
# then a t_avg table, Tandem against staged, per size. Logs in $OUT (or
# <repo>/gpu-results)/imb_gpu; IMB from TANDEM_IMB_DIR, default
# <repo>/third_party/mpi-benchmarks (carried there, ignored by git). Needs a
# CUDA build in TANDEM_BUILD (default <repo>/build-gpu; built here if its
# plugin is missing). IMB_GPU_ARGS replaces the size and time options.
set -uo pipefail
export NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1 TORCH_SYMM_MEM_DISABLE_MULTICAST=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-$root/gpu-results}/imb_gpu
build=${TANDEM_BUILD:-$root/build-gpu}
src=${TANDEM_IMB_DIR:-$root/third_party/mpi-benchmarks}
cuda_include=${CUDA_INCLUDE_DIR:-/usr/local/cuda/include}
mkdir -p "$out"
status=0
say() { echo "$*" | tee -a "$out/summary.txt"; }
: > "$out/summary.txt"
{ date -u; hostname; nvidia-smi -L; mpirun --version | head -1
  ompi_info --parsable --all 2>/dev/null | grep mpi_built_with_cuda_support; } > "$out/machine.txt" 2>&1

[[ -f $src/src_cpp/Makefile ]] || { say "FAIL: no IMB sources at $src (set TANDEM_IMB_DIR)"; exit 1; }
plugin=$build/lib/libtandem_pmpi.so
if [[ ! -f $plugin ]]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DTANDEM_WERROR=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90a > "$out/configure.log" 2>&1 &&
    cmake --build "$build" -j "$(nproc)" --target tandem_pmpi all_reduce_perf all_gather_perf \
      reduce_scatter_perf alltoall_perf broadcast_perf reduce_perf > "$out/build.log" 2>&1 ||
    { say "FAIL: Tandem build (logs in $out)"; exit 1; }
fi

# IMB builds in its tree: one copy per flavour, in the build folder.
build_imb() {  # name, extra CPPFLAGS
  local dir=$build/imb-gpu-$1
  if [[ ! -x $dir/IMB-MPI1-GPU ]]; then
    rm -rf "$dir" && cp -r "$src" "$dir" && rm -rf "$dir/.git"
    make -C "$dir" IMB-MPI1-GPU CC=mpicc CXX=mpicxx CUDA_INCLUDE_DIR="$cuda_include" \
      CPPFLAGS="-DOMPI_SKIP_MPICXX -DMPICH_SKIP_MPICXX $2" > "$out/imb_build_$1.log" 2>&1 ||
      { say "FAIL: IMB-MPI1-GPU ($1) did not build: $out/imb_build_$1.log"; return 1; }
  fi
  echo "$dir/IMB-MPI1-GPU"
}
imb=$(build_imb timing "") || exit 1
imb_check=$(build_imb check "-DCHECK") || status=1

benchmarks=(Allreduce Allgather Reduce_scatter Alltoall Bcast Reduce)
read -ra sizes <<< "${IMB_GPU_ARGS:--msglog 0:26 -iter 200 -time 2 -mem 4}"
mpi=(mpirun -np 2 --bind-to none)
preload=(-x LD_PRELOAD="$plugin" -x TANDEM_DEBUG=INFO)

run() {  # name, timeout, mpirun arguments...
  local name=$1 limit=$2; shift 2
  echo "\$ $*" > "$out/$name.log"
  timeout "$limit" "$@" >> "$out/$name.log" 2>&1
  local rc=$?
  say "$name: exit $rc ($out/$name.log)"
  return $rc
}

# Without the plugin: OpenMPI on device pointers (expected to crash or fail).
if run plain 120 "${mpi[@]}" "$imb" -npmin 2 -msglog 0:4 -iter 10 Allreduce; then
  say "note: plain OpenMPI ran IMB-MPI1-GPU's Allreduce (is this OpenMPI CUDA-aware?)"
fi
run tandem 600 "${mpi[@]}" "${preload[@]}" "$imb" -npmin 2 "${sizes[@]}" "${benchmarks[@]}" || status=1
run staged 600 "${mpi[@]}" "${preload[@]}" -x TANDEM_PMPI_STAGE=host "$imb" -npmin 2 "${sizes[@]}" \
  "${benchmarks[@]}" || status=1
if [[ -n ${imb_check:-} ]]; then
  run check 600 "${mpi[@]}" "${preload[@]}" "$imb_check" -npmin 2 -mem_alloc_type shared \
    -msglog 0:20 -iter 50 -time 1 "${benchmarks[@]}" || status=1
fi

# Report lines: every collective went to Tandem's CUDA engine (or was staged).
expect_route() {  # log, route
  for r in 0 1; do
    for call in MPI_Allreduce MPI_Allgather MPI_Reduce_scatter MPI_Alltoall MPI_Bcast MPI_Reduce; do
      grep -Eq "^tandem_pmpi: rank $r: $call calls [0-9]+:.* $2 [1-9]" "$out/$1.log" ||
        { say "FAIL: $1 run, rank $r: no $call call went $2"; status=1; }
    done
  done
}
expect_route tandem tandem-cuda
expect_route staged staged-host
[[ -f $out/check.log ]] && expect_route check tandem-cuda

rows() {  # IMB log -> "bench bytes t_avg defects"
  awk '/^# Benchmarking/ { bench = $3 } /^#/ { next }
       bench != "" && /^ +[0-9]/ { print bench, $1, $5, (NF > 5 ? $NF : "-") }' "$out/$1.log"
}
rows tandem > "$out/rows_tandem.txt"
rows staged > "$out/rows_staged.txt"
if [[ -f $out/check.log ]]; then
  rows check > "$out/rows_check.txt"
  bad=$(awk '$4 != "-" && $4 + 0 != 0' "$out/rows_check.txt")
  if [[ -n $bad ]]; then say "FAIL: IMB found wrong results (bench bytes t_avg defects):"; say "$bad"; status=1
  elif [[ -s $out/rows_check.txt ]]; then say "check: $(wc -l < "$out/rows_check.txt") rows, every defect 0"
  else say "FAIL: the check run printed no rows"; status=1; fi
fi
{
  echo
  echo "IMB-MPI1-GPU, 2 ranks, CUDA buffers: t_avg [usec]; staged/Tandem > 1: Tandem is faster"
  printf "%-15s %10s %12s %12s %8s %10s\n" benchmark bytes Tandem staged ratio "GB/s(T)"
  join -j1 <(awk '{ print $1 ":" $2, $3 }' "$out/rows_tandem.txt" | sort) \
           <(awk '{ print $1 ":" $2, $3 }' "$out/rows_staged.txt" | sort) |
    tr ':' ' ' | sort -k1,1 -k2,2n |
    awk '{ printf "%-15s %10s %12s %12s %8.2f %10.2f\n", $1, $2, $3, $4, ($3 > 0 ? $4 / $3 : 0),
                  ($3 > 0 ? $2 / $3 / 1000 : 0) }'
} | tee -a "$out/summary.txt"

# Tandem against NCCL on the same buffers (nccl-tests style tables, -M 1).
if [[ -x $build/bin/all_reduce_perf ]]; then
  for t in all_reduce all_gather reduce_scatter alltoall broadcast reduce; do
    echo "\$ mpirun -np 2 $t""_perf -b 1K -e 64M -f 4 -d float --mem cuda -M 1" >> "$out/nccl.txt"
    timeout 300 "${mpi[@]}" "$build/bin/${t}_perf" -b 1K -e 64M -f 4 -w 5 -n 20 -d float --mem cuda \
      -M 1 -c 1 >> "$out/nccl.txt" 2>&1 || { say "nccl: exit $? from ${t}_perf"; status=1; }
  done
  say "Tandem vs NCCL tables: $out/nccl.txt"
fi
say "imb_gpu: $([[ $status == 0 ]] && echo PASS || echo FAIL)"
exit $status
