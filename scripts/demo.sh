#!/usr/bin/env bash
# The main job: installs, builds, starts a three-node mesh on this host and
# submits a mixed workload through one node, which routes every task to its
# partition's leader; idle nodes steal. Shows membership, the ring, the
# partition groups, the load view, progress and steals, results, dead
# letters, statistics, failure detection and failover of a killed node and
# benchmark figures. Nodes drain on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
bin=build
data=$(mktemp -d /tmp/meshwork-demo-XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$data"
}
trap cleanup EXIT

# Starts node $1 (extra flags follow); its endpoint lands in $endpoint.
start_node() {
  local name=$1
  shift
  "$bin/meshd" --node-id "$name" --data-dir "$data/$name" --listen tcp://127.0.0.1:0 --gossip-profile local \
    --slots 2 --config "$data/exec.toml" --keys "$data/keys" "$@" >"$data/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 500); do
    [ -s "$data/$name/meshd.endpoint" ] && break
    sleep 0.02
  done
  endpoint=$(cat "$data/$name/meshd.endpoint")
}

# Exec is off unless configured: these nodes may run sh, by its absolute path.
sh_path=$(type -P sh)
printf '[handlers.exec]\nallow = ["%s"]\nenv = ["PATH"]\n' "$sh_path" >"$data/exec.toml"

# Keys (docs/SECURITY.md): every connection is CURVE, and only these three
# nodes and the demo's admin client get in; meshctl and meshbench find the
# client's keys in the environment.
"$bin/meshctl" keygen --dir "$data/keys" --mesh --node node-1 --node node-2 --node node-3 --client demo:admin >/dev/null
export MESH_CLIENT_KEY="$data/keys/demo.key" MESH_MESH_KEY="$data/keys/mesh.pub"

echo "== starting a three-node mesh with keys (data and keys in $data)"
start_node node-1 --new-mesh --metrics-listen 127.0.0.1:0
n1=$endpoint
start_node node-2 --seeds "${n1#tcp://}"
n2=$endpoint
start_node node-3 --seeds "${n1#tcp://}"
n3=$endpoint
nodes=("$n1" "$n2" "$n3")
for ep in "${nodes[@]}"; do
  for _ in $(seq 1 500); do
    [ "$("$bin/meshctl" -a "$ep" members | grep -c ' alive ')" -eq 3 ] && break
    sleep 0.02
  done
done
# Every partition led and on all three replicas.
for _ in $(seq 1 1000); do
  out=$("$bin/meshctl" -a "$n1" partitions)
  short=$(echo "$out" | awk 'NR > 3 && ($2 == "no" || $5 !~ /,.*,/)' | wc -l)
  echo "$out" | grep -q "3 of 3" && [ "$short" -eq 0 ] && break
  sleep 0.02
done
"$bin/meshctl" -a "$n1" members
echo
"$bin/meshctl" -a "$n2" ring
echo
echo "== the first partitions: leader, term, replicas (Raft groups), commit index and follower lag"
"$bin/meshctl" -a "$n2" partitions | sed -n 1,8p

echo
echo "== submitting a mixed workload through node-1: it routes each task to its partition's leader"
{
  for t in $(seq 1 3000); do echo "{\"id\":\"hash-$t\",\"handler\":\"hash\",\"payload\":\"5000:block-$t\"}"; done
  for t in $(seq 1 300); do echo "{\"id\":\"square-$t\",\"handler\":\"exec\",\"payload\":{\"argv\":[\"$sh_path\",\"-c\",\"echo \$(($t*$t))\"]}}"; done
  for t in $(seq 1 600); do echo "{\"id\":\"sleepy-$t\",\"handler\":\"sleep\",\"payload\":\"50\",\"priority\":-1}"; done
  for t in $(seq 1 100); do echo "{\"id\":\"flaky-$t\",\"handler\":\"fail\",\"payload\":\"2\",\"max_attempts\":4,\"backoff_ms\":50}"; done
  for t in $(seq 1 10); do echo "{\"id\":\"doomed-$t\",\"handler\":\"fail\",\"payload\":\"9\",\"max_attempts\":3,\"backoff_ms\":50}"; done
} | "$bin/meshctl" -a "$n1" submit --file -

