#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need (npm packages, a Redis server), then
# builds, lints and runs every test. CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n==> %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
    echo "need root to run: $*" >&2; return 1
  fi
}

apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

say "installing npm packages"
# `npm install` rather than `npm ci`: npm leaves msgpackr's optional per-platform builds out of the lockfile on
# Linux, and `npm ci` then refuses the lockfile as out of sync. `npm install` still follows the locked versions.
npm install --no-audit --no-fund

say "checking Redis"
# Tests that kill and restart Redis start their own redis-server on a free port, so the binary must exist;
# the rest use the one on 6379 (or ROOMBUS_TEST_REDIS_URL) and only touch keys they create.
if ! command -v redis-server >/dev/null 2>&1; then
  say "installing redis-server"
  apt_install redis-server
fi
if ! redis-cli -p 6379 ping >/dev/null 2>&1; then
  say "starting a Redis on 127.0.0.1:6379"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --logfile "$(mktemp -d)/redis.log"
  for _ in $(seq 1 50); do redis-cli -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

say "checking Chromium (the answer page is tested in a real browser)"
if [ -z "${ROOMBUS_TEST_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  say "installing chromium"
  apt_install chromium
fi

say "building"
npm run build --silent

say "linting"
npm run lint --silent

say "running the tests"
npx vitest run
