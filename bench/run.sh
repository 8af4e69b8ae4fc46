#!/usr/bin/env bash
# Orchestrator throughput/latency/memory benchmark.
#
# Compares three ways of reaching the same mock OpenAI upstream (nginx on 127.0.0.1:18081
# serving canned responses, with the echo module also delayed and paced ones):
#   direct         client -> mock upstream
#   nginx-proxy    client -> nginx reverse proxy (1 worker, keepalive pool) -> mock upstream
#   orchestratord  client -> orchestratord -> mock upstream
# Scenario groups (--only, comma-separated; default: all but soak):
#   chat    non-streaming chat, wrk at N connections
#   stream  streaming chat (22 chunks + usage chunk + [DONE]), wrk at N connections
#   c1      chat and stream at 1 connection (latency: p50/p99 against direct)
#   delay   chat from an upstream that answers after 50 ms, wrk at 100 and 1000 connections
#   paced   stream whose events come 10 ms apart: time to first event, batching (Python client)
#   translate  Anthropic Messages requests, chat and stream, at N connections: orchestratord
#           translates them for the OpenAI-style mock and its answers back (no target; what
#           translation costs next to the same-style rows)
#   soak    chat at N connections against orchestratord alone for --soak seconds (600
#           when named in --only without --soak), orchestratord's RSS sampled every 10 s
# orchestratord's RSS is recorded idle and after the runs; at the end the script checks
# that orchestratord wrote one request-log row per request. See bench/README.md.
#
# Usage: bench/run.sh [--skip-build] [--duration SECONDS] [--connections N] [--rounds N]
#                     [--only GROUP,...] [--soak SECONDS] [--delay-connections N,...]
#                     [--paced-streams N]
# Env:   ORCH_BIN (binary to use; implies no build), BENCH_DURATION, BENCH_CONNECTIONS,
#        BENCH_ROUNDS, BENCH_ONLY, BENCH_SOAK, BENCH_DELAY_CONNECTIONS, BENCH_PACED_STREAMS,
#        BENCH_WARMUP (seconds, 0 = none), BENCH_SOAK_INTERVAL (seconds, default 10),
#        BENCH_SOAK_KIND (chat or stream: what the soak sends; default chat),
#        BENCH_SKIP_BUILD=1, BENCH_KEEP_TMP=1 (keep the temp dir with configs and logs),
#        ORCH_WRAPPER (a command the gateway runs under, e.g. valgrind; split on spaces)
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$BENCH_DIR")"

DURATION="${BENCH_DURATION:-10}"
CONNECTIONS="${BENCH_CONNECTIONS:-50}"
ROUNDS="${BENCH_ROUNDS:-2}"
WARMUP="${BENCH_WARMUP:-2}"
SKIP_BUILD="${BENCH_SKIP_BUILD:-0}"
ORCH_BIN="${ORCH_BIN:-}"
KEEP_TMP="${BENCH_KEEP_TMP:-0}"
read -r -a ORCH_WRAPPER <<<"${ORCH_WRAPPER:-}"
ONLY="${BENCH_ONLY:-}"
SOAK="${BENCH_SOAK:-0}"
SOAK_INTERVAL="${BENCH_SOAK_INTERVAL:-10}"
SOAK_KIND="${BENCH_SOAK_KIND:-chat}"
DELAY_CONNECTIONS="${BENCH_DELAY_CONNECTIONS:-100,1000}"
PACED_STREAMS="${BENCH_PACED_STREAMS:-20}"
DELAY_SECONDS=0.05 # the delayed upstream answers after 50 ms
PACE_SECONDS=0.01  # the paced upstream sends one SSE event every 10 ms
ALL_GROUPS="chat,stream,c1,delay,paced,translate"

UP_PORT=18081     # mock upstream (nginx)
PROXY_PORT=18082  # nginx reverse proxy baseline
GW_PORT=18083     # orchestratord
HOST=127.0.0.1
CLIENT_KEY="sk-bench-client"

usage() {
    # The comment block at the top of this file, without the "#".
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "${BASH_SOURCE[0]}"
}

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

while (($#)); do
    case "$1" in
    --skip-build) SKIP_BUILD=1 ;;
    --duration) DURATION="${2:?--duration needs a value}"; shift ;;
    --duration=*) DURATION="${1#*=}" ;;
    --connections) CONNECTIONS="${2:?--connections needs a value}"; shift ;;
    --connections=*) CONNECTIONS="${1#*=}" ;;
    --rounds) ROUNDS="${2:?--rounds needs a value}"; shift ;;
    --rounds=*) ROUNDS="${1#*=}" ;;
    --only) ONLY="${2:?--only needs a value}"; shift ;;
    --only=*) ONLY="${1#*=}" ;;
    --soak) SOAK="${2:?--soak needs a value}"; shift ;;
    --soak=*) SOAK="${1#*=}" ;;
    --delay-connections) DELAY_CONNECTIONS="${2:?--delay-connections needs a value}"; shift ;;
    --delay-connections=*) DELAY_CONNECTIONS="${1#*=}" ;;
    --paced-streams) PACED_STREAMS="${2:?--paced-streams needs a value}"; shift ;;
    --paced-streams=*) PACED_STREAMS="${1#*=}" ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
    esac
    shift
