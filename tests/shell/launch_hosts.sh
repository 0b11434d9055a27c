# Sourced by the tests of scripts/launch.sh (tests/integration/launch_test.sh
# and launch_deb_test.sh): "hosts" that are directories on this machine,
# reached through ssh and scp stand-ins, and what the tests need around them.
# The test sets $work (its scratch directory) and defines `fail WHAT`.
# shellcheck shell=bash disable=SC2154  # $work is the test's

# launch_become_subreaper "$@", first thing in the test: meshd outlives the
# ssh stand-in that started it (nohup, or the systemctl stand-in), so the
# test re-executes itself as the subreaper of such orphans, to reap them.
launch_become_subreaper() {
  [ -z "${MESH_LAUNCH_TEST_SUBREAPER:-}" ] || return 0
  export MESH_LAUNCH_TEST_SUBREAPER=1
  exec python3 -c '
import ctypes, os, sys
PR_SET_CHILD_SUBREAPER = 36
if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
    sys.exit("prctl(PR_SET_CHILD_SUBREAPER): " + os.strerror(ctypes.get_errno()))
os.execv("/bin/bash", ["bash"] + sys.argv[1:])' "$0" "$@"
}

# ours_running PID: PID is a live (not zombie) child of this shell, which a
# meshd is once its starter has exited. Only those are ever killed.
ours_running() {
  local state ppid
  read -r state ppid _ < <(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
  [ "$ppid" = $$ ] && [ "$state" != Z ]
}
# all_gone PID...: none of them is a live child of this shell.
all_gone() {
  local pid
  for pid in "$@"; do ! ours_running "$pid" || return 1; done
}

# launch_hosts HOST...: $work/hosts/HOST for each, and ssh and scp stand-ins
# in $work/bin (MESH_SSH and MESH_SCP name them): user@host names the
# directory hosts/user, which is that host's home; a command runs there with
# HOME and MESH_TEST_HOST_DIR set to it, and is logged in its ssh.log.
launch_hosts() {
  local host
  mkdir -p "$work/bin"
  for host in "$@"; do mkdir -p "$work/hosts/$host"; done
  cat >"$work/bin/ssh" <<EOF
#!/bin/sh
while [ \$# -gt 0 ]; do
  case \$1 in -o | -p | -i | -l | -F) shift 2 ;; -*) shift ;; *) break ;; esac
done
home=$work/hosts/\${1%@*}
[ -d "\$home" ] || { echo "ssh stand-in: no host \$1" >&2; exit 255; }
shift
echo "\$*" >>"\$home/ssh.log"
cd "\$home" && HOME=\$home MESH_TEST_HOST_DIR=\$home exec sh -c "\$*"
EOF
  cat >"$work/bin/scp" <<EOF
#!/bin/sh
recursive=
while [ \$# -gt 0 ]; do
  case \$1 in -o | -P | -i | -F) shift 2 ;; -r) recursive=-R; shift ;; -*) shift ;; *) break ;; esac
done
[ \$# -eq 2 ] || { echo "scp stand-in: one source and one destination, got \$*" >&2; exit 1; }
dest=\$2
host=\${dest%%:*}
path=\${dest#*:}
home=$work/hosts/\${host%@*}
[ -d "\$home" ] || { echo "scp stand-in: no host \$host" >&2; exit 1; }
case \$path in /*) echo "scp stand-in: absolute path \$path" >&2; exit 1 ;; esac
exec cp \$recursive "\$1" "\$home/\$path"
EOF
  chmod +x "$work/bin/ssh" "$work/bin/scp"
  export MESH_SSH="$work/bin/ssh -o BatchMode=yes" MESH_SCP="$work/bin/scp -o BatchMode=yes"
}

# free_ports N: N free loopback ports below the kernel's ephemeral range, so
# that no outgoing connection and no other test's port 0 takes one before
# meshd binds it.
free_ports() {
  python3 -c '
import random, socket, sys
ports = []
while len(ports) < int(sys.argv[1]):
    port = random.randrange(20000, 32000)
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
    if port not in ports:
        ports.append(port)
print(*ports)' "$1"
}

# local_template SOURCE_DIR OUT: configs/multi-host.toml with this machine's
# needs: 200 ms probes, metrics on a free port each.
local_template() {
  sed -e 's/^profile = "lan"/profile = "local"/' -e 's/^metrics_listen = .*/metrics_listen = "127.0.0.1:0"/' \
    "$1/configs/multi-host.toml" >"$2"
  grep -q '^profile = "local"' "$2" && grep -q '^metrics_listen = "127.0.0.1:0"' "$2" ||
    fail "configs/multi-host.toml no longer has the profile and metrics_listen lines this test rewrites"
}
