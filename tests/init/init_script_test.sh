#!/bin/sh
# End-to-end test of tools/sigverd.init against the real sigverd binary, with a temporary
# configuration and pid file (listening on 127.0.0.1 only).
#   tests/init/init_script_test.sh /path/to/sigverd [/path/to/sigverd.init]
set -u
SIGVERD=${1:?usage: $0 /path/to/sigverd [init script]}
HERE=$(cd "$(dirname "$0")" && pwd)
INIT=${2:-$HERE/../../tools/sigverd.init}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/sigverd-init-test.XXXXXX")
export DAEMON="$SIGVERD" CONF="$TMP/sigver.conf" PIDFILE="$TMP/sigverd.pid"
export DEFAULTS="$TMP/no-defaults" START_WAIT=5 STOP_WAIT=15 UPGRADE_WAIT=15 OUTPUT="$TMP/output"
LOG="$TMP/error.log"
failures=0
# Masters this test upgraded away from: no longer in the pid file, maybe still exiting.
old_masters=

cleanup() {
  # Only the servers this test started: the pid in our temporary pid file, and the old
  # masters of upgrades.
  if [ -r "$PIDFILE" ]; then
    pid=$(cat "$PIDFILE")
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
  fi
  for pid in $old_masters; do kill -TERM "$pid" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
check() {  # check DESCRIPTION COMMAND...
  what=$1; shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
PORT=$(free_port)

write_config() {  # write_config DAEMON_MODE [EXTRA LINE]
  cat > "$CONF" <<CONF_EOF
[server]
listen = 127.0.0.1:$PORT
worker_processes = 2
pid = $PIDFILE
daemon = $1
${2:-}
[log]
error_log = $LOG
CONF_EOF
}

run_init() { sh "$INIT" "$@" >"$TMP/last" 2>&1; rc=$?; cat "$TMP/last"; return $rc; }
status_is() { run_init status >/dev/null; [ $? -eq "$1" ]; }
alive() { kill -0 "$1" 2>/dev/null && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat" 2>/dev/null; }
pid_now() { tr -cd '0-9' < "$PIDFILE" 2>/dev/null; }
accepts() {
  python3 - "$PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
s.settimeout(2)
sys.exit(0 if s.recv(1) else 1)
PY
}
log_count() { grep -c "$1" "$LOG" 2>/dev/null || true; }
gone() { ! alive "$1"; }
wait_gone() {  # wait_gone PID SECONDS
  n=0
  while [ "$n" -lt $(($2 * 10)) ]; do
    gone "$1" && return 0
    sleep 0.1; n=$((n + 1))
  done
  gone "$1"
}
wait_log_count() {  # wait_log_count TEXT AT_LEAST
  n=0
  while [ "$n" -lt 50 ]; do
    [ "$(log_count "$1")" -ge "$2" ] && return 0
    sleep 0.1; n=$((n + 1))
  done
  return 1
}

# ACTION (reload, upgrade) with a broken configuration file: the script refuses, says
# MESSAGE, and the master PID is not signalled (no new line with MARKER) and still serves.
refused_with_broken_config() {  # ACTION MESSAGE MARKER PID
  local action=$1 message=$2 marker=$3 pid=$4 requested
  write_config "$mode" "worker_processes = many"
  requested=$(log_count "$marker")
  if run_init "$action"; then
    fail "$action with a broken config fails"
  else
    pass "$action with a broken config fails"
  fi
  check "  and says so" grep -q "$message" "$TMP/last"
  sleep 0.3
  check "  the master was not signalled" [ "$(log_count "$marker")" -eq "$requested" ]
  check "  the same master still runs" alive "$pid"
  check "  and still accepts" accepts
  write_config "$mode"
}

run_cycle() {  # run_cycle DAEMON_MODE
  mode=$1
  echo "== daemon = $mode"
  write_config "$mode"
  : > "$LOG"
  check "status before start is 3" status_is 3
  check "start succeeds" run_init start
  pid=$(pid_now)
  check "pid file names a live process" alive "${pid:-0}"
  check "status is 0 when running" status_is 0
  check "the server accepts connections" accepts
  check "a second start is a no-op" run_init start
  check "  and keeps the same pid" [ "$(pid_now)" = "$pid" ]

  reloads=$(log_count "configuration reloaded")
  check "reload succeeds" run_init reload
  check "  and the master reloaded" wait_log_count "configuration reloaded" $((reloads + 1))

  refused_with_broken_config reload "keeps its configuration" "reloading the configuration" "$pid"

  check "restart succeeds" run_init restart
  newpid=$(pid_now)
  check "  with a new master" [ -n "$newpid" -a "$newpid" != "$pid" ]
  check "  and the old one is gone" sh -c "! kill -0 $pid 2>/dev/null || grep -q ') Z' /proc/$pid/stat"
  check "  and it accepts" accepts

  # Binary upgrade onto the same binary: a new master takes over from this one.
  old_masters="$old_masters $newpid"
  check "upgrade succeeds" run_init upgrade
  uppid=$(pid_now)
  check "  the pid file names a new master" [ -n "$uppid" -a "$uppid" != "$newpid" ]
  check "  which is alive" alive "${uppid:-0}"
  check "  the script names it" grep -q "upgraded: new master PID $uppid" "$TMP/last"
  check "  the old master tested the new binary first" grep -q "upgrade: checking the configuration with" "$LOG"
  check "  the new master logged it" grep -q "upgrade complete: master $uppid serving" "$LOG"
  check "  and it accepts" accepts
  check "  the old master exits" wait_gone "$newpid" 10
  check "  without removing the pid file" [ "$(pid_now)" = "$uppid" ]
  check "  the server still accepts" accepts
  check "  status is 0" status_is 0
  reloads=$(log_count "configuration reloaded")
  check "  a reload reaches the new master" run_init reload
  check "  and it reloaded" wait_log_count "configuration reloaded" $((reloads + 1))

  refused_with_broken_config upgrade "the running server goes on" \
    "upgrade: checking the configuration" "$uppid"
  check "  and it is still in the pid file" [ "$(pid_now)" = "$uppid" ]

  check "stop succeeds" run_init stop
  check "  the master is gone" gone "$uppid"
  check "  the pid file is removed" [ ! -e "$PIDFILE" ]
  check "status after stop is 3" status_is 3
  check "stop when stopped succeeds" run_init stop
}

run_cycle off
run_cycle on

echo "== start failures"
write_config off "worker_processes = many"
if run_init start; then fail "start with a broken config fails"; else pass "start with a broken config fails"; fi
check "  nothing runs" status_is 3
# The blocker listens on a port of its own choosing (the port the servers above used may
# still be held by their closing sockets, so binding it could fail), then the config is
# written for that port.
python3 -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0)); s.listen(1)
with open(sys.argv[1] + ".tmp", "w") as f: f.write(str(s.getsockname()[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(8)' "$TMP/busy-port" &
blocker=$!
for _ in $(seq 50); do [ -s "$TMP/busy-port" ] && break; sleep 0.1; done
PORT=$(cat "$TMP/busy-port")
write_config off
if run_init start; then fail "start on a busy port fails"; else pass "start on a busy port fails"; fi
check "  nothing runs" status_is 3
kill "$blocker" 2>/dev/null; wait "$blocker" 2>/dev/null

echo "== upgrade failures"
if run_init upgrade; then fail "upgrade when stopped fails"; else pass "upgrade when stopped fails"; fi
check "  with status 7" sh -c "sh '$INIT' upgrade >/dev/null 2>&1; [ \$? -eq 7 ]"

if [ "$failures" -eq 0 ]; then echo "PASS"; exit 0; fi
echo "$failures check(s) failed"; exit 1