done
for v in DURATION CONNECTIONS ROUNDS WARMUP SOAK SOAK_INTERVAL PACED_STREAMS; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a whole number, got '${!v}'"
done
((DURATION > 0 && CONNECTIONS > 0 && ROUNDS > 0 && SOAK_INTERVAL > 0 && PACED_STREAMS > 0)) ||
    die "duration, connections, rounds, soak interval and paced streams must be positive"
[[ "$DELAY_CONNECTIONS" =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] ||
    die "--delay-connections must be a comma-separated list of positive numbers, got '$DELAY_CONNECTIONS'"
IFS=, read -r -a DELAY_CONNS <<<"$DELAY_CONNECTIONS"
[[ "$SOAK_KIND" == chat || "$SOAK_KIND" == stream ]] || die "BENCH_SOAK_KIND must be chat or stream, got '$SOAK_KIND'"

# Scenario selection: --only GROUP,... (default: every group but soak; --soak N adds soak).
ONLY="${ONLY// /}"
[[ -n "$ONLY" ]] || ONLY="$ALL_GROUPS"
IFS=, read -r -a only_list <<<"$ONLY"
for g in "${only_list[@]}"; do
    [[ ",$ALL_GROUPS,soak," == *",$g,"* ]] || die "--only: unknown group '$g' (groups: $ALL_GROUPS,soak)"
done
selected() { [[ ",$ONLY," == *",$1,"* ]]; }
if selected soak && ((SOAK == 0)); then SOAK=600; fi
if ((SOAK > 0)) && ! selected soak; then ONLY+=",soak"; fi

MAX_CONNS=$CONNECTIONS # most connections one run opens at once
if selected delay; then
    for c in "${DELAY_CONNS[@]}"; do ((c <= MAX_CONNS)) || MAX_CONNS=$c; done
fi

# ---------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------
find_nginx() {
    if [[ -x /usr/sbin/nginx ]]; then echo /usr/sbin/nginx; else command -v nginx || true; fi
}

# The echo module (delayed and paced mock responses) is a dynamic module, Debian package
# libnginx-mod-http-echo, loaded with load_module from nginx's --modules-path.
find_echo_module() {
    local nginx dir f
    nginx="$(find_nginx)"
    [[ -n "$nginx" ]] || return 0
    dir="$("$nginx" -V 2>&1 | sed -n 's/.*--modules-path=\([^ ]*\).*/\1/p')"
    for f in "${dir:-/usr/lib/nginx/modules}/ngx_http_echo_module.so" /usr/lib/nginx/modules/ngx_http_echo_module.so; do
        if [[ -f "$f" ]]; then
            echo "$f"
            return 0
        fi
    done
}

ensure_tools() {
    local missing=()
    [[ -n "$(find_nginx)" ]] || missing+=(nginx-light)
    [[ -n "$(find_echo_module)" ]] || missing+=(libnginx-mod-http-echo)
    command -v wrk >/dev/null || missing+=(wrk)
    command -v curl >/dev/null || missing+=(curl)
    command -v sqlite3 >/dev/null || missing+=(sqlite3)
    command -v python3 >/dev/null || missing+=(python3)
    ((${#missing[@]})) || return 0
    local sudo=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null || die "missing ${missing[*]} and not root (no sudo); install them first"
        sudo=(sudo)
    fi
    log "installing ${missing[*]} with apt-get"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
ensure_tools
NGINX="$(find_nginx)"
[[ -n "$NGINX" ]] || die "nginx not found after installation"
ECHO_MODULE="$(find_echo_module)"
[[ -n "$ECHO_MODULE" ]] || die "nginx echo module (ngx_http_echo_module.so) not found after installation"

# wrk and the servers each need one descriptor per connection (a proxy two: client side and
# upstream side); raise the limit if allowed. Children (nginx, orchestratord) inherit it.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE="$(ulimit -n)"
if [[ "$NOFILE" != unlimited ]] && ((NOFILE < 2 * MAX_CONNS + 256)); then
    die "open-file limit is $NOFILE; runs at $MAX_CONNS connections need at least $((2 * MAX_CONNS + 256)) (raise ulimit -n)"
fi

# ---------------------------------------------------------------------------
# orchestratord binary
# ---------------------------------------------------------------------------
if [[ -n "$ORCH_BIN" ]]; then
    log "using ORCH_BIN=$ORCH_BIN (no build)"
elif [[ "$SKIP_BUILD" == 1 ]]; then
    ORCH_BIN="$REPO_DIR/.build/release/orchestratord"
    log "--skip-build: using $ORCH_BIN"
else
    log "building: scripts/build-release.sh"
    ORCH_BIN="$("$REPO_DIR/scripts/build-release.sh")"
fi
[[ -x "$ORCH_BIN" ]] || die "orchestratord binary not found or not executable: $ORCH_BIN"
ORCH_BIN="$(cd "$(dirname "$ORCH_BIN")" && pwd)/$(basename "$ORCH_BIN")"

port_in_use() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }
for port in $UP_PORT $PROXY_PORT $GW_PORT; do
    if port_in_use "$port"; then die "port $port is already in use on $HOST"; fi
done

# ---------------------------------------------------------------------------
# Temp dir, process tracking, cleanup
# ---------------------------------------------------------------------------
TMP="$(mktemp -d "${TMPDIR:-/tmp}/orch-bench.XXXXXX")"
chmod 755 "$TMP" # nginx workers may run as an unprivileged user
RAW="$TMP/raw"
MANIFEST="$TMP/manifest.tsv"
DB="$TMP/bench.db"
mkdir -p "$RAW"
: >"$MANIFEST"

PACED_MANIFEST="$TMP/paced.tsv" # target, round, paced_client.py JSON
MEMORY="$TMP/memory.tsv"         # label, VmRSS kB, VmHWM kB
SOAK_TSV="$TMP/soak.tsv"         # seconds since the soak started, VmRSS kB
: >"$PACED_MANIFEST"
: >"$MEMORY"
: >"$SOAK_TSV"

UP_PID="" PROXY_PID="" GW_PID="" SOAK_WRK_PID=""

# stop_pid PID NAME [TIMEOUT]: SIGTERM, wait up to TIMEOUT seconds, then SIGKILL.
stop_pid() {
    local pid="$1" name="$2" timeout="${3:-10}" i
    [[ -n "$pid" ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < timeout * 10; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            warn "$name (pid $pid) did not exit within ${timeout}s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    stop_pid "$SOAK_WRK_PID" wrk-soak
    stop_pid "$GW_PID" orchestratord 30
    stop_pid "$PROXY_PID" nginx-proxy
    stop_pid "$UP_PID" nginx-upstream
    if ((status != 0 && status != 130 && status != 143)); then # failed, not interrupted
        for f in "$TMP/orchestratord.log" "$TMP/nginx-up/error.log" "$TMP/nginx-proxy/error.log"; do
            [[ -s "$f" ]] || continue
            printf -- '--- last lines of %s ---\n' "$f" >&2
            tail -n 20 "$f" >&2
        done
        KEEP_TMP=1
    fi
    if [[ "$KEEP_TMP" == 1 ]]; then
        log "temp dir kept: $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# nginx: mock upstream and reverse-proxy baseline
# ---------------------------------------------------------------------------

# Common top of both nginx configs: $1 = instance dir.
nginx_preamble() {
    cat <<EOF
load_module $ECHO_MODULE;
daemon off;
master_process on;
worker_processes 1;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 16384; }
EOF
}

# Common http{} settings: logs off, long keep-alive so no run reconnects mid-way.
nginx_http_common() {
    cat <<EOF
    access_log off;
    client_body_temp_path $1/client_body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
    keepalive_timeout 120s;
    keepalive_requests 10000000;
    server_tokens off;
EOF
}

write_upstream_conf() {
    local dir="$TMP/nginx-up"
    mkdir -p "$dir/mock"
    # Copies, so that nginx workers running as an unprivileged user can read them.
    install -m 644 "$BENCH_DIR/mock/chat_completion.json" "$BENCH_DIR/mock/chat_stream.sse" "$dir/mock/"
    {
        nginx_preamble "$dir"
        echo "http {"
        nginx_http_common "$dir"
        cat <<EOF
    sendfile on;
    tcp_nopush on;
    open_file_cache max=16 inactive=1h;
    open_file_cache_valid 1h;
    server {
        listen $HOST:$UP_PORT backlog=4096;
        # Canned bodies are static files. nginx's static handler answers POST with 405,
        # so 405 is turned into an internal GET redirect to the same URI, served with 200.
        # (return 200 '...' cannot hold the stream body: nginx caps a config token at 4 KB.)
        location = /v1/chat/completions {
            default_type application/json;
            alias $dir/mock/chat_completion.json;
            error_page 405 =200 \$uri;
        }
        location = /stream/v1/chat/completions {
            default_type text/event-stream;
            add_header Cache-Control no-cache;
            alias $dir/mock/chat_stream.sse;
            error_page 405 =200 \$uri;
        }
        # Echo module (bench/mock_echo.py writes the directives): the same chat.completion
        # after ${DELAY_SECONDS}s (a timer, no CPU while waiting), and the same SSE events
        # one at a time, each flushed, ${PACE_SECONDS}s apart. Both are sent chunked.
        location = /delay/v1/chat/completions {
            default_type application/json;
$(python3 "$BENCH_DIR/mock_echo.py" delay "$BENCH_DIR/mock/chat_completion.json" "$DELAY_SECONDS" | sed 's/^/            /')
        }
        location = /paced/v1/chat/completions {
            default_type text/event-stream;
            add_header Cache-Control no-cache;
$(python3 "$BENCH_DIR/mock_echo.py" paced "$BENCH_DIR/mock/chat_stream.sse" "$PACE_SECONDS" | sed 's/^/            /')
        }
        # orchestratord's active health check (GET {base_url}/models, every 5 min by
        # default) must succeed, or a long run would see providers marked unhealthy.
        location ~ ^/([a-z]+/)?v1/models\$ {
            default_type application/json;
            return 200 '{"object":"list","data":[{"id":"gpt-4o-mini","object":"model","created":1700000000,"owned_by":"bench"}]}';
        }
        location / {
            default_type application/json;
            return 404 '{"error":{"message":"mock upstream: unknown path","type":"invalid_request_error"}}';
        }
    }
}
EOF
    } >"$dir/nginx.conf"
}

PROXY_KEEPALIVE=$((MAX_CONNS > 64 ? MAX_CONNS : 64))

write_proxy_conf() {
    local dir="$TMP/nginx-proxy"
    mkdir -p "$dir"
    {
        nginx_preamble "$dir"
        echo "http {"
        nginx_http_common "$dir"
        cat <<EOF
    # keepalive = idle upstream connections the worker keeps: at least as many as client
    # connections, so that even the 1000-connection delay run never opens an upstream
    # connection per request (with 50 clients the pool never holds more than 50, so the
    # size changes nothing there).
    upstream mock_upstream {
        server $HOST:$UP_PORT;
        keepalive $PROXY_KEEPALIVE;
        keepalive_requests 10000000;
    }
    server {
        listen $HOST:$PROXY_PORT backlog=4096;
        location / {
            proxy_pass http://mock_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location /stream/ {
            proxy_pass http://mock_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }
        location /paced/ {
            proxy_pass http://mock_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
        }
    }
}
EOF
    } >"$dir/nginx.conf"
}

# start_nginx DIR VAR: validates the config, then runs nginx in the foreground (daemon
# off) as a background job of this shell and stores its pid in VAR.
start_nginx() {
    local dir="$1"
    "$NGINX" -q -t -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >&2 || die "bad nginx config: $dir/nginx.conf"
    "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" </dev/null >>"$dir/stdout.log" 2>&1 &
    printf -v "$2" '%s' "$!"
}

# wait_http URL PID NAME [TIMEOUT]: until URL answers at all (any status).
wait_http() {
    local url="$1" pid="$2" name="$3" timeout="${4:-30}" i
    for ((i = 0; i < timeout * 10; i++)); do
        curl -s -o /dev/null --max-time 1 "$url" && return 0
        kill -0 "$pid" 2>/dev/null || die "$name exited during start-up"
        sleep 0.1
    done
    die "$name did not answer $url within ${timeout}s"
}

# check_post NAME URL BODY WANT_TYPE EXPECT_FILE|-: POST must give 200 with the wanted
# content type; the body must equal EXPECT_FILE (or, with "-", look like the right kind).
check_post() {
    local name="$1" url="$2" body="$3" want_type="$4" expect="$5" out="$TMP/check.out" meta
    meta="$(curl -s -o "$out" -w '%{http_code} %{content_type}' --max-time 10 -X POST \
        -H 'Content-Type: application/json' -H "Authorization: Bearer $CLIENT_KEY" --data "$body" "$url")" ||
        die "$name: POST $url failed"
    [[ "$meta" == "200 $want_type"* ]] || die "$name: POST $url gave '$meta' (want 200 $want_type): $(head -c 300 "$out")"
    if [[ "$expect" != - ]]; then
        cmp -s "$out" "$expect" || die "$name: POST $url: body differs from $expect"
    elif [[ "$want_type" == text/event-stream ]]; then
        grep -q '^data: \[DONE\]' "$out" || die "$name: POST $url: stream has no 'data: [DONE]'"
    else
        grep -q '"choices"' "$out" || die "$name: POST $url: no choices in body: $(head -c 300 "$out")"
    fi
    printf '    ok  %-14s %-50s %s, %s bytes\n' "$name" "$url" "$meta" "$(wc -c <"$out")" >&2
}

CHAT_BODY='{"model":"bench","messages":[{"role":"user","content":"hello"}]}'
STREAM_BODY='{"model":"bench-stream","stream":true,"messages":[{"role":"user","content":"hello"}]}'
DELAY_BODY='{"model":"bench-delay","messages":[{"role":"user","content":"hello"}]}'
# include_usage: orchestratord drops the usage-only chunk unless the client asks for it;
# with it every target delivers the same 24 events.
PACED_BODY='{"model":"bench-paced","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hello"}]}'
MESSAGES_BODY='{"model":"bench","max_tokens":256,"messages":[{"role":"user","content":"hello"}]}'
MESSAGES_STREAM_BODY='{"model":"bench-stream","max_tokens":256,"stream":true,"messages":[{"role":"user","content":"hello"}]}'

# check_messages URL BODY WANT_TYPE PATTERN: orchestratord answers an Anthropic Messages
# request (translated for the mock) with WANT_TYPE and a body that has PATTERN.
check_messages() {
    local url="$1" body="$2" want_type="$3" pattern="$4" out="$TMP/check.out" meta
    meta="$(curl -s -o "$out" -w '%{http_code} %{content_type}' --max-time 10 -X POST \
        -H 'Content-Type: application/json' -H "x-api-key: $CLIENT_KEY" -H 'anthropic-version: 2023-06-01' \
        --data "$body" "$url")" || die "orchestratord: POST $url failed"
    [[ "$meta" == "200 $want_type"* ]] || die "orchestratord: POST $url gave '$meta' (want 200 $want_type): $(head -c 300 "$out")"
    grep -q "$pattern" "$out" || die "orchestratord: POST $url: no '$pattern' in the answer: $(head -c 300 "$out")"
    printf '    ok  %-14s %-50s %s, %s bytes\n' orchestratord "$url" "$meta" "$(wc -c <"$out")" >&2
}

log "starting mock upstream (nginx) on $HOST:$UP_PORT"
write_upstream_conf
start_nginx "$TMP/nginx-up" UP_PID
wait_http "http://$HOST:$UP_PORT/" "$UP_PID" nginx-upstream

log "starting nginx reverse proxy on $HOST:$PROXY_PORT"
write_proxy_conf
start_nginx "$TMP/nginx-proxy" PROXY_PID
wait_http "http://$HOST:$PROXY_PORT/" "$PROXY_PID" nginx-proxy

# ---------------------------------------------------------------------------
# orchestratord
# ---------------------------------------------------------------------------
cat >"$TMP/orchestrator.yaml" <<EOF
# Generated by bench/run.sh
server:
  host: "$HOST"
  port: $GW_PORT
database:
  url: "sqlite://$DB"
keys:
  - { name: bench, key: "$CLIENT_KEY" }
providers:
  - { name: up, type: openai, base_url: "http://$HOST:$UP_PORT/v1", api_keys: ["sk-bench-upstream"] }
  - { name: upstream-stream, type: openai, base_url: "http://$HOST:$UP_PORT/stream/v1", api_keys: ["sk-bench-upstream"] }
  - { name: upstream-delay, type: openai, base_url: "http://$HOST:$UP_PORT/delay/v1", api_keys: ["sk-bench-upstream"] }
  - { name: upstream-paced, type: openai, base_url: "http://$HOST:$UP_PORT/paced/v1", api_keys: ["sk-bench-upstream"] }
models:
  - name: bench
    targets:
      - { provider: up, model: gpt-4o-mini }
  - name: bench-stream
    targets:
      - { provider: upstream-stream, model: gpt-4o-mini }
  - name: bench-delay
    targets:
      - { provider: upstream-delay, model: gpt-4o-mini }
  - name: bench-paced
    targets:
      - { provider: upstream-paced, model: gpt-4o-mini }
EOF

log "starting orchestratord on $HOST:$GW_PORT ($ORCH_BIN)"
(
    cd "$TMP"
    exec env -u ORCH_CONFIG -u ORCH_HOST -u ORCH_PORT -u ORCH_DATABASE_URL -u ORCH_REDIS_URL \
        ORCH_LOG_LEVEL=warning ${ORCH_WRAPPER[@]+"${ORCH_WRAPPER[@]}"} "$ORCH_BIN" serve --config "$TMP/orchestrator.yaml" --host "$HOST" --port "$GW_PORT"
) </dev/null >"$TMP/orchestratord.log" 2>&1 &
GW_PID=$!
wait_http "http://$HOST:$GW_PORT/healthz" "$GW_PID" orchestratord 60

# proc_kib PID FIELD: a kB field of /proc/PID/status (VmRSS = resident now, VmHWM = peak).
proc_kib() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || true; }
# record_memory LABEL: orchestratord's VmRSS and VmHWM, appended to $MEMORY.
record_memory() {
    local rss hwm
    rss="$(proc_kib "$GW_PID" VmRSS)"
    hwm="$(proc_kib "$GW_PID" VmHWM)"
    printf '%s\t%s\t%s\n' "$1" "${rss:-n/a}" "${hwm:-n/a}" >>"$MEMORY"
    log "orchestratord memory $1: VmRSS ${rss:-?} kB, VmHWM ${hwm:-?} kB"
}
GW_NOFILE="$(awk '/^Max open files/ { print $4 }' "/proc/$GW_PID/limits" 2>/dev/null || true)"
sleep 1 # let start-up settle; only /healthz has been requested so far
record_memory "idle after start"

log "checking every target answers correctly"
check_post direct "http://$HOST:$UP_PORT/v1/chat/completions" "$CHAT_BODY" application/json "$BENCH_DIR/mock/chat_completion.json"
check_post direct "http://$HOST:$UP_PORT/stream/v1/chat/completions" "$STREAM_BODY" text/event-stream "$BENCH_DIR/mock/chat_stream.sse"
check_post nginx-proxy "http://$HOST:$PROXY_PORT/v1/chat/completions" "$CHAT_BODY" application/json "$BENCH_DIR/mock/chat_completion.json"
check_post nginx-proxy "http://$HOST:$PROXY_PORT/stream/v1/chat/completions" "$STREAM_BODY" text/event-stream "$BENCH_DIR/mock/chat_stream.sse"
check_post orchestratord "http://$HOST:$GW_PORT/v1/chat/completions" "$CHAT_BODY" application/json -
check_post orchestratord "http://$HOST:$GW_PORT/v1/chat/completions" "$STREAM_BODY" text/event-stream -
check_post direct "http://$HOST:$UP_PORT/delay/v1/chat/completions" "$DELAY_BODY" application/json "$BENCH_DIR/mock/chat_completion.json"
check_post direct "http://$HOST:$UP_PORT/paced/v1/chat/completions" "$PACED_BODY" text/event-stream "$BENCH_DIR/mock/chat_stream.sse"
check_post nginx-proxy "http://$HOST:$PROXY_PORT/delay/v1/chat/completions" "$DELAY_BODY" application/json "$BENCH_DIR/mock/chat_completion.json"
check_post nginx-proxy "http://$HOST:$PROXY_PORT/paced/v1/chat/completions" "$PACED_BODY" text/event-stream "$BENCH_DIR/mock/chat_stream.sse"
check_post orchestratord "http://$HOST:$GW_PORT/v1/chat/completions" "$DELAY_BODY" application/json -
check_post orchestratord "http://$HOST:$GW_PORT/v1/chat/completions" "$PACED_BODY" text/event-stream -
GW_CHECK_REQUESTS=4 # the four orchestratord checks above are logged too
if selected translate; then
    check_messages "http://$HOST:$GW_PORT/v1/messages" "$MESSAGES_BODY" application/json '"type":"message"'
    check_messages "http://$HOST:$GW_PORT/v1/messages" "$MESSAGES_STREAM_BODY" text/event-stream '^event: message_stop'
    GW_CHECK_REQUESTS=6
fi

# ---------------------------------------------------------------------------
# wrk runs
# ---------------------------------------------------------------------------
TARGETS=(direct nginx-proxy orchestratord)

# url_for KIND TARGET
url_for() {
    case "$1:$2" in
    chat:direct) echo "http://$HOST:$UP_PORT/v1/chat/completions" ;;
    chat:nginx-proxy) echo "http://$HOST:$PROXY_PORT/v1/chat/completions" ;;
    stream:direct) echo "http://$HOST:$UP_PORT/stream/v1/chat/completions" ;;
    stream:nginx-proxy) echo "http://$HOST:$PROXY_PORT/stream/v1/chat/completions" ;;
    delay:direct) echo "http://$HOST:$UP_PORT/delay/v1/chat/completions" ;;
    delay:nginx-proxy) echo "http://$HOST:$PROXY_PORT/delay/v1/chat/completions" ;;
    paced:direct) echo "http://$HOST:$UP_PORT/paced/v1/chat/completions" ;;
    paced:nginx-proxy) echo "http://$HOST:$PROXY_PORT/paced/v1/chat/completions" ;;
    messages:direct) echo "http://$HOST:$UP_PORT/v1/chat/completions" ;;
    messages:nginx-proxy) echo "http://$HOST:$PROXY_PORT/v1/chat/completions" ;;
    messages_stream:direct) echo "http://$HOST:$UP_PORT/stream/v1/chat/completions" ;;
    messages_stream:nginx-proxy) echo "http://$HOST:$PROXY_PORT/stream/v1/chat/completions" ;;
    messages*:orchestratord) echo "http://$HOST:$GW_PORT/v1/messages" ;;
    *:orchestratord) echo "http://$HOST:$GW_PORT/v1/chat/completions" ;;
    esac
}

