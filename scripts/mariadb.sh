#!/usr/bin/env bash
# Starts a throwaway MariaDB server on loopback for the MySQL tests (installing
# mariadb-server if it is missing) and prints the shell line that points the tests at it:
#   eval "$(scripts/mariadb.sh start)"   # exports ORCH_TEST_MYSQL_URL
#   scripts/mariadb.sh stop
# Its files live in .build/mariadb (ignored by git); ORCH_TEST_MYSQL_PORT picks the port.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DIR="$PWD/.build/mariadb"
SOCKET="$DIR/mysqld.sock"
USER_NAME="$(id -un)"

# The port: ORCH_TEST_MYSQL_PORT, the one this checkout's server already uses, or the
# first free one from 33061 (another checkout's server may hold 33061).
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [ -n "${ORCH_TEST_MYSQL_PORT:-}" ]; then
    PORT="$ORCH_TEST_MYSQL_PORT"
elif [ -S "$SOCKET" ] && ALIVE_PORT="$(mariadb --no-defaults --socket="$SOCKET" -u root -N -e 'SELECT @@port' 2>/dev/null)"; then
    PORT="$ALIVE_PORT"
else
    PORT=33061
    while port_in_use "$PORT"; do PORT=$((PORT + 1)); done
fi
URL="mysql://orch:orch-test@127.0.0.1:$PORT/orch_test"

client() { mariadb --no-defaults --socket="$SOCKET" -u root "$@"; }

stop() {
    if [ -f "$DIR/mysqld.pid" ]; then
        kill "$(cat "$DIR/mysqld.pid")" 2>/dev/null || true
        for _ in $(seq 1 50); do
            [ -f "$DIR/mysqld.pid" ] || break
            sleep 0.1
        done
    fi
}

start() {
    scripts/install-deps.sh mariadb-server mariadb-client >&2
    if mariadb-admin --no-defaults --socket="$SOCKET" -u root ping >/dev/null 2>&1; then
        echo "export ORCH_TEST_MYSQL_URL=$URL"
        return
    fi
    rm -rf "$DIR/data"
    mkdir -p "$DIR/data"
    mariadb-install-db --no-defaults --datadir="$DIR/data" --user="$USER_NAME" \
        --auth-root-authentication-method=normal --skip-test-db >"$DIR/install.log" 2>&1 || {
        cat "$DIR/install.log" >&2
        exit 1
    }
    /usr/sbin/mariadbd --no-defaults --datadir="$DIR/data" --socket="$SOCKET" --pid-file="$DIR/mysqld.pid" \
        --port="$PORT" --bind-address=127.0.0.1 --user="$USER_NAME" --skip-name-resolve \
        --innodb-buffer-pool-size=64M --innodb-log-file-size=16M --max-connections=400 \
        --log-error="$DIR/error.log" >/dev/null 2>&1 &
    for _ in $(seq 1 300); do
        if mariadb-admin --no-defaults --socket="$SOCKET" -u root ping >/dev/null 2>&1; then
            client -e "CREATE USER IF NOT EXISTS 'orch'@'127.0.0.1' IDENTIFIED BY 'orch-test';
                GRANT ALL PRIVILEGES ON *.* TO 'orch'@'127.0.0.1'; CREATE DATABASE IF NOT EXISTS orch_test;"
            echo "==> MariaDB $(mariadbd --version | awk '{print $3}') on 127.0.0.1:$PORT" >&2
            echo "export ORCH_TEST_MYSQL_URL=$URL"
            return
        fi
        sleep 0.1
    done
    echo "MariaDB did not start; its log:" >&2
    cat "$DIR/error.log" >&2 || true
    exit 1
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: scripts/mariadb.sh start|stop" >&2; exit 2 ;;
esac
