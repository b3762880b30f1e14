#!/usr/bin/env bash
# nccl-tests against Tandem's libnccl.so.2 (tools/nccl_shim), on a GPU machine
# with 2+ GPUs, CUDA, OpenMPI and a system NCCL 2.28 (for the comparison).
#
#   OUT=<results folder> bash tests/gpu/nccl_tests.sh [<tandem build dir>]
#
# The build dir is one tests/gpu/run.sh made (default <repo>/build-gpu); its
# nccl/ folder is the shim's NCCL_HOME. The nccl-tests source is expected at
# <repo>/third_party/nccl-tests (a git-ignored copy of
# /work/shared/third_party/nccl-tests carried to the machine).
#
# 1. builds nccl-tests twice: against <build>/nccl and against the system NCCL;
# 2. runs all 11 binaries on the shim with -d all -o all -c 1, plain and with
#    -G 10, -R 1, -R 2, -z 1, -a 3 (mpirun -np 2, one GPU per rank), and in one
#    process with -g 2 and -t 2; each run must exit 0 with no wrong values;
#    a PASS/FAIL table at the end;
# 3. a bandwidth sweep (bfloat16, CUDA graphs) with both builds, and a table
#    of Tandem/NCCL ratios of bus bandwidth and time per size.
# Logs: $OUT/nccl-tests/. BUILD_ONLY=1 stops after step 1; SKIP_SWEEP=1 skips step 3; SIZES="-b 1K -e 1M -f 32"
# sets step 2's sizes; NP (default 2) the ranks of the multi-process runs;
# VARIANTS="plain 1proc_t2" and BINARIES="alltoall reduce" limit step 2 to
# those (names as below), SWEEP="alltoall" step 3 to those tests.
set -uo pipefail
# Never NVLink multicast (NVLS): not for NCCL, NVSHMEM or torch.
export NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1 TORCH_SYMM_MEM_DISABLE_MULTICAST=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build-gpu}" && pwd) || { echo "no build dir ${1:-$root/build-gpu}"; exit 1; }
out=${OUT:-$root/gpu-results}/nccl-tests
mkdir -p "$out"
src=$root/third_party/nccl-tests
np=${NP:-2}
sizes=${SIZES:-"-b 1K -e 1M -f 32"}
[[ -d $src/src ]] || { echo "nccl-tests source not found at $src"; exit 1; }
[[ -e $build/nccl/lib/libnccl.so.2 && -e $build/nccl/include/nccl.h ]] ||
  { echo "$build/nccl has no libnccl.so.2 / nccl.h (build the tandem_nccl target)"; exit 1; }

# ---- where things are ----
mpi_home=""
if command -v mpicc > /dev/null; then  # e.g. /usr/lib/x86_64-linux-gnu/openmpi/include
  inc=$(mpicc --showme:incdirs 2> /dev/null | awk '{print $1}')
  [[ -n $inc ]] && mpi_home=$(dirname "$inc")
fi
for guess in "$mpi_home" /usr/lib/x86_64-linux-gnu/openmpi /usr/lib/openmpi /usr/local /usr; do
  [[ -n $guess && -e $guess/include/mpi.h ]] && { mpi_home=$guess; break; }
  mpi_home=""
done
[[ -n $mpi_home ]] || { echo "OpenMPI's mpi.h not found"; exit 1; }
# The system NCCL as an NCCL_HOME (include/nccl.h, lib/libnccl.so): links to
# wherever the distribution put them.
sys_lib=$(ldconfig -p | awk '/libnccl\.so\.2 .*x86-64/ {print $NF; exit}')
for guess in /usr/lib/x86_64-linux-gnu/libnccl.so.2 /usr/local/cuda/lib64/libnccl.so.2 \
             /usr/local/cuda/lib/libnccl.so.2 /usr/lib64/libnccl.so.2; do
  [[ -z $sys_lib && -e $guess ]] && sys_lib=$guess
done
sys_inc=""
for guess in /usr/include /usr/local/include /usr/local/cuda/include "$(dirname "${sys_lib:-/x}")/../include"; do
  [[ -e $guess/nccl.h ]] && { sys_inc=$guess; break; }
