#!/usr/bin/env bash
# Checks that every tracked C/C++/CUDA file is formatted as the root
# .clang-format says (clang-format 14, Debian 12's). Prints the files that
# differ and exits 1 when there is any.
#   tools/check_format.sh          check
#   tools/check_format.sh --fix    format those files in place
#   tools/check_format.sh -v       check, and show clang-format's diagnostics
# CLANG_FORMAT overrides the binary (default: clang-format).
set -euo pipefail
cd "$(dirname "$0")/.."
fix=0 verbose=0
for a in "$@"; do
  case $a in
    --fix) fix=1 ;;
    -v|--verbose) verbose=1 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "check_format.sh: unknown argument '$a'" >&2; exit 2 ;;
  esac
done
cf=${CLANG_FORMAT:-clang-format}
command -v "$cf" >/dev/null || { echo "check_format.sh: $cf not found (tools/install_deps.sh installs it)" >&2; exit 2; }

mapfile -t files < <(git ls-files '*.cc' '*.h' '*.cu' '*.cuh')
bad=()
for f in "${files[@]}"; do
  if ! out=$("$cf" --style=file --dry-run --Werror "$f" 2>&1); then
    bad+=("$f")
    ((verbose)) && printf '%s\n' "$out" | head -40
  fi
done
if ((${#bad[@]} == 0)); then
  echo "format: ${#files[@]} files checked, all formatted"
  exit 0
fi
if ((fix)); then
  "$cf" --style=file -i "${bad[@]}"
  printf 'format: reformatted %s\n' "${bad[@]}"
  exit 0
fi
printf 'format: %s differs from .clang-format\n' "${bad[@]}"
echo "format: ${#bad[@]} of ${#files[@]} files differ; run tools/check_format.sh --fix"
exit 1
