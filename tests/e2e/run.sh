#!/usr/bin/env bash
# Browser end-to-end test: real netflux@3.0.0 or netflux@4.3.1 peers (or both at once) in
# headless Chromium form WebRTC groups through a signaling server started here.
#
# Usage:
#   tests/e2e/run.sh SIGVERD_BIN [extra sigverd args...]
#       Starts SIGVERD_BIN -c <temp conf> [extra args] on a free 127.0.0.1 port, runs every
#       scenario, stops that server (by its PID) and exits non-zero if any scenario failed.
#   tests/e2e/run.sh --node-sigver PATH/TO/sigver/server.js
#       Same scenarios against a Node reference server, started as
#       `node server.js -h 127.0.0.1 -p PORT` (with TLS: `-k KEY -c CERT -a CA` too), to tell
#       a harness problem from a server one: sigver@18.0.0 (generation 1: netflux 3; its uws
#       dependency needs a shim) or sigver@20.1.0 (generation 2: SIGVER_E2E_NETFLUX=4; runs
#       as npm installs it, .../node_modules/sigver/dist/server.js). Install either outside
#       the repo; see WIRE-NOTES.md. Neither serves the mixed run; lib/dual-reference.cjs
#       does, with both of them behind one port (its header says how).
#
# Environment:
#   SIGVER_E2E_NETFLUX       3 (default): netflux 3.0.0 pages; 4: netflux 4.3.1 pages, the same
#                            scenarios; mixed: pages of both versions on the same keys at once,
#                            each version expected to form its own groups
#   SIGVER_E2E_GENERATIONS   if set, e.g. '1' or '1 2': `[protocol] generations = ...` in the
#                            temporary config (to time netflux 3 joins with and without
#                            generation 2 detection; unset: the server's default)
#   SIGVER_E2E_CONF_EXTRA    lines appended to the [server] section of the temporary config,
#                            e.g. 'worker_processes = 4' ("\n" separates several lines; a line
#                            may also open another section, e.g. '[protocol]\nheartbeat_interval = 2')
#   SIGVER_E2E_SCENARIOS     space-separated scenario names to run (default: all; names are
#                            printed in the PASS/FAIL lines)
#   SIGVER_E2E_TIMEOUT       hard bound in seconds for the whole run after installing (default 600)
#   SIGVER_E2E_SCENARIO_TIMEOUT_MS  bound for one scenario (default 90000)
#   SIGVER_E2E_VERBOSE=1     print the signaling frame log and browser console of passing
#                            scenarios too (failing ones always print theirs)
#   SIGVER_E2E_NO_NETNS=1    do not run inside a private network namespace
#   SIGVER_E2E_TLS=1         connect the browsers with wss:// to a TLS listener (listen_tls),
#                            with a root CA -> intermediate -> server certificate made here by
#                            openssl; Chromium accepts only that chain (its intermediate's key)
#
# Output: one line per scenario, `PASS name (join times ...)` or `FAIL name: reason` (followed
# by `    | ` lines: decoded signaling frames per peer, console, peer states, server log tail),
# the join times summed up per netflux version, then `e2e: N passed, M failed`. Besides its
# own checks, a scenario fails when any peer's signaling socket closed or reconnected unasked
# (netflux would otherwise hide it by rejoining) or got a frame its protocol generation does
# not allow there (lib/frame_check.mjs), and the run fails when the server exited or its log
# reports a crash (e.g. a restarted worker).
#
# Installs what is missing (Debian chromium, nodejs, npm; `npm ci` here). npm runs with
# --ignore-scripts: netflux depends on native uws/wrtc builds the browser test never uses.
#
# Isolation: when possible the test runs in a fresh network namespace holding only loopback
# (`unshare --net`), so the browsers, the page server and the signaling server cannot reach
# anything else; the page also drops every ICE candidate that is not 127.x. Each browser
# gets its own temporary profile from Playwright; each peer its own browser context.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CHROMIUM="${SIGVER_E2E_CHROMIUM:-/usr/bin/chromium}"

