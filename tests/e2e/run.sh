#!/usr/bin/env bash
# End-to-end tests of orchestratord through the official openai, anthropic and google-genai Python clients.
# Usage: bash tests/e2e/run.sh [pytest args...]   (ORCH_BIN overrides the binary)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="$REPO/.venv"
cd "$REPO"

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r tests/e2e/requirements.txt

set +e
"$VENV/bin/python" -m pytest -q tests/e2e "$@"
code=$?
set -e
exit "$code"
