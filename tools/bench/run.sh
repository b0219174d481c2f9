#!/usr/bin/env bash
# `make bench`: measures BUILD_DIR/sigverd (1 and 2 workers) and the reference Node server
# sigver@18.0.0 side by side in one run, on 127.0.0.1 only, and prints a comparison table
# (also written to BUILD_DIR/bench-results.txt):
#   1. relay: server CPU (utime+stime of its whole process tree) per relayed round trip,
#      and round trips per second, with P member/joiner pairs bouncing ~200-byte contents;
#   2. idle: server memory (PSS of its process tree) per connected, joined, idle peer;
#   3. malformed input: does every server process survive a bad frame?
#   4. what the limits cost per connection and per message (build/limits_bench);
#   5. generation 2 beside generation 1 (protocol-v2.md, issue 10), sigverd alone, each
#      relay measure BENCH_GEN_RELAY_ROUNDS times and every other one BENCH_GEN_ROUNDS times,
#      the generations alternating (1 2, then 2 1, ...),
#      medians in the table: relay CPU per round trip with 1 and 2 workers (the relay of 1.
#      spoken in either generation); handshake (upgrade, join answer, leave) per peer for a
#      silent generation-1 peer (netflux 3: it waits out the detection), a generation-1 peer
#      that speaks first, and a generation-2 peer (connect -> connected); and the join
#      latency of a netflux-3-like peer with `generations = 1` against `generations = 1 2`;
#   6. wss and workers (issue 11), BENCH_WSS_ROUNDS times, the order of the servers reversed
#      every other round, medians in the table: ws:// relay CPU per round trip and handshake
#      CPU per connection of the floor (tools/floor_server.cc: the kernel's loopback alone)
#      and sigverd with 1, 2 and 4 workers; wss:// (sigverd's listen_tls, an ECDSA P-256
#      throwaway certificate made here with openssl) relay CPU per round trip, CPU per full
#      TLS handshake and memory (PSS) per idle peer with 1, 2 and 4 workers, and the same
#      with Debian's nginx in front (TLS there, WebSocket proxied to sigverd's plain
#      listener, 1 worker; nginx's processes counted with sigverd's); then the ratios wss/ws,
#      sigverd wss/nginx in front, 4/1 workers and sigverd/floor. Every server there serves
#      generation 1 only (`generations = 1`), so a silent peer's join is not delayed by the
#      detection and the floor, which speaks generation 1, does the same job. Session
#      resumption is measured by tools/tls_resume_cost.py, not here. Each process it starts
#      gets an open-file limit of 20000; without nginx (or openssl) its columns stay empty.
# Each measure gets a freshly started server. The load generator is tools/bench/*.cc and the
# floor tools/floor_server.cc, both built here with g++ into BUILD_DIR. The reference is installed in a temporary directory with npm (its native
# `uws` dependency no longer builds, so a small shim over `ws` stands in for it, as in
# tests/e2e/WIRE-NOTES.md); without node/npm or network the table shows sigverd alone.
# Figures depend on the machine and on whatever else runs on it: nothing here asserts them.
#
# Usage: tools/bench/run.sh [BUILD_DIR]            (default: build)
# Environment (defaults in brackets):
#   BENCH_PAIRS [50]  BENCH_ROUND_TRIPS [200000]  BENCH_SECONDS [20]  BENCH_WARMUP [2]
#   BENCH_DATA_SIZE [200]  BENCH_IDLE_PEERS [10000]  BENCH_PEERS_PER_KEY [2]
#   BENCH_HOLD [16] (seconds idle peers stay, > 2 heartbeat rounds)
#   BENCH_GEN_RELAY_ROUNDS [5]  BENCH_GEN_ROUNDS [3]  BENCH_GEN_ROUND_TRIPS [100000]  BENCH_HS_CONNECTIONS [20000]
#   BENCH_HS_SECONDS [3]  BENCH_HS_CONCURRENCY [64]  BENCH_JOIN_PEERS [60] (at 4 at once)
#   BENCH_NO_REFERENCE=1 skips the Node server;  BENCH_VERBOSE=1 prints every raw figure.
#   BENCH_GEN_ONLY=1 runs only section 5;  BENCH_NO_GEN=1 skips it;  BENCH_CALLGRIND=1 adds
#   tools/bench/callgrind.sh's instructions per round trip of both generations (a minute more).
#   BENCH_WSS_ROUNDS [3]  BENCH_WSS_ROUND_TRIPS [50000]  BENCH_WSS_SECONDS [10] (relay bounds)
#   BENCH_WSS_HS_CONNECTIONS [20000]  BENCH_WSS_HS_SECONDS [3] (handshake bounds, at
#   BENCH_HS_CONCURRENCY at once)  BENCH_WSS_IDLE_PEERS [5000] (at most 9000: nginx holds two
#   descriptors per peer)  BENCH_WSS_HOLD [11] (> 2 heartbeat rounds);  BENCH_WSS_ONLY=1 runs
#   only section 6;  BENCH_NO_WSS=1 skips it;  BENCH_NO_NGINX=1 leaves nginx out of it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD_DIR="$(realpath "${1:-build}")"
SIGVERD="$BUILD_DIR/sigverd"
TOOL="$BUILD_DIR/sigver-bench"
RESULTS="$BUILD_DIR/bench-results.txt"
PAIRS="${BENCH_PAIRS:-50}"
ROUND_TRIPS="${BENCH_ROUND_TRIPS:-200000}"
SECONDS_MAX="${BENCH_SECONDS:-20}"
WARMUP="${BENCH_WARMUP:-2}"
DATA_SIZE="${BENCH_DATA_SIZE:-200}"
IDLE_PEERS="${BENCH_IDLE_PEERS:-10000}"
PEERS_PER_KEY="${BENCH_PEERS_PER_KEY:-2}"
HOLD="${BENCH_HOLD:-16}"
GEN_ROUNDS="${BENCH_GEN_ROUNDS:-3}"
RELAY_ROUNDS="${BENCH_GEN_RELAY_ROUNDS:-5}"
GEN_ROUND_TRIPS="${BENCH_GEN_ROUND_TRIPS:-100000}"
HS_CONNECTIONS="${BENCH_HS_CONNECTIONS:-20000}"
HS_SECONDS="${BENCH_HS_SECONDS:-3}"
HS_CONCURRENCY="${BENCH_HS_CONCURRENCY:-64}"
JOIN_PEERS="${BENCH_JOIN_PEERS:-60}"
WSS_ROUNDS="${BENCH_WSS_ROUNDS:-3}"
WSS_ROUND_TRIPS="${BENCH_WSS_ROUND_TRIPS:-50000}"
WSS_SECONDS="${BENCH_WSS_SECONDS:-10}"
WSS_HS_CONNECTIONS="${BENCH_WSS_HS_CONNECTIONS:-20000}"
WSS_HS_SECONDS="${BENCH_WSS_HS_SECONDS:-3}"
WSS_IDLE_PEERS="${BENCH_WSS_IDLE_PEERS:-5000}"
WSS_HOLD="${BENCH_WSS_HOLD:-11}"
# Which sections run: 1-4 (main), 5 (gen), 6 (wss).
run_main=1 run_gen=1 run_wss=1
[[ "${BENCH_GEN_ONLY:-}" != 1 ]] || run_main=0 run_wss=0
[[ "${BENCH_WSS_ONLY:-}" != 1 ]] || run_main=0 run_gen=0
[[ "${BENCH_NO_GEN:-}" != 1 ]] || run_gen=0
[[ "${BENCH_NO_WSS:-}" != 1 ]] || run_wss=0
CASES=(unmasked bad-opcode huge-length bad-protobuf)

