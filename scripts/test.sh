#!/usr/bin/env bash
# Runs the whole test suite: installs missing system packages, checks that the OpenAPI
# document is what its generator writes, builds once (debug, with tests), starts a
# throwaway MariaDB on loopback for the MySQL tests, runs every Swift test suite against
# that build, then the end-to-end tests with the official openai, anthropic and
# google-genai Python clients and a schemathesis run over /admin against the built binary,
# and last builds the microbenchmark package so that it keeps compiling.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-deps.sh python3-venv python3-pip

echo "==> OpenAPI document up to date with scripts/openapi/generate.py" >&2
python3 scripts/openapi/generate.py --check

echo "==> swift build --build-tests" >&2
mkdir -p .build
set +e
swift build --build-tests > .build/test-build.log 2>&1
status=$?
set -e
grep -vE '^\[[0-9]+/[0-9]+\] ' .build/test-build.log || true
if [ "$status" -ne 0 ]; then
    echo "build failed" >&2
    exit "$status"
fi
# The project's own code must build without warnings (dependencies' are not ours).
if grep -E "^$PWD/(Sources|Tests)/[^:]+:[0-9]+:[0-9]+: warning:" .build/test-build.log; then
    echo "the build has warnings in project code" >&2
    exit 1
fi

# The persistence and integration suites also run against a real MariaDB: started
# here on loopback unless ORCH_TEST_MYSQL_URL already names a server.
if [ -z "${ORCH_TEST_MYSQL_URL:-}" ]; then
    mariadb_env="$(scripts/mariadb.sh start)" || { echo "could not start MariaDB for the MySQL tests" >&2; exit 1; }
    eval "$mariadb_env"
    trap 'scripts/mariadb.sh stop' EXIT
fi
export ORCH_TEST_MYSQL_URL

echo "==> swift test (SQLite, and MySQL at ${ORCH_TEST_MYSQL_URL##*@})" >&2
# Every gateway the integration suite starts searches its log lines and answers for the
# secrets it was configured with (Tests/IntegrationTests/Support.swift); the totals
# show that the search ran.
audit_file="$(mktemp)"
ORCH_SECRET_AUDIT_FILE="$audit_file" swift test --skip-build
awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); total[kv[1]] += kv[2] } }
     END { if (total["gateways"] == 0) exit 1
           printf "==> secret audit: %d gateways, %d secrets, %d log lines, %d answers searched; none leaked\n",
                  total["gateways"], total["secrets"], total["log_lines"], total["answers"] }' "$audit_file" >&2 \
    || { echo "the secret audit did not run" >&2; exit 1; }
rm -f "$audit_file"

echo "==> end-to-end tests (openai, anthropic and google-genai Python clients)" >&2
ORCH_BIN="$PWD/.build/debug/orchestratord" bash tests/e2e/run.sh

echo "==> schemathesis: every /admin operation fuzzed against /openapi.json" >&2
ORCH_BIN="$PWD/.build/debug/orchestratord" bash tests/schemathesis/run.sh

# The microbenchmarks (Benchmarks/, a package of their own) are run by hand, so nothing
# else notices when a change to the gateway's API breaks them: build them (debug, in a
# scratch directory of their own) without running them.
echo "==> microbenchmarks still build (Benchmarks/, not run)" >&2
set +e
swift build --package-path Benchmarks --scratch-path .build-bench > .build/bench-build.log 2>&1
status=$?
set -e
if [ "$status" -ne 0 ]; then
    grep -vE '^\[[0-9]+/[0-9]+\] ' .build/bench-build.log || true
    echo "the Benchmarks package does not build" >&2
    exit "$status"
fi
if grep -E "^$PWD/Benchmarks/Benchmarks/[^:]+:[0-9]+:[0-9]+: warning:" .build/bench-build.log; then
    echo "the Benchmarks package has warnings in its own code" >&2
    exit 1
fi
