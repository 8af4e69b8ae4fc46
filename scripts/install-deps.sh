#!/usr/bin/env bash
# Installs the system packages Orchestrator needs, when they are missing (Debian/Ubuntu).
# Usage: scripts/install-deps.sh [extra-package ...]
set -euo pipefail

packages=(libsqlite3-dev libmariadb-dev pkg-config "$@")
missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "==> installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
