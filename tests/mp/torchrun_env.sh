#!/usr/bin/env bash
# Starts N ranks the way torchrun does (RANK, WORLD_SIZE, LOCAL_RANK,
# MASTER_ADDR, MASTER_PORT in each process's environment, no Tandem launcher)
# and runs the collectives test in them; fails if any rank fails.
set -u
binary=$1 ranks=$2
shift 2
port=$((20000 + RANDOM % 20000))
pids=()
for ((r = 0; r < ranks; r++)); do
  env -u TANDEM_UNIQUE_ID RANK=$r WORLD_SIZE=$ranks LOCAL_RANK=$r MASTER_ADDR=127.0.0.1 \
    MASTER_PORT=$port "$binary" "$@" > >(sed "s/^/[$r] /") 2>&1 &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
exit $status
