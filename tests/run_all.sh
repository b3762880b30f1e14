#!/usr/bin/env bash
# The whole test suite and CI's gates, in this order (what `.ci/run` runs):
#   format   tools/check_format.sh: clang-format over every tracked C/C++/CUDA
#            file (seconds; fails first)
#   release  Release build (warnings are errors, CUDA too when nvcc is there)
#            in build-tests; unit tests in parallel, then the multi-process
#            tests one at a time (they oversubscribe the cores on purpose)
#   asan     AddressSanitizer + UndefinedBehaviorSanitizer build without CUDA
#            in build-asan; the same unit and mp tests
#   tsan     ThreadSanitizer build without CUDA in build-tsan; the tests
#            labelled `tsan` (bootstrap, groups, failure paths)
#   fuzz     clang build with libFuzzer + ASan + UBSan in build-fuzz; every
#            target in tests/fuzz for TANDEM_FUZZ_SECONDS (default 60) each,
#            two at a time, from the seed corpus (tests/fuzz/run.sh)
#   tidy     tools/check_tidy.sh --all: clang-tidy with the root .clang-tidy
#            over every .cc file, with build-tests' compile_commands.json
# TANDEM_CI_SKIP=asan,tsan,... skips those stages (local use), e.g.
#   TANDEM_CI_SKIP=asan,tsan,tidy bash tests/run_all.sh   # the old quick run
# TANDEM_BUILD_DIR overrides build-tests (the sanitizer builds sit beside it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
skip=",${TANDEM_CI_SKIP:-},"
run() { [[ $skip != *",$1,"* ]]; }
jobs=$(nproc)
timings=()
stage_start() { echo "=== $1 ==="; t0=$SECONDS; }
stage_end() { timings+=("$1 $((SECONDS - t0))s"); }
trap 'printf "run_all: %s\n" "${timings[@]}" "total $SECONDS s"' EXIT

bash "$root/tools/install_deps.sh"

if run format; then
  stage_start format
  bash "$root/tools/check_format.sh"
  stage_end format
fi

build=${TANDEM_BUILD_DIR:-$root/build-tests}
if run release; then
  stage_start release
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTANDEM_WERROR=ON >/dev/null
  cmake --build "$build" -j "$jobs"
  (cd "$build" && ctest --output-on-failure -L unit -j "$jobs" && ctest --output-on-failure -L mp -j 1)
  stage_end release
fi

# Sanitizer builds leave CUDA out (nvcc's code is not instrumented and the
# CUDA runtime does not mix with the sanitizer runtimes) and the benchmarks
# (no test runs them). RelWithDebInfo: stacks with file:line.
san_build() { # dir sanitizers [target]
  cmake -S "$root" -B "$1" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTANDEM_WERROR=ON \
    -DTANDEM_ENABLE_CUDA=OFF -DTANDEM_BUILD_PERF=OFF -DTANDEM_SANITIZE="$2" >/dev/null
  cmake --build "$1" -j "$jobs" ${3:+--target "$3"}
}

if run asan; then
  stage_start asan
  san_build "$(dirname "$build")/build-asan" address,undefined
  # The processes mpirun, tandemrun and failures_test's fork start inherit these.
  # - Leak detection stays on, with no suppressions.
  # - HWLOC_COMPONENTS=-pci: hwloc's PCI plugin leaks ~1 KB in libpciaccess
  #   (callocs pci_system_cleanup does not free) in every process that
  #   discovers the topology; the plugin is unloaded by then, so its frames
  #   are <unknown module> and no suppression can name them, except with full
  #   stacks at every malloc (fast_unwind_on_malloc=0), which makes the mp
  #   tests many times slower. Without the plugin hwloc still reports NUMA
  #   and cores but no PCI tree (devices lose their bridge chain: on CI's
  #   machine, without GPUs, only NICs). The release stage keeps the plugin.
  # - halt_on_error: the first finding fails the process, so the test. UBSan
  #   aborts on its own (-fno-sanitize-recover=undefined); print_stacktrace
  #   gives its stack.
  export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  export HWLOC_COMPONENTS=-pci
  # The mpirun variants are left out: under mpirun libtandem loads Open MPI
  # (tools/mpi_plugin), whose ~120 KB of leaks at exit sit mostly in MCA
  # components unloaded by then (<unknown module> frames, no suppression can
  # name them); the same tests run under tandemrun, and the plugin's bootstrap
  # under mpirun keeps its coverage in the release stage. Also left out for
  # time (each took minutes under ASan on 2 cores): 8 ranks (np4 runs the same
  # paths) and the 64 MiB test (small links cover the slicing and wrap-arounds).
  (cd "$(dirname "$build")/build-asan" &&
    ctest --output-on-failure -L unit -j "$jobs" &&
    ctest --output-on-failure -L mp -E 'mpirun|np8|large' -j 1)
  unset ASAN_OPTIONS UBSAN_OPTIONS HWLOC_COMPONENTS
  stage_end asan
fi

if run tsan; then
  stage_start tsan
  # Only the binaries of the tests labelled tsan (tests/CMakeLists.txt).
  san_build "$(dirname "$build")/build-tsan" thread tandem_tsan_tests
  export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
  (cd "$(dirname "$build")/build-tsan" && ctest --output-on-failure -L tsan -j 1)
  unset TSAN_OPTIONS
  stage_end tsan
fi

if run fuzz; then
  stage_start fuzz
  fuzz_build="$(dirname "$build")/build-fuzz"
  cmake -S "$root" -B "$fuzz_build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DTANDEM_WERROR=ON \
    -DTANDEM_ENABLE_CUDA=OFF -DTANDEM_BUILD_PERF=OFF -DTANDEM_BUILD_TESTS=OFF \
    -DTANDEM_BUILD_TOOLS=OFF -DTANDEM_FUZZ=ON -DTANDEM_SANITIZE=address,undefined >/dev/null
  cmake --build "$fuzz_build" -j "$jobs" --target tandem_fuzz_targets
  bash "$root/tests/fuzz/run.sh" "$fuzz_build" "${TANDEM_FUZZ_SECONDS:-60}"
  stage_end fuzz
fi

if run tidy; then
  stage_start tidy
  # Needs only the compile commands: configure when the release stage did not run.
  [ -f "$build/compile_commands.json" ] ||
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTANDEM_WERROR=ON >/dev/null
  bash "$root/tools/check_tidy.sh" --all -p "$build"
  stage_end tidy
fi