usage() {
  echo "usage: $0 SIGVERD_BIN [extra sigverd args...] | $0 --node-sigver SERVER_JS" >&2
  exit 2
}

log() { echo "e2e: $*" >&2; }

install_missing_packages() {
  local missing=()
  [[ -x "$CHROMIUM" ]] || missing+=(chromium)
  command -v node >/dev/null || missing+=(nodejs)
  command -v npm >/dev/null || missing+=(npm)
  command -v ip >/dev/null || missing+=(iproute2)
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get update -qq
    timeout 900 apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

install_node_modules() {
  # npm ci writes node_modules/.package-lock.json: it is current when newer than the lock.
  if [[ ! "$HERE/node_modules/.package-lock.json" -nt "$HERE/package-lock.json" ]]; then
    log "npm ci"
    (cd "$HERE" && timeout 600 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) >&2
  fi
}

# Makes root CA -> intermediate -> server certificate (127.0.0.1) in directory $1 and prints
# the base64 SHA-256 of the intermediate's public key (what Chromium is told to accept).
make_certificates() {
  local dir="$1"
  (
    cd "$dir"
    printf '[int]\nbasicConstraints=critical,CA:true,pathlen:0\nkeyUsage=critical,keyCertSign\n'\
'[srv]\nbasicConstraints=critical,CA:false\nextendedKeyUsage=serverAuth\n'\
'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >ext.cnf
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
      -keyout ca.key -out ca.crt -subj '/CN=sigver e2e root'
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -keyout int.key -out int.csr -subj '/CN=sigver e2e intermediate'
    openssl x509 -req -in int.csr -CA ca.crt -CAkey ca.key -set_serial 2 -days 2 \
      -extfile ext.cnf -extensions int -out int.crt
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -keyout server.key -out server.csr -subj '/CN=127.0.0.1'
    openssl x509 -req -in server.csr -CA int.crt -CAkey int.key -set_serial 3 -days 2 \
      -extfile ext.cnf -extensions srv -out server.crt
  ) >"$dir/openssl.log" 2>&1 || { cat "$dir/openssl.log" >&2; return 1; }
  openssl x509 -in "$dir/int.crt" -pubkey -noout | openssl pkey -pubin -outform der |
    openssl dgst -sha256 -binary | base64
}

# Prints a TCP port that is free on 127.0.0.1 right now.
free_port() {
  node -e 'const s = require("net").createServer();
           s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

# ---- Phase 1 (outer): install, then run phase 2 under a hard time bound, in a netns. ----
if [[ "${SIGVER_E2E_PHASE:-}" != inner ]]; then
  [[ $# -ge 1 ]] || usage
  case "${SIGVER_E2E_NETFLUX:-3}" in
    3 | 4 | mixed) ;;
    *) log "SIGVER_E2E_NETFLUX must be 3, 4 or mixed"; usage ;;
  esac
  if [[ "$1" == --node-sigver ]]; then
    [[ $# -eq 2 && -f "$2" ]] || usage
    set -- --node-sigver "$(realpath "$2")"
  else
    [[ -x "$1" ]] || { log "server binary '$1' not found or not executable"; usage; }
    set -- "$(realpath "$1")" "${@:2}"
  fi
  install_missing_packages
  install_node_modules

  isolate=()
  if [[ "${SIGVER_E2E_NO_NETNS:-}" != 1 ]] && unshare --net true 2>/dev/null; then
    isolate=(unshare --net --)
  else
    log "no private network namespace: running on the host loopback"
  fi
  total="${SIGVER_E2E_TIMEOUT:-600}"
  set +e
  timeout --kill-after=15 "$total" "${isolate[@]}" \
    env SIGVER_E2E_PHASE=inner SIGVER_E2E_IN_NETNS="${#isolate[@]}" bash "$0" "$@"
  rc=$?
  set -e
  if ((rc == 124 || rc == 137)); then
    echo "FAIL e2e-run: the whole run exceeded ${total}s and was stopped"
    echo "e2e: 0 passed, 1 failed"
  fi
  exit "$rc"
fi

# ---- Phase 2 (inner): start the server, run the scenarios, stop the server. ----
if [[ "${SIGVER_E2E_IN_NETNS:-0}" != 0 ]]; then
  ip link set lo up # a new network namespace starts with loopback down
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/sigver-e2e.XXXXXX")"
server_pid=""
stop_server() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  [[ -z "$server_pid" ]] || wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
# shellcheck disable=SC2317 # called from the EXIT trap
cleanup() {
  stop_server
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

port="$(free_port)"
server_log="$work/server.log"
scheme=ws
connect_port="$port"
tls_lines=()
if [[ "${SIGVER_E2E_TLS:-}" == 1 ]]; then
  spki="$(make_certificates "$work")"
  connect_port="$(free_port)"
  scheme=wss
  tls_lines=("listen_tls = 127.0.0.1:$connect_port" "[tls]" "certificate = $work/server.crt"
    "certificate_key = $work/server.key" "ca = $work/int.crt")
  export SIGVER_E2E_CHROMIUM_ARGS="--ignore-certificate-errors-spki-list=$spki"
fi
if [[ "$1" == --node-sigver ]]; then
  node_tls=()
  if [[ "$scheme" == wss ]]; then # sigver's one listener then speaks TLS
    connect_port="$port"
    node_tls=(-k "$work/server.key" -c "$work/server.crt" -a "$work/int.crt")
  fi
  node "$2" -h 127.0.0.1 -p "$port" "${node_tls[@]}" >"$server_log" 2>&1 &
  server_pid=$!
else
  conf="$work/sigverd.conf"
  {
    printf '[server]\nlisten = 127.0.0.1:%s\n' "$port"
    ((${#tls_lines[@]} == 0)) || printf '%s\n' "${tls_lines[0]}"
    [[ -z "${SIGVER_E2E_CONF_EXTRA:-}" ]] || printf '%b\n' "$SIGVER_E2E_CONF_EXTRA"
    ((${#tls_lines[@]} == 0)) || printf '%s\n' "${tls_lines[@]:1}"
    [[ -z "${SIGVER_E2E_GENERATIONS:-}" ]] ||
      printf '[protocol]\ngenerations = %s\n' "$SIGVER_E2E_GENERATIONS"
  } >"$conf"
  "$1" -c "$conf" "${@:2}" >"$server_log" 2>&1 &
  server_pid=$!
fi

print_server_log() {
  echo "    | --- server log (last 40 lines) ---"
  tail -n 40 "$server_log" | sed 's/^/    | /'
}

# The server is ready once it accepts TCP connections; give it 10 s.
ready=0
for _ in $(seq 100); do
  if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$connect_port") 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.1
done
if ((ready == 0)); then
  echo "FAIL server-start: the server did not listen on 127.0.0.1:$connect_port within 10 s"
  print_server_log
  echo "e2e: 0 passed, 1 failed"
  exit 1
fi

# Stop well before phase 1's bound so that this shell still stops the server itself.
total="${SIGVER_E2E_TIMEOUT:-600}"
runner_timeout=$((total > 60 ? total - 20 : total * 2 / 3))
set +e
# shellcheck disable=SC2086 # scenario names are words
SIGVER_E2E_SERVER_PID="$server_pid" SIGVER_E2E_SERVER_LOG="$server_log" timeout --kill-after=10 "$runner_timeout" \
  node "$HERE/runner.mjs" "$scheme://127.0.0.1:$connect_port" ${SIGVER_E2E_SCENARIOS:-}
rc=$?
set -e
if ((rc == 137)); then # the runner ignored SIGTERM and was killed: it printed no summary
  echo "FAIL e2e-run: the scenarios did not finish within ${runner_timeout}s"
  echo "e2e: 0 passed, 1 failed"
fi
if ((rc != 0)); then
  print_server_log
  rc=1 # not 124/137: phase 1 reads those as its own time bound
fi
stop_server
exit "$rc"
