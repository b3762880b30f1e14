#!/usr/bin/env bash
# Unmodified Intel MPI Benchmarks (IMB-MPI1) with and without the MPI plugin.
# Builds IMB from its sources (never copied into this repository) into
# BUILD_DIR/imb, with -DCHECK so IMB checks every result it receives (the
# "defects" column), then runs
#   mpirun -np 4 IMB-MPI1 -npmin 4 ... Allreduce Allgather Reduce_scatter Alltoall Bcast Reduce Barrier
# once on plain MPI and once with libtandem_pmpi.so preloaded. Passes when
# both exit 0, both print the same benchmark rows, every defect is 0, and the
# plugin's report (TANDEM_DEBUG=INFO) shows every rank's collectives carried
# by Tandem and none passed to MPI. Prints t_avg side by side.
#
# IMB sources: TANDEM_IMB_DIR, else the first of <repo>/third_party/mpi-benchmarks,
# <repo>/../shared/third_party/mpi-benchmarks, /work/shared/third_party/mpi-benchmarks.
# TANDEM_IMB_DIR naming no sources fails the test; with none found anywhere the
# test is skipped (exit 77, ctest reports it "Skipped" and prints why), unless
# TANDEM_IMB_REQUIRED=1; TANDEM_IMB_DIR set to empty skips it.
# IMB_ARGS replaces the size and time options (default below); logs stay in
# BUILD_DIR/imb (imb_mpi.log, imb_tandem.log).
# Usage: imb_test.sh MPIRUN PLUGIN BUILD_DIR
set -uo pipefail
mpirun=$1 plugin=$2 build=$3
root=$(cd "$(dirname "$0")/../.." && pwd)
if [[ -n ${TANDEM_IMB_DIR+set} && -z $TANDEM_IMB_DIR ]]; then
  echo "SKIP: TANDEM_IMB_DIR is set to empty"
  exit 77
fi
has_imb() { [[ -f $1/src_cpp/Makefile && -d $1/src_c ]]; }
if [[ -z ${TANDEM_IMB_DIR:-} ]]; then
  for guess in "$root/third_party/mpi-benchmarks" "$root/../shared/third_party/mpi-benchmarks" \
               /work/shared/third_party/mpi-benchmarks; do
    has_imb "$guess" && { TANDEM_IMB_DIR=$guess; break; }
  done
  if [[ -z ${TANDEM_IMB_DIR:-} && ${TANDEM_IMB_REQUIRED:-0} != 1 ]]; then
    echo "SKIP (IMB NOT RUN): no Intel MPI Benchmarks sources in <repo>/third_party, ../shared or"
    echo "      /work/shared; set TANDEM_IMB_DIR to a checkout (TANDEM_IMB_REQUIRED=1 fails instead)"
    exit 77
  fi
fi
src=${TANDEM_IMB_DIR:-none}
if ! has_imb "$src"; then
  echo "FAIL: no Intel MPI Benchmarks sources at '$src' (set TANDEM_IMB_DIR to a checkout of"
  echo "      https://github.com/intel/mpi-benchmarks, or to empty to skip this test)"
  exit 1
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
work=$build/imb
imb=$work/src/IMB-MPI1
# Built once per build folder, from a copy: IMB builds in its source tree.
if [[ ! -x $imb ]]; then
  rm -rf "$work/src" && mkdir -p "$work" && cp -r "$src" "$work/src" && rm -rf "$work/src/.git"
  if ! make -C "$work/src" IMB-MPI1 CC=mpicc CXX=mpicxx \
      CPPFLAGS="-DOMPI_SKIP_MPICXX -DMPICH_SKIP_MPICXX -DCHECK" > "$work/build.log" 2>&1; then
    tail -30 "$work/build.log"
    echo "FAIL: IMB-MPI1 did not build (log: $work/build.log)"
    exit 1
  fi
fi
benchmarks=(Allreduce Allgather Reduce_scatter Alltoall Bcast Reduce Barrier)
read -ra sizes <<< "${IMB_ARGS:--msglog 0:18 -iter 200 -time 1}"
run=("$mpirun" --oversubscribe --mca btl self,vader -np 4 "$imb" -npmin 4 "${sizes[@]}" "${benchmarks[@]}")
status=0

echo "== ${run[*]}"
"${run[@]}" > "$work/imb_mpi.log" 2>&1 || { tail -30 "$work/imb_mpi.log"; echo "FAIL: IMB on plain MPI"; status=1; }
echo "== the same with -x LD_PRELOAD=$plugin -x TANDEM_DEBUG=INFO"
"${run[0]}" -x LD_PRELOAD="$plugin" -x TANDEM_DEBUG=INFO "${run[@]:1}" > "$work/imb_tandem.log" 2>&1 ||
  { tail -30 "$work/imb_tandem.log"; echo "FAIL: IMB with the plugin"; status=1; }

# One line per benchmark row: name, bytes ("-" for Barrier), t_avg, defects.
rows() {
  awk '/^# Benchmarking/ { bench = $3 }
       /^#/ { next }
       bench != "" && /^ +[0-9]/ {
         if (bench == "Barrier") print bench, "-", $NF, "-"; else print bench, $1, $(NF-1), $NF }' "$1"
}
rows "$work/imb_mpi.log" > "$work/rows_mpi.txt"
rows "$work/imb_tandem.log" > "$work/rows_tandem.txt"
for b in "${benchmarks[@]}"; do
  for side in mpi tandem; do
    grep -q "^$b " "$work/rows_$side.txt" || { echo "FAIL: no $b rows in the $side run"; status=1; }
  done
done
if ! diff <(cut -d' ' -f1,2 "$work/rows_mpi.txt") <(cut -d' ' -f1,2 "$work/rows_tandem.txt") > /dev/null; then
  echo "FAIL: the two runs print different benchmark rows:"
  diff <(cut -d' ' -f1,2 "$work/rows_mpi.txt") <(cut -d' ' -f1,2 "$work/rows_tandem.txt") | head -20
  status=1
fi
for side in mpi tandem; do
  bad=$(awk '$4 != "-" && $4 + 0 != 0' "$work/rows_$side.txt")
  [[ -z $bad ]] || { echo "FAIL: IMB found wrong results in the $side run (bench bytes t_avg defects):"; echo "$bad"; status=1; }
done

# The plugin's report: on each rank, each benchmark's collective carried by
# Tandem, and nothing passed to MPI.
for ((r = 0; r < 4; ++r)); do
  for call in MPI_Allreduce MPI_Allgather MPI_Reduce_scatter MPI_Alltoall MPI_Bcast MPI_Reduce MPI_Barrier; do
    grep -Eq "^tandem_pmpi: rank $r: $call calls [0-9]+: tandem-host [1-9][0-9]*$" "$work/imb_tandem.log" ||
      { echo "FAIL: rank $r: the report does not show every $call call carried by Tandem:";
        grep "^tandem_pmpi: rank $r: $call " "$work/imb_tandem.log"; status=1; }
  done
done

echo "t_avg [usec], 4 ranks (logs: $work/imb_mpi.log, imb_tandem.log)"
printf "%-15s %10s %12s %12s %8s\n" benchmark bytes MPI Tandem ratio
paste -d' ' "$work/rows_mpi.txt" "$work/rows_tandem.txt" |
  awk '{ printf "%-15s %10s %12s %12s %8.2f\n", $1, $2, $3, $7, ($7 > 0 ? $3 / $7 : 0) }'
[[ $status == 0 ]] && echo "PASS: IMB-MPI1 on Tandem: same rows as plain MPI, no defects, every collective carried by Tandem"
exit $status