done
sys_home=$out/system-nccl
have_nccl=0
if [[ -n $sys_lib && -n $sys_inc ]]; then
  mkdir -p "$sys_home/include" "$sys_home/lib"
  ln -sf "$sys_inc/nccl.h" "$sys_home/include/nccl.h"
  [[ -e $sys_inc/nccl_device.h ]] && ln -sfn "$sys_inc/nccl_device.h" "$sys_home/include/nccl_device.h"
  [[ -d $sys_inc/nccl_device ]] && ln -sfn "$sys_inc/nccl_device" "$sys_home/include/nccl_device"
  ln -sf "$sys_lib" "$sys_home/lib/libnccl.so"
  ln -sf "$sys_lib" "$sys_home/lib/libnccl.so.2"
  have_nccl=1
fi
nvidia-smi -L > "$out/machine.txt" 2>&1
{ echo "tandem build: $build"; echo "MPI_HOME: $mpi_home"
  echo "system NCCL: ${sys_lib:-none} ${sys_inc:+(header $sys_inc/nccl.h)}"; } | tee -a "$out/machine.txt"

# ---- 1. build nccl-tests twice ----
build_tests() {  # name NCCL_HOME
  local dir=$out/build-$1
  # A copy per build: nccl-tests writes objects beside its sources too.
  rm -rf "$dir" && mkdir -p "$dir" && cp -r "$src" "$dir/src-copy"
  make -C "$dir/src-copy/src" -j "$(nproc)" MPI=1 MPI_HOME="$mpi_home" NCCL_HOME="$2" \
    CUDA_HOME="${CUDA_HOME:-/usr/local/cuda}" NVCC_GENCODE=-gencode=arch=compute_90,code=sm_90 \
    BUILDDIR="$dir/bin" > "$dir/build.log" 2>&1
}
status=0
build_tests tandem "$build/nccl" || { echo "nccl-tests build against the shim failed:"; tail -30 "$out/build-tandem/build.log"; exit 1; }
echo "built nccl-tests against Tandem's nccl.h: $out/build-tandem/bin"
if [[ $have_nccl == 1 ]]; then
  build_tests nccl "$sys_home" || { echo "nccl-tests build against the system NCCL failed (see $out/build-nccl/build.log)"; have_nccl=0; status=1; }
fi
[[ ${BUILD_ONLY:-0} == 1 ]] && { echo "BUILD_ONLY=1: builds done"; exit $status; }

# ---- 2. correctness on the shim ----
tandem_env=(env LD_LIBRARY_PATH="$build/nccl/lib:${LD_LIBRARY_PATH:-}")
mpi=(mpirun -np "$np" --bind-to none --oversubscribe -x LD_LIBRARY_PATH -x NCCL_NVLS_ENABLE
     -x NVSHMEM_DISABLE_NVLS -x TORCH_SYMM_MEM_DISABLE_MULTICAST)
