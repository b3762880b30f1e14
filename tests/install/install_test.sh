#!/usr/bin/env bash
# Installs the build into a temporary prefix, then builds a consumer with
# find_package(Tandem) and another with pkg-config, and runs both.
set -euo pipefail
build=$1 source=$2
# A sanitizer build (TANDEM_SANITIZE, third argument): the consumers link the
# same runtime, which must come first in the program, not via libtandem.so.
san_flags=""
if [ -n "${3:-}" ]; then
  san_flags="-fsanitize=$3"
  export CXXFLAGS="$san_flags" LDFLAGS="$san_flags"
fi
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
test -f "$prefix/include/tandem/tandem.h"
soname=$(objdump -p "$prefix/lib/libtandem.so" | awk '/SONAME/ {print $2}')
[ "$soname" = "libtandem.so.0" ] || { echo "unexpected SONAME '$soname'"; exit 1; }
test -f "$prefix/lib/cmake/Tandem/TandemConfig.cmake"
test -f "$prefix/lib/pkgconfig/tandem.pc"
cmake -S "$source/tests/install/consumer" -B "$prefix/consumer" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$prefix/consumer" >/dev/null
LD_LIBRARY_PATH="$prefix/lib" "$prefix/consumer/consumer"
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
g++ -std=c++17 $san_flags "$source/tests/install/consumer/consumer.cc" $(pkg-config --cflags --libs tandem) \
  -o "$prefix/consumer_pc"
LD_LIBRARY_PATH="$prefix/lib" "$prefix/consumer_pc"
# The NCCL shim (tools/nccl_shim), laid out as an NCCL_HOME: a program for
# NCCL built against its nccl.h finds libnccl.so.2 by its own rpath and
# libtandem.so by the shim's ($ORIGIN/../..), with no LD_LIBRARY_PATH.
nccl_home="$prefix/lib/tandem-nccl"
if [ -d "$nccl_home" ]; then
  test -f "$nccl_home/include/nccl.h" && test -f "$nccl_home/include/nccl_device.h"
  [ "$(readlink "$nccl_home/lib/libnccl.so")" = "libnccl.so.2" ]
  soname=$(objdump -p "$nccl_home/lib/libnccl.so.2" | awk '/SONAME/ {print $2}')
  [ "$soname" = "libnccl.so.2" ] || { echo "unexpected shim SONAME '$soname'"; exit 1; }
  cat > "$prefix/nccl_consumer.c" <<'C'
#include <stdio.h>
#include "nccl.h"
int main(void) {
  ncclUniqueId id;
  ncclComm_t comm;
  int version = 0;
  float x[4] = {1, 2, 3, 4}, y[4] = {0};
  if (ncclGetVersion(&version) != ncclSuccess || version != NCCL_VERSION_CODE) return 1;
  if (ncclGetUniqueId(&id) != ncclSuccess || ncclCommInitRank(&comm, 1, id, 0) != ncclSuccess) return 2;
  if (ncclAllReduce(x, y, 4, ncclFloat, ncclSum, comm, NULL) != ncclSuccess || y[3] != 4) return 3;
  if (ncclCommDestroy(comm) != ncclSuccess) return 4;
  printf("installed libnccl.so.2: NCCL %d, allreduce ok\n", version);
  return 0;
}
C
  gcc $san_flags "$prefix/nccl_consumer.c" -I"$nccl_home/include" -L"$nccl_home/lib" -lnccl \
    -Wl,-rpath,"$nccl_home/lib" -o "$prefix/nccl_consumer"
  env -u LD_LIBRARY_PATH "$prefix/nccl_consumer"
fi
# The Python package, beside the library it must find by its relative path
# (not through TANDEM_LIBRARY or the loader's path); run where a python3 with
# torch exists and the library is not instrumented (a sanitizer runtime must
# come first in the process, which python3 is not).
pkg="$prefix/lib/python3/dist-packages"
test -f "$pkg/tandem/__init__.py"
if [ -z "${3:-}" ]; then
  for py in python3 /usr/bin/python3; do
    if "$py" -c "import torch" 2>/dev/null; then
      (cd "$prefix" && env -u TANDEM_LIBRARY -u LD_LIBRARY_PATH PYTHONPATH="$pkg" PYTHONDONTWRITEBYTECODE=1 "$py" -c '
import torch, tandem
with tandem.Communicator.from_env() as comm:
    x = torch.ones(3)
    comm.all_reduce(x)
    assert comm.size == 1 and x.tolist() == [1.0, 1.0, 1.0], x
print("installed python package: ok")')
      break
    fi
  done
fi
echo "install test passed"
