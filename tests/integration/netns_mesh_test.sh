#!/usr/bin/env bash
# Three meshd "hosts", each in its own network namespace with its own IP on a
# private bridge, with keys (CURVE): they join through a seed address, agree
# on the ring, serve a client from another host, refuse a client without
# keys, and detect a SIGKILL. Needs root and iproute2;
# without them the test reports itself skipped (exit 77).
set -euo pipefail
meshd=$1
meshctl=$2
if [ "$(id -u)" -ne 0 ] || ! command -v ip >/dev/null || ! ip netns add "mwprobe$$" 2>/dev/null; then
  echo "skipped: needs root, iproute2 and network namespaces"
  exit 77
fi
ip netns del "mwprobe$$"

tag="mw$$"
work=$(mktemp -d /tmp/meshnetns-XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  for ns in "${tag}sw" "${tag}h1" "${tag}h2" "${tag}h3"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAILED: $*"
  for i in 1 2 3; do echo "--- h$i log"; tail -20 "$work/h$i.log" 2>/dev/null || true; done
  exit 1
}
# Polls "$@" every 50 ms for up to 60 s.
wait_for() {
  for _ in $(seq 1 1200); do
    "$@" && return 0
    sleep 0.05
  done
  return 1
}

ip netns add "${tag}sw"
ip -n "${tag}sw" link add br0 type bridge
ip -n "${tag}sw" link set br0 up
for i in 1 2 3; do
  ns="${tag}h$i"
  ip netns add "$ns"
  ip link add "${tag}v$i" type veth peer name "${tag}b$i"
  ip link set "${tag}v$i" netns "$ns"
  ip link set "${tag}b$i" netns "${tag}sw"
  ip -n "${tag}sw" link set "${tag}b$i" master br0 up
  ip -n "$ns" addr add "10.77.0.$i/24" dev "${tag}v$i"
  ip -n "$ns" link set "${tag}v$i" up
  ip -n "$ns" link set lo up
done

# Exec is off unless configured: the hosts may run echo.
echo_path=$(type -P echo)
printf '[handlers.exec]\nallow = ["%s"]\n' "$echo_path" >"$work/exec.toml"
# Keys for the three hosts and one admin client; plaintext on a host's
# address is refused without --insecure.
"$meshctl" keygen --dir "$work/keys" --mesh --node h1 --node h2 --node h3 --client ops:admin >/dev/null
export MESH_CLIENT_KEY="$work/keys/ops.key" MESH_MESH_KEY="$work/keys/mesh.pub"
code=0
ip netns exec "${tag}h1" "$meshd" --node-id plain --listen tcp://10.77.0.1:7700 --data-dir "$work/plain" \
  --new-mesh >"$work/plain.log" 2>&1 || code=$?
[ "$code" -eq 2 ] && grep -q -- "--insecure" "$work/plain.log" || fail "plaintext on 10.77.0.1 was not refused ($code)"
for i in 1 2 3; do
  seeds=(--new-mesh)
  [ "$i" -gt 1 ] && seeds=(--seeds 10.77.0.1:7700)
  ip netns exec "${tag}h$i" "$meshd" --node-id "h$i" --listen "tcp://10.77.0.$i:7700" --gossip-profile local \
    --data-dir "$work/h$i" --slots 2 --config "$work/exec.toml" --keys "$work/keys" "${seeds[@]}" >"$work/h$i.log" 2>&1 &
  pids+=($!)
done

alive_on() { [ "$(ip netns exec "${tag}h$1" "$meshctl" -a "tcp://10.77.0.$1:7700" members | grep -c ' alive ')" -eq "$2" ]; }
for i in 1 2 3; do wait_for alive_on "$i" 3 || fail "h$i does not see three alive members"; done
echo "three hosts see each other:"
ip netns exec "${tag}h2" "$meshctl" -a tcp://10.77.0.2:7700 members

digest_on() { ip netns exec "${tag}h$1" "$meshctl" -a "tcp://10.77.0.$1:7700" ring | head -1 | sed 's/.*digest //'; }
d1=$(digest_on 1); d2=$(digest_on 2); d3=$(digest_on 3)
[ -n "$d1" ] && [ -n "$d2" ] && [ -n "$d3" ] || fail "a host printed no ring digest: '$d1' '$d2' '$d3'"
[ "$d1" = "$d2" ] && [ "$d2" = "$d3" ] || fail "ring digests differ: $d1 $d2 $d3"
echo "ring digest $d1 on every host"

# A client on h3 submits to h1 across the bridge.
out=$(ip netns exec "${tag}h3" "$meshctl" -a tcp://10.77.0.1:7700 submit --handler exec \
  --payload "{\"argv\":[\"$echo_path\",\"across hosts\"]}" --id cross --wait) || fail "cross-host submit: $out"
echo "$out" | grep -q "across hosts" || fail "unexpected result: $out"
echo "cross-host task: $(echo "$out" | head -1)"

# A client without keys, and one whose key no node lists, get no answer
# (exit 3); the node counts the refused key.
"$meshctl" keygen --dir "$work/other" --client eve:admin >/dev/null
code=0
MESH_CLIENT_KEY= MESH_MESH_KEY= ip netns exec "${tag}h3" "$meshctl" -a tcp://10.77.0.1:7700 --timeout-ms 1500 \
  members >/dev/null 2>&1 || code=$?
[ "$code" -eq 3 ] || fail "a client without keys was answered (exit $code)"
code=0
MESH_CLIENT_KEY="$work/other/eve.key" ip netns exec "${tag}h3" "$meshctl" -a tcp://10.77.0.1:7700 \
  --timeout-ms 1500 members >/dev/null 2>&1 || code=$?
[ "$code" -eq 3 ] || fail "a client with an unlisted key was answered (exit $code)"
refused=$(ip netns exec "${tag}h1" "$meshctl" -a tcp://10.77.0.1:7700 --json stats | grep -o '"connections_refused":[0-9]*')
[ "${refused#*:}" -ge 1 ] || fail "h1 counted no refused connection: '$refused'"
echo "clients without keys or with an unlisted key are refused ($refused)"

kill -KILL "${pids[2]}"
dead_on() { ip netns exec "${tag}h$1" "$meshctl" -a "tcp://10.77.0.$1:7700" members | grep -q '^h3 .* dead '; }
wait_for dead_on 1 || fail "h1 did not declare h3 dead"
wait_for dead_on 2 || fail "h2 did not declare h3 dead"
echo "h3 killed: declared dead on h1 and h2"
echo "PASSED"
