#!/usr/bin/env bash
# `make soak`: a long churn against BUILD_DIR/sigverd with 4 workers, on 127.0.0.1 only, to
# find what a short test cannot: slow leaks (memory, descriptors), crashes under reloads and
# worker-count changes, and messages lost or reordered while groups move between workers.
#   - tools/soak/*.cc (built here with g++, reusing tools/bench's wire codec, client loop and
#     /proc readers) keeps a few hundred netflux-like sessions going over many keys (so most
#     connections are handed off between workers): join, relay both ways, end with isEnd,
#     stable, then leave with a close frame, silently (closed by heartbeat, 4002) or with a
#     FIN or RST in the middle of a frame; see tools/soak/churn.h. Every message is checked.
#   - every SOAK_HUP_SECONDS the configuration is rewritten and the master gets SIGHUP:
#     heartbeat_interval alternates 0.6 / 0.5 s, and every other time worker_processes goes
#     4 -> 3 or 3 -> 4, so groups move between workers while they relay;
#   - every SOAK_SAMPLE_SECONDS the server's memory (PSS and RSS summed over master and
#     workers) and open descriptors are sampled; after the first third of the samples (the
#     warm-up) they must stay flat (see tools/soak/report.h for the exact tolerances).
# Then every peer leaves, the first configuration is restored (so the idle server can be
# compared with the one before the load), the master gets QUIT, and its log is checked for
# crashes and errors.
# The table is printed and written to bench/RESULTS.md under "## Soak" (other sections of the
# file are kept). Exit code 0 only when every check passed.
#
# Usage: tools/soak/run.sh [BUILD_DIR]            (default: build)
# Environment (defaults in brackets):
#   SOAK_SECONDS [600]  SOAK_HUP_SECONDS [60]  SOAK_SAMPLE_SECONDS [10]
#   SOAK_SESSIONS [400] (sessions at once, 1 founder + 1-4 joiners each)
#   SOAK_STEADY_PAIRS [32] (pairs relaying for the whole run)  SOAK_SEED [random]
#   SOAK_RESULTS [bench/RESULTS.md] ("-" writes no file)
#   SOAK_KEEP=1 keeps the temporary directory (configuration, server log, report).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD_DIR="$(realpath "${1:-build}")"
SIGVERD="$BUILD_DIR/sigverd"
TOOL="$BUILD_DIR/sigver-soak"
DURATION="${SOAK_SECONDS:-600}"
HUP_EVERY="${SOAK_HUP_SECONDS:-60}"
SAMPLE_EVERY="${SOAK_SAMPLE_SECONDS:-10}"
SESSIONS="${SOAK_SESSIONS:-400}"
STEADY="${SOAK_STEADY_PAIRS:-32}"
RESULTS="${SOAK_RESULTS:-$ROOT/bench/RESULTS.md}"

log() { echo "soak: $*" >&2; }

[[ -x "$SIGVERD" ]] || {
  log "no $SIGVERD: run 'make build' first"
  exit 1
}

# What is being measured, read now: the tree may change while the soak runs.
commit="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
if [[ -n "$(git -C "$ROOT" status --porcelain -- src CMakeLists.txt 2>/dev/null)" ]]; then
  commit="$commit + uncommitted changes in src/"
fi
built="$(date -u -r "$SIGVERD" '+%Y-%m-%d %H:%M UTC')"

work="$(mktemp -d "${TMPDIR:-/tmp}/sigver-soak.XXXXXX")"
server_pid=""

