#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test (unit, protocol, fuzz,
# simulator, and real meshd processes on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh "$@"
cd build
ctest --output-on-failure --timeout 900 -j 2