echo
echo "== progress of the mesh (each leader counts its partitions), and the load view"
while :; do
  # The gauges of each node (not its counters of the same names).
  read -r p l c f < <(for ep in "${nodes[@]}"; do "$bin/meshctl" -a "$ep" stats; done | awk '
    /^gauges/{g=1} /^counters/{g=0} !g{next}
    $1=="tasks_pending"{p+=$3} $1=="tasks_leased"{l+=$3} $1=="tasks_completed"{c+=$3} $1=="tasks_failed"{f+=$3}
    END{print p+0, l+0, c+0, f+0}')
  stolen=""
  for i in 0 1 2; do
    s=$("$bin/meshctl" -a "${nodes[$i]}" steals | awk '$1=="tasks_stolen"{print $3}')
    stolen="$stolen node-$((i + 1)) stole $s"
  done
  echo "  pending=$p leased=$l completed=$c failed=$f |$stolen"
  [ "$((p + l))" -eq 0 ] && break
  rounds=$((${rounds:-0} + 1))
  [ "$rounds" -eq 2 ] && "$bin/meshctl" -a "$n2" load | sed 's/^/    /'
  sleep 0.5
done
echo
"$bin/meshctl" -a "$n1" steals | tail -20

echo
echo "== some results"
"$bin/meshctl" -a "$n1" get square-12 hash-3 | grep -E "^(id|state|result|attempts|  attempt)"
echo
echo "== a task that needed retries"
"$bin/meshctl" -a "$n1" get flaky-1
echo "== dead letters (attempts exhausted), listed through node-1"
"$bin/meshctl" -a "$n1" list --state FAILED
echo
echo "== map-reduce: a word count over the docs (exec map and reduce tasks, one atomic job of dependent tasks)"
docs=(README.md docs/*.md)
"$bin/meshctl" -a "$n1" mapreduce --reducers 4 \
  --map "[\"$sh_path\",\"-c\",\"tr -s '[:space:]' '\\\\n'\"]" \
  --reduce "[\"$sh_path\",\"-c\",\"LC_ALL=C sort | LC_ALL=C uniq -c\"]" \
  --final "[\"$sh_path\",\"-c\",\"LC_ALL=C sort -k2\"]" "${docs[@]}" >"$data/wordcount.mesh"
cat "${docs[@]}" | tr -s '[:space:]' '\n' | LC_ALL=C sort | LC_ALL=C uniq -c >"$data/wordcount.shell"
if cmp -s "$data/wordcount.mesh" "$data/wordcount.shell"; then
  echo "the mesh's answer equals the shell's ($(wc -l <"$data/wordcount.mesh") distinct words); the most frequent:"
  sort -rn "$data/wordcount.mesh" -o "$data/wordcount.ranked"
  head -5 "$data/wordcount.ranked"
else
  echo "the mesh's answer differs from the shell's:"
  diff "$data/wordcount.mesh" "$data/wordcount.shell" | head -20
  exit 1
fi
echo
echo "== node-1 statistics"
"$bin/meshctl" -a "$n1" stats | sed -n '/histograms/,$p'
http_address=$(cat "$data/node-1/metrics.endpoint")
echo "Prometheus metrics: http://$http_address/metrics   web view: http://$http_address/"

echo
echo "== failure detection: SIGKILL node-3, then ask node-1"
kill -KILL "${pids[2]}"
wait "${pids[2]}" 2>/dev/null || true
started=$(date +%s%N)
for _ in $(seq 1 1500); do
  "$bin/meshctl" -a "$n1" members | grep -q 'node-3 .* dead' && break
  sleep 0.02
done
echo "  node-1 declared node-3 dead after $((($(date +%s%N) - started) / 1000000)) ms"
"$bin/meshctl" -a "$n1" members
pids=("${pids[0]}" "${pids[1]}")
nodes=("$n1" "$n2")
echo
echo "== node-3's partitions have new leaders; every task is still there"
"$bin/meshctl" -a "$n1" partitions | sed -n 1,6p
"$bin/meshctl" -a "$n2" wait --all --wait-timeout-ms 30000
"$bin/meshctl" -a "$n2" get square-12 | grep -E "^(id|state|result)"

echo
echo "== benchmark: no-op throughput and latency through node-2 (acknowledged once on a majority of replicas)"
"$bin/meshbench" --addr "$n2" --tasks 20000
echo
echo "== stopping (SIGTERM drains and leaves the mesh)"
