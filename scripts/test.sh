#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test (unit, protocol, fuzz,
# simulator, and real meshd processes on loopback). Warnings are errors here
# (-DMESH_WERROR=ON), not in a plain build. Extra arguments go to cmake.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh -DMESH_WERROR=ON "$@"
cd build
ctest --output-on-failure --timeout 900 -j 2
