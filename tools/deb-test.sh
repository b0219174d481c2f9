#!/usr/bin/env bash
# The Debian package end to end, in a throwaway Debian root made with debootstrap (never on
# this machine itself): install, serve, reload, log rotation, upgrade with an edited
# /etc/sigver.conf, purge. `make deb-test` and the ctest test deb_package run it.
#   tools/deb-test.sh BUILD_DIR
# Exits 77 (skipped) when no root can be made here: not root, no debootstrap or chroot, or
# debootstrap failed (no mirror). Environment:
#   SIGVER_DEB_TEST_CACHE    where the debootstrapped base is kept [/var/cache/sigver-deb-test]
#   SIGVER_DEB_TEST_REFRESH  1: debootstrap again even if a cached base exists
#   SIGVER_DEB_TEST_KEEP     1: leave the root in place for a look afterwards
# The base is made once per suite and dependency list and kept as a tarball, so later runs
# only unpack it. The root has no init system: nothing may start on install, and the test
# starts the server with the packaged init script, as an administrator would.
set -euo pipefail

build_dir=$(cd "${1:?usage: tools/deb-test.sh BUILD_DIR}" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
cache=${SIGVER_DEB_TEST_CACHE:-/var/cache/sigver-deb-test}
started=$SECONDS

skip() { echo "deb-test: SKIPPED: $*"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "needs root (debootstrap, chroot)"
for tool in debootstrap chroot dpkg-deb dpkg-shlibdeps python3 flock mount mountpoint; do
  command -v "$tool" >/dev/null || skip "$tool is missing (apt-get install debootstrap dpkg-dev)"
done

work=$(mktemp -d /var/tmp/sigver-deb-test.XXXXXX)
root=$work/root
mkdir "$root"
passed=0
failed=0

# Processes whose root directory is the throwaway root: only this test starts any there.
# One find, not a readlink per process: the waits below poll this ten times a second.
root_processes() {
  find /proc -mindepth 2 -maxdepth 2 -name root -lname "$root" -printf '%h\n' 2>/dev/null |
    sed 's#^/proc/##'
}

# Ends what this test started in the root, unmounts /proc there and removes the root;
# never follows a mount out of it.
cleanup() {
  local pid
  for pid in $(root_processes); do kill -KILL "$pid" 2>/dev/null || true; done
  if mountpoint -q "$root/proc"; then umount "$root/proc" || umount -l "$root/proc"; fi
  if [ "${SIGVER_DEB_TEST_KEEP:-0}" = 1 ]; then
    echo "deb-test: root kept in $root"
  elif ! mountpoint -q "$root/proc"; then
    rm -rf --one-file-system "$work"
  fi
}
trap cleanup EXIT
# A signal (say, a ctest time-out) ends the script through exit, so cleanup runs.
trap 'exit 1' INT TERM HUP

check() {  # check DESCRIPTION COMMAND...
  local what=$1
  shift
  if "$@"; then
    echo "ok: $what"
    passed=$((passed + 1))
  else
    echo "FAIL: $what"
    failed=$((failed + 1))
  fi
}
# Bounded: no command in the root (dpkg, init script, logrotate) may hang the test.
in_root() { timeout 300 chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
step() { echo "--- $* ($((SECONDS - started)) s)"; }

# ---- the two packages: this version and a later one to upgrade to ----
step "building the packages"
version=$(sed -n 's/^project(sigverd VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
next=$version+debtest1
mkdir "$work/v1" "$work/v2"
deb1=$("$src/tools/make-deb.sh" "$build_dir" "$work/v1" | tail -n 1)
deb2=$(DEB_VERSION=$next "$src/tools/make-deb.sh" "$build_dir" "$work/v2" | tail -n 1)

# ---- the base root: debootstrap once, then unpack the cached tarball ----
# shellcheck disable=SC1091
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[ -n "$suite" ] || skip "no VERSION_CODENAME in /etc/os-release"
# The package's dependencies come preinstalled, so dpkg -i needs no network.
depends=$(dpkg-deb -f "$deb1" Depends Recommends | sed 's/^[A-Za-z-]*: //' | tr ',' '\n' |
          sed 's/([^)]*)//; s/|.*//; s/[[:space:]]//g' | grep -v '^$' | LC_ALL=C sort -u | paste -sd,)
base=$cache/$suite-minbase-$(echo "$depends" | md5sum | cut -c1-12).tar.gz

# The apt mirror this machine is configured with (one-line or deb822 sources).
find_mirror() {
  python3 - "$suite" <<'PY'
import glob, sys
suite = sys.argv[1]
for path in sorted(glob.glob("/etc/apt/sources.list") + glob.glob("/etc/apt/sources.list.d/*")):
    try:
        text = open(path).read()
    except OSError:
        continue
    if path.endswith(".sources"):
        for stanza in text.split("\n\n"):
            fields = {}
            for line in stanza.splitlines():
                if ":" in line and not line.startswith("#"):
                    key, value = line.split(":", 1)
                    fields[key.strip().lower()] = value.split()
            if ("deb" in fields.get("types", []) and suite in fields.get("suites", [])
                    and "main" in fields.get("components", [])):
                print(fields["uris"][0]); sys.exit(0)
    else:
        for line in text.splitlines():
            words = [w for w in line.split() if not w.startswith("[")]
            if len(words) >= 4 and words[0] == "deb" and words[2] == suite and "main" in words[3:]:
                print(words[1]); sys.exit(0)
sys.exit(1)
PY
}

mkdir -p "$cache"
exec 9>"$cache/.lock"
# A concurrent run may be making the same base; wait for it (bounded).
flock -w 1200 9 || skip "the cache $cache stayed locked for 20 minutes"
if [ ! -s "$base" ] || [ "${SIGVER_DEB_TEST_REFRESH:-0}" = 1 ]; then
  mirror=$(find_mirror) || skip "no apt source for $suite main in /etc/apt"
  step "debootstrap $suite from $mirror with $depends (once; cached in $cache)"
  fresh=$(mktemp -d "$cache/bootstrap.XXXXXX")
  if ! timeout 1200 debootstrap --variant=minbase --include="$depends" "$suite" "$fresh/root" \
      "$mirror" > "$fresh/debootstrap.log" 2>&1; then
    tail -n 20 "$fresh/debootstrap.log"
    rm -rf --one-file-system "$fresh"
    skip "debootstrap failed (log above)"
  fi
  # Nothing may start in the root on its own when a package is installed there.
  rm -f "$fresh/root/var/cache/apt/archives/"*.deb
  tar -C "$fresh/root" --numeric-owner -czf "$fresh/base.tar.gz" .
  mv "$fresh/base.tar.gz" "$base"
  rm -rf --one-file-system "$fresh"
fi
flock -u 9
step "unpacking $base"
tar -C "$root" --numeric-owner -xzf "$base"
chroot "$root" /bin/true 2>/dev/null || skip "chroot does not work here"
mount -t proc proc "$root/proc"
cp "$deb1" "$deb2" "$root/tmp/"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# A WebSocket upgrade on 127.0.0.1:PORT/KEY answered 101 with the right accept key. The
# probes fail (quietly) until the server is up; wait_for retries them.
upgrades() {
  python3 - "$1" 2>/dev/null <<'PY'
import base64, hashlib, socket, sys
key = base64.b64encode(b"sigver-deb-test!").decode()
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(("GET /deb-test-key HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
           % key).encode())
answer = b""
while b"\r\n\r\n" not in answer:
    chunk = s.recv(4096)
    if not chunk:
        break
    answer += chunk
accept = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode())
                          .digest()).decode()
ok = answer.startswith(b"HTTP/1.1 101") and ("Sec-WebSocket-Accept: " + accept).encode() in answer
sys.exit(0 if ok else 1)
PY
}
# GET PATH on 127.0.0.1:PORT answers 200.
http_ok() {
  python3 - "$1" "$2" 2>/dev/null <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(("GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" % sys.argv[2]).encode())
s.settimeout(5)
sys.exit(0 if s.recv(64).startswith(b"HTTP/1.1 200") else 1)
PY
}
wait_for() {  # wait_for SECONDS COMMAND...: polls every 0.1 s
  local tries=$(($1 * 10))
  shift
  until "$@"; do
    tries=$((tries - 1))
    [ "$tries" -gt 0 ] || return 1
    sleep 0.1
  done
}
master_pid() { tr -cd '0-9' 2>/dev/null < "$root/run/sigverd.pid"; }
running() { local pid; pid=$(master_pid) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }
stopped() { ! running; }
sigverd_processes() {
  local pid
  for pid in $(root_processes); do
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sigverd ] && echo "$pid"
  done
  return 0
}
workers_run_as_sigver() {
  local uid master pid n=0
  uid=$(in_root id -u sigver) && master=$(master_pid) || return 1
  for pid in $(sigverd_processes); do
    [ "$(awk '/^PPid:/ {print $2}' "/proc/$pid/status")" = "$master" ] || continue
    [ "$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")" = "$uid" ] || return 1
    n=$((n + 1))
  done
  [ "$n" -ge 1 ]
}
setting() {  # setting NAME VALUE: sets it in the root's /etc/sigver.conf, in place
  sed -i "s#^$1 = .*#$1 = $2#" "$root/etc/sigver.conf"
}
no_sigverd() { [ -z "$(sigverd_processes)" ]; }
binary_version_is() { [ "$(in_root sigverd -V | head -n 1)" = "sigverd version $1" ]; }
# shellcheck disable=SC2016  # dpkg-query's own ${Version}
package_version_is() { [ "$(in_root dpkg-query -W -f '${Version}' sigverd)" = "$1" ]; }
user_cannot_log_in() { in_root getent passwd sigver | grep -q ':/usr/sbin/nologin$'; }
absent() { ! in_root getent "$1" "$2" >/dev/null; }
log_has() { grep -q "$1" "$root/var/log/sigverd/$2"; }
owner_is() { [ "$(in_root stat -c %U:%G "$2")" = "$1" ]; }  # names as the root knows them

# ---- install ----
step "installing sigverd $version"
check "dpkg -i installs the package" in_root dpkg -i "/tmp/${deb1##*/}" < /dev/null
check "the system user sigver exists" in_root getent passwd sigver
check "sigver is a system user without a login shell" user_cannot_log_in
check "/var/log/sigverd belongs to sigver" owner_is sigver:adm /var/log/sigverd
check "the packaged configuration runs workers as sigver" grep -qx 'user = sigver' "$root/etc/sigver.conf"
check "... with worker_processes = auto" grep -qx 'worker_processes = auto' "$root/etc/sigver.conf"
check "... logs to /var/log/sigverd" grep -qx 'access_log = /var/log/sigverd/access.log' "$root/etc/sigver.conf"
check "... and passes sigverd -t" in_root sigverd -t -c /etc/sigver.conf
check "sigverd -V names the version" binary_version_is "$version"
check "the init script is registered" sh -c "ls '$root'/etc/rc2.d/S*sigverd >/dev/null"
if in_root sh -c 'command -v deb-systemd-helper' >/dev/null; then
  check "the systemd unit is enabled" \
    test -L "$root/etc/systemd/system/multi-user.target.wants/sigverd.service"
fi
check "the manual pages are installed" test -s "$root/usr/share/man/man5/sigver.conf.5.gz"
check "nothing started in a root without an init system" no_sigverd
# From here on the root's policy lets packages stop services, as one where an administrator
# starts them by hand would; starting stays refused, so "nothing started" is checked again.
cat > "$root/usr/sbin/policy-rc.d" <<'EOF'
#!/bin/sh
# Written by sigverd's tools/deb-test.sh: services may be stopped here, never started.
case " $* " in *" stop "*) exit 0 ;; esac
exit 101
EOF
chmod 755 "$root/usr/sbin/policy-rc.d"

