#!/usr/bin/env bash
# System calls per request of orchestratord, by call, in one scenario of bench/run.sh:
# whether the gateway makes more of them than the two reads and two writes a proxied
# request needs (the inbound read, the upstream write, the upstream read, the response
# write), and how often its event loops block in epoll_wait or wake another thread.
#
#   bash bench/syscalls_per_request.sh BINARY [delay|chat|stream] [CONNECTIONS]
#
# delay (the default) is the upstream that answers after 50 ms, at CONNECTIONS (default
# 1000); chat and stream answer at once (default 50 connections). `strace -c -f` is
# attached to the gateway for 5 s in the middle of its 20 s wrk run, and its counts are
# divided by the requests the gateway's metrics counted meanwhile. strace slows the
# gateway down several times over, so read the counts, not the times or the rate; the
# request-log writer's calls (pwrite64, pread64, fdatasync) are per row at the slower
# rate, which puts fewer rows in each transaction than an unslowed run does.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/measure.sh
source bench/measure.sh
BIN="$(realpath "${1:?usage: syscalls_per_request.sh BINARY [delay|chat|stream] [CONNECTIONS]}")"
KIND="${2:-delay}"
scenario_args "$KIND" "${3:-}"
command -v strace >/dev/null || { echo "needs strace (apt-get install strace)" >&2; exit 1; }
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
start_scenario "$BIN" "$WORK/bench.log" 18083
pid="$(gateway_pid)"
r0="$(gateway_requests)"
timeout -s INT 5 strace -c -f -p "$pid" -o "$WORK/strace.txt" 2>/dev/null || true
r1="$(gateway_requests)"
wait "$run" || true
n=$((r1 - r0))
((n > 0)) || { echo "no requests counted" >&2; exit 1; }
echo "$KIND c=$CONNS: $n requests in 5 s under strace"
# strace -c's table: % time, seconds, usecs/call, calls, [errors,] syscall.
awk -v n="$n" '$NF ~ /^[a-z_0-9]+$/ && $4 ~ /^[0-9]+$/ && $NF != "total" && $NF != "syscall" {
        printf "  %-20s %8.3f per request\n", $NF, $4 / n; t += $4 }
    END { printf "  %-20s %8.3f per request\n", "all", t / n }' "$WORK/strace.txt" | sort -k2 -nr
