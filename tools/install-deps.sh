#!/usr/bin/env bash
# Installs the Debian 12 packages sigverd needs to build and test. Idempotent: installs only
# what is missing, so `make` can call it on every run at almost no cost.
set -euo pipefail

packages=(g++ cmake make pkg-config libprotobuf-dev protobuf-compiler libssl-dev libinih-dev
          node-llhttp libgtest-dev libbenchmark-dev python3 python3-websockets python3-prometheus-client
          openssl
          clang-format)
# The multi-node tests (tests/multinode): sigverd nodes behind each proxy.
packages+=(haproxy nginx)
# The package test (ctest deb_package): dpkg-shlibdeps and a throwaway Debian root.
packages+=(dpkg-dev debootstrap)
case "${1:-}" in
  --e2e) packages+=(chromium nodejs npm) ;;
  # clang with libFuzzer and the sanitizer runtimes, llvm-symbolizer for readable reports.
  --fuzz) packages+=(clang libclang-rt-14-dev llvm) ;;
  # make deb checks the package with lintian.
  --deb) packages+=(lintian) ;;
esac

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The tests start haproxy and nginx themselves; the services a fresh install starts and
# enables (nginx on port 80) are stopped and disabled again.
for p in haproxy nginx; do
  if [[ " ${missing[*]} " == *" $p "* ]] && [ -d /run/systemd/system ]; then
    $sudo systemctl disable --now "$p" > /dev/null 2>&1 || true
  fi
done
