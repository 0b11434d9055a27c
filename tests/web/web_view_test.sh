#!/usr/bin/env bash
# The web view in Debian's headless Chromium: a three-node mesh does some
# work, the page of one node is loaded, its scripts run, and the DOM must
# show three alive members, every partition with a leader and the work done;
# a screenshot is written (kept in $MESH_WEB_SCREENSHOT when set).
# Usage: web_view_test.sh <meshd> <meshctl>. Exit 77 (skipped) without chromium.
set -euo pipefail
meshd=$1 meshctl=$2
chromium=$(command -v chromium || command -v chromium-browser || true)
[ -n "$chromium" ] || { echo "skipped: chromium is not installed"; exit 77; }
work=$(mktemp -d "${TMPDIR:-/tmp}/meshwork-web-XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for log in "$work"/n*.log; do echo "--- $log"; tail -20 "$log"; done >&2
  exit 1
}
# Polls a condition every 100 ms for up to 120 s (CI machines are slow).
wait_for() {
  local what=$1; shift
  for _ in $(seq 1200); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  fail "$what"
}

seeds=
for i in 1 2 3; do
  args=(--node-id "web-$i" --listen tcp://127.0.0.1:0 --data-dir "$work/n$i" --gossip-profile local)
  [ "$i" = 1 ] && args+=(--metrics-listen 127.0.0.1:0)
  if [ -n "$seeds" ]; then args+=(--seeds "$seeds"); else args+=(--new-mesh); fi
  "$meshd" "${args[@]}" > "$work/n$i.log" 2>&1 &
  pids+=($!)
  wait_for "node $i binding" test -s "$work/n$i/meshd.endpoint"
  [ -n "$seeds" ] || seeds=$(cat "$work/n1/meshd.endpoint")
done
endpoint=$(cat "$work/n1/meshd.endpoint")
http=$(cat "$work/n1/metrics.endpoint")
three_alive() { [ "$("$meshctl" -a "$endpoint" --json members | grep -o '"state":"alive"' | wc -l)" = 3 ]; }
wait_for "three alive members" three_alive
"$meshctl" -a "$endpoint" submit --handler noop --payload x --count 200 --wait > /dev/null
"$meshctl" -a "$endpoint" submit --handler fail --payload 9 --max-attempts 1 --wait > /dev/null || true

render() {
  "$chromium" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --virtual-time-budget=4000 \
    --window-size=1400,1100 "$@" "http://$http/" 2>> "$work/chromium.log"
}
# The mesh may still be moving leaderships to the new nodes: load the page
# until it shows a settled mesh, and say what the last load lacked.
why=
page_settled() {
  local dom
  dom=$(render --dump-dom)
  [[ $dom == *'data-refreshed="'[1-9]* ]] || { why="the page never refreshed from /v1/: $(grep -o 'id="error">[^<]*' <<< "$dom")"; return 1; }
  local members cells wedges
  members=$(grep -o 'class="state-alive"' <<< "$dom" | wc -l)
  [ "$members" = 3 ] || { why="expected 3 alive members on the page, saw $members"; return 1; }
  cells=$(grep -o 'class="cell' <<< "$dom" | wc -l)
  [ "$cells" = 128 ] || { why="expected 128 partition cells, saw $cells"; return 1; }
  ! grep -q 'class="cell leaderless' <<< "$dom" || { why="a partition is drawn without a leader"; return 1; }
  wedges=$(grep -o 'class="ring-partition"' <<< "$dom" | wc -l)
  [ "$wedges" = 128 ] || { why="expected 128 ring wedges, saw $wedges"; return 1; }
  [[ $dom == *'id="submitted">201<'* ]] || { why="the header does not show 201 submitted tasks"; return 1; }
  grep -q '<td>fail</td>' <<< "$dom" || { why="the dead letter is not listed"; return 1; }
}
settled=
for _ in $(seq 40); do
  if page_settled; then settled=1; break; fi
  sleep 1
done
[ -n "$settled" ] || fail "$why"

shot=${MESH_WEB_SCREENSHOT:-$work/web.png}
(cd "$work" && render --screenshot="$shot" > /dev/null)
[ -s "$shot" ] && [ "$(stat -c %s "$shot")" -gt 20000 ] || fail "no screenshot (or an empty one) at $shot"
echo "OK: the web view shows 3 members, 128 partitions with leaders, the work and the dead letter ($shot)"