# ---- serve ----
port=$(free_port)
status_port=$(free_port)
setting listen "127.0.0.1:$port"
setting status_listen "127.0.0.1:$status_port"
echo "# edited by deb-test" >> "$root/etc/sigver.conf"
step "starting the server with the init script (ws://127.0.0.1:$port)"
check "the init script starts the server" in_root /etc/init.d/sigverd start
check "it answers a WebSocket upgrade" wait_for 10 upgrades "$port"
check "its workers run as sigver" workers_run_as_sigver
check "the status listener answers /health" wait_for 5 http_ok "$status_port" /health
check "the master logs to /var/log/sigverd/error.log" log_has "master started" error.log
check "the access log has a line for the upgrade probe" wait_for 10 test -s "$root/var/log/sigverd/access.log"

# ---- reload: a new listen address applies without a restart ----
new_port=$(free_port)
setting listen "127.0.0.1:$new_port"
step "sigverd -s reload (now 127.0.0.1:$new_port)"
pid_before=$(master_pid)
check "sigverd -s reload signals the master" in_root sigverd -c /etc/sigver.conf -s reload
check "the reloaded server answers on the new port" wait_for 10 upgrades "$new_port"
check "the master logs the reload" log_has "configuration reloaded" error.log
check "the master is the same process" test "$(master_pid)" = "$pid_before"

