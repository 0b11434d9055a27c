#!/usr/bin/env bash
# Starts, stops or shows a meshwork mesh spread over hosts, one meshd per
# line of a hosts file, over ssh and scp. See docs/OPERATIONS.md.
# shellcheck disable=SC2016  # the remote scripts are single-quoted: they expand on the host
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/launch.sh start|stop|status HOSTS_FILE [OPTIONS]

  start    copy meshd (or install the .deb) and a node.toml to every host,
           start meshd, and wait until every node sees every node ALIVE,
           every node reports the same ring, and every partition has a
           leader and the voters the ring wants
  stop     SIGTERM every node (each drains), then wait until each has exited
  status   whether meshd runs on each host, and the members table

HOSTS_FILE: one host a line, '#' starts a comment:
  HOST [LISTEN [NODE_ID]]
  HOST      what ssh and scp are given (host, user@host)
  LISTEN    the endpoint meshd listens on (default tcp://0.0.0.0:7700; 'tcp://'
            may be left out); on 0.0.0.0 the node advertises HOST's name at
            that port, otherwise the address itself
  NODE_ID   the node's id (default: HOST without its user)
The first host founds the mesh when no host has a data dir yet; the first
three hosts are every node's seeds.

Options:
  --binary FILE        meshd to copy (default: build/meshd); it runs from
                       ~/meshwork on each host under nohup
  --deb FILE           the meshwork .deb: copied, installed with
                       'sudo dpkg -i', run by systemd (needs sudo without a password)
  --mesh-key-dir DIR   keys from 'meshctl keygen --dir DIR --mesh --node ID...
                       --client NAME:ROLE' (docs/SECURITY.md): every node gets
                       mesh.key, its own ID.key (as node.key), nodes/ and clients/;
                       needed on any address but loopback
  --client-key FILE    the key pair meshctl uses here (default $MESH_CLIENT_KEY)
  --template FILE      the config every node.toml is made from (default:
                       configs/multi-host.toml); its [node] id, listen,
                       advertise, seeds, data_dir and [security] keys_dir are
                       set per host, the rest is kept
  --root DIR           --binary: the directory on each host (default: meshwork,
                       under the login's home); --deb (and stop and status of
                       a mesh started so): the directory the package's paths
                       (/usr/bin/meshd, /etc/meshwork, /var/lib/meshwork,
                       /run/systemd/system) are under instead of / (for a test
                       whose sudo, dpkg and systemctl install and run there)
  --meshctl FILE       meshctl to run here (default: build/meshctl, else PATH)
  --timeout SECONDS    how long start waits for the mesh and stop for each
                       node to exit (default 120)
  --only ID[,ID...]    start or stop only these nodes of the hosts file (its
                       first hosts stay the seeds; start still waits for the
                       whole mesh): a rolling restart is stop, then start,
                       one node at a time

Environment: MESH_SSH (default 'ssh -o BatchMode=yes') and MESH_SCP (default
'scp -o BatchMode=yes') are the commands used to reach the hosts.
Exit codes: 0 done, 1 failed, 2 usage.
EOF
}

die_usage() {
  echo "launch.sh: $*" >&2
  echo "run 'scripts/launch.sh --help' for usage" >&2
  exit 2
}
die() {
  echo "launch.sh: $*" >&2
  exit 1
}

repo=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 1 ] && { [ "$1" = --help ] || [ "$1" = -h ]; } && { usage; exit 0; }
[ $# -ge 2 ] || die_usage "an action and a hosts file are needed"
action=$1
hosts_file=$2
shift 2
case $action in start | stop | status) ;; *) die_usage "unknown action '$action'" ;; esac
[ -r "$hosts_file" ] || die_usage "cannot read hosts file $hosts_file"

