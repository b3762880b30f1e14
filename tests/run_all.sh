#!/usr/bin/env bash
# Builds everything (warnings are errors) and runs the whole test suite:
# unit tests in parallel, then the multi-process tests one at a time (they
# oversubscribe the cores on purpose).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bash "$root/tools/install_deps.sh"
build=${TANDEM_BUILD_DIR:-$root/build-tests}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTANDEM_WERROR=ON >/dev/null
cmake --build "$build" -j "$(nproc)"
cd "$build"
ctest --output-on-failure -L unit -j "$(nproc)"
ctest --output-on-failure -L mp -j 1