# ---- log rotation ----
if in_root sh -c 'command -v logrotate' >/dev/null; then
  step "logrotate -f"
  check "logrotate rotates the logs" in_root logrotate -f /etc/logrotate.d/sigverd
  check "the old log was moved aside" test -s "$root/var/log/sigverd/error.log.1"
  check "the server writes to the new file" wait_for 10 log_has "log reopened" error.log
  check "the new file still belongs to sigver" owner_is sigver:adm /var/log/sigverd/error.log
  check "no process failed to reopen its log" sh -c "! grep -q 'cannot reopen' '$root'/var/log/sigverd/error.log*"
fi

# ---- upgrade: the edited configuration stays; the new binary runs ----
step "upgrading to $next"
check "dpkg -i upgrades the package" in_root dpkg --force-confold -i "/tmp/${deb2##*/}" < /dev/null
check "the upgrade stopped the old server" wait_for 20 stopped
check "the edited /etc/sigver.conf survived" grep -qx "listen = 127.0.0.1:$new_port" "$root/etc/sigver.conf"
check "... with its marker" grep -qx "# edited by deb-test" "$root/etc/sigver.conf"
check "the new version is installed" package_version_is "$next"
check "nothing started in the root on upgrade" no_sigverd
check "the init script starts the new server" in_root /etc/init.d/sigverd start
check "it serves with the edited configuration" wait_for 10 upgrades "$new_port"

# ---- purge: prerm stops the running server ----
step "purging"
check "dpkg --purge removes the package" in_root dpkg --purge sigverd < /dev/null
check "purge stopped the server" wait_for 20 no_sigverd
check "the user sigver is gone" absent passwd sigver
check "the group sigver is gone" absent group sigver
check "/var/log/sigverd is gone" test ! -e "$root/var/log/sigverd"
check "/etc/sigver.conf is gone" test ! -e "$root/etc/sigver.conf"
check "the init script is gone" sh -c "! ls '$root'/etc/init.d/sigverd '$root'/etc/rc2.d/S*sigverd 2>/dev/null"
check "no systemd link is left" sh -c "! find '$root/etc/systemd' -name 'sigverd*' 2>/dev/null | grep -q ."

step "done"
echo "deb-test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
