#!/usr/bin/env bash
# Installs meshwork's build and test dependencies from Debian's packages.
set -euo pipefail
packages=(
  build-essential cmake ninja-build ccache pkg-config iproute2
  libzmq3-dev cppzmq-dev libmsgpack-cxx-dev libboost-dev doctest-dev librocksdb-dev
  libtoml11-dev libcli11-dev libspdlog-dev nlohmann-json3-dev libxxhash-dev
  prometheus  # promtool checks the metrics exposition in the tests
  python3 python3-zmq python3-msgpack  # the Python client and its test
  chromium  # the web view's test, headless
  help2man  # the man pages, from each binary's --help
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages already installed"
  exit 0
fi
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
echo "setup: installing ${missing[*]}"
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
