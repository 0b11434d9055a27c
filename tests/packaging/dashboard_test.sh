#!/usr/bin/env bash
# configs/grafana-dashboard.json: a well-formed Grafana dashboard whose every
# query reads series that meshd really exposes. Two nodes run a workload that
# makes every counter the dashboard reads appear (some appear only once they
# count something: steals, dead letters, aborted transactions, refusals);
# their /metrics must then hold every metric name and every label value
# (name{label="value"}) used in a panel's or variable's query.
# Usage: dashboard_test.sh <meshd> <meshctl>
set -euo pipefail
meshd=$1 meshctl=$2
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
dashboard=$source_dir/configs/grafana-dashboard.json
work=$(mktemp -d "${TMPDIR:-/tmp}/meshwork-dashboard-XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
# Copies of the binaries: a rebuild of the build tree during the run does not
# pull them from under the test.
cp "$meshd" "$meshctl" "$work/"
meshd=$work/$(basename "$meshd") meshctl=$work/$(basename "$meshctl")
fail() {
  echo "FAIL: $*" >&2
  for log in "$work"/n*.log; do [ -e "$log" ] && { echo "--- $log"; tail -n 15 "$log"; } >&2; done
  exit 1
}
# shellcheck source=tests/shell/wait_for.sh
source "$source_dir/tests/shell/wait_for.sh"

# check.py DASHBOARD [METRICS_FILE...]: without metrics files, checks the
# dashboard's form and prints the names it reads; with them, prints what the
# dashboard reads that none of them exposes (exit 1 if anything).
cat >"$work/check.py" <<'EOF'
import json, re, sys

def fail(message):
    sys.exit("dashboard: " + message)

dashboard = json.load(open(sys.argv[1]))
if not isinstance(dashboard.get("schemaVersion"), int) or dashboard["schemaVersion"] < 36:
    fail("schemaVersion missing or older than 36")
inputs = {i.get("name"): i for i in dashboard.get("__inputs", [])}
if inputs.get("DS_PROMETHEUS", {}).get("pluginId") != "prometheus":
    fail("no DS_PROMETHEUS input of type prometheus")
for key in ("title", "uid", "panels", "templating"):
    if key not in dashboard:
        fail("no " + key)

queries = []  # (where, PromQL)
panels = []
for panel in dashboard["panels"]:
    panels.append(panel)
    panels.extend(panel.get("panels", []))  # a collapsed row holds its panels
ids = [p.get("id") for p in panels]
if len(set(ids)) != len(ids) or None in ids:
    fail("panel ids missing or repeated")
for p in panels:
    where = "panel %r" % p.get("title")
    grid = p.get("gridPos", {})
    if not all(isinstance(grid.get(k), int) for k in ("h", "w", "x", "y")) or grid["x"] + grid["w"] > 24:
        fail(where + ": bad gridPos " + repr(grid))
    if p.get("type") == "row":
        continue
    if p.get("datasource", {}).get("uid") != "${DS_PROMETHEUS}":
        fail(where + ": datasource is not ${DS_PROMETHEUS}")
    targets = p.get("targets", [])
    if not targets:
        fail(where + ": no query")
    ref_ids = [t.get("refId") for t in targets]
    if len(set(ref_ids)) != len(ref_ids):
        fail(where + ": refIds repeated")
    for t in targets:
        if not t.get("expr"):
            fail(where + ": a query without expr")
        if t.get("datasource", {}).get("uid") != "${DS_PROMETHEUS}":
            fail(where + ": a query's datasource is not ${DS_PROMETHEUS}")
        queries.append((where, t["expr"]))
for v in dashboard["templating"].get("list", []):
    if v.get("type") == "query":
        query = v.get("query")
        queries.append(("variable %r" % v.get("name"), query.get("query") if isinstance(query, dict) else query))

# Every series the dashboard reads is named meshwork_*; selectors name=value
# are checked too (regex matchers like node=~"$node" are not).
used = {}      # name -> places
matchers = {}  # (name, label, value) -> places
for where, expr in queries:
    names = re.findall(r"\bmeshwork_[a-zA-Z0-9_:]+", expr)
    if not names:
        fail(where + ": reads no meshwork_ series: " + expr)
    for name in names:
        used.setdefault(name, set()).add(where)
    for name, selector in re.findall(r"\b(meshwork_[a-zA-Z0-9_:]+)\{([^}]*)\}", expr):
        for label, value in re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"([^"]*)"', selector):
            if not re.search(r'%s\s*[=!]~' % re.escape(label), selector):
                matchers.setdefault((name, label, value), set()).add(where)

