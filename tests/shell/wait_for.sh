# Sourced by the shell tests. wait_for WHAT CMD...: runs CMD every 100 ms
# for up to 120 s until it succeeds; else calls the test's own `fail WHAT`
# (which prints what the test saw, e.g. the nodes' logs).
wait_for() {
  local what=$1
  shift
  for _ in $(seq 1200); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  fail "$what"
}