# True while PID exists and is not a zombie (kill -0 cannot tell a zombie apart).
alive() {
  local stat
  { read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
  stat="${stat##*) }"
  [[ "${stat:0:1}" != Z && "${stat:0:1}" != X ]]
}

# Only on an early exit: TERM, then KILL, to the master this script started and to the
# workers it recorded as that master's children.
kill_server() {
  [[ -n "$server_pid" ]] || return 0
  local workers
  workers="$(ps -o pid= --ppid "$server_pid" 2>/dev/null | tr '\n' ' ')"
  kill -TERM "$server_pid" 2>/dev/null || true
  for _ in $(seq 50); do
    alive "$server_pid" || break
    sleep 0.1
  done
  local pid
  for pid in $server_pid $workers; do
    if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

cleanup() {
  kill_server
  if [[ "${SOAK_KEEP:-}" == 1 ]]; then
    log "kept $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# ---- The load generator ----
sources=("$ROOT"/tools/soak/*.cc "$ROOT"/tools/bench/{wire,client_loop,proc_tree}.cc)
if [[ ! -x "$TOOL" ]] ||
  [[ -n "$(find "$ROOT/tools/soak" "$ROOT/tools/bench" -newer "$TOOL" -name '*.[ch]*')" ]]; then
  log "building $TOOL"
  g++ -O2 -std=c++20 -Wall -Wextra -Wshadow -Werror -I"$ROOT/tools/bench" "${sources[@]}" \
    -o "$TOOL" -lcrypto
fi

# ---- Configurations: the first one, and the ones each reload installs in turn ----
port="$("$TOOL" free-port)"
conf="$work/sigverd.conf"
# write_conf FILE HEARTBEAT WORKERS. The load comes from a few loopback addresses and peers
# send as fast as they relay: the per-address and per-peer rate limits are off.
write_conf() {
  cat >"$1" <<EOF
[server]
listen = 127.0.0.1:$port
worker_processes = $3
pid = $work/sigverd.pid
[protocol]
heartbeat_interval = $2
heartbeat_misses = 3
[limits]
max_connections_per_ip = 0
max_messages_per_second = 0
[log]
error_log = stderr
log_level = info
EOF
}
write_conf "$conf" 0.5 4
write_conf "$work/hup1.conf" 0.6 3
write_conf "$work/hup2.conf" 0.5 3
write_conf "$work/hup3.conf" 0.6 4
write_conf "$work/hup4.conf" 0.5 4
if ! "$SIGVERD" -t -c "$conf" >"$work/check.log" 2>&1; then
  log "$SIGVERD refuses the configuration (an older build without [limits]? rebuild it):"
  cat "$work/check.log" >&2
  exit 1
fi

# ---- The server ----
server_log="$work/server.log"
# The workers' open-file limit bounds max_connections = auto: take the hard limit.
ulimit -n "$(ulimit -Hn)"
"$SIGVERD" -c "$conf" >>"$server_log" 2>&1 &
server_pid=$!
started=""
for _ in $(seq 100); do
  alive "$server_pid" || break
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    started=1
    break
  fi
  sleep 0.1
done
if [[ -z "$started" ]]; then
  log "sigverd did not start; its log:"
  tail -n 20 "$server_log" >&2
  exit 1
fi
sleep 0.5 # the workers finish starting before the first sample

# ---- The churn ----
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
log "churn for ${DURATION}s against pid $server_pid on port $port (work dir $work)"
tool_status=0
timeout --kill-after=10 "$((${DURATION%.*} + 120))" "$TOOL" run --port "$port" \
  --server-pid "$server_pid" --config "$conf" \
  --hup-configs "$work/hup1.conf,$work/hup2.conf,$work/hup3.conf,$work/hup4.conf" \
  --seconds "$DURATION" --hup-seconds "$HUP_EVERY" --sample-seconds "$SAMPLE_EVERY" \
  --sessions "$SESSIONS" --steady-pairs "$STEADY" ${SOAK_SEED:+--seed "$SOAK_SEED"} \
  --report "$work/report.md" >"$work/tool.out" || tool_status=$?
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"
[[ -s "$work/report.md" ]] || echo "The load generator wrote no report (exit $tool_status)." \
  >"$work/report.md"

# ---- Graceful stop, then the server's own account ----
server_status="not running at the end"
if alive "$server_pid"; then
  kill -QUIT "$server_pid"
  for _ in $(seq 150); do
    alive "$server_pid" || break
    sleep 0.1
  done
  if alive "$server_pid"; then
    server_status="still running 15 s after QUIT"
    kill_server
  else
    code=0
    wait "$server_pid" || code=$?
    server_status="exited with code $code after QUIT"
    [[ "$code" == 0 ]] || server_status="$server_status (expected 0)"
  fi
fi
server_pid=""

count() { grep -c -E "$1" "$server_log" || true; }
sum_field() { # sum_field REGEX: sums the first capture group (a number) over matching lines
  sed -n -E "s/.*$1.*/\\1/p" "$server_log" | awk '{ s += $1 } END { print s + 0 }'
}
crashes="$(count 'unexpectedly|fatal')"
errors="$(count '\[(error|crit|alert|emerg)\]')"
warnings="$(count '\[warn\]')"
reloads_done="$(count 'configuration reloaded, signalling the workers')"
resizes="$(count '#master: worker count')"
moved="$(sum_field 'worker count [0-9]+ -> [0-9]+, ([0-9]+) groups moved')"
handed_sent="$(sum_field 'connections handed off: ([0-9]+) sent')"
handed_received="$(sum_field 'connections handed off: [0-9]+ sent, ([0-9]+) received')"
reloads_asked="$(sed -n 's/^soak.reloads=//p' "$work/tool.out")"
connections="$(sed -n 's/^soak.connections=//p' "$work/tool.out")"

log_ok=1
[[ "$crashes" == 0 && "$errors" == 0 && "$warnings" == 0 ]] || log_ok=""
[[ "$server_status" == "exited with code 0 after QUIT" ]] || log_ok=""
[[ "$reloads_done" == "${reloads_asked:-0}" ]] || log_ok=""
verdict=pass
[[ "$tool_status" == 0 && -n "$log_ok" ]] || verdict=FAIL

# ---- The section ----
build_type="$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null)"
cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
ram="$(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
section="$work/section.md"
{
  echo "## Soak"
  echo
  echo "\`make soak\` (tools/soak/run.sh), $(date -u '+%Y-%m-%d %H:%M UTC'): ${DURATION} s of" \
    "churn against \`$(basename "$BUILD_DIR")/sigverd\` (${build_type:-default} build of $built," \
    "tree at $commit when the soak started)," \
    "4 workers to start with, heartbeat 0.5 s x 3 misses, a reload every ${HUP_EVERY} s (worker" \
    "count 4 <-> 3 every other time), a sample every ${SAMPLE_EVERY} s; $SESSIONS sessions at" \
    "once plus $STEADY steady pairs. Machine: $(nproc) CPUs (${cpu:-?}), Linux $(uname -r)," \
    "$ram RAM; load average $load_before before, $load_after after."
  echo
  cat "$work/report.md"
  echo
  echo "Server log: $reloads_done of ${reloads_asked:-0} reloads applied (the last one restores" \
    "the first configuration), $resizes worker-count" \
    "changes moving $moved groups, $handed_sent connections handed off between workers (of" \
    "${connections:-?}; $handed_received received), $crashes workers died, $errors error and" \
    "$warnings warning lines; the master $server_status."
  if [[ "$errors" != 0 || "$warnings" != 0 || "$crashes" != 0 ]]; then
    echo
    echo '```'
    grep -E '\[(warn|error|crit|alert|emerg)\]|unexpectedly' "$server_log" | head -n 20
    echo '```'
  fi
  echo
  echo "**Overall verdict: $verdict**"
} >"$section"
echo
cat "$section"

# Replaces the "## Soak" section of RESULTS (up to the next "## " heading), or appends it;
# everything else in the file stays as it was.
if [[ "$RESULTS" != - ]]; then
  mkdir -p "$(dirname "$RESULTS")"
  if [[ ! -e "$RESULTS" ]]; then
    printf '# Measured results\n\nEach section is rewritten by the tool it names.\n\n' >"$RESULTS"
  fi
  awk -v section="$section" '
    function insert() { while ((getline line < section) > 0) print line; print ""; done = 1 }
    /^## / { skipping = 0 }
    /^## Soak[[:space:]]*$/ { skipping = 1; if (!done) insert(); next }
    !skipping { print; last = $0 }
    END { if (!done) { if (last != "") print ""; insert() } }
  ' "$RESULTS" >"$work/results.new"
  cp "$work/results.new" "$RESULTS"
  log "written to $RESULTS"
fi
if [[ "$verdict" != pass ]]; then
  SOAK_KEEP=1
  log "FAILED (tool exit $tool_status); server log and report kept in $work"
  exit 1
fi
