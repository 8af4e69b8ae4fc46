# Sourced by the per-request measurement scripts (cpu_per_request.sh,
# allocations_per_request.sh, instructions_per_request.sh, thread_cpu.sh,
# syscalls_per_request.sh), which each run bench/run.sh in the background and measure
# the gateway in the middle of one of its runs.

# wait_for_run PID LOG COMMAND...: waits until COMMAND succeeds; exits, showing the end of
# LOG, if bench/run.sh (PID) stops first.
wait_for_run() {
    local run="$1" log="$2"
    shift 2
    until "$@"; do
        if ! kill -0 "$run" 2>/dev/null; then
            echo "bench/run.sh stopped early; the end of $log:" >&2
            tail -5 "$log" >&2
            exit 1
        fi
        sleep 0.2
    done
}

# The pid of the gateway bench/run.sh started (listening on its port, 18083).
gateway_pid() {
    ss -ltnpH "sport = :18083" | grep -o "pid=[0-9]*" | head -1 | cut -d= -f2
}

# The requests the gateway has counted (its orchestrator_requests_total, all series).
gateway_requests() {
    curl -s "localhost:18083/metrics" | awk '/^orchestrator_requests_total/ { s += $NF } END { print s + 0 }'
}

# scenario_args KIND [CONNECTIONS]: sets CONNS and ARGS (bench/run.sh's options for one
# scenario) for delay (the 50 ms upstream, 1,000 connections unless given), chat or
# stream (50 connections unless given); exits on any other kind.
scenario_args() {
    case "$1" in
    delay) CONNS="${2:-1000}"; ARGS=(--only delay --delay-connections "$CONNS") ;;
    chat | stream) CONNS="${2:-50}"; ARGS=(--only "$1" --connections "$CONNS") ;;
    *) echo "kind: delay, chat or stream" >&2; exit 2 ;;
    esac
}

# start_scenario BINARY LOG PORT: runs bench/run.sh in the background for the scenario
# scenario_args chose (one round of 20 s, output to LOG), sets `run` to its pid, and
# returns 4 s into the 20 s wrk run against PORT (the warm-up runs last 2 s).
start_scenario() {
    ORCH_BIN="$1" bash bench/run.sh --skip-build "${ARGS[@]}" --rounds 1 --duration 20 >"$2" 2>&1 &
    run=$!
    wait_for_run "$run" "$2" pgrep -f "wrk .*-c$CONNS -d20s .*:$3/" >/dev/null
    sleep 4
}
