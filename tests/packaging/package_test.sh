#!/usr/bin/env bash
# Installs meshwork into a fresh prefix and builds a program against the
# client library twice (CMake package and pkg-config); the program submits a
# task to the installed meshd. Then builds the .deb and unpacks it into an
# empty root: the binaries there run. Usage: package_test.sh <build dir>
set -euo pipefail
build=$(cd "$1" && pwd)
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/meshwork-package-XXXXXX")
meshd_pid=
cleanup() {
  if [ -n "$meshd_pid" ]; then
    kill -9 "$meshd_pid" 2>/dev/null || true
    wait "$meshd_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

echo "== cmake --install into $work/prefix"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
for f in bin/meshd bin/meshctl lib/systemd/system/meshd.service lib/sysusers.d/meshwork.conf \
         include/meshwork/tools/client/mesh_client.h lib/cmake/meshwork/meshworkConfig.cmake \
         lib/pkgconfig/meshwork-client.pc; do
  [ -e "$work/prefix/$f" ] || fail "$f was not installed"
done
[[ $("$work/prefix/bin/meshd" --version) == "meshd "[0-9]* ]] || fail "meshd --version"

echo "== a program built with find_package(meshwork)"
cmake -S "$source_dir/tests/packaging/consumer" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/consumer" >/dev/null
echo "== a program built with pkg-config meshwork-client"
PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" c++ -std=c++20 "$source_dir/tests/packaging/consumer/main.cc" \
  -o "$work/consumer-pc" $(PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" pkg-config --cflags --libs meshwork-client)

echo "== both submit to the installed meshd"
"$work/prefix/bin/meshd" --node-id package-test --new-mesh --listen tcp://127.0.0.1:0 --data-dir "$work/data" \
  > "$work/meshd.log" 2>&1 &
meshd_pid=$!
for _ in $(seq 600); do [ -s "$work/data/meshd.endpoint" ] && break; sleep 0.1; done
[ -s "$work/data/meshd.endpoint" ] || { cat "$work/meshd.log"; fail "meshd did not start"; }
endpoint=$(cat "$work/data/meshd.endpoint")
for consumer in "$work/consumer/consumer" "$work/consumer-pc"; do
  out=$("$consumer" "$endpoint") || { cat "$work/meshd.log"; fail "$consumer: $out"; }
  [ "$out" = "COMPLETED hello from an installed client" ] || fail "$consumer printed '$out'"
done

echo "== the .deb, unpacked into an empty root"
(cd "$build" && cpack -G DEB -B "$work/deb" >/dev/null)
deb=$(ls "$work"/deb/meshwork_*.deb)
control=$(dpkg-deb -I "$deb")
grep -q "Depends:.*libzmq" <<< "$control" || fail "the .deb does not depend on libzmq"
grep -q " postinst" <<< "$control" || fail "the .deb has no postinst"
dpkg-deb -x "$deb" "$work/root"
for f in usr/bin/meshd usr/bin/meshctl usr/lib/systemd/system/meshd.service usr/share/meshwork/node.toml; do
  [ -e "$work/root/$f" ] || fail "$f is not in the .deb"
done
[[ $("$work/root/usr/bin/meshctl" --version) == "meshctl "[0-9]* ]] || fail "meshctl --version from the .deb"
echo "OK: installed, built against, and packaged ($(basename "$deb"))"
