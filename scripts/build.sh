#!/usr/bin/env bash
# Configures and builds meshwork into build/ (Release with debug info).
# Extra arguments go to cmake, e.g. scripts/build.sh -DMESH_SANITIZE=ON
set -euo pipefail
cd "$(dirname "$0")/.."
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S . -B build "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build build -j "$(nproc)"
