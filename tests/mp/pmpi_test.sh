#!/usr/bin/env bash
# The MPI plugin on a program of our own (pmpi_program.cc): run under mpirun
# without the plugin (the program's own references against plain MPI), then
# with libtandem_pmpi.so preloaded; both must exit 0. The plugin's report
# (TANDEM_DEBUG=INFO) must show, on every rank, each intercepted collective
# carried by Tandem, and the calls that must pass through (a vector datatype,
# MPI_SHORT, a user op, an intercommunicator) passed to MPI for that reason.
# Last, a Tandem failure must stop the job with the plugin's sentence.
# Usage: pmpi_test.sh MPIRUN PROGRAM PLUGIN NP
set -uo pipefail
mpirun=$1 program=$2 plugin=$3 np=$4
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
run=("$mpirun" --oversubscribe --mca btl self,vader -np "$np")
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0

echo "== without the plugin"
"${run[@]}" "$program" || { echo "FAIL: the program fails on plain MPI"; exit 1; }

echo "== with $plugin"
"${run[@]}" -x LD_PRELOAD="$plugin" -x TANDEM_DEBUG=INFO "$program" > "$log" 2>&1
rc=$?
grep -v "^\[.*INFO" "$log" | grep -v "^$" | tail -60
[[ $rc == 0 ]] || { echo "FAIL: exit status $rc with the plugin"; status=1; }

# expect RANK CALL ROUTE: the report line of RANK for CALL counts ROUTE > 0.
expect() {
  if ! grep -Eq "^tandem_pmpi: rank $1: $2 calls [0-9]+:.* $3 [1-9]" "$log"; then
    echo "FAIL: rank $1: no $2 call went $3"
    status=1
  fi
}
for ((r = 0; r < np; ++r)); do
  for call in MPI_Allreduce MPI_Allgather MPI_Reduce_scatter_block MPI_Reduce_scatter \
              MPI_Alltoall MPI_Bcast MPI_Reduce MPI_Gather MPI_Scatter MPI_Barrier; do
    expect "$r" "$call" tandem-host
  done
  expect "$r" MPI_Allgather mpi-datatype   # the vector datatype
  expect "$r" MPI_Allreduce mpi-datatype   # MPI_SHORT: no 16-bit integers in Tandem
  expect "$r" MPI_Allreduce mpi-op         # the user op
  expect "$r" MPI_Allreduce mpi-intercomm
done
# A Tandem failure (here: communicator creation refuses a malformed setting)
# must reach MPI's error handler (abort by default) with the plugin's sentence.
echo "== with the plugin and TANDEM_SHM_BUFFER_SIZE=lots (must fail)"
"${run[@]}" -x LD_PRELOAD="$plugin" -x TANDEM_SHM_BUFFER_SIZE=lots "$program" 1 > "$log" 2>&1
rc=$?
if [[ $rc == 0 ]]; then
  echo "FAIL: the program succeeded although Tandem could not make a communicator"; status=1
elif ! grep -q "^tandem_pmpi: MPI_[A-Za-z_]* on rank [0-9]* of $np failed: .*TANDEM_SHM_BUFFER_SIZE='lots'" "$log"; then
  echo "FAIL: no sentence from the plugin naming the failure:"; tail -20 "$log"; status=1
fi

[[ $status == 0 ]] && echo "PASS: results match on $np ranks, and the report shows each collective carried by Tandem"
exit $status
