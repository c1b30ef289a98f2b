#!/usr/bin/env bash
# Installs tests/node's npm packages exactly as package-lock.json pins them (npm ci), but only when node_modules is
# missing or was installed from another lockfile: a stamp in node_modules records the lockfile's hash.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "tests/node: node and npm (Node 20+) are not on PATH" >&2
  exit 2
fi
# The browser tests drive Debian's chromium (shared/feasibility.md); playwright-core downloads no browser.
# BOTSERVICE_NO_BROWSER=1 (the service's build, which only needs the Web Chat bundle) skips it.
if [ ! -x /usr/bin/chromium ] && [ "${BOTSERVICE_NO_BROWSER:-}" != 1 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "tests/node: installing Debian's chromium for the browser tests"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null \
      || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; }
  else
    echo "tests/node: /usr/bin/chromium is missing; install Debian's chromium (apt-get install chromium) for the browser tests" >&2
  fi
fi
stamp=node_modules/.installed-from-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "tests/node: node_modules matches package-lock.json"
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
echo "$want" > "$stamp"