log() { echo "bench: $*" >&2; }

[[ -x "$SIGVERD" ]] || {
  log "no $SIGVERD: run 'make build' first"
  exit 1
}

work="$(mktemp -d "${TMPDIR:-/tmp}/sigver-bench.XXXXXX")"
server_pid=""
proxy_pid="" # nginx in front of server_pid (section 6)

# True while PID exists and is not a zombie (kill -0 cannot tell a zombie apart).
alive() {
  local stat
  { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
  stat="${stat##*) }"
  [[ "${stat:0:1}" != Z && "${stat:0:1}" != X ]]
}

descendants() {
  local child
  for child in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    echo "$child"
    descendants "$child"
  done
}

# stop_tree PID: TERM to PID (a process this script started), KILL to whatever of its tree is
# left after 5 s (only PIDs recorded as its descendants before the TERM).
stop_tree() {
  local root="$1" tree pid
  tree="$(descendants "$root" | tr '\n' ' ')"
  kill -TERM "$root" 2>/dev/null || true
  for _ in $(seq 50); do
    alive "$root" || break
    sleep 0.1
  done
  for pid in $root $tree; do
    if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  wait "$root" 2>/dev/null || true
}

# Stops the servers this script started: the proxy in front first, then the server.
stop_server() {
  [[ -z "$proxy_pid" ]] || stop_tree "$proxy_pid"
  [[ -z "$server_pid" ]] || stop_tree "$server_pid"
  proxy_pid=""
  server_pid=""
}

cleanup() {
  stop_server
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# ---- The load generator ----
sources=("$ROOT"/tools/bench/*.cc)
if [[ ! -x "$TOOL" ]] || [[ -n "$(find "$ROOT/tools/bench" -newer "$TOOL" -name '*.[ch]*')" ]]; then
  log "building $TOOL"
  g++ -O2 -std=c++20 -Wall -Wextra -Wshadow -Werror "${sources[@]}" -o "$TOOL" -lssl -lcrypto
fi
# The floor under any server (section 6): tools/floor_server.cc, built the same way.
FLOOR="$BUILD_DIR/floor-server"
if [[ ! -x "$FLOOR" || "$ROOT/tools/floor_server.cc" -nt "$FLOOR" ]]; then
  log "building $FLOOR"
  g++ -O2 -std=c++20 -Wall -Wextra -Wshadow -Werror "$ROOT/tools/floor_server.cc" -o "$FLOOR" \
    -lcrypto
fi

# ---- The reference server, outside the repository ----
reference=""
install_reference() {
  if [[ $run_main == 0 ]]; then
    echo "not needed (only section $([[ $run_gen == 1 ]] && echo 5 || echo 6) runs)"
    return 1
  fi
  if [[ "${BENCH_NO_REFERENCE:-}" == 1 ]]; then
    echo "skipped (BENCH_NO_REFERENCE=1)"
    return 1
  fi
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "node or npm not installed (tools/install-deps.sh --e2e installs them)"
    return 1
  fi
  local dir="$work/reference"
  mkdir -p "$dir"
  log "installing sigver@18.0.0 and ws@8 with npm in $dir"
  if ! (cd "$dir" && timeout 300 npm install sigver@18.0.0 ws@8 --ignore-scripts --no-audit \
    --no-fund --no-save --loglevel=error) >"$work/npm.log" 2>&1; then
    echo "npm install failed: $(tail -n 1 "$work/npm.log")"
    return 1
  fi
  # uws 9 (sigver's WebSocket layer) only ships binaries for Node <= 8: stand in for it with
  # a `ws` server that also sets the `upgradeReq` property sigver reads the key from.
  rm -rf "$dir/node_modules/uws"
  mkdir -p "$dir/node_modules/uws"
  printf '{"name": "uws", "version": "0.0.0-bench-shim", "main": "index.js", "private": true}\n' \
    >"$dir/node_modules/uws/package.json"
  cat >"$dir/node_modules/uws/index.js" <<'EOF'
'use strict';
const { WebSocketServer } = require('ws');
class Server extends WebSocketServer {
  constructor(options, callback) {
    super(options, callback);
    this.on('connection', (socket, request) => { socket.upgradeReq = request; });
  }
}
module.exports = { Server };
EOF
  echo "$dir/node_modules/sigver/server.js"
}
reference_note=""
if out="$(install_reference)"; then
  reference="$out"
else
  reference_note="$out"
  [[ $run_main == 0 ]] || log "reference server missing: $reference_note; benchmarking sigverd alone"
fi

# ---- Servers ----
# wait_accepting PORT [PID]: waits until 127.0.0.1:PORT accepts a TCP connection (up to 10 s);
# false if it never does or PID (default: the server) exits.
wait_accepting() {
  for _ in $(seq 100); do
    alive "${2:-$server_pid}" || return 1
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

# A free port other than PORT (two picks in a row may give the same one).
free_port_besides() {
  local other
  for _ in $(seq 10); do
    other="$("$TOOL" free-port)"
    [[ "$other" == "$1" ]] || break
  done
  echo "$other"
}

# start_server NAME [GENERATIONS [tls]]: starts the server NAME (wN: sigverd with N workers,
# node, or floor: tools/floor_server.cc) on a new free port; sigverd serves GENERATIONS
# ([protocol] generations, default "1 2" as in conf/sigver.conf), and with "tls" also wss://
# on another port with the certificate of section 6. The load generator is then pointed at
# tool_port (the wss:// one if any) and measures tool_pids.
start_server() {
  port="$("$TOOL" free-port)"
  local log_file="$work/$1.log" tls_port=""
  [[ "${3:-}" != tls ]] || tls_port="$(free_port_besides "$port")"
  case "$1" in
    w*)
      # The load comes from a few loopback addresses and sends as fast as the server relays:
      # the per-address limit is off and the message rate set far above the load, so that
      # its check still runs on every message (its cost is part of the figures).
      {
        printf '[server]\nlisten = 127.0.0.1:%s\nworker_processes = %s\n' "$port" "${1#w}"
        [[ -z "$tls_port" ]] || printf 'listen_tls = 127.0.0.1:%s\n[tls]\ncertificate = %s\ncertificate_key = %s\n' \
          "$tls_port" "$cert" "$cert_key"
        printf '[protocol]\ngenerations = %s\n[limits]\nmax_connections_per_ip = 0\nmax_messages_per_second = 1000000\n[log]\nlog_level = warn\n' \
          "${2:-1 2}"
      } >"$work/$1.conf"
      "$SIGVERD" -c "$work/$1.conf" >>"$log_file" 2>&1 &
      ;;
    node)
      node "$reference" -h 127.0.0.1 -p "$port" >>"$log_file" 2>&1 &
      ;;
    floor)
      "$FLOOR" "$port" >>"$log_file" 2>&1 &
      ;;
  esac
  server_pid=$!
  tool_port="${tls_port:-$port}"
  tool_pids="$server_pid"
  if ! wait_accepting "$port" || ! wait_accepting "$tool_port"; then
    log "$1 did not start; its log:"
    tail -n 20 "$log_file" >&2
    stop_server
    return 1
  fi
  sleep 0.5 # let start-up work (JIT, worker spawn) finish before the baseline
}

declare -A R # R[server.key] = value, from the load generator's `key=value` lines

record() { # record SERVER < key=value lines
  local line
  while IFS= read -r line; do
    [[ "$line" == *=* ]] || continue
    R["$1.${line%%=*}"]="${line#*=}"
    [[ "${BENCH_VERBOSE:-}" != 1 ]] || log "$1 $line"
  done
}

run_tool() { # run_tool SERVER BOUND MODE ARGS...: bounded run, output recorded
  local name="$1" bound="$2"
  shift 2
  timeout --kill-after=5 "$bound" "$TOOL" "$@" --port "$tool_port" --server-pid "$tool_pids" \
    >"$work/out" 2>>"$work/$name.tool.log" || log "$name: sigver-bench $1 exited with $?"
  record "$name" <"$work/out"
}

bench_server() { # bench_server NAME
  local name="$1"
  log "$name: relay ($PAIRS pairs, up to $ROUND_TRIPS round trips or ${SECONDS_MAX}s)"
  start_server "$name" || return 1
  run_tool "$name" $((SECONDS_MAX + 90)) relay --pairs "$PAIRS" --round-trips "$ROUND_TRIPS" \
    --seconds "$SECONDS_MAX" --warmup "$WARMUP" --data-size "$DATA_SIZE" --sources 4
  alive "$server_pid" || R["$name.relay.error"]="server died"
  stop_server

  log "$name: idle ($IDLE_PEERS peers, $PEERS_PER_KEY per key, ${HOLD}s)"
  start_server "$name" || return 1
  run_tool "$name" $((HOLD + 200)) idle --peers "$IDLE_PEERS" --peers-per-key "$PEERS_PER_KEY" \
    --hold "$HOLD" --sources 8
  stop_server

  log "$name: malformed frames (${CASES[*]})"
  local case
  for case in "${CASES[@]}"; do
    if [[ -z "$server_pid" ]] || ! alive "$server_pid"; then
      stop_server
      start_server "$name" || return 1
    fi
    run_tool "$name.$case" 30 malformed --case "$case"
  done
  stop_server
}

servers=(w1 w2)
[[ -z "$reference" ]] || servers+=(node)
[[ $run_main == 1 ]] || servers=()
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
for name in "${servers[@]}"; do
  bench_server "$name" || R["$name.error"]="did not start"
done
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---- Generation 2 beside generation 1 (section 5) ----
# gen_measure LABEL WORKERS GENERATIONS BOUND MODE ARGS...: one measure on a fresh sigverd.
gen_measure() {
  local label="$1" workers="$2" generations="$3" bound="$4"
  shift 4
  if ! start_server "w$workers" "$generations"; then
    R["$label.error"]="did not start"
    return 0
  fi
  run_tool "$label" "$bound" "$@"
  alive "$server_pid" || R["$label.error"]="server died"
  stop_server
}

# The order of the round's measures: as given in odd rounds, reversed (or rotated) in even
# ones, so a drift of the machine's load during the run favours no side.
round_order() { # round_order ROUND ITEM...
  local r="$1"
  shift
  local items=("$@") n=$#
  local i
  for ((i = 0; i < n; i++)); do echo "${items[((i + r - 1) % n)]}"; done
}

gen_started=$SECONDS
gen_load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
if [[ $run_gen == 1 ]]; then
  for workers in 1 2; do
    log "generations, relay with $workers worker(s): $RELAY_ROUNDS rounds of generation 1 and 2" \
      "($PAIRS pairs, $GEN_ROUND_TRIPS round trips or ${SECONDS_MAX}s each)"
    for r in $(seq "$RELAY_ROUNDS"); do
      for g in $(round_order "$r" 1 2); do
        gen_measure "relay.w$workers.g$g.r$r" "$workers" "1 2" $((SECONDS_MAX + 90)) relay \
          --generation "$g" --pairs "$PAIRS" --round-trips "$GEN_ROUND_TRIPS" \
          --seconds "$SECONDS_MAX" --warmup 1 --data-size "$DATA_SIZE" --sources 4
      done
    done
  done
  log "generations, handshake: $GEN_ROUNDS rounds of 3 kinds of peer ($HS_CONCURRENCY at once," \
    "$HS_CONNECTIONS peers or ${HS_SECONDS}s each)"
  for r in $(seq "$GEN_ROUNDS"); do
    for style in $(round_order "$r" gen1-silent gen1-speaks gen2); do
      # A silent peer waits out the detection (0.1 s): 16 times as many in flight keep the
      # server about as busy as with the others, so its CPU per peer compares.
      concurrency="$HS_CONCURRENCY"
      [[ "$style" != gen1-silent ]] || concurrency=$((HS_CONCURRENCY * 16))
      gen_measure "hs.$style.r$r" 1 "1 2" $((${HS_SECONDS%.*} + 60)) handshake --style "$style" \
        --connections "$HS_CONNECTIONS" --seconds "$HS_SECONDS" --concurrency "$concurrency" \
        --warmup 0.5 --sources 8
    done
  done
  log "generations, netflux 3 join latency: $GEN_ROUNDS rounds of generations = 1 and 1 2" \
    "($JOIN_PEERS peers, 4 at once)"
  for r in $(seq "$GEN_ROUNDS"); do
    for setup in $(round_order "$r" only1.gen1-silent both.gen1-silent both.gen1-speaks); do
      generations="1 2"
      [[ "$setup" != only1.* ]] || generations=1
      gen_measure "join.$setup.r$r" 1 "$generations" 60 handshake --style "${setup#*.}" \
        --connections "$JOIN_PEERS" --seconds 10 --concurrency 4 --warmup 0.3 --sources 2
    done
  done
fi
gen_seconds=$((SECONDS - gen_started))
gen_load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---- wss and workers (section 6) ----
# The certificate: ECDSA P-256, self-signed, for this run only (its own CA for --tls-ca).
cert="$work/tls/cert.pem"
cert_key="$work/tls/key.pem"
wss_note=""
make_certificate() {
  mkdir -p "$work/tls"
  command -v openssl >/dev/null || {
    echo "openssl not installed"
    return 1
  }
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$cert_key" -out "$cert" >"$work/tls/openssl.log" 2>&1 || {
    echo "openssl req failed: $(tail -n 1 "$work/tls/openssl.log")"
    return 1
  }
}

NGINX="$(command -v nginx || true)"
[[ -n "$NGINX" || ! -x /usr/sbin/nginx ]] || NGINX=/usr/sbin/nginx
nginx_note=""
if [[ "${BENCH_NO_NGINX:-}" == 1 ]]; then
  nginx_note="skipped (BENCH_NO_NGINX=1)"
elif [[ -z "$NGINX" ]]; then
  nginx_note="nginx not installed (tools/install-deps.sh installs it)"
fi

# start_nginx: nginx (1 worker) on a new free port in front of the sigverd just started,
# TLS there with the same certificate, each WebSocket proxied to sigverd's plain port; the
# load generator then measures both process trees together.
start_nginx() {
  local dir="$work/nginx" nginx_port
  rm -rf "$dir"
  mkdir -p "$dir"
  nginx_port="$(free_port_besides "$port")"
  cat >"$dir/nginx.conf" <<CONF
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 20000;
error_log $dir/error.log warn;
pid $dir/nginx.pid;
events { worker_connections 19000; }
http {
  access_log off;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  server {
    listen 127.0.0.1:$nginx_port ssl;
    ssl_certificate $cert;
    ssl_certificate_key $cert_key;
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {
      proxy_pass http://127.0.0.1:$port;
      proxy_http_version 1.1;
      proxy_set_header Upgrade \$http_upgrade;
      proxy_set_header Connection "upgrade";
      proxy_set_header Host \$host;
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
    }
  }
}
CONF
  "$NGINX" -e "$dir/error.log" -p "$dir" -c "$dir/nginx.conf" >>"$dir/stderr.log" 2>&1 &
  proxy_pid=$!
  if ! wait_accepting "$nginx_port" "$proxy_pid"; then
    log "nginx did not start; its log:"
    tail -n 20 "$dir/error.log" "$dir/stderr.log" >&2
    stop_server
    return 1
  fi
  tool_port="$nginx_port"
  tool_pids="$server_pid,$proxy_pid"
  sleep 0.3
}

# start_kind KIND: floor, wsN (sigverd, N workers, ws://), tlsN (the same on wss://) or nginx
# (nginx's wss:// in front of sigverd's ws://, 1 worker); all serve generation 1 only.
start_kind() {
  case "$1" in
    floor) start_server floor ;;
    ws*) start_server "w${1#ws}" 1 ;;
    tls*) start_server "w${1#tls}" 1 tls ;;
    nginx) start_server w1 1 && start_nginx ;;
  esac
}

# wss_measure LABEL KIND BOUND MODE ARGS...: one measure on a fresh KIND, over TLS for the
# wss:// kinds (the certificate verified against itself).
wss_measure() {
  local label="$1" kind="$2" bound="$3" tls=()
  shift 3
  if ! start_kind "$kind"; then
    R["$label.error"]="did not start"
    return 0
  fi
  [[ "$kind" != tls* && "$kind" != nginx ]] || tls=(--tls 1 --tls-ca "$cert")
  run_tool "$label" "$bound" "$@" "${tls[@]}"
  { alive "$server_pid" && { [[ -z "$proxy_pid" ]] || alive "$proxy_pid"; }; } ||
    R["$label.error"]="server died"
  stop_server
}

# The order of a round's measures: as given in odd rounds, reversed in even ones, so a
# steady drift of the machine's load favours no server.
alternate_order() { # alternate_order ROUND ITEM...
  local r="$1"
  shift
  if ((r % 2)); then printf '%s\n' "$@"; else printf '%s\n' "$@" | tac; fi
}

ws_kinds=(floor ws1 ws2 ws4)
wss_kinds=()
wss_started=$SECONDS
wss_load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
if [[ $run_wss == 1 ]]; then
  # Every process from here on (the servers, nginx, the load generator) gets 20000 descriptors,
  # whatever the session's limits; the section runs last, so lowering a hard limit hurts none.
  if (($(ulimit -Hn) >= 20000)) 2>/dev/null || [[ "$(ulimit -Hn)" == unlimited ]]; then
    ulimit -n 20000
  else
    log "open-file limit $(ulimit -Hn), below 20000: idle runs may not reach $WSS_IDLE_PEERS peers"
  fi
  if out="$(make_certificate)"; then
    wss_kinds=(tls1 tls2 tls4)
    [[ -n "$nginx_note" ]] || wss_kinds+=(nginx)
  else
    wss_note="$out"
    log "no wss:// measures: $wss_note"
  fi
  [[ -z "$nginx_note" ]] || log "no nginx in front: $nginx_note"
  for r in $(seq "$WSS_ROUNDS"); do
    log "wss and workers, round $r of $WSS_ROUNDS: relay ($PAIRS pairs, $WSS_ROUND_TRIPS round" \
      "trips or ${WSS_SECONDS}s), handshake ($WSS_HS_CONNECTIONS or ${WSS_HS_SECONDS}s), idle" \
      "($WSS_IDLE_PEERS peers, ${WSS_HOLD}s) on ${ws_kinds[*]} ${wss_kinds[*]}"
    for kind in $(alternate_order "$r" "${ws_kinds[@]}" "${wss_kinds[@]}"); do
      wss_measure "wss.relay.$kind.r$r" "$kind" $((${WSS_SECONDS%.*} + 90)) relay \
        --pairs "$PAIRS" --round-trips "$WSS_ROUND_TRIPS" --seconds "$WSS_SECONDS" --warmup 1 \
        --data-size "$DATA_SIZE" --sources 4
    done
    for kind in $(alternate_order "$r" "${ws_kinds[@]}" "${wss_kinds[@]}"); do
      wss_measure "wss.hs.$kind.r$r" "$kind" $((${WSS_HS_SECONDS%.*} + 60)) handshake \
        --style gen1-silent --connections "$WSS_HS_CONNECTIONS" --seconds "$WSS_HS_SECONDS" \
        --concurrency "$HS_CONCURRENCY" --warmup 0.5 --sources 8
    done
    for kind in $(alternate_order "$r" "${wss_kinds[@]}"); do
      wss_measure "wss.idle.$kind.r$r" "$kind" $((${WSS_HOLD%.*} + 200)) idle \
        --peers "$WSS_IDLE_PEERS" --peers-per-key 2 --hold "$WSS_HOLD" --settle 3 --sources 8
    done
  done
fi
wss_seconds=$((SECONDS - wss_started))
wss_load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---- The table ----
get() { echo "${R[$1]:-}"; }

# Lines of |-separated cells (the first the header) as an aligned table.
print_table() {
  awk -F'|' '
    { for (i = 1; i <= NF; i++) { cell[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } }
    END {
      for (r = 1; r <= NR; r++) {
        line = ""
        for (i = 1; i <= NF; i++)
          line = line (i > 1 ? " | " : "") (i < NF ? sprintf("%-" w[i] "s", cell[r, i]) : cell[r, i])
        print line
        if (r > 1) continue
        line = ""
        for (i = 1; i <= NF; i++) {
          dashes = sprintf("%" w[i] "s", ""); gsub(/ /, "-", dashes)
          line = line (i > 1 ? "-|-" : "") dashes
        }
        print line
      }
    }'
}

# row METRIC KIND KEY: KIND "less" (a cost: ratio node/w1) or "more" (a rate: w1/node) or
# "" (no ratio); the values are R[SERVER.KEY].
rows=()
row() {
  local metric="$1" kind="$2" key="$3" w1 w2 node ratio=""
  w1="$(get "w1.$key")"
  w2="$(get "w2.$key")"
  node="$(get "node.$key")"
  if [[ -n "$kind" && -n "$w1" && -n "$node" ]]; then
    ratio="$(awk -v a="$w1" -v b="$node" -v k="$kind" 'BEGIN {
      if (k == "less" && a > 0) printf "%.1fx less", b / a;
      else if (k == "more" && b > 0) printf "%.1fx more", a / b }')"
  fi
  [[ -n "$reference" ]] || node="(missing)"
  rows+=("$metric|${w1:--}|${w2:--}|${node:--}|${ratio:--}")
}

# Derived cells: "n/N" counts and malformed verdicts.
for name in "${servers[@]}"; do
  if [[ -n "$(get "$name.idle.peers")" ]]; then
    R["$name.idle.connected"]="$(get "$name.idle.connected_at_end")/$(get "$name.idle.peers")"
  fi
  if [[ -n "$(get "$name.relay.round_trips")" ]]; then
    R["$name.relay.count"]="$(get "$name.relay.round_trips") in $(get "$name.relay.seconds")s"
  fi
  if [[ -n "$(get "$name.relay.unexpected_messages")" ]]; then
    R["$name.relay.problems"]="$(get "$name.relay.unexpected_messages") /"
    R["$name.relay.problems"]+=" $(get "$name.relay.closed_connections")"
  fi
  for case in "${CASES[@]}"; do
    verdict="$(get "$name.$case.malformed.verdict")"
    [[ -z "$verdict" ]] || R["$name.$case"]="$verdict; got $(get "$name.$case.malformed.reaction")"
  done
done

row "relay: server CPU per round trip (us)" less relay.server_cpu_us_per_rt
row "relay: ... of which in user space (us)" less relay.server_user_us_per_rt
row "relay: ... of which in the kernel (us)" less relay.server_system_us_per_rt
row "relay: round trips per second" more relay.rt_per_s
row "relay: round trips measured" "" relay.count
row "relay: server CPU (% of one core)" "" relay.server_cpu_pct
row "relay: load generator CPU (% of one core)" "" relay.client_cpu_pct
row "relay: unexpected messages / closed sockets" "" relay.problems
row "idle: server memory per peer (KiB, PSS)" less idle.kib_per_peer_pss
row "idle: server memory per peer (KiB, RSS)" less idle.kib_per_peer_rss
row "idle: server memory before peers (KiB, PSS)" "" idle.before_pss_kib
row "idle: time for all peers to join (s)" less idle.join_seconds
row "idle: peers still connected at the end" "" idle.connected
for case in "${CASES[@]}"; do row "malformed: $case" "" "$case"; done

main_table() {
  echo "sigverd benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load average" \
    "$load_before before / $load_after after"
  build_type="$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null ||
    true)"
  if [[ -n "$reference" ]]; then
    reference_text="sigver@18.0.0 on node $(node --version) with a ws@8 shim for uws"
  else
    reference_text="MISSING ($reference_note)"
  fi
  echo "sigverd $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')" \
    "(${build_type:-RelWithDebInfo}, log_level warn); reference: $reference_text"
  echo "relay: $PAIRS pairs, ${DATA_SIZE}-byte data, one content in flight per pair, after" \
    "${WARMUP}s of warm-up; idle: $IDLE_PEERS peers, $PEERS_PER_KEY per key, measured" \
    "${HOLD}s after the last join"
  echo "ratio: how sigverd with 1 worker compares with the reference"
  echo
  printf '%s\n' "metric|sigverd (1 worker)|sigverd (2 workers)|sigver@18.0.0 (node)|ratio" \
    "${rows[@]}" | print_table
}
: >"$RESULTS"
[[ $run_main == 0 ]] || main_table | tee "$RESULTS"
# What the limits cost on the paths they guard (in process, Google Benchmark).
if [[ $run_main == 1 && -x "$BUILD_DIR/limits_bench" ]]; then
  { echo; echo "limits, per connection (accept + close) and per message:"
    "$BUILD_DIR/limits_bench" --benchmark_min_time=0.2 2>/dev/null | grep '^BM_'; } | tee -a "$RESULTS"
fi
# ---- Section 5's tables ----
# values LABEL KEY: R[LABEL.rN.KEY] of every round that has it, in round order.
max_rounds=$((GEN_ROUNDS > RELAY_ROUNDS ? GEN_ROUNDS : RELAY_ROUNDS))
max_rounds=$((WSS_ROUNDS > max_rounds ? WSS_ROUNDS : max_rounds))
values() {
  local r v out=()
  for r in $(seq "$max_rounds"); do
    v="$(get "$1.r$r.$2")"
    [[ -z "$v" ]] || out+=("$v")
  done
  echo "${out[*]}"
}
median() { # median VALUE...: the middle one (the mean of the two middle ones); none for none
  printf '%s\n' "$@" | { grep . || true; } | sort -g | awk '{ a[NR] = $1 }
    END { if (NR == 0) exit; if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
ratio() { # ratio A B: B/A to 2 decimals, empty when either is missing
  awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b != "" && a > 0) printf "%.2f", b / a }'
}
runs_of() { echo "${1// /, }"; }
# gen_row METRIC LABEL1 LABEL2 KEY: medians of the two labels' rounds, their ratio, the runs.
gen_row() {
  local a b ma mb
  a="$(values "$2" "$4")"
  b="$(values "$3" "$4")"
  # shellcheck disable=SC2086
  ma="$(median $a)"
  # shellcheck disable=SC2086
  mb="$(median $b)"
  echo "$1|${ma:--}|${mb:--}|$(ratio "$ma" "$mb")|$(runs_of "$a") ; $(runs_of "$b")"
}
# three_row ratios|difference METRIC KEY LABEL1 LABEL2 LABEL3: the three medians, then
# either LABEL3/LABEL1 and LABEL3/LABEL2, or LABEL2 - LABEL1; then the runs.
three_row() {
  local mode="$1" metric="$2" key="$3" a b c ma mb mc extra
  a="$(values "$4" "$key")"
  b="$(values "$5" "$key")"
  c="$(values "$6" "$key")"
  # shellcheck disable=SC2086
  ma="$(median $a)" mb="$(median $b)" mc="$(median $c)"
  if [[ "$mode" == ratios ]]; then
    extra="$(ratio "$ma" "$mc")|$(ratio "$mb" "$mc")"
  else
    extra="$(awk -v a="$ma" -v b="$mb" 'BEGIN { if (a != "" && b != "") printf "%+.2f", b - a }')"
  fi
  echo "$metric|${ma:--}|${mb:--}|${mc:--}|$extra|$(runs_of "$a") ; $(runs_of "$b") ; $(runs_of "$c")"
}
problems() { # problems LABEL...: unexpected messages / closed sockets / failures, all rounds
  local label r u=0 c=0 e=0 v
  for label in "$@"; do
    for r in $(seq "$max_rounds"); do
      for v in "$(get "$label.r$r.relay.unexpected_messages")" \
        "$(get "$label.r$r.handshake.unexpected_messages")"; do u=$((u + ${v:-0})); done
      for v in "$(get "$label.r$r.relay.closed_connections")" \
        "$(get "$label.r$r.handshake.failed")"; do c=$((c + ${v:-0})); done
      [[ -z "$(get "$label.r$r.error")$(get "$label.r$r.relay.error")" ]] || e=$((e + 1))
    done
  done
  echo "$u / $c / $e"
}

gen_tables() {
  echo
  echo "generation 2 beside generation 1 (protocol-v2.md), sigverd $(git -C "$ROOT" rev-parse \
    --short HEAD 2>/dev/null || echo '?'), $(date -u '+%Y-%m-%d %H:%M UTC'), load average" \
    "$gen_load_before before / $gen_load_after after, ${gen_seconds}s"
  echo "medians of $RELAY_ROUNDS (relay) or $GEN_ROUNDS runs per cell, generations alternating" \
    "run by run, each run on a fresh server serving both (generations = 1 2); runs in round order"
  echo
  echo "relay: $PAIRS pairs, ${DATA_SIZE}-byte data, one content in flight per pair," \
    "$GEN_ROUND_TRIPS round trips (or ${SECONDS_MAX}s) after 1s of warm-up"
  {
    echo "metric|generation 1|generation 2|gen2/gen1|runs (gen 1 ; gen 2)"
    local w name
    for w in 1 2; do
      name="$w worker"
      [[ $w == 1 ]] || name+="s"
      gen_row "relay, $name: server CPU per round trip (us)" "relay.w$w.g1" "relay.w$w.g2" \
        relay.server_cpu_us_per_rt
      gen_row "relay, $name: ... of which in user space (us)" "relay.w$w.g1" "relay.w$w.g2" \
        relay.server_user_us_per_rt
      gen_row "relay, $name: round trips per second" "relay.w$w.g1" "relay.w$w.g2" relay.rt_per_s
      gen_row "relay, $name: load generator CPU (% of one core)" "relay.w$w.g1" "relay.w$w.g2" \
        relay.client_cpu_pct
      echo "relay, $name: unexpected / closed / failed runs|$(problems "relay.w$w.g1")|$(problems \
        "relay.w$w.g2")||"
    done
  } | print_table
  local w verdicts="" m1 m2 pct r a b paired
  for w in 1 2; do
    # shellcheck disable=SC2046
    m1="$(median $(values "relay.w$w.g1" relay.server_cpu_us_per_rt))"
    # shellcheck disable=SC2046
    m2="$(median $(values "relay.w$w.g2" relay.server_cpu_us_per_rt))"
    [[ -n "$m1" && -n "$m2" ]] || continue
    # The two runs of a round ran one after the other: their ratio is what a slow drift of
    # the machine's load moves least.
    paired=()
    for r in $(seq "$RELAY_ROUNDS"); do
      a="$(get "relay.w$w.g1.r$r.relay.server_cpu_us_per_rt")"
      b="$(get "relay.w$w.g2.r$r.relay.server_cpu_us_per_rt")"
      [[ -z "$a" || -z "$b" ]] || paired+=("$(ratio "$a" "$b")")
    done
    pct="$(awk -v a="$m1" -v b="$m2" 'BEGIN { printf "%+.1f", 100 * (b - a) / a }')"
    verdicts+="; $w worker(s): $(ratio "$m1" "$m2") ($pct %) "
    verdicts+="$(awk -v p="$pct" 'BEGIN { print (p <= 10 ? "PASS" : "FAIL") }')"
    verdicts+=" (round by round: $(runs_of "${paired[*]}"))"
  done
  echo "target (issue 10), CPU per round trip within 10 % of generation 1's, gen2/gen1 of the" \
    "medians${verdicts:-: no figures}"
  echo "  (a figure of this run, not an assertion: the script's exit status does not depend on it)"
  echo
  echo "handshake, 1 worker: connect, upgrade, join answer (isFirst=true / connected=true), leave" \
    "(TCP close); a key per peer; $HS_CONCURRENCY peers at once ($((HS_CONCURRENCY * 16)) for" \
    "the silent one), $HS_CONNECTIONS peers or ${HS_SECONDS}s after 0.5s of warm-up"
  {
    echo "metric|gen 1 silent (netflux 3)|gen 1 speaking first|gen 2 (netflux 4)|gen2/gen1 silent|gen2/gen1 speaking|runs (silent ; speaking ; gen 2)"
    local hs=(hs.gen1-silent hs.gen1-speaks hs.gen2)
    three_row ratios "server CPU per peer (us)" handshake.server_cpu_us "${hs[@]}"
    three_row ratios "... of which in user space (us)" handshake.server_user_us "${hs[@]}"
    three_row ratios "peers joined per second" handshake.per_s "${hs[@]}"
    three_row ratios "connect to join answer, median (ms)" handshake.latency_ms_p50 "${hs[@]}"
    three_row ratios "connect to join answer, p99 (ms)" handshake.latency_ms_p99 "${hs[@]}"
    echo "unexpected / failed / failed runs|$(problems hs.gen1-silent)|$(problems \
      hs.gen1-speaks)|$(problems hs.gen2)|||"
    local late=0 v
    for v in $(values hs.gen2 handshake.late_gen2); do late=$((late + v)); done
    echo "gen 2 peers sent isFirst before connected (their connect came after T), all runs|-|-|$late|||"
  } | print_table
  echo
  echo "netflux 3 join latency, 1 worker: a generation-1 peer from connect to isFirst=true," \
    "$JOIN_PEERS peers per run, 4 at once; generations = 1 skips the detection"
  {
    echo "metric|generations = 1, silent|generations = 1 2, silent|generations = 1 2, speaking first|cost of detection (silent)|runs (1 ; 1 2 ; 1 2 speaking)"
    local join=(join.only1.gen1-silent join.both.gen1-silent join.both.gen1-speaks)
    three_row difference "join latency, median (ms)" handshake.latency_ms_p50 "${join[@]}"
    three_row difference "join latency, p90 (ms)" handshake.latency_ms_p90 "${join[@]}"
    three_row difference "join latency, slowest (ms)" handshake.latency_ms_max "${join[@]}"
  } | print_table
}
if [[ $run_gen == 1 ]]; then gen_tables | tee -a "$RESULTS"; fi
# ---- Section 6's tables ----
# medians_row METRIC KEY LABEL...: each LABEL's median of KEY over its rounds, then the runs.
medians_row() {
  local metric="$1" key="$2" label v m cells runs=()
  shift 2
  cells="$metric"
  for label in "$@"; do
    v="$(values "$label" "$key")"
    # shellcheck disable=SC2086
    m="$(median $v)"
    cells+="|${m:--}"
    runs+=("$(runs_of "$v")")
  done
  local joined
  joined="$(printf '%s ; ' "${runs[@]}")"
  echo "$cells|${joined% ; }"
}
# ratio_row METRIC KEY LABEL_A LABEL_B: median of A / median of B, then both medians.
ratio_row() {
  local ma mb
  # shellcheck disable=SC2046
  ma="$(median $(values "$3" "$2"))"
  # shellcheck disable=SC2046
  mb="$(median $(values "$4" "$2"))"
  local value
  value="$(ratio "$mb" "$ma")"
  echo "$1|${value:--}|${ma:--}|${mb:--}"
}
# kind_rows PREFIX KIND...: the rows of one table, a column per KIND.
kind_rows() {
  local prefix="$1" kind relay=() hs=() idle=() problems_cells=""
  shift
  for kind in "$@"; do
    relay+=("wss.relay.$kind")
    hs+=("wss.hs.$kind")
    idle+=("wss.idle.$kind")
    if [[ " ${ws_kinds[*]} ${wss_kinds[*]} " == *" $kind "* ]]; then
      problems_cells+="|$(problems "wss.relay.$kind" "wss.hs.$kind")"
    else
      problems_cells+="|-" # not measured
    fi
  done
  medians_row "relay: server CPU per round trip (us)" relay.server_cpu_us_per_rt "${relay[@]}"
  medians_row "relay: ... of which in user space (us)" relay.server_user_us_per_rt "${relay[@]}"
  medians_row "relay: round trips per second" relay.rt_per_s "${relay[@]}"
  medians_row "handshake: server CPU per $prefix connection (us)" handshake.server_cpu_us "${hs[@]}"
  medians_row "handshake: ... of which in user space (us)" handshake.server_user_us "${hs[@]}"
  medians_row "handshake: connections per second" handshake.per_s "${hs[@]}"
  if [[ "$prefix" == wss ]]; then
    medians_row "idle: server memory per peer (KiB, PSS)" idle.kib_per_peer_pss "${idle[@]}"
    medians_row "idle: server memory before peers (KiB, PSS)" idle.before_pss_kib "${idle[@]}"
    medians_row "idle: peers still connected at the end" idle.connected_at_end "${idle[@]}"
  fi
  echo "unexpected / closed or failed / failed runs$problems_cells|"
}

wss_tables() {
  local nginx_text sigverd_tls nginx_tls
  sigverd_tls="$(get wss.relay.tls1.r1.relay.tls)"
  nginx_tls="$(get wss.relay.nginx.r1.relay.tls)"
  if [[ -n "$nginx_note" ]]; then
    nginx_text="MISSING ($nginx_note)"
  else
    nginx_text="$("$NGINX" -v 2>&1 | sed 's/^nginx version: //'), 1 worker process"
  fi
  echo
  echo "wss and workers (issue 11), sigverd $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null ||
    echo '?'), $(date -u '+%Y-%m-%d %H:%M UTC'), load average $wss_load_before before /" \
    "$wss_load_after after, ${wss_seconds}s"
  echo "medians of $WSS_ROUNDS runs per cell, each on a fresh server serving generation 1 only;" \
    "the servers in the order of the columns in odd rounds, reversed in even ones"
  echo "relay: $PAIRS pairs, ${DATA_SIZE}-byte data, one content in flight per pair," \
    "$WSS_ROUND_TRIPS round trips (or ${WSS_SECONDS}s) after 1s of warm-up; handshake: connect," \
    "(TLS,) upgrade, isFirst=true, TCP close, a key per peer, $HS_CONCURRENCY at once," \
    "$WSS_HS_CONNECTIONS peers or ${WSS_HS_SECONDS}s; idle: $WSS_IDLE_PEERS peers, 2 per key," \
    "PSS ${WSS_HOLD}s after the last join; open-file limit $(ulimit -n) per process"
  echo "floor: tools/floor_server.cc (one epoll process: 101, a canned join answer, contents" \
    "passed to the partner), what loopback TCP alone costs"
  echo
  {
    echo "ws:// (plain)|floor|sigverd (1 worker)|sigverd (2 workers)|sigverd (4 workers)|runs (floor ; 1 ; 2 ; 4)"
    kind_rows ws "${ws_kinds[@]}"
  } | print_table
  echo
  if [[ ${#wss_kinds[@]} == 0 ]]; then
    echo "wss://: not measured (${wss_note:-BENCH_NO_WSS=1})"
    return 0
  fi
  echo "wss://: ECDSA P-256 self-signed certificate made for this run, a full handshake per" \
    "connection (no resumption: tools/tls_resume_cost.py measures it); negotiated with sigverd:" \
    "${sigverd_tls:-?}${nginx_tls:+; with nginx: $nginx_tls}"
  echo "nginx in front: $nginx_text, TLS there, WebSocket proxied to sigverd's ws:// (1 worker);" \
    "its CPU and memory counted with sigverd's"
  echo
  {
    echo "wss://|sigverd (1 worker)|sigverd (2 workers)|sigverd (4 workers)|nginx -> sigverd (1 worker)|runs (1 ; 2 ; 4 ; nginx)"
    kind_rows wss tls1 tls2 tls4 nginx
  } | print_table
  echo
  {
    echo "ratio|value|numerator|denominator"
    local rt=relay.server_cpu_us_per_rt hs_cpu=handshake.server_cpu_us
    ratio_row "wss/ws, relay CPU per round trip, 1 worker" $rt wss.relay.tls1 wss.relay.ws1
    ratio_row "wss/ws, handshake CPU per connection, 1 worker" $hs_cpu wss.hs.tls1 wss.hs.ws1
    ratio_row "sigverd wss / nginx in front, relay CPU per round trip" $rt wss.relay.tls1 \
      wss.relay.nginx
    ratio_row "sigverd wss / nginx in front, CPU per TLS handshake" $hs_cpu wss.hs.tls1 wss.hs.nginx
    ratio_row "sigverd wss / nginx in front, memory per idle peer (PSS)" idle.kib_per_peer_pss \
      wss.idle.tls1 wss.idle.nginx
    ratio_row "4/1 workers, ws relay CPU per round trip" $rt wss.relay.ws4 wss.relay.ws1
    ratio_row "4/1 workers, ws handshake CPU per connection" $hs_cpu wss.hs.ws4 wss.hs.ws1
    ratio_row "4/1 workers, wss relay CPU per round trip" $rt wss.relay.tls4 wss.relay.tls1
    ratio_row "4/1 workers, wss CPU per TLS handshake" $hs_cpu wss.hs.tls4 wss.hs.tls1
    ratio_row "ws sigverd (1 worker) / floor, relay CPU per round trip" $rt wss.relay.ws1 \
      wss.relay.floor
    ratio_row "ws sigverd (1 worker) / floor, handshake CPU per connection" $hs_cpu wss.hs.ws1 \
      wss.hs.floor
  } | print_table
  echo "  (figures of this run, not assertions: the script's exit status does not depend on them)"
}
if [[ $run_wss == 1 ]]; then wss_tables | tee -a "$RESULTS"; fi
if [[ "${BENCH_CALLGRIND:-}" == 1 ]]; then
  { echo; "$ROOT/tools/bench/callgrind.sh" "$BUILD_DIR"; } | tee -a "$RESULTS"
fi
log "results written to $RESULTS"
