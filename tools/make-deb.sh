#!/usr/bin/env bash
# Builds the Debian package of sigverd from an existing build with plain dpkg-deb (no
# debhelper): `make deb` runs it.
#   tools/make-deb.sh BUILD_DIR [OUT_DIR]     (OUT_DIR defaults to BUILD_DIR)
# Prints the path of the .deb on its last line. Environment:
#   DEB_VERSION     package version [project(VERSION) of CMakeLists.txt]
#   DEB_MAINTAINER  "Name <address>" [the author of the last commit]
# The package's /etc/sigver.conf is conf/sigver.conf with the settings of a system service
# substituted (see packaged_settings), so the two never drift apart.
set -euo pipefail

build_dir=$(cd "${1:?usage: tools/make-deb.sh BUILD_DIR [OUT_DIR]}" && pwd)
out_dir=$(cd "${2:-$build_dir}" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)
umask 022

for tool in dpkg-deb dpkg-shlibdeps gzip; do
  command -v "$tool" >/dev/null || { echo "make-deb: $tool is missing (apt-get install dpkg-dev)" >&2; exit 1; }
done

version=${DEB_VERSION:-$(sed -n 's/^project(sigverd VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")}
[ -n "$version" ] || { echo "make-deb: no project(sigverd VERSION ...) in CMakeLists.txt" >&2; exit 1; }
arch=$(dpkg --print-architecture)
maintainer=${DEB_MAINTAINER:-$(git -C "$src" log -1 --format='%an <%ae>' 2>/dev/null || true)}
[ -n "$maintainer" ] || { echo "make-deb: set DEB_MAINTAINER=\"Name <address>\"" >&2; exit 1; }
# The last commit's time stamps the changelog, so rebuilding a commit gives the same package.
date=$(git -C "$src" log -1 --format=%cD 2>/dev/null || date -R)
# dpkg-deb clamps the files' times to it.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$src" log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH
years=$(git -C "$src" log --format=%cd --date=format:%Y 2>/dev/null | sort -u | sed -n '1p;$p' |
        paste -sd- | sed 's/^\([0-9]*\)-\1$/\1/')
commit=$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown)

work=$(mktemp -d "$out_dir/.make-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root

# section.name=value: what a system service runs with, unlike the defaults of a checkout.
packaged_settings=(
  server.worker_processes=auto
  server.pid=/run/sigverd.pid
  server.user=sigver
  server.status_listen=127.0.0.1:9145
  log.error_log=/var/log/sigverd/error.log
  log.access_log=/var/log/sigverd/access.log
)

# Each setting must be found exactly once (as "name =" or commented ";name ="), so a
# renamed or moved setting fails the build instead of shipping the checkout's value.
packaged_conf() {
  {
    echo "# Installed by the sigverd package: as conf/sigver.conf, with the values of a system"
    echo "# service for worker_processes, pid, user, status_listen, error_log and access_log."
    awk -v subs="$(IFS=';'; echo "${packaged_settings[*]}")" '
      BEGIN {
        n = split(subs, list, ";")
        for (i = 1; i <= n; i++) {
          eq = index(list[i], "=")
          want[substr(list[i], 1, eq - 1)] = substr(list[i], eq + 1)
        }
      }
      /^\[/ { section = $0; gsub(/[][[:space:]]/, "", section) }
      /^;?[a-z_]+[[:space:]]*=/ {
        name = $0
        sub(/^;/, "", name)
        sub(/[[:space:]]*=.*/, "", name)
        key = section "." name
        if (key in want) {
          print name " = " want[key]
          found[key]++
          next
        }
      }
      { print }
      END {
        for (key in want) {
          if (found[key] != 1) {
            printf "make-deb: %s found %d times in conf/sigver.conf\n", key, found[key] > "/dev/stderr"
            bad = 1
          }
        }
        exit bad
      }' "$src/conf/sigver.conf"
  }
}

packaged_conf > "$work/sigver.conf"
"$build_dir/sigverd" -t -c "$work/sigver.conf" >/dev/null ||
  { echo "make-deb: the packaged configuration does not load (above)" >&2; exit 1; }

DESTDIR=$root PREFIX=/usr SYSCONFDIR=/etc UNITDIR=/lib/systemd/system CONF=$work/sigver.conf \
  DIST_CONF=0 PACKAGE=1 "$src/tools/install.sh" "$build_dir" >/dev/null

doc=$root/usr/share/doc/sigverd
install -d "$doc"
cat > "$doc/copyright" <<EOF
sigverd: a signaling server for WebRTC speaking the Sigver protocol (used by Netflux).

Copyright ${years:-$(date +%Y)} the authors of sigverd.

No license has been chosen for sigverd yet; until one is, ask its authors before
redistributing this package.
EOF
cat > "$work/changelog" <<EOF
sigverd ($version) unstable; urgency=medium

  * Built from commit $commit.

 -- $maintainer  $date
EOF
gzip -9nc "$work/changelog" > "$doc/changelog.gz"

install -d "$root/DEBIAN"
install -m 755 "$src/tools/deb/postinst" "$src/tools/deb/prerm" "$src/tools/deb/postrm" "$root/DEBIAN/"
install -m 644 "$src/tools/deb/conffiles" "$root/DEBIAN/"

# Library dependencies as Debian computes them; dpkg-shlibdeps wants a source tree.
mkdir -p "$work/src/debian"
printf 'Source: sigverd\n\nPackage: sigverd\nArchitecture: any\n' > "$work/src/debian/control"
shlibs=$(cd "$work/src" && dpkg-shlibdeps -O "$root/usr/sbin/sigverd" "$root/usr/bin/sigver" |
         sed -n 's/^shlibs:Depends=//p')
installed_size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)

cat > "$root/DEBIAN/control" <<EOF
Package: sigverd
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_size
Depends: adduser, $shlibs
Recommends: logrotate
Section: net
Priority: optional
Description: WebSocket signaling server for WebRTC (Sigver protocol)
 sigverd relays the offers, answers and ICE candidates of WebRTC peers using
 the Netflux library until they are connected to each other. Browsers connect
 to ws://HOST:PORT/KEY (or wss://) and peers are grouped by KEY.
 .
 Like nginx, a master process supervises worker processes, reloads its
 configuration on HUP without dropping connections and reopens its logs on
 USR1. The package runs it as a system service: workers as the user sigver,
 logs in /var/log/sigverd (rotated by logrotate), a status listener for
 /metrics and /health on 127.0.0.1:9145, and the configuration in
 /etc/sigver.conf.
EOF

# Conffiles are left out, as dpkg does: their contents are expected to change.
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\n' | LC_ALL=C sort |
   grep -vxF -f <(sed 's#^/##' DEBIAN/conffiles) | xargs -d '\n' md5sum > DEBIAN/md5sums)

deb=$out_dir/sigverd_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
