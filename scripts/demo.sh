#!/usr/bin/env bash
# The main job: installs, builds, starts a local meshd and runs a mixed
# workload through meshctl, showing progress, results, dead letters, node
# statistics and benchmark figures. Ctrl-C stops it; the node drains.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
bin=build
data=$(mktemp -d /tmp/meshwork-demo-XXXXXX)
node_pid=""
cleanup() {
  if [ -n "$node_pid" ] && kill -0 "$node_pid" 2>/dev/null; then
    kill -TERM "$node_pid"
    wait "$node_pid" || true
  fi
  rm -rf "$data"
}
trap cleanup EXIT

echo "== starting meshd (data in $data)"
"$bin/meshd" --config configs/node.toml --data-dir "$data/node-1" --listen tcp://127.0.0.1:0 \
  --metrics-listen 127.0.0.1:0 >"$data/meshd.log" 2>&1 &
node_pid=$!
for _ in $(seq 1 500); do
  [ -s "$data/node-1/meshd.endpoint" ] && break
  kill -0 "$node_pid" 2>/dev/null || { cat "$data/meshd.log"; exit 1; }
  sleep 0.02
done
export MESH_ADDR=$(cat "$data/node-1/meshd.endpoint")
cat "$data/meshd.log"

echo
echo "== submitting a mixed workload to $MESH_ADDR"
{
  for i in $(seq 1 3000); do echo "{\"id\":\"hash-$i\",\"handler\":\"hash\",\"payload\":\"5000:block-$i\"}"; done
  for i in $(seq 1 300); do echo "{\"id\":\"square-$i\",\"handler\":\"exec\",\"payload\":{\"argv\":[\"sh\",\"-c\",\"echo \$(($i*$i))\"]}}"; done
  for i in $(seq 1 200); do echo "{\"id\":\"sleepy-$i\",\"handler\":\"sleep\",\"payload\":\"20\",\"priority\":-1}"; done
  for i in $(seq 1 100); do echo "{\"id\":\"flaky-$i\",\"handler\":\"fail\",\"payload\":\"2\",\"max_attempts\":4,\"backoff_ms\":50}"; done
  for i in $(seq 1 10); do echo "{\"id\":\"doomed-$i\",\"handler\":\"fail\",\"payload\":\"9\",\"max_attempts\":3,\"backoff_ms\":50}"; done
} | "$bin/meshctl" submit --file -

echo
echo "== progress"
while :; do
  read -r pending leased completed failed < <("$bin/meshctl" stats | awk '
    $1=="tasks_pending"{p=$3} $1=="tasks_leased"{l=$3} $1=="tasks_completed"{c=$3} $1=="tasks_failed"{f=$3}
    END{print p, l, c, f}')
  echo "  pending=$pending leased=$leased completed=$completed failed=$failed"
  [ "$((pending + leased))" -eq 0 ] && break
  sleep 0.5
done

echo
echo "== some results"
"$bin/meshctl" get square-12 hash-1 | grep -E "^(id|state|result|attempts)"
echo
echo "== a task that needed retries"
"$bin/meshctl" get flaky-1
echo "== dead letters (attempts exhausted)"
"$bin/meshctl" list --state FAILED --limit 5
echo
echo "== node statistics"
"$bin/meshctl" stats | sed -n '/histograms/,$p'
echo "Prometheus metrics: http://$(cat "$data/node-1/metrics.endpoint")/metrics"
echo
echo "== benchmark: durable no-op throughput and latency"
"$bin/meshbench" --addr "$MESH_ADDR" --tasks 20000
echo
echo "== stopping meshd (SIGTERM drains)"
kill -TERM "$node_pid"
wait "$node_pid" && echo "meshd exited 0"
tail -2 "$data/meshd.log"
node_pid=""