if len(sys.argv) == 2:
    print(" ".join(sorted(used)))
    sys.exit(0)

exposed = {}  # name -> list of label dicts
for path in sys.argv[2:]:
    for line in open(path):
        if line.startswith("#") or not line.strip():
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s", line)
        if not m:
            fail("unreadable line in %s: %r" % (path, line))
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        exposed.setdefault(m.group(1), []).append(labels)

missing = []
for name in sorted(used):
    if name not in exposed:
        missing.append("%s (in %s)" % (name, ", ".join(sorted(used[name]))))
for (name, label, value), places in sorted(matchers.items()):
    if name in exposed and not any(l.get(label) == value for l in exposed[name]):
        missing.append('%s{%s="%s"} (in %s)' % (name, label, value, ", ".join(sorted(places))))
if missing:
    print("\n".join(missing))
    sys.exit(1)
print("%d metric names and %d label selectors, all exposed" % (len(used), len(matchers)))
EOF

echo "== the dashboard's form"
names=$(python3 "$work/check.py" "$dashboard") || fail "$names"
echo "it reads: $names"

echo "== two nodes with metrics"
seeds=
for i in 1 2; do
  args=(--node-id "dash-$i" --listen tcp://127.0.0.1:0 --data-dir "$work/n$i" --gossip-profile local
    --metrics-listen 127.0.0.1:0)
  if [ -n "$seeds" ]; then args+=(--seeds "$seeds"); else args+=(--new-mesh); fi
  "$meshd" "${args[@]}" >"$work/n$i.log" 2>&1 &
  pids+=($!)
  wait_for "node $i binding" test -s "$work/n$i/metrics.endpoint"
  [ -n "$seeds" ] || seeds=$(sed 's|^tcp://||' "$work/n1/meshd.endpoint")
done
ep=$(cat "$work/n1/meshd.endpoint")
two_alive() { [ "$("$meshctl" -a "$ep" members | grep -c ' alive ')" -eq 2 ]; }
wait_for "two alive members" two_alive

echo "== a workload that makes every family count"
"$meshctl" -a "$ep" submit --handler noop --payload x --count 50 --wait >/dev/null || fail "noop tasks"
"$meshctl" -a "$ep" submit --handler fail --payload 1 --max-attempts 3 --backoff-ms 10 --wait >/dev/null ||
  fail "a task that fails once, then completes"
# These end FAILED or are refused: their exit codes are not the point.
"$meshctl" -a "$ep" submit --handler fail --payload 9 --max-attempts 1 --wait >/dev/null || true
"$meshctl" -a "$ep" submit --handler sleep --payload 5000 --task-timeout-ms 100 --max-attempts 1 --wait >/dev/null || true
"$meshctl" -a "$ep" submit --handler exec --payload '{"argv":["/bin/true"]}' >/dev/null 2>&1 || true
"$meshctl" -a "$ep" submit --handler sleep --payload 600000 --id dash-long >/dev/null || fail "a long task"
"$meshctl" -a "$ep" cancel dash-long >/dev/null || fail "cancel"
printf '{"id":"dash-a1","handler":"noop"}\n{"id":"dash-a2","handler":"noop"}\n' >"$work/job.jsonl"
"$meshctl" -a "$ep" submit --atomic --file "$work/job.jsonl" >/dev/null || fail "an atomic submit"
# The same ids again: the participants refuse to prepare, the transaction aborts.
"$meshctl" -a "$ep" submit --atomic --file "$work/job.jsonl" >/dev/null 2>&1 || true

# Steals need a loaded victim and an idle thief: skewed batches (one key,
# one partition) until both nodes' /metrics show everything.
scrape() {
  local i
  for i in 1 2; do curl -sf "http://$(cat "$work/n$i/metrics.endpoint")/metrics" >"$work/metrics-$i.txt" || return 1; done
}
ok=
for round in $(seq 60); do
  "$meshctl" -a "$ep" submit --handler sleep --payload 20 --count 200 --key "hot-$round" --wait >/dev/null ||
    fail "a skewed batch"
  scrape || fail "a node's /metrics did not answer"
  if missing=$(python3 "$work/check.py" "$dashboard" "$work/metrics-1.txt" "$work/metrics-2.txt"); then
    ok=1
    break
  fi
done
[ -n "$ok" ] || fail "the dashboard reads series meshd does not expose:
$missing"
echo "after $round skewed batches: $missing"
echo "PASSED"