script_for() {
    case "$1" in
    stream) echo "$BENCH_DIR/post_stream.lua" ;;
    delay) echo "$BENCH_DIR/post_delay.lua" ;;
    messages) echo "$BENCH_DIR/post_messages.lua" ;;
    messages_stream) echo "$BENCH_DIR/post_messages_stream.lua" ;;
    *) echo "$BENCH_DIR/post.lua" ;;
    esac
}

# run_wrk SCENARIO KIND TARGET ROUND CONNECTIONS SECONDS
run_wrk() {
    local scenario="$1" kind="$2" target="$3" round="$4" conns="$5" secs="$6"
    local out="$RAW/${scenario//[^A-Za-z0-9=-]/_}__${target}__${round}.txt" url summary
    url="$(url_for "$kind" "$target")"
    local cmd=(wrk -t1 -c"$conns" -d"${secs}s" --timeout 10s --latency -s "$(script_for "$kind")" "$url")
    {
        echo "# ${cmd[*]#"$BENCH_DIR/"}"
        "${cmd[@]}" 2>&1 || echo "wrk exited with status $?"
    } >"$out"
    printf '%s\t%s\t%s\t%s\n' "$scenario" "$target" "$round" "$out" >>"$MANIFEST"
    summary="$(python3 "$BENCH_DIR/report.py" brief "$out")"
    printf '    %-20s %-14s %-7s %s\n' "$scenario" "$target" "$round" "$summary" >&2
}

