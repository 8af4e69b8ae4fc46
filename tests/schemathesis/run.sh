#!/usr/bin/env bash
# Fuzzes a live orchestratord with schemathesis, against the server's own /openapi.json:
# 1. every /admin operation (positive and negative data): any 5xx, or any status code,
#    content type, header or body the document does not describe, fails the run;
# 2. the API routes (/v1, /v1beta) with malformed requests only (wrong types, missing
#    fields, out-of-range values, bad paths and headers; at least 500 of them): any 5xx or
#    undocumented status or content type fails the run.
# The server must still be healthy and alive afterwards.
# Usage: bash tests/schemathesis/run.sh   (ORCH_BIN overrides the binary;
#        ST_MAX_EXAMPLES the examples per operation, default 40; ST_SEED the seed)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$REPO/.venv-schemathesis"
BIN="${ORCH_BIN:-$REPO/.build/debug/orchestratord}"
cd "$REPO"

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r tests/schemathesis/requirements.txt

work="$(mktemp -d)"
port="$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
admin_key="sk-admin-schemathesis-0123456789"
cat > "$work/orchestrator.yaml" <<YAML
server: { host: 127.0.0.1, port: $port }
database: { url: "sqlite://$work/orchestrator.db" }
admin: { key: "$admin_key" }
keys:
  - { name: fuzz-client, key: "sk-client-schemathesis-0123456789" }
providers:
  - { name: demo, type: mock, mock: { reply: "hi" } }
  - { name: remote, type: openai, base_url: "http://127.0.0.1:9/v1", api_keys: ["sk-upstream-schemathesis-9999"] }
models:
  - name: chat
    targets: [{ provider: demo, model: mock-1 }]
YAML

ORCH_LOG_LEVEL=warning "$BIN" serve --config "$work/orchestrator.yaml" > "$work/gateway.log" 2>&1 &
pid=$!
cleanup() {
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
    curl -fsS "$base/readyz" > /dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/gateway.log" >&2; echo "orchestratord exited" >&2; exit 1; }
    sleep 0.1
done

common=(--seed "${ST_SEED:-20261129}" --workers 1 --generation-database none --request-timeout 30 --no-color --warnings off)
set +e
echo "==> schemathesis: /admin" >&2
"$VENV/bin/schemathesis" run "$base/openapi.json" \
    --include-path-regex '^/admin' \
    -H "Authorization: Bearer $admin_key" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
    --max-examples "${ST_MAX_EXAMPLES:-40}" "${common[@]}"
code=$?
echo "==> schemathesis: /v1 and /v1beta, malformed requests only" >&2
"$VENV/bin/schemathesis" run "$base/openapi.json" \
    --include-path-regex '^/v1' \
    -H "Authorization: Bearer sk-client-schemathesis-0123456789" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance \
    --mode negative --phases coverage,fuzzing --suppress-health-check filter_too_much \
    --max-examples "${ST_MAX_EXAMPLES_V1:-25}" "${common[@]}" | tee "$work/v1.out"
v1=${PIPESTATUS[0]}
[ "$v1" -ne 0 ] && code=$v1
generated="$(sed -n 's/^ *\([0-9][0-9]*\) generated.*/\1/p' "$work/v1.out" | tail -1)"
if [ "${generated:-0}" -lt 500 ]; then
    echo "only ${generated:-0} malformed API requests were generated (at least 500 are required)" >&2
    code=1
fi
set -e

if ! curl -fsS "$base/healthz" > /dev/null; then
    echo "orchestratord is not healthy after the schemathesis run" >&2
    code=1
fi
if ! kill -0 "$pid" 2>/dev/null; then
    echo "orchestratord died during the schemathesis run" >&2
    code=1
fi
if [ "$code" -ne 0 ]; then
    echo "--- gateway log (last 50 lines)" >&2
    tail -n 50 "$work/gateway.log" >&2
fi
exit "$code"
