#!/usr/bin/env bash
# User-space instructions per request of one orchestratord binary, counted by valgrind's
# callgrind over a stretch of bench/run.sh's soak: the gateway runs under callgrind, its
# counters are zeroed once the soak is under way, and dumped 20 s later; the total is
# divided by the requests the gateway's metrics counted in between. Unlike CPU time on a
# shared VM this moves by about 1 % between runs of one binary, so it shows changes of a
# few percent that bench/cpu_per_request.sh cannot. It leaves out the kernel (socket
# calls) and cache misses, so confirm what it finds with CPU time and the full bench.
#
#   bash bench/instructions_per_request.sh BINARY [chat|stream] [TOP]
#
# Prints the instructions per request in total, then by thread (the event loops carry the
# request path; the log writer's SQLite thread moves with the request rate, which sets
# the rows per transaction, so compare two builds by their event loops first; callgrind
# counts each thread apart), then the
# TOP functions by their own (exclusive) instructions per request. Env: CONNECTIONS (default 50); CACHE_SIM, a
# last-level cache as valgrind's SIZE,ASSOC,LINE (say 524288,8,64, this machine's L2 per
# core, or 2097152,16,64), turns on callgrind's cache simulation (32 KB L1s) and also
# prints the misses per request. Under valgrind the gateway is slow enough that the
# connections' requests go cold between their visits, which is what a request waiting
# for its upstream meets. Needs valgrind; run nothing else heavy meanwhile (valgrind
# runs the gateway's threads one at a time).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/measure.sh
source bench/measure.sh
BIN="$(realpath "${1:?usage: instructions_per_request.sh BINARY [chat|stream] [TOP]}")"
KIND="${2:-chat}"
TOP="${3:-25}"
case "$KIND" in
chat | stream) ;;
*) echo "kind: chat or stream" >&2; exit 2 ;;
esac
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 1; }
WORK="$(mktemp -d)"
trap '[[ -n "${KEEP:-}" ]] || rm -rf "$WORK"' EXIT
OUT="$WORK/callgrind.out"
# A copy without DWARF (valgrind 3.19 cannot read the toolchain's); the symbol table,
# which names the functions, stays.
objcopy --strip-debug "$BIN" "$WORK/orchestratord"

# GLIBC_TUNABLES is set so that serve does not run itself again (valgrind would not
# follow it); callgrind keeps glibc's own malloc, so the setting still applies.
CACHE_OPTIONS=""
if [[ -n "${CACHE_SIM:-}" ]]; then
    CACHE_OPTIONS=" --cache-sim=yes --I1=32768,8,64 --D1=32768,8,64 --LL=$CACHE_SIM"
fi
GLIBC_TUNABLES=glibc.malloc.tcache_count=256 \
    ORCH_WRAPPER="valgrind --tool=callgrind --callgrind-out-file=$OUT --collect-atstart=yes --dump-instr=no --separate-threads=yes$CACHE_OPTIONS" \
    ORCH_BIN="$WORK/orchestratord" BENCH_SOAK_KIND="$KIND" BENCH_WARMUP=0 \
    bash bench/run.sh --skip-build --only "$KIND" --connections "${CONNECTIONS:-50}" --rounds 1 --duration 3 \
    --soak 40 >"$WORK/bench.log" 2>&1 &
run=$!
wait_for_run "$run" "$WORK/bench.log" grep -q "==> soak:" "$WORK/bench.log"
sleep 5
pid="$(gateway_pid)"
callgrind_control -z "$pid" >/dev/null
r0="$(gateway_requests)"
sleep 20
r1="$(gateway_requests)"
callgrind_control -d "$pid" >/dev/null
wait "$run" || true
# One dump per thread (--separate-threads): OUT.<part>-<thread>.
mapfile -t dumps < <(ls "$OUT".* 2>/dev/null | sort -t- -k2 -n)
((${#dumps[@]})) || { echo "callgrind wrote no dump" >&2; exit 1; }
requests=$((r1 - r0))
((requests > 0)) || { echo "no requests counted" >&2; exit 1; }
total="$(cat "${dumps[@]}" | awk '/^summary:/ { s += $2 } END { print s }')"
awk -v t="$total" -v n="$requests" -v k="$KIND" -v b="$(basename "$BIN")" \
    'BEGIN { printf "%s: %.0f instructions per %s request (%d requests)\n", b, t / n, k, n }'
# Per thread, named by what it runs: the event loops carry the request path; the log
# writer (NIO's thread pool, SQLite) moves with the request rate, which sets the rows per
# transaction.
loops=0
for dump in "${dumps[@]}"; do
    label="thread $((10#${dump##*-}))"
    if grep -q "SelectableEventLoopC3runyyKF" "$dump"; then
        label="event loop"
    elif grep -q "NIOThreadPoolC6_start" "$dump"; then
        label="log writer (thread pool)"
    elif grep -q "swift_job_run" "$dump"; then
        label="Swift's global pool"
    fi
    cost="$(awk '/^summary:/ { print $2 }' "$dump")"
    [[ "$label" == "event loop" ]] && loops=$((loops + cost))
    awk -v n="$requests" -v c="$cost" -v l="$label" 'BEGIN { if (c / n >= 50) printf "  %-26s %8.0f\n", l, c / n }'
done
awk -v n="$requests" -v c="$loops" 'BEGIN { printf "  %-26s %8.0f\n", "event loops together", c / n }'
if [[ -n "${CACHE_SIM:-}" ]]; then
    # The events line names the summary's columns (Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw).
    # Summed over the threads' dumps.
    cat "${dumps[@]}" | awk -v n="$requests" '/^events:/ { for (i = 2; i <= NF; i++) name[i] = $i }
        /^summary:/ { for (i = 2; i <= NF; i++) sum[i] += $i; if (NF > last) last = NF }
        END { line = "misses per request:"
            for (i = 2; i <= last; i++) if (name[i] ~ /mr$|mw$/) line = line sprintf(" %s %.1f", name[i], sum[i] / n)
            print line }'
fi
# Each function's own (exclusive) instructions, read from the dump directly:
# callgrind_annotate 3.19 gives every cost to the thread's entry point here.
python3 - "$requests" "$TOP" "${dumps[@]}" <<'PY'
import collections, re, subprocess, sys
requests, top, paths = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
own = collections.Counter()
ref = re.compile(r'^\((\d+)\)(?: (.*))?$')
for path in paths:
    # Name compression ("(id) name", then "(id)") is per file.
    names = {}
    def name(value):
        match = ref.match(value)
        if not match:
            return value
        if match.group(2):
            names[match.group(1)] = match.group(2)
        return names.get(match.group(1), value)
    function, after_call = None, False
    for line in open(path, errors='replace'):
        if line.startswith('fn='):
            function, after_call = name(line[3:].strip()), False
        elif line.startswith('cfn='):
            name(line[4:].strip())
        elif line.startswith('calls='):
            after_call = True  # the next cost line is the call's, not the function's own
        elif line[:1].isdigit() or line[:1] in '+-*':
            fields = line.split()
            if after_call:
                after_call = False
            elif len(fields) >= 2 and function is not None:
                own[function] += int(fields[1])
rows = own.most_common(top)
try:
    shown = subprocess.run(['swift', 'demangle', '--simplified'], input='\n'.join(k for k, _ in rows),
                           capture_output=True, text=True, check=True).stdout.split('\n')
except (OSError, subprocess.CalledProcessError):
    shown = [k for k, _ in rows]
for (_, cost), label in zip(rows, shown):
    print(f"{cost / requests:10.0f}  {label[:140]}")
PY
