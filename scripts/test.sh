#!/usr/bin/env bash
# Every check and test Latchkey has: formatting, lints, and all test suites on SQLite and
# PostgreSQL. Installs or starts what it needs; run from anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."

# PostgreSQL for the store suite and the PostgreSQL flows (127.0.0.1:5432, trust auth).
export LATCHKEY_TEST_DATABASE_URL="${LATCHKEY_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "test: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
fi
pg_isready -h 127.0.0.1 -p 5432 || { echo "test: PostgreSQL is required at 127.0.0.1:5432" >&2; exit 1; }

SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -qq --no-install-recommends "$@" \
    || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "$@"; }
}
# A web server package may start its service on port 80 when installed: the tests start their
# own instances, so the service is stopped and kept from starting at boot.
stop_service() {
  if [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now "$1" >/dev/null 2>&1 || true
  else
    $SUDO service "$1" stop >/dev/null 2>&1 || true
    $SUDO update-rc.d "$1" disable >/dev/null 2>&1 || true
  fi
}

# Browser tests: Debian's chromium (never a browser downloaded by a tool) driven by
# playwright-core from e2e/.
if ! command -v chromium >/dev/null 2>&1; then
  echo "test: installing chromium"
  apt_install chromium
fi

# Forward-auth tests: Debian's nginx (nginx-light has auth_request) and Caddy, each started by
# the tests on a loopback port with its own configuration in a temporary directory.
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  echo "test: installing nginx"
  apt_install nginx-light
  stop_service nginx
fi
if ! { PATH="$PATH:/usr/sbin" nginx -V 2>&1 | grep -q -- --with-http_auth_request_module; }; then
  echo "test: the installed nginx has no auth_request module (Debian's nginx-light has it)" >&2
  exit 1
fi
if ! command -v caddy >/dev/null 2>&1; then
  echo "test: installing caddy"
  apt_install caddy
  stop_service caddy
fi
# The proxy's Redis session tests: Redis on 127.0.0.1:6379 (they use database 3). Started
# here, without persistence, when none answers.
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }
if ! redis_up; then
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "test: installing redis"
    apt_install redis-server redis-tools
    stop_service redis-server
  fi
  if ! redis_up; then
    echo "test: starting Redis"
    redis-server --bind 127.0.0.1 --port 6379 --save '' --appendonly no --daemonize yes >/dev/null
    for _ in $(seq 1 30); do redis_up && break; sleep 0.2; done
  fi
fi
redis_up || { echo "test: Redis is required at 127.0.0.1:6379" >&2; exit 1; }

echo "test: npm ci (e2e)"
(cd e2e && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)

echo "test: cargo fmt --check"
cargo fmt --all -- --check

echo "test: cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "test: cargo test"
cargo test --workspace --locked
