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
echo "install test passed"
