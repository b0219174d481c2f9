#!/usr/bin/env bash
# Instructions sigverd's worker executes per relayed round trip, generation 1 beside
# generation 2: a figure the machine's load does not move, to read beside `make bench`'s CPU
# per round trip (callgrind counts user-space instructions only; the kernel's loopback TCP,
# most of that CPU, is not in it).
#
# For each generation: sigverd with 1 worker (generations = 1 2) under callgrind, and the
# relay of `make bench` (sigver-bench relay, CG_PAIRS pairs, 200-byte data) on two fresh
# servers, CG_SHORT and CG_LONG round trips. The difference of the worker's totals over the
# difference of round trips leaves out start-up, joins and leaves. Prints the totals per
# round trip, then the functions whose own (self) instructions per round trip differ most.
# Takes about a minute.
#
# Usage: tools/bench/callgrind.sh [BUILD_DIR]      (default: build)
# Environment: CG_PAIRS [10]  CG_SHORT [10000]  CG_LONG [30000]  CG_TOP [30]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BUILD_DIR="$(realpath "${1:-build}")"
SIGVERD="$BUILD_DIR/sigverd"
TOOL="$BUILD_DIR/sigver-bench"
PAIRS="${CG_PAIRS:-10}"
SHORT="${CG_SHORT:-10000}"
LONG="${CG_LONG:-30000}"
TOP="${CG_TOP:-30}"

log() { echo "callgrind: $*" >&2; }
command -v valgrind >/dev/null || {
  log "valgrind is not installed"
  exit 1
}
[[ -x "$SIGVERD" ]] || {
  log "no $SIGVERD: run 'make build' first"
  exit 1
}
if [[ ! -x "$TOOL" ]] || [[ -n "$(find "$ROOT/tools/bench" -newer "$TOOL" -name '*.[ch]*')" ]]; then
  log "building $TOOL"
  g++ -O2 -std=c++20 -Wall -Wextra -Wshadow -Werror "$ROOT"/tools/bench/*.cc -o "$TOOL" -lcrypto
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/sigver-callgrind.XXXXXX")"
server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then kill -TERM "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

# profile GEN ROUND_TRIPS: one server under callgrind, one relay run; prints the worker's
# profile file.
profile() {
  local dir="$work/g$1-$2" port
  mkdir -p "$dir"
  port="$("$TOOL" free-port)"
  printf '[server]\nlisten = 127.0.0.1:%s\nworker_processes = 1\n[protocol]\ngenerations = 1 2\n[limits]\nmax_connections_per_ip = 0\nmax_messages_per_second = 1000000\n[log]\nlog_level = warn\n' \
    "$port" >"$dir/sigver.conf"
  valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.%p" "$SIGVERD" \
    -c "$dir/sigver.conf" >"$dir/server.log" 2>&1 &
  server_pid=$!
  local _
  for _ in $(seq 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    sleep 0.1
  done
  sleep 1
  timeout 600 "$TOOL" relay --port "$port" --server-pid "$server_pid" --pairs "$PAIRS" \
    --round-trips "$2" --seconds 500 --warmup 0 --data-size 200 --sources 4 --generation "$1" \
    >"$dir/relay.out" 2>>"$dir/relay.log" || log "g$1: sigver-bench relay exited with $?"
  grep -q "^relay.round_trips=$2\$" "$dir/relay.out" || log "g$1: $(tr '\n' ' ' <"$dir/relay.out")"
  kill -TERM "$server_pid"
  wait "$server_pid" || true
  server_pid=""
  # The worker is the process of the tree that executed the most.
  local worker
  worker="$(sed -n 's/^==\([0-9]*\)== Collected : \([0-9]*\)$/\2 \1/p' "$dir/server.log" |
    sort -n | tail -n 1 | cut -d' ' -f2)"
  callgrind_annotate --auto=no --threshold=100 "$dir/callgrind.$worker" >"$dir/self.txt"
  echo "$dir/self.txt"
}

declare -A files
for gen in 1 2; do
  for n in "$SHORT" "$LONG"; do
    log "generation $gen, $n round trips of $PAIRS pairs"
    files["$gen.$n"]="$(profile "$gen" "$n")"
  done
done

python3 - "$SHORT" "$LONG" "$TOP" "${files[1.$SHORT]}" "${files[1.$LONG]}" \
  "${files[2.$SHORT]}" "${files[2.$LONG]}" <<'EOF'
import collections, re, sys

short, long_, top = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
paths = sys.argv[4:]
line_re = re.compile(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)$")

def function_name(entry):
    entry = re.sub(r" \[[^\]]*\]$", "", entry)  # the object file
    entry = entry.split(":", 1)[1] if ":" in entry else entry  # the source file
    depth = 0  # drop the parameter list, the last top-level parenthesis
    for i in range(len(entry) - 1, -1, -1):
        depth += {")": 1, "(": -1}.get(entry[i], 0)
        if depth == 0 and entry[i] == "(":
            return entry[:i]
    return entry

def load(path):
    total, costs = 0, collections.Counter()
    for line in open(path):
        m = line_re.match(line)
        if not m:
            continue
        value = int(m.group(1).replace(",", ""))
        if "PROGRAM TOTALS" in line:
            total = value
        else:  # a function inlined from several files appears once per file
            costs[function_name(m.group(2))] += value
    return total, costs

per_rt = []
for a, b in ((paths[0], paths[1]), (paths[2], paths[3])):
    (ta, ca), (tb, cb) = load(a), load(b)
    span = long_ - short
    per_rt.append(((tb - ta) / span, {k: (cb[k] - ca[k]) / span for k in set(ca) | set(cb)}))

(t1, f1), (t2, f2) = per_rt
print(f"worker instructions per round trip (callgrind, {long_} - {short} round trips, 1 worker):")
print(f"  generation 1: {t1:.0f}   generation 2: {t2:.0f}   gen2/gen1: {t2 / t1:.3f}"
      f" ({100 * (t2 - t1) / t1:+.1f} %)")
print()
print("self instructions per round trip, largest differences first:")
print(f"{'gen 1':>8} {'gen 2':>8} {'gen2-gen1':>10}  function")
names = sorted(set(f1) | set(f2), key=lambda k: -abs(f2.get(k, 0) - f1.get(k, 0)))
for name in names[:top]:
    a, b = f1.get(name, 0), f2.get(name, 0)
    if max(abs(a), abs(b)) < 1:
        continue
    print(f"{a:8.1f} {b:8.1f} {b - a:+10.1f}  {name[:120]}")
EOF
