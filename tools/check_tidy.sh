#!/usr/bin/env bash
# Runs clang-tidy (the root .clang-tidy: a short list of checks, all errors)
# over the C++ sources (.cc; CUDA files are left out: clang-tidy does not
# take nvcc's command lines) of a build's compile_commands.json.
#   tools/check_tidy.sh [BASE]   the .cc files changed since the merge base of
#                                BASE (default HEAD~1) and HEAD, plus uncommitted
#                                changes; all of them when BASE does not exist
#                                (a shallow clone)
#   tools/check_tidy.sh --all    every tracked .cc file
# Options: -p BUILD (default $TANDEM_BUILD_DIR, else build-tests), -j N
# (default: the number of cores). CLANG_TIDY overrides the binary.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
all=0 base="" build=${TANDEM_BUILD_DIR:-$root/build-tests} jobs=$(nproc)
while (($#)); do
  case $1 in
    --all) all=1 ;;
    -p) build=$2; shift ;;
    -j) jobs=$2; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "check_tidy.sh: unknown option '$1'" >&2; exit 2 ;;
    *) base=$1 ;;
  esac
  shift
done
tidy=${CLANG_TIDY:-clang-tidy}
command -v "$tidy" >/dev/null || { echo "check_tidy.sh: $tidy not found (tools/install_deps.sh installs it)" >&2; exit 2; }
db=$build/compile_commands.json
[ -f "$db" ] || { echo "check_tidy.sh: no $db: configure a build first (cmake -S . -B $build)" >&2; exit 2; }

if ((all == 0)); then
  base=${base:-HEAD~1}
  if mb=$(git merge-base "$base" HEAD 2>/dev/null); then
    mapfile -t files < <(git diff --name-only --diff-filter=d "$mb" -- '*.cc')
    echo "tidy: .cc files changed since $base ($(git rev-parse --short "$mb")): ${#files[@]}"
  else
    echo "tidy: '$base' is not a commit here (shallow clone?): checking every file"
    all=1
  fi
fi
if ((all)); then
  mapfile -t files < <(git ls-files '*.cc')
  echo "tidy: every tracked .cc file: ${#files[@]}"
fi

# Only what the build compiles (its flags come from compile_commands.json),
# less the layering probe that must not compile (tests/layering).
compiled=()
for f in "${files[@]}"; do
  if [[ $f == tests/layering/includes_above.cc ]]; then
    echo "tidy: skipping $f (must not compile: it checks the layering)"
  elif grep -qF "\"file\": \"$root/$f\"" "$db"; then
    compiled+=("$f")
  else
    echo "tidy: skipping $f (not in $db)"
  fi
done
((${#compiled[@]})) || { echo "tidy: nothing to check"; exit 0; }

# -Wno-error: the build's -Werror is for GCC; clang's own warnings are not
# what this gate judges (and are not shown: .clang-tidy enables no
# clang-diagnostic-*). Output is buffered per file, so files do not interleave.
start=$SECONDS
status=0
printf '%s\0' "${compiled[@]}" |
  xargs -0 -P "$jobs" -I{} sh -c \
    'out=$("$0" -p "$1" --quiet --extra-arg=-Wno-error --extra-arg=-Wno-unknown-warning-option "$2" 2>&1); rc=$?
     printf "%s\n" "$out" | grep -v "^[0-9]* warnings\? generated\.$" | grep -v "^$" || true
     [ $rc -eq 0 ] || { echo "tidy: FAILED $2"; exit 1; }' "$tidy" "$build" {} || status=1
echo "tidy: ${#compiled[@]} files in $((SECONDS - start)) s: $([ $status -eq 0 ] && echo clean || echo FINDINGS)"
exit $status
