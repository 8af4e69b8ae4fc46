#!/usr/bin/env bash
# CPU per request of one orchestratord binary, for comparing two builds on a noisy machine:
# runs bench/run.sh's chat soak (c=50, 30 s) and reads the gateway's utime+stime over 20 s
# in the middle of it, divided by the requests wrk completed in that time (from the soak's
# req/s). Run two binaries alternately, several times, and compare the means.
#
#   bash bench/cpu_per_request.sh BINARY [LOG]
#
# Env: CONNECTIONS (default 50; 1 shows the cost of an unbatched request, which is what
# the one-connection latency pays); KIND (chat, the default, or stream: complete streams).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/measure.sh
source bench/measure.sh
BIN="$(realpath "${1:?usage: cpu_per_request.sh BINARY [LOG]}")"
LOG="${2:-$(mktemp)}"
KIND="${KIND:-chat}"
ORCH_BIN="$BIN" BENCH_SOAK_KIND="$KIND" bash bench/run.sh --skip-build --only "$KIND" --connections "${CONNECTIONS:-50}" --rounds 1 --duration 3 --soak 30 >"$LOG" 2>&1 &
run=$!
wait_for_run "$run" "$LOG" grep -q "==> soak:" "$LOG"
sleep 4
pid="$(gateway_pid)"
cpu() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
ticks0="$(cpu)"; t0="$(date +%s.%N)"
sleep 20
ticks1="$(cpu)"; t1="$(date +%s.%N)"
wait "$run"
rps="$(grep -o "soak $KIND c=${CONNECTIONS:-50} .*req/s" "$LOG" | head -1 | awk '{ print $(NF-1) }')"
hz="$(getconf CLK_TCK)"
python3 -c "print(f'$(basename "$BIN"): {($ticks1 - $ticks0) / $hz / (($t1 - $t0) * $rps) * 1e6:.1f} µs of CPU per $KIND request at $rps req/s')"