binary='' deb='' key_dir='' client_key=${MESH_CLIENT_KEY:-} template=$repo/configs/multi-host.toml root=meshwork
meshctl='' timeout=120 only='' sysroot=''
while [ $# -gt 0 ]; do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --binary | --deb | --mesh-key-dir | --client-key | --template | --root | --meshctl | --timeout | --only)
      [ $# -ge 2 ] || die_usage "$1 needs a value"
      case $1 in
        --binary) binary=$2 ;;
        --deb) deb=$2 ;;
        --mesh-key-dir) key_dir=$2 ;;
        --client-key) client_key=$2 ;;
        --template) template=$2 ;;
        --root) root=$2 sysroot=$2 ;;
        --meshctl) meshctl=$2 ;;
        --timeout) timeout=$2 ;;
        --only) only=$2 ;;
      esac
      shift 2
      ;;
    *) die_usage "unknown option '$1'" ;;
  esac
done
[[ $timeout =~ ^[1-9][0-9]*$ ]] || die_usage "--timeout takes whole seconds, got '$timeout'"
[ -z "$binary" ] || [ -z "$deb" ] || die_usage "--binary and --deb exclude each other"
if [ "$action" = start ]; then
  if [ -n "$deb" ]; then
    [ -r "$deb" ] || die_usage "cannot read $deb"
  else
    binary=${binary:-$repo/build/meshd}
    [ -x "$binary" ] || die_usage "$binary is not an executable meshd (build it, or give --binary or --deb)"
  fi
  [ -r "$template" ] || die_usage "cannot read the config template $template"
fi
[[ $root =~ ^[A-Za-z0-9._/-]+$ ]] || die_usage "--root must be a plain path, got '$root'"
# The --deb paths are under $sysroot (empty: under /).
sysroot=${sysroot%/}
if [ -z "$meshctl" ]; then
  if [ -x "$repo/build/meshctl" ]; then meshctl=$repo/build/meshctl; else meshctl=$(command -v meshctl || true); fi
fi
[ -n "$meshctl" ] && [ -x "$meshctl" ] || die_usage "no meshctl here (give --meshctl)"