binaries=(all_reduce all_gather broadcast reduce_scatter reduce alltoall alltoallv scatter gather sendrecv hypercube)
variants=("plain|" "graph|-G 10" "register|-R 1" "symmetric|-R 2" "blocking|-z 1" "avg_max|-a 3" "1proc_g2|-g 2" "1proc_t2|-t 2")
results=()
: > "$out/results.txt"
# Exit 0, no nonzero #wrong in any row, and nccl-tests' own verdict line.
check_log() {
  # #wrong is the 4th column from each end of a row's two halves (rows have
  # 12 fields without a redop column, as hypercube's, 13 with one).
  awk '/^ *[0-9]+ +[0-9]+ / && NF >= 12 { w = $(NF - 4); if ((w != "0" && w != "N/A") || ($NF != "0" && $NF != "N/A")) bad = 1; rows++ }
       /Out of bounds values : 0 OK/ { ok = 1 }
       END { exit (bad || !ok || rows == 0) }' "$1"
}
for variant in "${variants[@]}"; do
  name=${variant%%|*}
  flags=${variant#*|}
  [[ -n ${VARIANTS:-} && " $VARIANTS " != *" $name "* ]] && continue
  for bin in "${binaries[@]}"; do
    [[ -n ${BINARIES:-} && " $BINARIES " != *" $bin "* ]] && continue
    log=$out/shim_${bin}_${name}.log
    exe=$out/build-tandem/bin/${bin}_perf
    # shellcheck disable=SC2086
    if [[ $name == 1proc_* ]]; then
      timeout 300 "${tandem_env[@]}" "$exe" $sizes -n 5 -w 2 -d all -o all -c 1 $flags > "$log" 2>&1
    else
      timeout 300 "${tandem_env[@]}" "${mpi[@]}" "$exe" $sizes -n 5 -w 2 -d all -o all -c 1 -g 1 $flags > "$log" 2>&1
    fi
    rc=$?
    verdict=PASS
    if [[ $rc != 0 ]] || ! check_log "$log"; then verdict=FAIL; status=1; fi
    results+=("$(printf '%-16s %-10s %-12s rc=%-4s %s' "$bin" "$name" "${flags:--}" "$rc" "$verdict")")
    # Written as each run ends, so a run cut short keeps what it found.
    echo "${results[-1]}" | tee -a "$out/results.txt"
  done
done
{
  echo
  echo "== nccl-tests on Tandem's libnccl.so.2 (logs: $out/shim_<test>_<variant>.log) =="
  printf '%s\n' "${results[@]}"
  echo "passed $(printf '%s\n' "${results[@]}" | grep -c ' PASS$') of ${#results[@]}"
} | tee "$out/summary.txt"

# ---- 3. bandwidth: Tandem against NCCL ----
if [[ ${SKIP_SWEEP:-0} != 1 ]]; then
  # shellcheck disable=SC2206
  sweep=(${SWEEP:-all_reduce all_gather reduce_scatter alltoall broadcast sendrecv})
  for bin in "${sweep[@]}"; do
    # shellcheck disable=SC2086
    timeout 600 "${tandem_env[@]}" "${mpi[@]}" "$out/build-tandem/bin/${bin}_perf" \
      -b 8 -e 1G -f 4 -d bfloat16 -G 10 -n 20 -w 5 -c 0 -g 1 > "$out/sweep_tandem_${bin}.log" 2>&1 || status=1
    if [[ $have_nccl == 1 ]]; then
      timeout 600 "${mpi[@]}" "$out/build-nccl/bin/${bin}_perf" \
        -b 8 -e 1G -f 4 -d bfloat16 -G 10 -n 20 -w 5 -c 0 -g 1 > "$out/sweep_nccl_${bin}.log" 2>&1 || status=1
    fi
  done
  python3 - "$out" "${sweep[@]}" <<'EOF' | tee "$out/sweep_ratio.txt"
import os, sys
out, tests = sys.argv[1], sys.argv[2:]

def rows(path):
    """size -> (out-of-place time us, busbw GB/s) from an nccl-tests log."""
    table = {}
    if not os.path.exists(path):
        return table
    for line in open(path):
        f = line.split()
        if len(f) >= 8 and f[0].isdigit() and f[1].isdigit():
            try:
                table[int(f[0])] = (float(f[5]), float(f[7]))
            except ValueError:
                pass
    return table

def ratio(a, b):
    return f"{a / b:6.2f}" if b > 0 else "   n/a"

print("Tandem (libnccl.so.2 shim) / NCCL, bfloat16, CUDA graphs, out-of-place")
print(f"{'test':<15}{'bytes':>12}{'tandem us':>12}{'nccl us':>12}{'time':>8}"
      f"{'tandem GB/s':>13}{'nccl GB/s':>11}{'busbw':>8}")
for test in tests:
    t, n = rows(f"{out}/sweep_tandem_{test}.log"), rows(f"{out}/sweep_nccl_{test}.log")
    for size in sorted(t):
        tt, tb = t[size]
        nt, nb = n.get(size, (0.0, 0.0))
        print(f"{test:<15}{size:>12}{tt:>12.1f}{nt:>12.1f}{ratio(tt, nt):>8}"
              f"{tb:>13.2f}{nb:>11.2f}{ratio(tb, nb):>8}")
EOF
fi
echo "nccl-tests: $( ((status == 0)) && echo PASS || echo FAIL ) (summary: $out/summary.txt)"
exit $status
