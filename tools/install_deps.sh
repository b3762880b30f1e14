#!/usr/bin/env bash
# Installs the Debian packages Tandem builds with, when they are missing.
set -euo pipefail
packages=(build-essential cmake ninja-build pkg-config git
          libopenmpi-dev openmpi-bin libhwloc-dev libgtest-dev libgmock-dev
          libibverbs-dev
          clang-format clang-tidy    # CI's format and clang-tidy gates (14 on Debian 12)
          clang libclang-rt-14-dev   # CI's fuzz stage: clang with libFuzzer
          python3-torch python3-numpy)  # the Python package's tests (CPU tensors)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "tandem: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
