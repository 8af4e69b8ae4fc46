#!/usr/bin/env bash
# CPU per request of each orchestratord thread (user and system time apart), in one
# scenario of bench/run.sh: which thread pays, and whether a request costs more when more
# of them are in flight. Reads /proc/PID/task/*/stat 4 s into the gateway's 20 s wrk run and
# 10 s later, and divides by the requests the gateway's metrics counted in between.
#
#   bash bench/thread_cpu.sh BINARY [delay|chat|stream] [CONNECTIONS] [nginx-proxy]
#
# delay (the default) is the upstream that answers after 50 ms, at CONNECTIONS (default
# 1000); chat and stream answer at once (default 50 connections). With `nginx-proxy`
# last, the same is read for the nginx reverse proxy's processes during the proxy's own
# run, divided by the requests wrk counted in it (its rate times the 10 s; nginx keeps
# no count of its own here): what the baseline spends on the same request. Run nothing
# else heavy meanwhile; a VM's CPU time moves by a few percent between runs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/measure.sh
source bench/measure.sh
BIN="$(realpath "${1:?usage: thread_cpu.sh BINARY [delay|chat|stream] [CONNECTIONS]}")"
KIND="${2:-delay}"
scenario_args "$KIND" "${3:-}"
TARGET="${4:-orchestratord}"
case "$TARGET" in
orchestratord) PORT=18083 ;;
nginx-proxy) PORT=18082 ;;
*) echo "target: orchestratord or nginx-proxy" >&2; exit 2 ;;
esac
LOG="$(mktemp)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
start_scenario "$BIN" "$LOG" "$PORT"
if [[ "$TARGET" == nginx-proxy ]]; then
    # The proxy's processes (master and worker), each read as one thread.
    pids="$(ss -ltnpH "sport = :$PORT" | grep -o "pid=[0-9]*" | cut -d= -f2 | sort -u)"
    snapshot_proxy() {
        local p line rest
        for p in $pids; do
            read -r line <"/proc/$p/stat" || continue
            rest="${line##*) }"
            # shellcheck disable=SC2086
            set -- $rest
            echo "$p nginx-$p ${12} ${13}"
        done | sort
    }
    snapshot_proxy >"$WORK/before"
    sleep 10
    snapshot_proxy >"$WORK/after"
    wait "$run"
    rate="$(grep -E "^ +$KIND c=$CONNS +nginx-proxy +1 " "$LOG" | awk '{ for (i = 1; i < NF; i++) if ($(i + 1) == "req/s") print $i }')"
    [[ -n "$rate" ]] || { echo "no nginx-proxy run found; the end of $LOG:" >&2; tail -5 "$LOG" >&2; exit 1; }
    n=$((rate * 10))
    echo "$KIND c=$CONNS, nginx-proxy: about $n requests in 10 s (wrk's $rate/s)"
    join "$WORK/before" "$WORK/after" | awk -v n="$n" -v hz="$(getconf CLK_TCK)" '
        { u = ($6 - $3) / hz * 1e6 / n; s = ($7 - $4) / hz * 1e6 / n; tu += u; ts += s
          if (u + s >= 0.05) printf "  %-18s user %6.2f  system %6.2f  µs/request\n", $2, u, s }
        END { printf "  %-18s user %6.2f  system %6.2f  µs/request (%.2f CPUs)\n", "all processes", tu, ts, (tu + ts) * n / 10 / 1e6 }'
    exit 0
fi
pid="$(gateway_pid)"
# One line per thread: tid, name (spaces made underscores), utime, stime (clock ticks).
snapshot() {
    local task line name rest
    for task in /proc/"$pid"/task/*; do
        read -r line <"$task/stat" || continue
        name="${line#*(}"; name="${name%%)*}"; rest="${line##*) }"
        # shellcheck disable=SC2086
        set -- $rest
        echo "${task##*/} ${name// /_} ${12} ${13}"
    done | sort
}
r0="$(gateway_requests)"; snapshot >"$WORK/before"
sleep 10
r1="$(gateway_requests)"; snapshot >"$WORK/after"
wait "$run"
n=$((r1 - r0))
echo "$KIND c=$CONNS: $n requests in 10 s ($((n / 10))/s)"
join "$WORK/before" "$WORK/after" | awk -v n="$n" -v hz="$(getconf CLK_TCK)" '
    { u = ($6 - $3) / hz * 1e6 / n; s = ($7 - $4) / hz * 1e6 / n; tu += u; ts += s
      if (u + s >= 0.05) printf "  %-18s user %6.2f  system %6.2f  µs/request\n", $2, u, s }
    END { printf "  %-18s user %6.2f  system %6.2f  µs/request (%.2f CPUs)\n", "all threads", tu, ts, (tu + ts) * n / 10 / 1e6 }'
grep -E "^ +$KIND c=$CONNS +(direct|nginx-proxy|orchestratord) +1 " "$LOG" || true
