#!/usr/bin/env bash
# scripts/launch.sh over ssh and scp stand-ins that run commands here: three
# "hosts" n1, n2, n3 (n1@127.0.0.1 ...), each with its own home directory
# and loopback port, with keys. start copies meshd, the keys and each
# node.toml, founds the mesh on n1 and waits until it has formed; the test
# checks members, the written configs and a task, stops the mesh, starts it
# again on the same data dirs (no founding this time), and stops it again:
# every meshd must exit. Usage: launch_test.sh <meshd> <meshctl>
set -euo pipefail
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/shell/launch_hosts.sh
source "$source_dir/tests/shell/launch_hosts.sh"
launch_become_subreaper "$@"
meshd=$(realpath "$1")
meshctl=$(realpath "$2")
launch=$source_dir/scripts/launch.sh
work=$(mktemp -d "${TMPDIR:-/tmp}/meshwork-launch-test-XXXXXX")

# Every meshd started here, by pid file: killed and awaited on exit. Each is
# this shell's child once its starter has exited; only those are touched.
meshd_pids() { cat "$work"/hosts/*/meshwork/meshd.pid 2>/dev/null || true; }
started_pids=()
cleanup() {
  local pid
  for pid in $(meshd_pids) "${started_pids[@]}"; do
    if ours_running "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  # shellcheck disable=SC2046
  for _ in $(seq 600); do all_gone $(meshd_pids) "${started_pids[@]}" && break; sleep 0.1; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
# Copies of the binaries: a rebuild of the build tree during the run does not
# pull them from under the test.
mkdir -p "$work/build"
cp "$meshd" "$meshctl" "$work/build/"
meshd=$work/build/$(basename "$meshd") meshctl=$work/build/$(basename "$meshctl")
fail() {
  echo "FAIL: $*" >&2
  for log in "$work"/hosts/*/meshwork/meshd.log; do
    [ -e "$log" ] && { echo "--- $log" && tail -n 15 "$log"; } >&2
  done
  exit 1
}
# shellcheck source=tests/shell/wait_for.sh
source "$source_dir/tests/shell/wait_for.sh"

launch_hosts n1 n2 n3
read -r p1 p2 p3 < <(free_ports 3)
cat >"$work/hosts.txt" <<EOF
# three hosts on loopback
n1@127.0.0.1 tcp://127.0.0.1:$p1 n1
n2@127.0.0.1   127.0.0.1:$p2   n2   # without tcp://
  n3@127.0.0.1 tcp://127.0.0.1:$p3 n3
EOF
endpoints=("tcp://127.0.0.1:$p1" "tcp://127.0.0.1:$p2" "tcp://127.0.0.1:$p3")

local_template "$source_dir" "$work/template.toml"

"$meshctl" keygen --dir "$work/keys" --mesh --node n1 --node n2 --node n3 --client ops:admin >/dev/null
export MESH_CLIENT_KEY=$work/keys/ops.key MESH_MESH_KEY=$work/keys/mesh.pub
args=(--binary "$meshd" --meshctl "$meshctl" --mesh-key-dir "$work/keys" --template "$work/template.toml" --timeout 180)

echo "== a listen address beyond loopback without keys is refused before any host is touched"
printf 'n1@127.0.0.1 tcp://0.0.0.0:%s n1\n' "$p1" >"$work/wide.txt"
code=0
out=$("$launch" start "$work/wide.txt" --binary "$meshd" --meshctl "$meshctl" 2>&1) || code=$?
[ "$code" -eq 2 ] && grep -q -- "--mesh-key-dir" <<<"$out" || fail "start without keys on 0.0.0.0: exit $code: $out"
[ ! -e "$work/hosts/n1/ssh.log" ] || fail "start without keys reached a host"
echo "$out" | head -n 1

echo "== a config meshd refuses stops the start, with meshd's reason"
sed 's/^slots = \(.*\)/slots = \1\nunheard_of = 1/' "$work/template.toml" >"$work/bad.toml"
grep -q '^unheard_of = 1' "$work/bad.toml" || fail "configs/multi-host.toml has no slots line"
code=0
out=$("$launch" start "$work/hosts.txt" "${args[@]}" --template "$work/bad.toml" 2>&1) || code=$?
[ "$code" -eq 1 ] && grep -q "unheard_of" <<<"$out" || fail "start with a bad config: exit $code: $out"
[ -z "$(meshd_pids)" ] || fail "a meshd was started with a bad config"
echo "$out"

echo "== start: founds the mesh on n1, the others join"
"$launch" start "$work/hosts.txt" "${args[@]}" || fail "launch.sh start failed"
for i in 1 2 3; do
  root=$work/hosts/n$i/meshwork
  for f in bin/meshd node.toml keys/mesh.key keys/node.key keys/nodes/n1.pub keys/clients/ops.pub meshd.pid; do
    [ -e "$root/$f" ] || fail "n$i: $f was not written"
  done
  [ ! -e "$root/founding.toml" ] || fail "n$i: the founding config was left behind"
  cmp -s "$root/keys/node.key" "$work/keys/n$i.key" || fail "n$i: node.key is not n$i's key"
  "$meshd" --config "$root/node.toml" --check-config >"$work/check.txt" 2>&1 || fail "n$i: $(cat "$work/check.txt")"
  grep -q "node id *n$i\$" "$work/check.txt" || fail "n$i's node.toml is not n$i's: $(cat "$work/check.txt")"
  grep -qx "seeds = \[\"127.0.0.1:$p1\", \"127.0.0.1:$p2\", \"127.0.0.1:$p3\"\]" "$root/node.toml" ||
    fail "n$i's seeds: $(grep seeds "$root/node.toml")"
  grep -qx "data_dir = \"$root/data\"" "$root/node.toml" || fail "n$i's data_dir: $(grep data_dir "$root/node.toml")"
  grep -qx "keys_dir = \"$root/keys\"" "$root/node.toml" || fail "n$i's keys_dir: $(grep keys_dir "$root/node.toml")"
  pid=$(cat "$root/meshd.pid")
  started_pids+=("$pid")
  [ "$(cat "/proc/$pid/comm")" = meshd ] && ours_running "$pid" || fail "n$i's pid file names $pid, not a meshd of ours"
