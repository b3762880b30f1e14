#!/usr/bin/env bash
# One GPU-machine call that shows where the fused ops' time goes: builds
# fused_perf, runs it (AG and RS rows) with nvidia-smi logging SM clock,
# power and throttle reasons every 100 ms, the GEMM data probe, and PyTorch's
# fused ops on the same shapes. Logs to $OUT.
#   OUT=... bash tools/perf/fused_profile.sh
# FUSED_ONLY: which rows (default "ag rs"); VARIANTS: ';'-separated sets of
# environment assignments, fused_perf runs once per set (default one plain
# run), e.g. VARIANTS="TANDEM_FUSED_COPY=memcpy;TANDEM_FUSED_COPY=engine";
# NO_PROBE=1, NO_TORCH=1 skip those parts.
set -uo pipefail
export NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1 TORCH_SYMM_MEM_DISABLE_MULTICAST=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${OUT:-$root/gpu-results}
build=${BUILD:-$root/build-gpu}
mkdir -p "$out"
if [[ ! -x $build/bin/fused_perf ]]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DTANDEM_WERROR=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90a > "$out/configure.log" 2>&1 || { tail -30 "$out/configure.log"; exit 1; }
  cmake --build "$build" -j "$(nproc)" --target fused_perf tandem_mpi > "$out/build.log" 2>&1 ||
    { grep -E "error|FAILED" "$out/build.log" | head -30; exit 1; }
fi
smi() { # file: log clocks, power, temperature and throttle reasons until killed
  nvidia-smi --query-gpu=timestamp,index,clocks.sm,clocks.mem,power.draw,temperature.gpu,clocks_event_reasons.active \
    --format=csv,noheader -lms 100 > "$1" 2>&1 &
  echo $!
}
nvidia-smi -q -d POWER,CLOCK,PERFORMANCE > "$out/smi_before.txt" 2>&1
pid=$(smi "$out/smi_fused.csv")
IFS=';' read -ra variants <<< "${VARIANTS:-}"
[[ ${#variants[@]} -gt 0 ]] || variants=("")
v=0
for vars in "${variants[@]}"; do
  v=$((v + 1))
  for only in ${FUSED_ONLY:-ag rs}; do
    log=$out/fused_perf_${only}_$v.log
    echo "# variant $v: ${vars:-defaults}" > "$log"
    # shellcheck disable=SC2086
    env $vars TANDEM_SYMMETRIC_SIZE=16G TANDEM_DEBUG=INFO TANDEM_DEBUG_SUBSYS=CUDA \
      mpirun -np 2 \
      "$build/bin/fused_perf" -r 10 -i 15 --only "$only" >> "$log" 2> "$log.err"
    cat "$log"
  done
done
kill "$pid"
if [[ ${NO_PROBE:-0} != 1 ]]; then
  pid=$(smi "$out/smi_probe.csv")
  python3 "$root/tools/perf/gemm_data_probe.py" > "$out/gemm_data_probe.log" 2>&1
  kill "$pid"
  cat "$out/gemm_data_probe.log"
fi
if [[ ${NO_TORCH:-0} != 1 ]]; then
  torchrun --nproc-per-node 2 "$root/tools/perf/torch_fused_baseline.py" > "$out/torch_fused.log" 2>&1
  grep -v "^W\|^\[" "$out/torch_fused.log" | tail -20
fi
# Summary of the clock logs: median SM clock and power per GPU, and the
# throttle reasons seen.
python3 - "$out"/smi_*.csv <<'PY'
import sys, statistics as st
for f in sys.argv[1:]:
    rows = [l.split(", ") for l in open(f) if l.count(",") >= 6]
    for gpu in sorted({r[1] for r in rows}):
        rs = [r for r in rows if r[1] == gpu and float(r[4].split()[0] or 0) > 150]
        if not rs: continue
        clk = [float(r[2].split()[0]) for r in rs]; pw = [float(r[4].split()[0]) for r in rs]
        reasons = sorted({r[6].strip() for r in rs})
        print(f"{f.split('/')[-1]} gpu{gpu}: busy samples {len(rs)}, SM MHz median {st.median(clk):.0f} "
              f"min {min(clk):.0f}, W median {st.median(pw):.0f} max {max(pw):.0f}, reasons {reasons}")
PY
