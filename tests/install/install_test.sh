#!/usr/bin/env bash
# `make install` (tools/install.sh) into a staging DESTDIR: every file where it belongs,
# paths in the init script, unit and logrotate snippet following PREFIX, and a second
# install keeping an edited sigver.conf while refreshing sigver.conf.dist.
#   tests/install/install_test.sh BUILD_DIR
set -euo pipefail

build_dir=$(cd "${1:?usage: $0 BUILD_DIR}" && pwd)
src=$(cd "$(dirname "$0")/../.." && pwd)
dest=$(mktemp -d "${TMPDIR:-/tmp}/sigverd-install-test.XXXXXX")
trap 'rm -rf "$dest"' EXIT
passed=0
failed=0

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
install_once() { DESTDIR=$dest PREFIX=/opt/sigver "$src/tools/install.sh" "$build_dir" >/dev/null; }

check "tools/install.sh installs" install_once
for path in /opt/sigver/sbin/sigverd /opt/sigver/bin/sigver; do
  check "$path is executable" test -x "$dest$path"
done
for path in /etc/sigver.conf /etc/sigver.conf.dist /etc/logrotate.d/sigverd \
            /opt/sigver/lib/systemd/system/sigverd.service /opt/sigver/share/man/man8/sigverd.8 \
            /opt/sigver/share/man/man1/sigver.1 /opt/sigver/share/man/man5/sigver.conf.5; do
  check "$path is installed" test -s "$dest$path"
done
check "/etc/init.d/sigverd is executable" test -x "$dest/etc/init.d/sigverd"
for path in /etc/init.d/sigverd /opt/sigver/lib/systemd/system/sigverd.service \
            /etc/logrotate.d/sigverd; do
  check "$path runs PREFIX's sigverd" grep -q /opt/sigver/sbin/sigverd "$dest$path"
  check "$path names no other sigverd" sh -c "! grep -q /usr/local/sbin '$dest$path'"
done
check "the installed configuration is conf/sigver.conf" cmp -s "$src/conf/sigver.conf" "$dest/etc/sigver.conf"
check "the installed sigverd accepts it" "$dest/opt/sigver/sbin/sigverd" -t -c "$dest/etc/sigver.conf"

echo "# edited" >> "$dest/etc/sigver.conf"
echo "# stale" >> "$dest/etc/sigver.conf.dist"
check "a second install runs" install_once
check "it keeps the edited /etc/sigver.conf" grep -qx "# edited" "$dest/etc/sigver.conf"
check "it refreshes /etc/sigver.conf.dist" cmp -s "$src/conf/sigver.conf" "$dest/etc/sigver.conf.dist"

echo "install-test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
