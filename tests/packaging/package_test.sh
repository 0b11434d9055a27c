#!/usr/bin/env bash
# Installs meshwork into a fresh prefix: the man pages are there and render,
# the bash completions complete the built binaries' subcommands and flags, and
# a program built against the client library twice (CMake package and
# pkg-config) submits a task to the installed meshd. Then builds the .deb and
# installs it with dpkg into an empty root, maintainer scripts included (never
# as root, never outside that root): the postinst makes node.toml and the
# user, again without harm, the binaries run, and a purge takes it all back.
# Usage: package_test.sh <build dir>
set -euo pipefail
build=$(cd "$1" && pwd)
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/meshwork-package-XXXXXX")
meshd_pid=
cleanup() {
  if [ -n "$meshd_pid" ]; then
    kill -9 "$meshd_pid" 2>/dev/null || true
    wait "$meshd_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

pages="meshd meshctl meshbench meshchaos"
completions="meshd meshctl"

echo "== cmake --install into $work/prefix"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
for f in bin/meshd bin/meshctl lib/systemd/system/meshd.service lib/sysusers.d/meshwork.conf \
         include/meshwork/tools/client/mesh_client.h lib/cmake/meshwork/meshworkConfig.cmake \
         lib/pkgconfig/meshwork-client.pc; do
  [ -e "$work/prefix/$f" ] || fail "$f was not installed"
done
for c in $completions; do
  [ -s "$work/prefix/share/bash-completion/completions/$c" ] || fail "no bash completion for $c was installed"
done
[ -d "$build/man" ] || fail "no man pages in $build/man: the build found no help2man (scripts/setup.sh installs it)"
version=$("$work/prefix/bin/meshd" --version)
[[ $version == "meshd "[0-9]* ]] || fail "meshd --version"
version=${version#meshd }

echo "== the man pages"
for p in $pages; do
  page="$work/prefix/share/man/man1/$p.1"
  [ -s "$page" ] || fail "share/man/man1/$p.1 was not installed"
  head -n 5 "$page" | grep -q "^\.TH ${p^^} \"1\" .*\"$p $version\"" || fail "$p.1 has no .TH line for $p $version"
  grep -q "^\.SH OPTIONS" "$page" || fail "$p.1 has no OPTIONS"
  ! grep -q -F "$build" "$page" || fail "$p.1 mentions the build dir: $(grep -F "$build" "$page" | head -1)"
done
# Render one as a reader would, without formatting characters.
page="$work/prefix/share/man/man1/meshctl.1"
rendered=
if command -v groff >/dev/null; then
  rendered=$(groff -man -Tascii -P-cbou -rLL=200n "$page" 2>/dev/null) || fail "groff cannot render meshctl.1"
elif command -v man >/dev/null && MANPAGER=cat man -l "$page" >/dev/null 2>&1; then
  rendered=$(MANPAGER=cat MANWIDTH=200 MAN_KEEP_FORMATTING= man -l "$page" 2>/dev/null | sed 's/.\x08//g')
else
  echo "   (neither groff nor man: checked the .TH lines only)"
fi
if [ -n "$rendered" ]; then
  grep -q "meshctl - submit, follow and inspect tasks on a meshwork node" <<< "$rendered" \
    || fail "meshctl.1 renders without its NAME line: $(head -5 <<< "$rendered")"
  grep -q -- "--timeout-ms" <<< "$rendered" || fail "meshctl.1 renders without --timeout-ms"
fi

echo "== the bash completions"
# complete_words FILE WORD...: what the completion in FILE offers for the
# last WORD, one a line, as bash would ask it in an interactive shell (which
# splits words at '=' and ':' too: --addr=x:1 is --addr = x : 1).
complete_words() {
  local file=$1
  shift
  bash --norc --noprofile -c '
    set -u
    source "$1"
    shift
    COMP_WORDS=("$@")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMP_LINE="${COMP_WORDS[*]}"
    COMP_POINT=${#COMP_LINE}
    function=$(complete -p "$1" | sed -n "s/.* -F \([^ ]*\) .*/\1/p")
    [ -n "$function" ] || { echo "no completion function for $1" >&2; exit 1; }
    prev=
    [ "$COMP_CWORD" -gt 0 ] && prev=${COMP_WORDS[COMP_CWORD - 1]}
    "$function" "$1" "${COMP_WORDS[COMP_CWORD]}" "$prev"
    [ ${#COMPREPLY[@]} -eq 0 ] || printf "%s\n" "${COMPREPLY[@]}"
  ' complete_words "$file" "$@" | sort -u
}
# expect_completion WANT WORD...: the completion offers exactly WANT
# (space-separated) for the last WORD.
expect_completion() {
  local want=$1 got
  shift
  got=$(complete_words "$work/prefix/share/bash-completion/completions/$1" "$@" | tr '\n' ' ')
  [ "$got" = "$(for w in $want; do echo "$w"; done | sort -u | tr '\n' ' ')" ] \
    || fail "completing '$*' offered '$got', not '$want'"
}
expect_completion "submit" meshctl su
expect_completion "stats steals submit" meshctl -a tcp://127.0.0.1:7700 s
expect_completion "stats steals submit" meshctl --addr = tcp : //127.0.0.1 : 7700 s
expect_completion "--handler" meshctl submit --han
expect_completion "COMPLETED CANCELLED" meshctl list --state C
expect_completion "COMPLETED CANCELLED" meshctl list --state = C
expect_completion "--follow" meshctl events --fo
expect_completion "--mesh --mesh-key" meshctl stats --mes
expect_completion "json jsonl" meshctl list -o js
expect_completion "" meshctl submit --payload ""
expect_completion "--placement" meshd --pla
expect_completion "least_loaded" meshd --placement l
expect_completion "debug" meshd --log-level = d
expect_completion "" meshd --metrics-listen = 127.0.0.1 : ""
# help_options COMMAND...: the long options COMMAND's --help lists.
help_options() {
  "$@" --help | sed -n 's/^  \(-[a-zA-Z],\)\{0,1\}\(--[a-z0-9-]*\).*/\2/p' | sort -u
}
# The completions know every subcommand and option the binaries have.
missing() { comm -23 <(sort -u <<< "$1") <(sort -u <<< "$2") | tr '\n' ' '; }
subcommands=$("$build/meshctl" --help | sed -n '/^Subcommands:/,$s/^  \([a-z][a-z0-9-]*\) .*/\1/p')
[ -n "$subcommands" ] || fail "meshctl --help lists no subcommands"
file="$work/prefix/share/bash-completion/completions/meshctl"
[ -z "$(missing "$subcommands" "$(complete_words "$file" meshctl "")")" ] \
  || fail "configs/bash-completion/meshctl lacks the subcommands $(missing "$subcommands" "$(complete_words "$file" meshctl "")")"
[ -z "$(missing "$(help_options "$build/meshctl")" "$(complete_words "$file" meshctl --)")" ] \
  || fail "configs/bash-completion/meshctl lacks meshctl's $(missing "$(help_options "$build/meshctl")" "$(complete_words "$file" meshctl --)")"
for sub in $subcommands; do
  gaps=$(missing "$(help_options "$build/meshctl" "$sub")" "$(complete_words "$file" meshctl "$sub" --)")
  [ -z "$gaps" ] || fail "configs/bash-completion/meshctl lacks meshctl $sub's $gaps"
done
gaps=$(missing "$(help_options "$build/meshd")" "$(complete_words "$work/prefix/share/bash-completion/completions/meshd" meshd --)")
[ -z "$gaps" ] || fail "configs/bash-completion/meshd lacks meshd's $gaps"

echo "== a program built with find_package(meshwork)"
cmake -S "$source_dir/tests/packaging/consumer" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/consumer" >/dev/null
echo "== a program built with pkg-config meshwork-client"
PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" c++ -std=c++20 "$source_dir/tests/packaging/consumer/main.cc" \
  -o "$work/consumer-pc" $(PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig" pkg-config --cflags --libs meshwork-client)

echo "== both submit to the installed meshd"
"$work/prefix/bin/meshd" --node-id package-test --new-mesh --listen tcp://127.0.0.1:0 --data-dir "$work/data" \
  > "$work/meshd.log" 2>&1 &
meshd_pid=$!
for _ in $(seq 600); do [ -s "$work/data/meshd.endpoint" ] && break; sleep 0.1; done
[ -s "$work/data/meshd.endpoint" ] || { cat "$work/meshd.log"; fail "meshd did not start"; }
endpoint=$(cat "$work/data/meshd.endpoint")
for consumer in "$work/consumer/consumer" "$work/consumer-pc"; do
  out=$("$consumer" "$endpoint") || { cat "$work/meshd.log"; fail "$consumer: $out"; }
  [ "$out" = "COMPLETED hello from an installed client" ] || fail "$consumer printed '$out'"
done
kill -9 "$meshd_pid"
wait "$meshd_pid" 2>/dev/null || true
meshd_pid=

echo "== the .deb"
(cd "$build" && cpack -G DEB -B "$work/deb" >/dev/null)
deb=$(ls "$work"/deb/meshwork_*.deb)
control=$(dpkg-deb -I "$deb")
grep -q "Depends:.*libzmq" <<< "$control" || fail "the .deb does not depend on libzmq"
for script in postinst postrm; do
  grep -q " $script" <<< "$control" || fail "the .deb has no $script"
done
# The maintainer scripts run outside a chroot below: each must keep to
# DPKG_ROOT, or it would change this host.
dpkg-deb -e "$deb" "$work/control"
for script in postinst postrm; do
  grep -q 'DPKG_ROOT' "$work/control/$script" || fail "the $script ignores DPKG_ROOT: it cannot be tested here"
done

echo "== installed with dpkg into an empty root"
root="$work/root"
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers"
: > "$root/var/lib/dpkg/status"
# Not as root even when the test is: as nobody if this host lets root become
# it and nobody reaches the files (a script that strayed from DPKG_ROOT then
# fails instead of writing).
as_user=()
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
  chmod 755 "$work" "$work/deb"
  chmod 644 "$deb"
  chown -R 65534:65534 "$root"
  nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
  if "${nobody[@]}" sh -c 'test -r "$1" && test -w "$2"' probe "$deb" "$root/var/lib/dpkg" 2>/dev/null; then
    as_user=("${nobody[@]}")
  fi
fi
# The host's /etc/dpkg settings stay out: no log, no path filters.
in_root() {
  "${as_user[@]}" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$work" LC_ALL=C "$@"
}
run_dpkg() {
  in_root dpkg --root="$root" --force-not-root --force-script-chrootless --force-depends \
    --path-include='*' --log=/dev/null "$@" > "$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg $*"; }
}
status() { dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Status}' meshwork 2>/dev/null || true; }
host_state() {
  ls -la /etc/meshwork 2>&1 || true
  grep -s '^meshwork:' /etc/passwd /etc/group || true
}
host_before=$(host_state)

run_dpkg -i "$deb"
[ "$(status)" = "install ok installed" ] || fail "dpkg says meshwork is '$(status)'"
for f in usr/bin/meshd usr/bin/meshctl usr/bin/meshbench usr/bin/meshchaos usr/bin/mesh_sim \
         usr/lib/systemd/system/meshd.service usr/lib/sysusers.d/meshwork.conf usr/share/meshwork/node.toml \
         usr/include/meshwork/tools/client/mesh_client.h; do
  [ -e "$root/$f" ] || fail "$f is not in the .deb"
done
for p in $pages; do [ -s "$root/usr/share/man/man1/$p.1" ] || fail "the .deb has no man page for $p"; done
for c in $completions; do
  [ -s "$root/usr/share/bash-completion/completions/$c" ] || fail "the .deb has no bash completion for $c"
done
[[ $("$root/usr/bin/meshctl" --version) == "meshctl $version" ]] || fail "meshctl --version from the .deb"
# What the postinst made: the sample config as /etc/meshwork/node.toml and,
# where systemd-sysusers is, the meshwork user.
cmp -s "$root/etc/meshwork/node.toml" "$root/usr/share/meshwork/node.toml" \
  || fail "the postinst did not copy the sample node.toml to /etc/meshwork"
sysusers=
if command -v systemd-sysusers >/dev/null; then
  sysusers=yes
  [ "$(grep -c '^meshwork:' "$root/etc/passwd")" -eq 1 ] || fail "the postinst did not create the meshwork user"
  grep -q '^meshwork:x:[0-9]*:[0-9]*:[^:]*:/var/lib/meshwork:' "$root/etc/passwd" \
    || fail "the meshwork user's home is not /var/lib/meshwork: $(grep '^meshwork:' "$root/etc/passwd")"
  [ "$(grep -c '^meshwork:' "$root/etc/group")" -eq 1 ] || fail "the postinst did not create the meshwork group"
else
  echo "   (no systemd-sysusers here: the meshwork user is not checked)"
fi

echo "== the postinst again: an edited node.toml stays, nothing doubles"
echo "# edited here" >> "$root/etc/meshwork/node.toml"
cp "$root/etc/meshwork/node.toml" "$work/node.toml.edited"
run_dpkg -i "$deb"  # the same version again: postinst configure 0.9.0
in_root DPKG_ROOT="$root" sh "$root/var/lib/dpkg/info/meshwork.postinst" configure "$version" \
  > "$work/postinst.log" 2>&1 || { cat "$work/postinst.log"; fail "the postinst run again"; }
[ "$(status)" = "install ok installed" ] || fail "after a reinstall dpkg says meshwork is '$(status)'"
cmp -s "$root/etc/meshwork/node.toml" "$work/node.toml.edited" || fail "the postinst overwrote an edited node.toml"
if [ -n "$sysusers" ]; then
  [ "$(grep -c '^meshwork:' "$root/etc/passwd")" -eq 1 ] || fail "the meshwork user is there $(grep -c '^meshwork:' "$root/etc/passwd") times"
  [ "$(grep -c '^meshwork:' "$root/etc/group")" -eq 1 ] || fail "the meshwork group is there $(grep -c '^meshwork:' "$root/etc/group") times"
fi

echo "== purged"
run_dpkg --purge meshwork
[ "$(status)" != "install ok installed" ] || fail "meshwork is still installed after a purge"
[ ! -e "$root/usr/bin/meshd" ] || fail "a purge left usr/bin/meshd"
[ ! -e "$root/etc/meshwork" ] || fail "a purge left $(cd "$root" && find etc/meshwork | tr '\n' ' ')"

[ "$(host_state)" = "$host_before" ] || fail "the host's /etc/meshwork or meshwork user changed"
echo "OK: installed, man pages and completions, built against, packaged and installed by dpkg ($(basename "$deb"))"
