#!/usr/bin/env bash
# Unmodified PyTorch on Tandem's libnccl.so.2 (issue 14, part 4), on the lent
# 2-GPU machine: dropin_test.py under torchrun, first on the real NCCL
# (records every result), then with LD_PRELOAD of the shim (same calls,
# compared with NCCL's results and a float64 reference), then non-blocking
# init and abort on the shim. Logs in $OUT/torch_dropin.
#   OUT=... bash tests/gpu/torch_dropin/run.sh [build dir, default build-gpu]
set -uo pipefail
export NCCL_NVLS_ENABLE=0 NVSHMEM_DISABLE_NVLS=1 TORCH_SYMM_MEM_DISABLE_MULTICAST=1
root=$(cd "$(dirname "$0")/../../.." && pwd)
build=${1:-$root/build-gpu}
out=${OUT:-$root/gpu-results}/torch_dropin
mkdir -p "$out"
shim=$build/nccl/lib/libnccl.so.2
test=$root/tests/gpu/torch_dropin/dropin_test.py
[[ -f $shim ]] || { echo "no $shim: build the nccl shim first"; exit 1; }
one() { # name, env..., -- args: one torchrun of the test, 300 s at most
  local name=$1; shift
  local envs=()
  while [[ $1 != -- ]]; do envs+=("$1"); shift; done; shift
  env "${envs[@]}" timeout 300 torchrun --nproc-per-node 2 --master-port $((29500 + RANDOM % 1000)) \
    "$test" "$@" > "$out/$name.log" 2>&1
  local rc=$?
  printf '%-22s rc=%-3s %s\n' "$name" "$rc" "$(grep -h "results,\|failures\|aborted" "$out/$name.log" | tr '\n' ' ' | cut -c1-160)"
  grep -h "FAIL" "$out/$name.log" | head -20
  return $rc
}
status=0
one nccl_record X=1 -- --mode record --dir "$out/ref" || status=1
grep -h "ncclGetVersion" "$out/nccl_record.log" | head -2
one tandem_check LD_PRELOAD="$shim" TANDEM_DEBUG=INFO TANDEM_DEBUG_SUBSYS=INIT -- \
  --mode check --dir "$out/ref" --expect-version 2.28.9 || status=1
grep -h "ncclGetVersion" "$out/tandem_check.log" | head -2
# The calls went to Tandem: its communicators logged their creation.
n=$(grep -c "\[tandem INFO" "$out/tandem_check.log")
echo "Tandem INFO lines in the check run: $n"
[[ $n -gt 0 ]] || { echo "FAIL: no Tandem communicator was created under LD_PRELOAD"; status=1; }
one tandem_nonblocking LD_PRELOAD="$shim" TORCH_NCCL_USE_COMM_NONBLOCKING=1 -- \
  --mode nonblocking --dir "$out/ref" --expect-version 2.28.9 || status=1
one tandem_abort LD_PRELOAD="$shim" -- --mode abort --dir "$out/ref" --expect-version 2.28.9 || status=1
echo "torch drop-in: $([[ $status == 0 ]] && echo PASS || echo FAIL)"
exit $status
