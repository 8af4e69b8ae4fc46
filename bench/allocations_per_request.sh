#!/usr/bin/env bash
# Heap allocations per request of one orchestratord binary, by thread and by calling
# function: uprobes on glibc's malloc and on the gateway's request-id generator (called
# once per request) count every call, not samples, for 5 s of a running bench scenario.
# Unlike CPU time on a shared VM, the ratio moves by a few percent at most between runs,
# so it shows small changes to the request path.
#
#   bash bench/allocations_per_request.sh BINARY [chat|stream] [TOP]
#
# Needs root (perf probe) and perf; run nothing else heavy meanwhile.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/measure.sh
source bench/measure.sh
BIN="$(realpath "${1:?usage: allocations_per_request.sh BINARY [chat|stream] [TOP]}")"
SCENARIO="${2:-chat}"
TOP="${3:-25}"
LIBC="$(ldd "$BIN" | awk '/libc\.so/ { print $3 }')"
[[ -n "$LIBC" ]] || { echo "cannot find the libc $BIN uses" >&2; exit 1; }
perf probe -q -x "$LIBC" malloc 2>/dev/null || true
perf probe -q -d 'orchbench:*' 2>/dev/null || true
perf probe -q -x "$BIN" -a 'orchbench:request=$s16OrchestratorCore9RequestIDO8generateSSyFZ' ||
    { echo "cannot place a probe on RequestID.generate in $BIN" >&2; exit 1; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"; perf probe -q -d "orchbench:*" 2>/dev/null || true' EXIT

case "$SCENARIO" in
chat | stream) ;;
*) echo "scenario: chat or stream" >&2; exit 2 ;;
esac
# The soak of that kind: the gateway alone under steady load.
ORCH_BIN="$BIN" BENCH_SOAK_KIND="$SCENARIO" bash bench/run.sh --skip-build --only "$SCENARIO" --rounds 1 --duration 3 \
    --soak 25 >"$WORK/bench.log" 2>&1 &
run=$!
wait_for_run "$run" "$WORK/bench.log" grep -q "==> soak:" "$WORK/bench.log"
sleep 3
pid="$(gateway_pid)"
perf record -q -e probe_libc:malloc -e orchbench:request -g -p "$pid" -o "$WORK/perf.data" -- sleep 5 >/dev/null 2>&1
wait "$run" || true
perf script -i "$WORK/perf.data" -F comm,event,ip,sym 2>/dev/null >"$WORK/stacks.txt"
python3 - "$WORK/stacks.txt" "$TOP" "$(basename "$BIN")" "$SCENARIO" <<'EOF'
import collections, re, sys
path, top, name, scenario = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
requests = 0
# Frames that only pass an allocation on: the first frame outside them is its caller.
plumbing = re.compile(
    r'^(malloc|__libc_malloc|_int_malloc|swift_slowAlloc|swift_allocObject|swift_allocBox|swift_task_alloc'
    r'|swift::|\$ss|\$sS[aSDhs]|\$s7NIOCore15EventLoopFutureC|\$s7NIOCore16EventLoopPromise)')
by_thread, by_caller = collections.Counter(), collections.Counter()
def done(frames):
    global requests
    if len(frames) < 2:
        return
    if 'orchbench:request' in frames[0]:
        requests += 1
        return
    thread = 'request-log writer' if frames[0].startswith('TP-') else 'event loops' if frames[0].startswith('NIO-') else 'other'
    by_thread[thread] += 1
    caller = next((f for f in frames[1:] if not plumbing.match(f)), '?')
    by_caller[(thread, caller[:140])] += 1
frames = []
for line in open(path):
    if line.startswith('\t'):
        parts = line.strip().split(None, 1)
        frames.append(re.sub(r'\+0x[0-9a-f]+$', '', parts[1]) if len(parts) > 1 else '?')
    elif line.strip():
        done(frames)
        frames = [line.strip()]
done(frames)
total = sum(by_thread.values())
if requests == 0:
    sys.exit("no request was seen while recording")
print(f"{name} ({scenario}): {total / requests:.1f} allocations per request ({requests} requests in 5 s)")
for thread, count in by_thread.most_common():
    print(f"  {thread}: {count / requests:.1f}")
print("by caller (per request):")
for (thread, caller), count in by_caller.most_common(top):
    print(f"  {count / requests:6.2f}  {thread[:6]:6}  {caller}")
EOF
