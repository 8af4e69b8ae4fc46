#!/usr/bin/env bash
# Runs the gateway: installs missing system libraries, builds a release binary and
# starts it with ./orchestrator.yaml (embedded SQLite in ./data). Arguments are passed
# on to `orchestratord serve`, e.g. scripts/serve.sh --port 9000
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-deps.sh
echo "==> building orchestratord (release, Swift libraries linked statically)" >&2
binary="$(scripts/build-release.sh)"
exec "$binary" serve --config orchestrator.yaml "$@"
