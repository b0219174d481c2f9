#!/usr/bin/env bash
# Installs sigverd like a server program: `make install` runs it, and tools/make-deb.sh
# runs it into the package's tree, so both install the same files.
#   tools/install.sh BUILD_DIR
# Environment (defaults in brackets):
#   DESTDIR      staging root prepended to every path []
#   PREFIX       [/usr/local]: sbin/sigverd, bin/sigver, share/man
#   SYSCONFDIR   [/etc]: sigver.conf, init.d/sigverd, logrotate.d/sigverd
#   UNITDIR      systemd units [$PREFIX/lib/systemd/system, which systemd also searches]
#   CONF         installed as SYSCONFDIR/sigver.conf unless that file exists [conf/sigver.conf]
#   DIST_CONF    1: also install conf/sigver.conf as SYSCONFDIR/sigver.conf.dist, the
#                reference an edited sigver.conf can be compared with [1]
#   PACKAGE      1: for a package (stripped binaries, compressed manual pages) [0]
set -euo pipefail

build_dir=${1:?usage: tools/install.sh BUILD_DIR}
src=$(cd "$(dirname "$0")/.." && pwd)
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
SYSCONFDIR=${SYSCONFDIR:-/etc}
UNITDIR=${UNITDIR:-$PREFIX/lib/systemd/system}
CONF=${CONF:-$src/conf/sigver.conf}
DIST_CONF=${DIST_CONF:-1}
PACKAGE=${PACKAGE:-0}

for binary in sigverd sigver; do
  [ -x "$build_dir/$binary" ] || { echo "install: $build_dir/$binary is missing (make first)" >&2; exit 1; }
done

# The init script, the unit and the logrotate snippet name the binary by its path; the
# repository's copies say /usr/local/sbin, the default PREFIX.
install_with_prefix() {  # install_with_prefix MODE SOURCE DESTINATION
  local tmp
  tmp=$(mktemp)
  sed "s#/usr/local/sbin/sigverd#$PREFIX/sbin/sigverd#g" "$2" > "$tmp"
  install -D -m "$1" "$tmp" "$DESTDIR$3"
  rm -f "$tmp"
}

install -D -m 755 "$build_dir/sigverd" "$DESTDIR$PREFIX/sbin/sigverd"
install -D -m 755 "$build_dir/sigver" "$DESTDIR$PREFIX/bin/sigver"
if [ "$PACKAGE" = 1 ]; then
  # As Debian's own packages: no debug information, symbols or compiler notes (.comment).
  strip --strip-unneeded --remove-section=.comment \
    "$DESTDIR$PREFIX/sbin/sigverd" "$DESTDIR$PREFIX/bin/sigver"
fi

conf_dest=$DESTDIR$SYSCONFDIR/sigver.conf
if [ -e "$conf_dest" ]; then
  echo "install: keeping the existing $conf_dest"
else
  install -D -m 644 "$CONF" "$conf_dest"
fi
[ "$DIST_CONF" = 1 ] && install -D -m 644 "$src/conf/sigver.conf" "$conf_dest.dist"

install_with_prefix 755 "$src/tools/sigverd.init" "$SYSCONFDIR/init.d/sigverd"
install_with_prefix 644 "$src/tools/sigverd.service" "$UNITDIR/sigverd.service"
install_with_prefix 644 "$src/conf/logrotate" "$SYSCONFDIR/logrotate.d/sigverd"

for page in sigverd.8 sigver.1 sigver.conf.5; do
  dir=$DESTDIR$PREFIX/share/man/man${page##*.}
  install -D -m 644 "$src/man/$page" "$dir/$page"
  # -n: no name or time stamp in the archive, so the same page packs to the same bytes.
  [ "$PACKAGE" = 1 ] && gzip -9nf "$dir/$page"
done
echo "install: installed under ${DESTDIR:-/} (PREFIX $PREFIX)"
