#!/usr/bin/env bash
# scripts/launch.sh --deb over stand-ins, on this machine and without root:
# three "hosts" n1, n2, n3 as in launch_test.sh (directories reached through
# ssh and scp stand-ins), each with a root of its own, hosts/nX/root, which
# launch.sh is given as --root. The .deb is packed from the build dir as it
# is (cpack, nothing is built). Stand-ins for sudo, dpkg, systemctl and
# journalctl install and run it in that root: dpkg --root installs it and
# runs its postinst (which honours DPKG_ROOT: node.toml, the meshwork user);
# systemctl runs the unit's ExecStart, drop-ins included, with its paths
# under the root, as a Type=notify service (start returns at READY=1), and
# stops it as systemd would (deactivating while meshd drains). sudo refuses
# any path outside the host's directory. The test starts the mesh (n1 founds
# it), checks what was installed and written and what runs, waits until every
# node reports the same ring, runs a task, status and stop, starts the mesh
# again on the same data (nobody founds) and stops it again: every meshd must
# have exited and been reaped. Usage: launch_deb_test.sh <build dir> [<meshctl>]
set -euo pipefail
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/shell/launch_hosts.sh
source "$source_dir/tests/shell/launch_hosts.sh"
launch_become_subreaper "$@"
[ $# -ge 1 ] || { echo "usage: $0 <build dir> [<meshctl>]" >&2; exit 2; }
build=$(cd "$1" && pwd)
meshctl=$(realpath "${2:-$build/meshctl}")
launch=$source_dir/scripts/launch.sh
work=$(mktemp -d "${TMPDIR:-/tmp}/meshwork-launch-deb-XXXXXX")
started=$(date +%s)

# Every meshd the systemctl stand-in started, by the list it keeps per host:
# killed and awaited on exit. Each is this shell's child once its starter
# has exited; only those are touched.
meshd_pids() { cat "$work"/hosts/*/root/run/systemctl-standin/started 2>/dev/null || true; }
cleanup() {
  local pid
  for pid in $(meshd_pids); do
    if ours_running "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  # shellcheck disable=SC2046
  for _ in $(seq 600); do all_gone $(meshd_pids) && break; sleep 0.1; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
endpoints=()
fail() {
  local host f ep
  echo "FAIL: $*" >&2
  for host in "$work"/hosts/*; do
    for f in root/var/log/journal/meshd.log systemctl.log sudo.log dpkg.log; do
      [ -s "$host/$f" ] && { echo "--- $host/$f" && tail -n 15 "$host/$f"; } >&2
    done
  done
  for ep in "${endpoints[@]}"; do
    { echo "--- $ep" && "$meshctl" --timeout-ms 2000 -a "$ep" members 2>&1 &&
      "$meshctl" --timeout-ms 2000 -a "$ep" ring 2>&1 | head -1; } >&2 || true
  done
  exit 1
}
# shellcheck source=tests/shell/wait_for.sh
source "$source_dir/tests/shell/wait_for.sh"

# What this machine has where the package would go: the same at the end.
this_machine() { ls -la /etc/meshwork /var/lib/meshwork /usr/bin/meshd /run/systemd/system/meshd.service.d 2>&1 || true; }
machine_before=$(this_machine)

echo "== the .deb, packed from $build as it is"
# cpack builds the preinstall target first with a Makefile generator (Ninja
# has none): a generator without it is named, so that nothing is built.
mkdir -p "$work/deb"
cat >"$work/deb/config.cmake" <<EOF
include("$build/CPackConfig.cmake")
set(CPACK_CMAKE_GENERATOR Ninja)
EOF
(cd "$work/deb" && cpack -G DEB --config "$work/deb/config.cmake" -B "$work/deb" >"$work/deb/cpack.log" 2>&1) ||
  fail "cpack: $(cat "$work/deb/cpack.log")"
debs=("$work"/deb/meshwork_*.deb)
[ ${#debs[@]} -eq 1 ] && [ -s "${debs[0]}" ] || fail "cpack made no one .deb: $(ls "$work/deb")"
deb=${debs[0]}
echo "$(basename "$deb") in $(($(date +%s) - started)) s"
# A copy of meshctl: a rebuild of the build tree during the run does not
# pull it from under the test.
mkdir -p "$work/build"
cp "$meshctl" "$work/build/meshctl"
meshctl=$work/build/meshctl
real_dpkg=$(command -v dpkg) || fail "no dpkg here"
command -v dpkg-query >/dev/null || fail "no dpkg-query here"

launch_hosts n1 n2 n3

# The stand-ins, in $work/bin before the real commands. Each acts on the host
# MESH_TEST_HOST_DIR (the ssh stand-in sets it) and its root, $host/root.
standin() {
  sed -e "s|@DPKG@|$real_dpkg|g" >"$work/bin/$1"
  chmod +x "$work/bin/$1"
}

# sudo: runs the command as whoever runs the test, in an environment reset as
# sudo's is. Owners (install -o/-g, chown, sudo -u) must exist in the root's
# passwd and group, which the postinst made with systemd-sysusers; the files
# keep the test's owner. Any absolute path outside the host is refused.
standin sudo <<'EOF'
#!/usr/bin/env bash
host=${MESH_TEST_HOST_DIR:?sudo stand-in: not on a test host}
root=$host/root
echo "sudo $*" >>"$host/sudo.log"
refuse() { echo "sudo stand-in: $*" | tee -a "$host/sudo.log" >&2; exit 1; }
# known passwd|group NAME
known() {
  [ "$2" != root ] || return 0
  command -v systemd-sysusers >/dev/null 2>&1 || return 0 # the postinst makes no user then
  grep -q "^$2:" "$root/etc/$1" 2>/dev/null || refuse "no $1 entry '$2' in $root/etc/$1"
}
while [ $# -gt 0 ]; do
  case $1 in
    -n | -E | -H) shift ;;
    -u) known passwd "$2"; shift 2 ;;
    --) shift; break ;;
    -*) refuse "unknown option $1" ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || refuse "no command"
for arg in "$@"; do
  case $arg in
    /*) path=$arg ;;
    --*=/*) path=${arg#*=} ;;
    *) continue ;;
  esac
  case $path in "$host"/*) ;; *) refuse "refused '$*': $path is outside $host" ;; esac
done
args=()
case $1 in
  install)
    args=(install)
    shift
    while [ $# -gt 0 ]; do
      case $1 in
        -o) known passwd "$2"; shift 2 ;;
        -g) known group "$2"; shift 2 ;;
        *) args+=("$1"); shift ;;
      esac
    done
    ;;
  chown)
    shift
    [ "$1" != -R ] || shift
    known passwd "${1%%:*}"
    case $1 in *:*) known group "${1#*:}" ;; esac
    shift
    ls -d "$@" >/dev/null || exit 1
    exit 0
    ;;
  *) args=("$@") ;;
esac
exec env -i PATH="$PATH" HOME="$HOME" LC_ALL=C MESH_TEST_HOST_DIR="$host" "${args[@]}"
EOF

# dpkg: the real one, into the host's root, never as root, maintainer
# scripts run outside a chroot with DPKG_ROOT (as tests/packaging does).
standin dpkg <<'EOF'
#!/usr/bin/env bash
host=${MESH_TEST_HOST_DIR:?dpkg stand-in: not on a test host}
root=$host/root
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers"
[ -e "$root/var/lib/dpkg/status" ] || : >"$root/var/lib/dpkg/status"
echo "dpkg $*" >>"$host/dpkg.log"
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$host" LC_ALL=C \
  @DPKG@ --root="$root" --force-not-root --force-script-chrootless --force-depends \
  --path-include='*' --log=/dev/null "$@" >>"$host/dpkg.log" 2>&1 ||
  { code=$?; tail -n 20 "$host/dpkg.log" >&2; exit "$code"; }
EOF

standin apt-get <<'EOF'
#!/bin/sh
echo "apt-get stand-in: not here (apt-get $*)" >&2
exit 100
EOF

# journalctl -u meshd -n N: what the systemctl stand-in wrote of meshd's output.
standin journalctl <<'EOF'
#!/usr/bin/env bash
host=${MESH_TEST_HOST_DIR:?journalctl stand-in: not on a test host}
lines=10
while [ $# -gt 0 ]; do
  case $1 in -n) lines=$2; shift 2 ;; -u) shift 2 ;; *) shift ;; esac
done
tail -n "$lines" "$host/root/var/log/journal/meshd.log" 2>/dev/null || echo "-- No entries --"
EOF

standin systemctl <<'EOF'
#!/usr/bin/env python3
"""systemctl for meshd.service in $MESH_TEST_HOST_DIR/root, as systemd would
run it: the unit and its drop-ins as of the last daemon-reload (or the first
use), ExecStart's absolute paths under the root, Type=notify (start returns
at READY=1 or fails when meshd exits first), deactivating from stop until
meshd has exited. meshd's output goes to root/var/log/journal/meshd.log."""
import json, os, signal, socket, subprocess, sys, time

host = os.environ.get("MESH_TEST_HOST_DIR") or sys.exit("systemctl stand-in: not on a test host")
root = os.path.join(host, "root")
state = os.path.join(root, "run", "systemctl-standin")
UNIT = "meshd.service"
UNIT_DIRS = ["etc/systemd/system", "run/systemd/system", "usr/lib/systemd/system", "lib/systemd/system"]
argv = sys.argv[1:]
with open(os.path.join(host, "systemctl.log"), "a") as log:
    log.write(" ".join(argv) + "\n")

def die(message, code=1):
    print(message, file=sys.stderr)
    sys.exit(code)

def unit_files():
    """The unit and its drop-ins, in the order systemd reads them."""
    main = next((os.path.join(root, d, UNIT) for d in UNIT_DIRS if os.path.exists(os.path.join(root, d, UNIT))), None)
    if main is None:
        return []
    dropins = {}
    for d in reversed(UNIT_DIRS):  # the same name in an earlier directory wins
        dropin_dir = os.path.join(root, d, UNIT + ".d")
        if os.path.isdir(dropin_dir):
            for name in os.listdir(dropin_dir):
                if name.endswith(".conf"):
                    dropins[name] = os.path.join(dropin_dir, name)
    return [main] + [dropins[name] for name in sorted(dropins)]

def read_unit():
    files = unit_files()
    if not files:
        return None
    service = {"ExecStart": [], "files": files}
    for path in files:
        section = None
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line or line[0] in "#;":
                    continue
                if line.startswith("["):
                    section = line.strip("[]")
                elif section == "Service" and "=" in line:
                    key, value = (part.strip() for part in line.split("=", 1))
                    if key == "ExecStart":
                        service["ExecStart"] = service["ExecStart"] + [value] if value else []
                    else:
                        service[key] = value
    return service

def loaded():
    """The unit as systemd has it: loaded at daemon-reload or first use."""
    path = os.path.join(state, "loaded.json")
    now = read_unit()
    if os.path.exists(path):
        with open(path) as f:
            unit = json.load(f)
        if now != unit:
            print("Warning: The unit file, source configuration file or drop-ins of meshd.service changed on disk. "
                  "Run 'systemctl daemon-reload' to reload units.", file=sys.stderr)
        return unit
    if now is not None:
        save(now)
    return now

def save(unit):
    os.makedirs(state, exist_ok=True)
    with open(os.path.join(state, "loaded.json"), "w") as f:
        json.dump(unit, f)

def main_pid():
    """meshd's pid while it runs (a zombie does not), else 0."""
    try:
        with open(os.path.join(state, "main")) as f:
            pid, start_time = f.read().split()
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, ValueError):
        return 0
    return int(pid) if fields[0] != "Z" and fields[19] == start_time else 0

def active_state():
    if main_pid():
        return "deactivating" if os.path.exists(os.path.join(state, "stopping")) else "active"
    return "failed" if os.path.exists(os.path.join(state, "failed")) else "inactive"

def under_root(word):
    return root + word if word.startswith("/") else word

def start():
    if main_pid():
        return 0
    unit = loaded()
    if unit is None:
        die(f"Failed to start {UNIT}: Unit {UNIT} not found.", 5)
    if len(unit["ExecStart"]) != 1:
        die(f"{UNIT}: Service has {len(unit['ExecStart'])} ExecStart= settings, which is only allowed for "
            "Type=oneshot services. Refusing.")
    for name in ("stopping", "failed"):
        if os.path.exists(os.path.join(state, name)):
            os.remove(os.path.join(state, name))
    command = [under_root(word) for word in unit["ExecStart"][0].split()]
    home = "/"
    for directory in unit.get("StateDirectory", "").split():
        home = os.path.join("/var/lib", directory)
        os.makedirs(under_root(home), exist_ok=True)
        os.chmod(under_root(home), int(unit.get("StateDirectoryMode", "0755"), 8))
    os.makedirs(os.path.join(root, "var/log/journal"), exist_ok=True)
    journal = open(os.path.join(root, "var/log/journal/meshd.log"), "a")
    journal.write(f"-- started by the systemctl stand-in: {' '.join(command)}\n")
    journal.flush()
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = f"meshwork-test-notify-{os.getpid()}-{time.time_ns()}"
    notify.bind("\0" + name)
    notify.settimeout(0.1)
    umask = int(unit.get("UMask", "0022"), 8)
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin", "LANG": "C.UTF-8",
           "HOME": under_root(home), "NOTIFY_SOCKET": "@" + name}
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=journal, stderr=subprocess.STDOUT,
                               env=env, cwd="/", start_new_session=True, preexec_fn=lambda: os.umask(umask))
    with open(os.path.join(state, "started"), "a") as f:
        f.write(f"{process.pid}\n")
    deadline = time.monotonic() + 90  # TimeoutStartSec's default
    while time.monotonic() < deadline:
        try:
            if b"READY=1" in notify.recv(4096).split(b"\n"):
                with open(f"/proc/{process.pid}/stat") as f:
                    start_time = f.read().rsplit(")", 1)[1].split()[19]
                with open(os.path.join(state, "main"), "w") as f:
                    f.write(f"{process.pid} {start_time}\n")
                return 0
        except socket.timeout:
            pass
        if process.poll() is not None:
            break
    if process.poll() is None:
        process.kill()
        process.wait()
    open(os.path.join(state, "failed"), "w").close()
    die(f"Job for {UNIT} failed because the control process exited with error code.\n"
        f"See \"systemctl status {UNIT}\" and \"journalctl -xeu {UNIT}\" for details.")

def stop(block):
    pid = main_pid()
    if not pid:
        return 0
    open(os.path.join(state, "stopping"), "w").close()
    os.kill(pid, signal.SIGTERM)  # KillMode=mixed: meshd alone gets SIGTERM
    if block:
        deadline = time.monotonic() + 60  # TimeoutStopSec
        while main_pid() and time.monotonic() < deadline:
            time.sleep(0.1)
        if main_pid():
            os.kill(pid, signal.SIGKILL)
    return 0

options = [a for a in argv if a.startswith("-")]
words = [a for a in argv if not a.startswith("-")]
properties = []
i = 0
while i < len(argv):
    if argv[i] == "-p":
        properties.append(argv[i + 1])
        words.remove(argv[i + 1])
        i += 1
    elif argv[i].startswith("--property="):
        properties.append(argv[i].split("=", 1)[1])
    i += 1
if not words:
    die("systemctl stand-in: no verb")
verb, units = words[0], words[1:]
if any(u not in ("meshd", UNIT) for u in units):
    die(f"systemctl stand-in: only {UNIT} is here, not {' '.join(units)}")
quiet = "--quiet" in options or "-q" in options
if verb == "daemon-reload":
    unit = read_unit()
    if unit is not None:
        save(unit)
    sys.exit(0)
if verb == "enable":
    unit = loaded()
    if unit is None:
        die(f"Failed to enable unit: Unit file {UNIT} does not exist.")
    wants = os.path.join(root, "etc/systemd/system/multi-user.target.wants")
    os.makedirs(wants, exist_ok=True)
    if not os.path.lexists(os.path.join(wants, UNIT)):
        target = "/" + os.path.relpath(unit["files"][0], root)
        os.symlink(target, os.path.join(wants, UNIT))
        if not quiet:
            print(f"Created symlink /etc/systemd/system/multi-user.target.wants/{UNIT} → {target}.")
    sys.exit(0)
if verb == "start":
    sys.exit(start())
if verb == "stop":
    sys.exit(stop(block="--no-block" not in options))
if verb == "kill":
    name = next((o.split("=", 1)[1] for o in options if o.startswith("--signal=")), "SIGTERM")
    if main_pid():
        os.kill(main_pid(), getattr(signal, name if name.startswith("SIG") else "SIG" + name))
    sys.exit(0)
if verb == "is-active":
    now = active_state()
    if not quiet:
        print(now)
    sys.exit(0 if now in ("active", "reloading") else 3)
if verb == "show":
    values = {"MainPID": str(main_pid()), "ActiveState": active_state()}
    for p in properties or sorted(values):
        if p not in values:
            die(f"systemctl stand-in: property {p} is not known here")
        print(values[p] if "--value" in options else f"{p}={values[p]}")
    sys.exit(0)
if verb == "cat":
    files = unit_files()
    if not files:
        die(f"No files found for {UNIT}.")
    for n, path in enumerate(files):
        print(("\n" if n else "") + "# /" + os.path.relpath(path, root))
        with open(path) as f:
            sys.stdout.write(f.read())
    sys.exit(0)
die(f"systemctl stand-in: '{' '.join(argv)}' is not done here")
EOF
export PATH="$work/bin:$PATH"

read -r p1 p2 p3 < <(free_ports 3)
cat >"$work/hosts.txt" <<EOF
n1@127.0.0.1 tcp://127.0.0.1:$p1 n1
n2@127.0.0.1 tcp://127.0.0.1:$p2 n2
n3@127.0.0.1 tcp://127.0.0.1:$p3 n3
EOF
endpoints=("tcp://127.0.0.1:$p1" "tcp://127.0.0.1:$p2" "tcp://127.0.0.1:$p3")
local_template "$source_dir" "$work/template.toml"
"$meshctl" keygen --dir "$work/keys" --mesh --node n1 --node n2 --node n3 --client ops:admin >/dev/null
export MESH_CLIENT_KEY=$work/keys/ops.key MESH_MESH_KEY=$work/keys/mesh.pub
args=(--root root --meshctl "$meshctl" --mesh-key-dir "$work/keys" --template "$work/template.toml" --timeout 120)

# on HOST COMMAND...: COMMAND as the ssh stand-in runs it on HOST (n1...).
on() {
  local host=$1
  shift
  (cd "$work/hosts/$host" && HOME=$work/hosts/$host MESH_TEST_HOST_DIR=$work/hosts/$host "$@")
}
main_pid() { on "$1" systemctl show -p MainPID --value meshd; }

echo "== start --deb: installs the package on n1, n2, n3; n1 founds the mesh, the others join"
"$launch" start "$work/hosts.txt" --deb "$deb" "${args[@]}" >"$work/start.txt" 2>&1 ||
  fail "launch.sh start --deb: $(cat "$work/start.txt")"
cat "$work/start.txt"
for i in 1 2 3; do
  host=n$i root=$work/hosts/n$i/root
  status=$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Status}' meshwork 2>&1) || true
  [ "$status" = "install ok installed" ] || fail "$host: dpkg says meshwork is '$status'"
  for f in usr/bin/meshd usr/lib/systemd/system/meshd.service etc/meshwork/node.toml etc/meshwork/keys/mesh.key \
           etc/meshwork/keys/node.key etc/meshwork/keys/nodes/n1.pub etc/meshwork/keys/clients/ops.pub \
           etc/systemd/system/multi-user.target.wants/meshd.service; do
    [ -e "$root/$f" ] || [ -L "$root/$f" ] || fail "$host: /$f is not there"
  done
  for f in etc/meshwork/founding.toml run/systemd/system/meshd.service.d/launch-new-mesh.conf; do
    [ ! -e "$root/$f" ] || fail "$host: /$f was left behind"
  done
  if command -v systemd-sysusers >/dev/null; then
    grep -q '^meshwork:' "$root/etc/passwd" || fail "$host: the postinst made no meshwork user"
  fi
  cmp -s "$root/etc/meshwork/keys/node.key" "$work/keys/$host.key" || fail "$host: node.key is not $host's key"
  [ "$(stat -c %a "$root/etc/meshwork/keys")" = 700 ] || fail "$host: the keys dir is $(stat -c %a "$root/etc/meshwork/keys")"
  [ "$(stat -c %a "$root/etc/meshwork/node.toml")" = 640 ] || fail "$host: node.toml is $(stat -c %a "$root/etc/meshwork/node.toml")"
  config=$root/etc/meshwork/node.toml
  "$root/usr/bin/meshd" --config "$config" --check-config >"$work/check.txt" 2>&1 || fail "$host: $(cat "$work/check.txt")"
  grep -q "node id *$host\$" "$work/check.txt" || fail "$host's node.toml is not $host's: $(cat "$work/check.txt")"
  grep -qx "seeds = \[\"127.0.0.1:$p1\", \"127.0.0.1:$p2\", \"127.0.0.1:$p3\"\]" "$config" ||
    fail "$host's seeds: $(grep seeds "$config")"
  grep -qx "data_dir = \"$root/var/lib/meshwork\"" "$config" || fail "$host's data_dir: $(grep data_dir "$config")"
  grep -qx "keys_dir = \"$root/etc/meshwork/keys\"" "$config" || fail "$host's keys_dir: $(grep keys_dir "$config")"
  for step in daemon-reload "enable --quiet meshd" "start meshd"; do
    grep -qx "$step" "$work/hosts/$host/systemctl.log" || fail "$host: no 'systemctl $step'"
  done
  pid=$(main_pid "$host")
  ours_running "$pid" || fail "$host: systemctl says MainPID $pid, not a meshd of ours"
  [ "$(readlink "/proc/$pid/exe")" = "$root/usr/bin/meshd" ] || fail "$host: pid $pid runs $(readlink "/proc/$pid/exe")"
  want="$root/usr/bin/meshd --config $config"
  [ "$host" != n1 ] || want="$root/usr/bin/meshd --config $root/etc/meshwork/founding.toml --new-mesh"
  [ "$(tr '\0' ' ' <"/proc/$pid/cmdline")" = "$want " ] || fail "$host runs '$(tr '\0' ' ' <"/proc/$pid/cmdline")', not '$want'"
  grep -q "$host: started on $host@127.0.0.1 .*(pid $pid)" "$work/start.txt" || fail "start did not report $host's pid $pid"
done
grep -q "event=mesh_founded" "$work/hosts/n1/root/var/log/journal/meshd.log" || fail "n1 did not found the mesh"
for i in 2 3; do
  ! grep -q "event=mesh_founded" "$work/hosts/n$i/root/var/log/journal/meshd.log" || fail "n$i founded a mesh of its own"
done

# Every node sees the three alive and reports the same ring digest.
ring_agreed() {
  local ep digest digests=''
  for ep in "${endpoints[@]}"; do
    [ "$("$meshctl" -a "$ep" members | awk '$2 == "alive" && $1 ~ /^n[123]$/' | wc -l)" -eq 3 ] || return 1
    digest=$("$meshctl" -a "$ep" ring | head -1 | sed -n 's/.*digest \([0-9a-f]*\).*/\1/p')
    [ -n "$digest" ] || return 1
    digests+="$digest"$'\n'
  done
  [ "$(sort -u <<<"$digests" | grep -c .)" -eq 1 ]
}
wait_for "every node alive and on the same ring" ring_agreed
"$meshctl" -a "${endpoints[0]}" ring | head -1

echo "== a task through n2, read through n3"
out=$("$meshctl" -a "${endpoints[1]}" submit --id deb-launched --handler hash --payload 1000:deb --wait 2>&1) ||
  fail "submit: $out"
grep -q "COMPLETED" <<<"$out" || fail "the task did not complete: $out"
out=$("$meshctl" -a "${endpoints[2]}" get deb-launched 2>&1) || fail "get through n3: $out"
grep -q "COMPLETED" <<<"$out" || fail "the task is not COMPLETED through n3: $out"

echo "== status"
status_ok() {
  "$launch" status "$work/hosts.txt" "${args[@]}" >"$work/status.txt" 2>&1 &&
    [ "$(grep -c '^n[123] .* deb  *pid [0-9]' "$work/status.txt")" -eq 3 ] &&
    [ "$(grep -c ' alive ' "$work/status.txt")" -eq 3 ]
}
status_ok || wait_for "status shows three deb nodes running and three alive members" status_ok
cat "$work/status.txt"

# stop_and_check: launch.sh stop returns once every meshd has exited (not
# when systemd merely says the unit is no longer active).
stop_and_check() {
  local pids i
  pids="$(main_pid n1) $(main_pid n2) $(main_pid n3)"
  [[ $pids =~ ^[1-9][0-9]*\ [1-9][0-9]*\ [1-9][0-9]*$ ]] || fail "not three running meshd before stop: $pids"
  "$launch" stop "$work/hosts.txt" "${args[@]}" >"$work/stop.txt" 2>&1 || fail "stop: $(cat "$work/stop.txt")"
  cat "$work/stop.txt"
  [ "$(grep -c ': exited' "$work/stop.txt")" -eq 3 ] || fail "stop did not report three exits: $(cat "$work/stop.txt")"
  # shellcheck disable=SC2086
  all_gone $pids || fail "a meshd still runs after stop returned: $pids"
  for i in 1 2 3; do
    [ "$(on "n$i" systemctl is-active meshd)" = inactive ] || fail "n$i: meshd.service is $(on "n$i" systemctl is-active meshd)"
    grep -q "event=stopped" "$work/hosts/n$i/root/var/log/journal/meshd.log" || fail "n$i did not log event=stopped"
    grep -q "^stop --no-block meshd$" "$work/hosts/n$i/systemctl.log" || fail "n$i: no 'systemctl stop --no-block meshd'"
  done
}
echo "== stop"
stop_and_check
code=0
"$launch" status "$work/hosts.txt" "${args[@]}" >"$work/status.txt" 2>&1 || code=$?
[ "$code" -eq 1 ] && [ "$(grep -c ' deb .* stopped ' "$work/status.txt")" -eq 3 ] ||
  fail "status of a stopped mesh: exit $code: $(cat "$work/status.txt")"

echo "== start --deb again on the same data: nobody founds, the task is still there"
sudo_lines=$(wc -l <"$work/hosts/n1/sudo.log")
"$launch" start "$work/hosts.txt" --deb "$deb" "${args[@]}" >"$work/start.txt" 2>&1 ||
  fail "the second start: $(cat "$work/start.txt")"
cat "$work/start.txt"
! grep -q "founding the mesh" "$work/start.txt" || fail "the second start founded the mesh"
! tail -n "+$((sudo_lines + 1))" "$work/hosts/n1/sudo.log" | grep -q "new-mesh" || fail "the second start wrote the founding drop-in"
[ "$(grep -c "event=mesh_founded" "$work/hosts/n1/root/var/log/journal/meshd.log")" -eq 1 ] || fail "n1 founded a second mesh"
pid=$(main_pid n1)
[ "$(tr '\0' ' ' <"/proc/$pid/cmdline")" = "$work/hosts/n1/root/usr/bin/meshd --config $work/hosts/n1/root/etc/meshwork/node.toml " ] ||
  fail "n1 runs '$(tr '\0' ' ' <"/proc/$pid/cmdline")' after the second start"
wait_for "every node alive and on the same ring after the second start" ring_agreed
out=$("$meshctl" -a "${endpoints[0]}" get deb-launched 2>&1) || fail "get after the second start: $out"
grep -q "COMPLETED" <<<"$out" || fail "the task is not COMPLETED after the second start: $out"

echo "== stop again"
stop_and_check

# Every meshd ever started has exited and been reaped (no zombie is left).
reaped() {
  local pid ppid
  for pid in $(meshd_pids); do
    ppid=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f2) || true
    [ "$ppid" != $$ ] || return 1
  done
}
[ "$(meshd_pids | wc -l)" -eq 6 ] || fail "expected six meshd started, got: $(meshd_pids | tr '\n' ' ')"
wait_for "every meshd reaped: $(meshd_pids | tr '\n' ' ')" reaped
[ "$(this_machine)" = "$machine_before" ] || fail "this machine's /etc/meshwork, /var/lib/meshwork or /usr/bin/meshd changed"
echo "PASSED in $(($(date +%s) - started)) s"