# scenario|kind|connections, in table order.
SCENARIOS=()
if selected chat; then SCENARIOS+=("chat c=$CONNECTIONS|chat|$CONNECTIONS"); fi
if selected c1; then SCENARIOS+=("chat c=1|chat|1"); fi
if selected stream; then SCENARIOS+=("stream c=$CONNECTIONS|stream|$CONNECTIONS"); fi
if selected c1; then SCENARIOS+=("stream c=1|stream|1"); fi
if selected delay; then
    for c in "${DELAY_CONNS[@]}"; do SCENARIOS+=("delay c=$c|delay|$c"); done
fi
if selected translate; then
    SCENARIOS+=("messages c=$CONNECTIONS|messages|$CONNECTIONS" "messages_stream c=$CONNECTIONS|messages_stream|$CONNECTIONS")
fi
# Warm-up connections per kind: the delay warm-up opens as many as its largest run, so
# the proxies' upstream pools are grown before measuring.
warmup_conns() { if [[ "$1" == delay ]]; then echo "$MAX_CONNS"; else echo "$CONNECTIONS"; fi; }

log "scenarios: $ONLY; $(nproc) CPU(s), open-file limit $NOFILE"
if ((${#SCENARIOS[@]})); then
    log "wrk: ${DURATION}s per run, $ROUNDS round(s) interleaved, warm-up ${WARMUP}s"
fi
warmed=""
for entry in ${SCENARIOS[@]+"${SCENARIOS[@]}"}; do
    IFS='|' read -r scenario kind conns <<<"$entry"
    if ((WARMUP > 0)) && [[ " $warmed " != *" $kind "* ]]; then
        wconns="$(warmup_conns "$kind")"
        for target in "${TARGETS[@]}"; do run_wrk "$kind c=$wconns" "$kind" "$target" warmup "$wconns" "$WARMUP"; done
        warmed+=" $kind"
    fi
    for ((round = 1; round <= ROUNDS; round++)); do
        for target in "${TARGETS[@]}"; do run_wrk "$scenario" "$kind" "$target" "$round" "$conns" "$DURATION"; done
    done
done

# ---------------------------------------------------------------------------
# Paced stream: one stream at a time; the upstream sends an event every 10 ms
# ---------------------------------------------------------------------------
# run_paced TARGET ROUND
run_paced() {
    local target="$1" round="$2" out="$RAW/paced__${1}__${2}.json" summary
    summary="$(python3 "$BENCH_DIR/paced_client.py" --url "$(url_for paced "$target")" --body "$PACED_BODY" \
        --header "Authorization: Bearer $CLIENT_KEY" --streams "$PACED_STREAMS" --warmup 1 --out "$out" 2>&1)" ||
        summary="paced_client.py failed: $(tail -n 1 <<<"$summary")"
    [[ -s "$out" ]] || printf '{"url": "", "requests": 0, "errors": ["paced_client.py failed"], "streams": []}\n' >"$out"
    printf '%s\t%s\t%s\n' "$target" "$round" "$out" >>"$PACED_MANIFEST"
    printf '    %-20s %-14s %-7s %s\n' "paced stream" "$target" "$round" "$summary" >&2
}

if selected paced; then
    log "paced stream: $PACED_STREAMS stream(s) per target and round (+1 warm-up), one at a time, $ROUNDS round(s) interleaved"
    for ((round = 1; round <= ROUNDS; round++)); do
        for target in "${TARGETS[@]}"; do run_paced "$target" "$round"; done
    done
fi

record_memory "after the runs"

# ---------------------------------------------------------------------------
# Soak: chat load against orchestratord alone, VmRSS sampled every SOAK_INTERVAL seconds
# ---------------------------------------------------------------------------
now_us() { echo "${EPOCHREALTIME//[.,]/}"; }

if ((SOAK > 0)); then
    log "soak: $SOAK_KIND c=$CONNECTIONS against orchestratord for ${SOAK}s, VmRSS every ${SOAK_INTERVAL}s"
    soak_out="$RAW/soak__orchestratord.txt"
    soak_cmd=(wrk -t1 -c"$CONNECTIONS" -d"${SOAK}s" --timeout 10s --latency -s "$(script_for "$SOAK_KIND")"
        "$(url_for "$SOAK_KIND" orchestratord)")
    echo "# ${soak_cmd[*]#"$BENCH_DIR/"}" >"$soak_out"
    "${soak_cmd[@]}" >>"$soak_out" 2>&1 & # wrk itself is the job, so cleanup can stop it
    SOAK_WRK_PID=$!
    soak_start="$(now_us)"
    for ((k = 1; k * SOAK_INTERVAL <= SOAK; k++)); do
        wait_us=$((soak_start + k * SOAK_INTERVAL * 1000000 - $(now_us)))
        if ((wait_us > 0)); then sleep "$((wait_us / 1000000)).$(printf '%06d' $((wait_us % 1000000)))"; fi
        kill -0 "$SOAK_WRK_PID" 2>/dev/null || break
        rss="$(proc_kib "$GW_PID" VmRSS)"
        [[ -n "$rss" ]] || die "orchestratord (pid $GW_PID) is gone during the soak"
        printf '%s\t%s\n' "$((k * SOAK_INTERVAL))" "$rss" >>"$SOAK_TSV"
        if ((k == 1 || k * SOAK_INTERVAL % 60 == 0)); then
            printf '    %-20s %-14s %-7s VmRSS %s kB\n' soak orchestratord "$((k * SOAK_INTERVAL))s" "$rss" >&2
        fi
    done
    soak_status=0
    wait "$SOAK_WRK_PID" || soak_status=$?
    ((soak_status == 0)) || echo "wrk exited with status $soak_status" >>"$soak_out"
    SOAK_WRK_PID=""
    printf '%s\t%s\t%s\t%s\n' "soak $SOAK_KIND c=$CONNECTIONS" orchestratord soak "$soak_out" >>"$MANIFEST"
    printf '    %-20s %-14s %-7s %s\n' "soak $SOAK_KIND c=$CONNECTIONS" orchestratord "${SOAK}s" \
        "$(python3 "$BENCH_DIR/report.py" brief "$soak_out")" >&2
    record_memory "after the soak"
fi

# ---------------------------------------------------------------------------
# Request-log check: stop orchestratord (it flushes its log writer on SIGTERM)
# ---------------------------------------------------------------------------
log "stopping orchestratord (SIGTERM) so it flushes its request logs"
stop_pid "$GW_PID" orchestratord 60
GW_PID=""
LOG_ROWS="$(sqlite3 "$DB" 'select count(*) from request_logs' 2>&1)" || LOG_ROWS="error: $LOG_ROWS"
WRK_GW_REQUESTS="$(python3 "$BENCH_DIR/report.py" requests "$MANIFEST" orchestratord)"
PACED_GW_REQUESTS="$(python3 "$BENCH_DIR/report.py" paced-requests "$PACED_MANIFEST" orchestratord)"
SENT=$((WRK_GW_REQUESTS + PACED_GW_REQUESTS + GW_CHECK_REQUESTS))
if [[ "$LOG_ROWS" =~ ^[0-9]+$ ]]; then
    if ((LOG_ROWS >= SENT)); then
        VERDICT="ok (rows ≥ completed requests; wrk does not count requests still in flight when a run ends)"
    else
        VERDICT="MISSING $((SENT - LOG_ROWS)) row(s): fewer log rows than requests wrk saw complete"
    fi
else
    VERDICT="could not count rows"
fi
LOG_LINE="log rows: $LOG_ROWS, requests sent: $SENT ($WRK_GW_REQUESTS completed by wrk incl. warm-up and soak + $PACED_GW_REQUESTS paced streams + $GW_CHECK_REQUESTS checks) — $VERDICT"
# Rows by model and status: 499 = client went away (wrk closing connections at the end of a run).
LOG_BREAKDOWN="log rows by model/status: $(sqlite3 -separator ' ' "$DB" \
    "select model || ' ' || status || ': ' || count(*) from request_logs group by model, status order by model, status" 2>/dev/null |
    paste -sd, - | sed 's/,/, /g')"

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
TABLE="$(python3 "$BENCH_DIR/report.py" summary --wrk "$MANIFEST" --paced "$PACED_MANIFEST" \
    --memory "$MEMORY" --soak "$SOAK_TSV" --delay-seconds "$DELAY_SECONDS")"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RESULTS_DIR="$BENCH_DIR/results"
RESULT_FILE="$RESULTS_DIR/$STAMP.md"
mkdir -p "$RESULTS_DIR"
COMMIT="$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo none)"

echo
echo "$TABLE"
echo
echo "$LOG_LINE"
echo "$LOG_BREAKDOWN"

{
    echo "# Orchestrator benchmark $STAMP"
    echo
    echo "- commit: $COMMIT; binary: \`$ORCH_BIN\`"
    echo "- host: $(uname -srm), $(nproc) CPU(s); nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///'); $(wrk --version 2>&1 | head -n1 | cut -d' ' -f1-2)"
    echo "- scenarios: $ONLY; open-file limit $NOFILE (orchestratord: ${GW_NOFILE:-?})"
    echo "- wrk: 1 thread, ${DURATION}s per run, $ROUNDS round(s) interleaved (best round shown), warm-up ${WARMUP}s, c=$CONNECTIONS and c=1; delay c=$DELAY_CONNECTIONS"
    echo "- paced stream: $PACED_STREAMS stream(s) per target and round, one at a time; soak: $(if ((SOAK > 0)); then echo "${SOAK}s, VmRSS every ${SOAK_INTERVAL}s"; else echo off; fi)"
    echo
    echo "$TABLE"
    echo
    echo "$LOG_LINE"
    echo
    echo "$LOG_BREAKDOWN"
    echo
    if [[ -s "$PACED_MANIFEST" ]]; then
        echo "## Paced stream runs"
        echo
        while IFS=$'\t' read -r target round raw; do
            echo "- $target, round $round: $(python3 "$BENCH_DIR/report.py" paced-brief "$raw")"
        done <"$PACED_MANIFEST"
        echo
    fi
    echo "## Raw wrk output"
    while IFS=$'\t' read -r scenario target round raw; do
        echo
        echo "### $scenario — $target — round $round"
        echo
        echo '```'
        cat "$raw"
        echo '```'
    done <"$MANIFEST"
    if [[ -s "$TMP/orchestratord.log" ]]; then
        echo
        echo "## orchestratord log (last 50 lines)"
        echo
        echo '```'
        tail -n 50 "$TMP/orchestratord.log"
        echo '```'
    fi
} >"$RESULT_FILE"
log "results written to ${RESULT_FILE#"$REPO_DIR"/}"