done
grep -q "event=mesh_founded" "$work/hosts/n1/meshwork/meshd.log" || fail "n1 did not found the mesh"
for i in 2 3; do
  ! grep -q "event=mesh_founded" "$work/hosts/n$i/meshwork/meshd.log" || fail "n$i founded a mesh of its own"
done

three_alive() {
  [ "$("$meshctl" -a "$1" members | awk '$2 == "alive" && $1 ~ /^n[123]$/' | wc -l)" -eq 3 ]
}
# A member may be suspected for a moment on a busy machine: polled.
for ep in "${endpoints[@]}"; do wait_for "three alive members on $ep" three_alive "$ep"; done
echo "== status"
status_ok() {
  "$launch" status "$work/hosts.txt" "${args[@]}" >"$work/status.txt" 2>&1 &&
    [ "$(grep -c ' alive ' "$work/status.txt")" -eq 3 ]
}
wait_for "status shows three running nodes and three alive members" status_ok
cat "$work/status.txt"

echo "== a task through n2"
out=$("$meshctl" -a "${endpoints[1]}" submit --id launched --handler hash --payload 1000:launch --wait) ||
  fail "submit: $out"
grep -q "COMPLETED" <<<"$out" || fail "the task did not complete: $out"

echo "== a rolling restart of n2 alone (--only): the others keep running"
n1_pid=$(cat "$work/hosts/n1/meshwork/meshd.pid") n2_pid=$(cat "$work/hosts/n2/meshwork/meshd.pid")
n3_pid=$(cat "$work/hosts/n3/meshwork/meshd.pid")
"$launch" stop "$work/hosts.txt" "${args[@]}" --only n2 >"$work/stop.txt" 2>&1 || fail "stop --only n2: $(cat "$work/stop.txt")"
cat "$work/stop.txt"
all_gone "$n2_pid" || fail "n2 still runs after stop --only n2"
ours_running "$n1_pid" && ours_running "$n3_pid" || fail "stop --only n2 stopped another node"
"$launch" start "$work/hosts.txt" "${args[@]}" --only n2 || fail "start --only n2 failed"
started_pids+=("$(cat "$work/hosts/n2/meshwork/meshd.pid")")
[ "$(cat "$work/hosts/n2/meshwork/meshd.pid")" != "$n2_pid" ] || fail "n2 was not restarted"
[ "$(cat "$work/hosts/n1/meshwork/meshd.pid")" = "$n1_pid" ] && [ "$(cat "$work/hosts/n3/meshwork/meshd.pid")" = "$n3_pid" ] ||
  fail "start --only n2 restarted another node"
out=$("$meshctl" -a "${endpoints[1]}" get launched) || fail "get through the restarted n2: $out"
grep -q "COMPLETED" <<<"$out" || fail "the task is not COMPLETED through the restarted n2: $out"

stop_and_check() {
  local pids
  pids=$(meshd_pids)
  [ "$(wc -w <<<"$pids")" -eq 3 ] || fail "expected three pid files, got: $pids"
  "$launch" stop "$work/hosts.txt" "${args[@]}" >"$work/stop.txt" 2>&1 || fail "stop: $(cat "$work/stop.txt")"
  cat "$work/stop.txt"
  [ "$(grep -c 'exited' "$work/stop.txt")" -eq 3 ] || fail "stop did not report three exits"
  # shellcheck disable=SC2086
  all_gone $pids || fail "a meshd still runs after stop: $pids"
  [ -z "$(meshd_pids)" ] || fail "pid files left after stop"
  for i in 1 2 3; do
    grep -q "event=stopped" "$work/hosts/n$i/meshwork/meshd.log" || fail "n$i did not log event=stopped"
  done
}
echo "== stop"
stop_and_check
code=0
"$launch" status "$work/hosts.txt" "${args[@]}" >"$work/status.txt" 2>&1 || code=$?
[ "$code" -eq 1 ] && [ "$(grep -c ' stopped ' "$work/status.txt")" -eq 3 ] ||
  fail "status of a stopped mesh: exit $code: $(cat "$work/status.txt")"

echo "== start again on the same data dirs: nobody founds, the task is still there"
commands_before=$(wc -l <"$work/hosts/n1/ssh.log")
"$launch" start "$work/hosts.txt" "${args[@]}" || fail "the second start failed"
for i in 1 2 3; do started_pids+=("$(cat "$work/hosts/n$i/meshwork/meshd.pid")"); done
[ "$(grep -c "event=mesh_founded" "$work/hosts/n1/meshwork/meshd.log")" -eq 1 ] || fail "n1 founded a second mesh"
! tail -n "+$((commands_before + 1))" "$work/hosts/n1/ssh.log" | grep -q -- "--new-mesh" ||
  fail "the second start passed --new-mesh"
for ep in "${endpoints[@]}"; do wait_for "three alive members on $ep after the restart" three_alive "$ep"; done
out=$("$meshctl" -a "${endpoints[2]}" get launched) || fail "get after the restart: $out"
grep -q "COMPLETED" <<<"$out" || fail "the task is not COMPLETED after the restart: $out"
echo "== stop again"
stop_and_check
echo "PASSED"