read -r -a ssh_cmd <<< "${MESH_SSH:-ssh -o BatchMode=yes}"
read -r -a scp_cmd <<< "${MESH_SCP:-scp -o BatchMode=yes}"
[ ${#ssh_cmd[@]} -gt 0 ] && [ ${#scp_cmd[@]} -gt 0 ] || die_usage "MESH_SSH and MESH_SCP must not be empty"

# --- the hosts file -----------------------------------------------------------

hosts=() ids=() listens=() endpoints=()
line_no=0
while IFS= read -r line || [ -n "$line" ]; do
  line_no=$((line_no + 1))
  line=${line%%#*}
  read -r host listen id extra <<< "$line" || true
  [ -n "${host:-}" ] || continue
  [ -z "${extra:-}" ] || die_usage "$hosts_file:$line_no: more than HOST LISTEN NODE_ID"
  [[ $host =~ ^([A-Za-z0-9._-]+@)?([A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])$ ]] ||
    die_usage "$hosts_file:$line_no: '$host' is not a host name, user@host or [IPv6]"
  name=${host#*@}
  listen=${listen:-tcp://0.0.0.0:7700}
  [[ $listen == *://* ]] || listen=tcp://$listen
  [[ $listen =~ ^tcp://([A-Za-z0-9._-]+|\*|\[[0-9A-Fa-f:.]+\]):([0-9]+)$ ]] ||
    die_usage "$hosts_file:$line_no: '$listen' is not tcp://ADDRESS:PORT"
  address=${BASH_REMATCH[1]} port=${BASH_REMATCH[2]}
  [ "$port" -ge 1 ] && [ "$port" -le 65535 ] ||
    die_usage "$hosts_file:$line_no: the port must be fixed (1..65535): other nodes' seeds name it"
  case $address in
    0.0.0.0 | '*' | '[::]') endpoint=tcp://$name:$port ;;
    *) endpoint=$listen ;;
  esac
  id=${id:-${name//[\[\]:]/_}}
  [[ $id =~ ^[A-Za-z0-9._-]+$ ]] || die_usage "$hosts_file:$line_no: node id '$id' must be letters, digits, '.', '_' or '-'"
  for i in "${!ids[@]}"; do
    [ "${ids[$i]}" != "$id" ] || die_usage "$hosts_file:$line_no: node id '$id' is on line of ${hosts[$i]} too"
    [ "${endpoints[$i]}" != "$endpoint" ] || die_usage "$hosts_file:$line_no: $endpoint is ${ids[$i]}'s too"
  done
  hosts+=("$host") ids+=("$id") listens+=("$listen") endpoints+=("$endpoint")
done < "$hosts_file"
count=${#hosts[@]}
[ "$count" -gt 0 ] || die_usage "$hosts_file names no host"

# The nodes start and stop act on: every one, or those --only names.
declare -A selected
IFS=, read -r -a only_ids <<< "$only"
for id in "${only_ids[@]}"; do
  known=
  for i in "${!ids[@]}"; do [ "${ids[$i]}" != "$id" ] || { selected[$i]=1; known=1; }; done
  [ -n "$known" ] || die_usage "--only: no node '$id' in $hosts_file"
done
if [ -z "$only" ]; then for i in "${!ids[@]}"; do selected[$i]=1; done; fi

all_endpoints=$(IFS=,; echo "${endpoints[*]}")
seeds=()
for ((i = 0; i < count && i < 3; i++)); do seeds+=("${endpoints[$i]#tcp://}"); done

is_loopback() {
  case $1 in tcp://127.* | tcp://localhost:* | 'tcp://[::1]:'*) return 0 ;; *) return 1 ;; esac
}

if [ -n "$key_dir" ]; then
  [ -r "$key_dir/mesh.key" ] || die_usage "$key_dir/mesh.key is missing (meshctl keygen --dir $key_dir --mesh)"
  for id in "${ids[@]}"; do
    [ -r "$key_dir/$id.key" ] && [ -r "$key_dir/nodes/$id.pub" ] ||
      die_usage "$key_dir has no key of node $id (meshctl keygen --dir $key_dir --node $id)"
  done
  [ -n "$client_key" ] || die_usage "a mesh with keys needs this client's key pair: --client-key or MESH_CLIENT_KEY"
  [ -r "$client_key" ] || die_usage "cannot read the client key $client_key"
  export MESH_CLIENT_KEY=$client_key MESH_MESH_KEY=${MESH_MESH_KEY:-$key_dir/mesh.pub}
  [ -r "$MESH_MESH_KEY" ] || die_usage "cannot read the mesh's public key $MESH_MESH_KEY"
elif [ "$action" = start ]; then
  for i in "${!listens[@]}"; do
    is_loopback "${listens[$i]}" || die_usage "${ids[$i]} listens on ${listens[$i]}: meshd refuses plaintext \
beyond loopback, give --mesh-key-dir (docs/SECURITY.md)"
  done
fi

# --- reaching the hosts -------------------------------------------------------

quote() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

# Shell functions every remote script starts with.
remote_lib='
# Whether pid $1 is a live meshd (a zombie is not).
alive() {
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null || return 1
  if [ -r "/proc/$1/stat" ]; then
    [ "$(sed "s/^.*) //" "/proc/$1/stat" | cut -d" " -f1)" != Z ] || return 1
    [ "$(cat "/proc/$1/comm" 2>/dev/null)" = meshd ] || return 1
  fi
}
has_unit() { command -v systemctl >/dev/null 2>&1 && systemctl cat meshd.service >/dev/null 2>&1; }
'

# remote HOST SCRIPT [NAME=VALUE...]: runs the sh script on HOST, NAME set to VALUE first.
remote() {
  local host=$1 script=$2 prelude='' kv
  shift 2
  for kv in "$@"; do prelude+="${kv%%=*}=$(quote "${kv#*=}")"$'\n'; done
  # ssh takes an IPv6 address without the brackets scp needs.
  "${ssh_cmd[@]}" "${host//[\[\]]/}" "sh -c $(quote "$prelude$remote_lib$script")" </dev/null
}

# scp_dir HOST LOCAL_DIR REMOTE_NAME: copies a directory to the login's home on HOST.
scp_dir() {
  "${scp_cmd[@]}" -r -q "$2" "$1:$3" </dev/null
}

# probe HOST: prints mode=, root=, pid=, data= of meshd on it.
probe_script='
mode=none pid= data=no
if [ -f "$root/meshd.pid" ]; then
  mode=binary
  pid=$(cat "$root/meshd.pid")
  alive "$pid" || pid=
  [ -n "$(ls -A "$root/data/store" 2>/dev/null)" ] && data=yes
elif has_unit; then
  mode=deb
  if systemctl is-active --quiet meshd; then pid=$(systemctl show -p MainPID --value meshd); fi
  sudo -n test -e "$sys/var/lib/meshwork/store/CURRENT" </dev/null 2>/dev/null && data=yes
elif [ -n "$(ls -A "$root/data/store" 2>/dev/null)" ]; then
  mode=binary data=yes
fi
abs=
[ ! -d "$root" ] || abs=$(cd "$root" && pwd)
echo "mode=$mode"
echo "pid=$pid"
echo "data=$data"
echo "root=$abs"
'

declare -A probed
probe() {
  local i=$1 out
  out=$(remote "${hosts[$i]}" "$probe_script" root="$root" sys="$sysroot") || die "${hosts[$i]}: ssh failed"
  probed[$i.mode]=$(sed -n 's/^mode=//p' <<< "$out")
  probed[$i.pid]=$(sed -n 's/^pid=//p' <<< "$out")
  probed[$i.data]=$(sed -n 's/^data=//p' <<< "$out")
  probed[$i.root]=$(sed -n 's/^root=//p' <<< "$out")
}

# --- start --------------------------------------------------------------------

toml_list() {
  local out='' s
  for s in "$@"; do out+="${out:+, }\"$s\""; done
  echo "[$out]"
}

# render_config ID LISTEN ADVERTISE SEEDS_LIST DATA_DIR KEYS_DIR: the template
# with this node's settings. SEEDS_LIST empty: no seeds (founding).
render_config() {
  echo "# Written by scripts/launch.sh from $(basename "$template") for node $1; the next start replaces it."
  awk -v id="$1" -v listen="$2" -v advertise="$3" -v seeds="$4" -v data="$5" -v keys="$6" '
    function node_lines() {
      print "id = \"" id "\""
      print "listen = \"" listen "\""
      print "advertise = \"" advertise "\""
      if (seeds != "") print "seeds = " seeds
      print "data_dir = \"" data "\""
      node_done = 1
    }
    function security_lines() {
      if (keys != "") print "keys_dir = \"" keys "\""
      security_done = 1
    }
    skipping { if ($0 ~ /\]/) skipping = 0; next }
    /^[ \t]*\[/ {
      section = $0
      sub(/#.*/, "", section); gsub(/[][ \t]/, "", section)
      print
      if (section == "node") node_lines()
      if (section == "security") security_lines()
      next
    }
    section == "node" && /^[ \t]*(id|listen|advertise|seeds|data_dir)[ \t]*=/ {
      if ($0 ~ /=[ \t]*\[/ && $0 !~ /\]/) skipping = 1
      next
    }
    section == "security" && /^[ \t]*keys_dir[ \t]*=/ { next }
    { print }
    END {
      if (!node_done) { print ""; print "[node]"; node_lines() }
      if (!security_done && keys != "") { print ""; print "[security]"; security_lines() }
    }' "$template"
}

start_binary_script='
set -e
up=$HOME/.meshwork-upload
mkdir -p "$root/bin" "$root/data"
install -m 0755 "$up/meshd" "$root/bin/meshd"
install -m 0600 "$up/node.toml" "$root/node.toml"
rm -f "$root/founding.toml"
[ ! -f "$up/founding.toml" ] || install -m 0600 "$up/founding.toml" "$root/founding.toml"
if [ -d "$up/keys" ]; then
  rm -rf "$root/keys"
  mkdir -m 0700 "$root/keys"
  cp -R "$up/keys/." "$root/keys/"
  chmod -R go-rwx "$root/keys"
fi
rm -rf "$up"
config=$root/node.toml
[ -z "$new_mesh" ] || config=$root/founding.toml
if ! out=$("$root/bin/meshd" --config "$config" $new_mesh --check-config 2>&1); then
  echo "$out" >&2
  exit 1
fi
cd "$root"
echo "--- started $(date -u +%Y-%m-%dT%H:%M:%SZ) by scripts/launch.sh" >>"$root/meshd.log"
nohup "$root/bin/meshd" --config "$config" $new_mesh </dev/null >>"$root/meshd.log" 2>&1 &
echo $! >"$root/meshd.pid"
echo "pid $!"
'

# $sys: where the package's paths are (empty: /). The drop-in names them as
# the unit does; meshd here and node.toml name them as they are on the host.
start_deb_script='
set -e
up=$HOME/.meshwork-upload
if ! sudo -n dpkg -i "$up/meshwork.deb" </dev/null; then
  echo "dpkg -i failed; installing its dependencies" >&2
  sudo -n apt-get install -y -f </dev/null
fi
[ -x "$sys/usr/bin/meshd" ] || { echo "$sys/usr/bin/meshd is not there after installing the package" >&2; exit 1; }
etc=$sys/etc/meshwork
sudo -n install -d -m 0755 "$etc"
sudo -n install -m 0640 -o root -g meshwork "$up/node.toml" "$etc/node.toml"
sudo -n rm -f "$etc/founding.toml"
[ ! -f "$up/founding.toml" ] || sudo -n install -m 0640 -o root -g meshwork "$up/founding.toml" "$etc/founding.toml"
if [ -d "$up/keys" ]; then
  sudo -n rm -rf "$etc/keys"
  sudo -n cp -R "$up/keys" "$etc/keys"
  sudo -n chown -R meshwork:meshwork "$etc/keys"
  sudo -n chmod -R go-rwx "$etc/keys"
fi
rm -rf "$up"
config=/etc/meshwork/node.toml
[ -z "$new_mesh" ] || config=/etc/meshwork/founding.toml
if ! out=$(sudo -n -u meshwork "$sys/usr/bin/meshd" --config "$sys$config" $new_mesh --check-config 2>&1 </dev/null); then
  echo "$out" >&2
  exit 1
fi
dropin=$sys/run/systemd/system/meshd.service.d
if [ -n "$new_mesh" ]; then
  # The first start founds the mesh: a drop-in under /run, gone at reboot.
  sudo -n mkdir -p "$dropin"
  printf "[Service]\nExecStart=\nExecStart=/usr/bin/meshd --config %s --new-mesh\n" "$config" |
    sudo -n tee "$dropin/launch-new-mesh.conf" >/dev/null
fi
sudo -n systemctl daemon-reload </dev/null
sudo -n systemctl enable --quiet meshd </dev/null
sudo -n systemctl start meshd </dev/null
echo "pid $(systemctl show -p MainPID --value meshd)"
'

# After the founder answers: later starts read node.toml (with seeds).
founded_script='
if [ "$mode" = deb ]; then
  sudo -n rm -f "$sys/run/systemd/system/meshd.service.d/launch-new-mesh.conf" "$sys/etc/meshwork/founding.toml"
  sudo -n systemctl daemon-reload </dev/null
else
  rm -f "$root/founding.toml"
fi
'

log_tail_script='
if [ "$mode" = deb ]; then
  sudo -n journalctl -u meshd -n 20 --no-pager </dev/null 2>&1 || true
else
  tail -n 20 "$root/meshd.log" 2>/dev/null || true
fi
'

show_log() {
  echo "--- last lines of ${ids[$1]}'s log on ${hosts[$1]}" >&2
  remote "${hosts[$1]}" "$log_tail_script" mode="$2" root="$root" >&2 || true
}

work=
cleanup() { [ -z "$work" ] || rm -rf "$work"; }
trap cleanup EXIT

# deb_root I: where the package's paths are on host I (empty: /).
deb_root() { [ -z "$sysroot" ] || echo "${probed[$1.root]}"; }

# start_node I MODE NEW_MESH(yes|no)
start_node() {
  local i=$1 mode=$2 founding=$3 id=${ids[$1]} stage data keys='' seeds_toml sys
  stage=$work/$i
  mkdir -p "$stage"
  sys=$(deb_root "$i")
  if [ "$mode" = deb ]; then
    cp "$deb" "$stage/meshwork.deb"
    data=$sys/var/lib/meshwork
    [ -z "$key_dir" ] || keys=$sys/etc/meshwork/keys
  else
    cp "$binary" "$stage/meshd"
    data=${probed[$i.root]}/data
    [ -z "$key_dir" ] || keys=${probed[$i.root]}/keys
  fi
  seeds_toml=$(toml_list "${seeds[@]}")
  render_config "$id" "${listens[$i]}" "${endpoints[$i]}" "$seeds_toml" "$data" "$keys" >"$stage/node.toml"
  [ "$founding" = no ] ||
    render_config "$id" "${listens[$i]}" "${endpoints[$i]}" "" "$data" "$keys" >"$stage/founding.toml"
  if [ -n "$key_dir" ]; then
    mkdir -p "$stage/keys"
    cp "$key_dir/mesh.key" "$stage/keys/mesh.key"
    cp "$key_dir/$id.key" "$stage/keys/node.key"
    cp -R "$key_dir/nodes" "$stage/keys/nodes"
    if [ -d "$key_dir/clients" ]; then cp -R "$key_dir/clients" "$stage/keys/clients"; fi
  fi
  remote "${hosts[$i]}" 'rm -rf "$HOME/.meshwork-upload"' || die "${hosts[$i]}: ssh failed"
  scp_dir "${hosts[$i]}" "$stage" .meshwork-upload || die "${hosts[$i]}: scp failed"
  local new_mesh='' script=$start_binary_script out
  [ "$founding" = no ] || new_mesh=--new-mesh
  [ "$mode" = binary ] || script=$start_deb_script
  out=$(remote "${hosts[$i]}" "$script" root="${probed[$i.root]}" sys="$sys" new_mesh="$new_mesh") ||
    die "$id on ${hosts[$i]} did not start${out:+: $out}"
  echo "$id: started on ${hosts[$i]} at ${endpoints[$i]}${new_mesh:+, founding the mesh} (${out##*$'\n'})"
}

mctl() { "$meshctl" --timeout-ms 3000 "$@" 2>&1; }

# Waits until node I answers, or its process is gone.
wait_answers() {
  local i=$1 mode=$2 deadline=$3 out
  while :; do
    mctl -a "${endpoints[$i]}" members >/dev/null && return 0
    out=$(remote "${hosts[$i]}" 'if [ "$mode" = deb ]; then systemctl is-active --quiet meshd && echo up
else alive "$(cat "$root/meshd.pid" 2>/dev/null)" && echo up; fi; true' mode="$mode" root="$root") || true
    if [ "$out" != up ]; then
      echo "launch.sh: ${ids[$i]} on ${hosts[$i]} exited" >&2
      show_log "$i" "$mode"
      exit 1
    fi
    [ "$(date +%s)" -lt "$deadline" ] || { echo "launch.sh: ${ids[$i]} does not answer at ${endpoints[$i]}" >&2; show_log "$i" "$mode"; exit 1; }
    sleep 0.5
  done
}

# One look at the mesh: true when every node sees every node alive, every
# node reports the same ring digest, and every partition has a leader and
# the voters the ring wants.
# Leaves what it saw in $seen.
mesh_ready() {
  local i j out digest first_digest='' ready=0 leaderless unsettled
  seen=
  for i in "${!endpoints[@]}"; do
    out=$(mctl -a "${endpoints[$i]}" members) || { seen+="${ids[$i]}: no answer: $out"$'\n'; ready=1; continue; }
    seen+="$out"$'\n'
    for j in "${!ids[@]}"; do
      awk -v id="${ids[$j]}" '$1 == id && $2 == "alive" { found = 1 } END { exit !found }' <<< "$out" || ready=1
    done
    out=$(mctl -a "${endpoints[$i]}" ring) || { seen+="${ids[$i]}: ring: no answer"$'\n'; ready=1; continue; }
    seen+="$(head -1 <<< "$out")"$'\n'
    digest=$(head -1 <<< "$out" | sed -n 's/.*digest \([0-9a-f]*\).*/\1/p')
    first_digest=${first_digest:-$digest}
    [ -n "$digest" ] && [ "$digest" = "$first_digest" ] || ready=1
  done
  [ "$ready" -eq 0 ] || return 1
  out=$(mctl -a "${endpoints[0]}" partitions) || { seen+="partitions: no answer: $out"$'\n'; return 1; }
  leaderless=$(grep -c ' no leader ' <<< "$out" || true)
  # A led partition's voters (node or node#disk) against the ring's replicas.
  unsettled=$(awk '$1 ~ /^[0-9]+$/ && $2 != "no" {
      n = split($5, voters, ","); m = split($7, ring, ",")
      if (n != m) { bad++; next }
      split("", have)
      for (i = 1; i <= n; i++) { sub(/#.*/, "", voters[i]); have[voters[i]] = 1 }
      for (i = 1; i <= m; i++) if (!(ring[i] in have)) { bad++; next }
    } END { print bad + 0 }' <<< "$out")
  seen+="$(head -2 <<< "$out")"$'\n'"partitions without a leader: $leaderless"
  seen+=", whose voters are not yet the ring's replicas: $unsettled"$'\n'
  grep -q "on every member that answered" <<< "$out" && grep -q "as $count of $count alive members" <<< "$out" &&
    [ "$leaderless" -eq 0 ] && [ "$unsettled" -eq 0 ]
}

do_start() {
  local i mode founding=yes deadline
  [ -n "$deb" ] && mode=deb || mode=binary
  work=$(mktemp -d "${TMPDIR:-/tmp}/meshwork-launch-XXXXXX")
  for i in "${!hosts[@]}"; do
    probe "$i"
    if [ -n "${probed[$i.pid]}" ] || [ "${probed[$i.data]}" = yes ]; then founding=no; fi
    if { [ "$mode" = binary ] || [ -n "$sysroot" ]; } && [ -n "${selected[$i]:-}" ] && [ -z "${probed[$i.root]}" ]; then
      probed[$i.root]=$(remote "${hosts[$i]}" 'mkdir -p "$root" && cd "$root" && pwd' root="$root") ||
        die "${hosts[$i]}: cannot make $root"
    fi
  done
  if [ "$founding" = yes ] && [ -z "${selected[0]:-}" ]; then
    die "no node has a data dir yet: start the whole mesh first (${ids[0]} founds it)"
  fi
  deadline=$(($(date +%s) + timeout))
  for i in "${!hosts[@]}"; do
    [ -n "${selected[$i]:-}" ] || continue
    if [ -n "${probed[$i.pid]}" ]; then
      echo "${ids[$i]}: already running on ${hosts[$i]} (pid ${probed[$i.pid]}), left as it is"
      continue
    fi
    if [ "$i" -eq 0 ] && [ "$founding" = yes ]; then
      start_node 0 "$mode" yes
      wait_answers 0 "$mode" "$deadline"
      remote "${hosts[0]}" "$founded_script" mode="$mode" root="${probed[0.root]}" sys="$(deb_root 0)" ||
        die "${hosts[0]}: cannot remove the founding config"
    else
      start_node "$i" "$mode" no
    fi
  done
  echo "waiting up to ${timeout}s for $count nodes alive everywhere, one ring, every partition led and on its ring replicas"
  while ! mesh_ready; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "launch.sh: the mesh did not form within ${timeout}s; last seen:" >&2
      echo "$seen" >&2
      for i in "${!hosts[@]}"; do show_log "$i" "$mode"; done
      exit 1
    fi
    sleep 0.5
  done
  mctl -a "${endpoints[0]}" members
  mctl -a "${endpoints[0]}" ring | head -1
  echo "the mesh is up: $all_endpoints"
}

# --- stop ---------------------------------------------------------------------

signal_script='
if [ -f "$root/meshd.pid" ]; then
  pid=$(cat "$root/meshd.pid")
  if alive "$pid"; then kill -TERM "$pid" && echo "signalled binary $pid"; else echo "not running binary"; fi
elif has_unit; then
  if systemctl is-active --quiet meshd; then
    pid=$(systemctl show -p MainPID --value meshd)
    sudo -n systemctl stop --no-block meshd </dev/null && echo "signalled deb $pid"
  else
    echo "not running deb"
  fi
else
  echo "not running none"
fi
'

# Waits for the signalled meshd to exit, SIGKILLs it at the deadline.
wait_exit_script='
end=$(($(date +%s) + seconds))
while :; do
  if [ "$mode" = deb ]; then
    # Not is-active: that is false as soon as the unit is deactivating, while
    # meshd still drains.
    case $(systemctl show -p ActiveState --value meshd) in
      active | reloading | refreshing | activating | deactivating) ;;
      *) break ;;
    esac
  else
    alive "$pid" || break
  fi
  if [ "$(date +%s)" -ge "$end" ]; then
    if [ "$mode" = deb ]; then sudo -n systemctl kill --signal=SIGKILL meshd </dev/null; else kill -KILL "$pid"; fi
    echo "killed: still running ${seconds}s after SIGTERM"
    exit 1
  fi
  sleep 0.2
done
if [ "$mode" = binary ]; then
  rm -f "$root/meshd.pid"
  last=$(grep "event=stopped" "$root/meshd.log" 2>/dev/null | tail -n 1)
  echo "${last#*event=stopped }"
fi
'

do_stop() {
  local i out mode pid failed=0
  declare -A sent
  for i in "${!hosts[@]}"; do
    [ -n "${selected[$i]:-}" ] || continue
    out=$(remote "${hosts[$i]}" "$signal_script" root="$root") || die "${hosts[$i]}: ssh failed"
    read -r word mode pid <<< "$out"
    if [ "$word" = signalled ]; then
      sent[$i]="$mode $pid"
      echo "${ids[$i]}: SIGTERM to pid $pid on ${hosts[$i]} (it drains)"
    else
      echo "${ids[$i]}: not running on ${hosts[$i]}"
    fi
  done
  for i in "${!hosts[@]}"; do
    [ -n "${sent[$i]:-}" ] || continue
    read -r mode pid <<< "${sent[$i]}"
    if out=$(remote "${hosts[$i]}" "$wait_exit_script" mode="$mode" pid="$pid" root="$root" seconds="$timeout"); then
      echo "${ids[$i]}: exited${out:+ ($out)}"
    else
      echo "launch.sh: ${ids[$i]} on ${hosts[$i]}: ${out:-ssh failed}" >&2
      failed=1
    fi
  done
  return "$failed"
}

# --- status -------------------------------------------------------------------

do_status() {
  local i state bad=0 out
  printf '%-18s %-28s %-8s %-9s %s\n' NODE HOST MODE PROCESS ENDPOINT
  for i in "${!hosts[@]}"; do
    probe "$i"
    state=${probed[$i.pid]:+pid ${probed[$i.pid]}}
    [ -n "$state" ] || { state=stopped; bad=1; }
    printf '%-18s %-28s %-8s %-9s %s\n' "${ids[$i]}" "${hosts[$i]}" "${probed[$i.mode]}" "$state" "${endpoints[$i]}"
  done
  echo
  if out=$(mctl -a "$all_endpoints" members); then
    echo "$out"
    for i in "${!ids[@]}"; do
      awk -v id="${ids[$i]}" '$1 == id && $2 == "alive" { found = 1 } END { exit !found }' <<< "$out" || bad=1
    done
    mctl -a "$all_endpoints" ring | head -1 || true
  else
    echo "no node answered: $out"
    bad=1
  fi
  return "$bad"
}

case $action in
  start) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
esac
