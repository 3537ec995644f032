#!/usr/bin/env bash
# Install the system packages the end-to-end tests use, those of them that are missing, with one
# apt-get call:
#   chromium    Debian's chromium, driven by Playwright in the browser tests (no browser download)
#   postgresql  the server binaries (initdb, postgres under /usr/lib/postgresql/<ver>/bin)
#   redis       redis-server
# Usage: scripts/install-services.sh [chromium] [postgresql] [redis]   (no argument: all three)
# `make browser`, `make services` and `make e2e` run this. Only the binaries are needed: the tests
# start throwaway servers on free loopback ports in temp directories (tests/services.py), so the
# system-wide services Debian may start are not used (or needed).
set -euo pipefail

have_chromium() {
  [ -x "${CHROMIUM:-/usr/bin/chromium}" ] || command -v chromium >/dev/null 2>&1
}
have_postgresql() {
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null &&
    compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null
}
have_redis() {
  command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ]
}

wanted=("$@")
[ "${#wanted[@]}" -eq 0 ] && wanted=(chromium postgresql redis)
missing=()
for name in "${wanted[@]}"; do
  case "$name" in
    chromium) have_chromium || missing+=(chromium) ;;
    postgresql) have_postgresql || missing+=(postgresql) ;;
    redis) have_redis || missing+=(redis-server) ;;
    *) echo "error: unknown package '$name' (chromium, postgresql or redis)" >&2; exit 2 ;;
  esac
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: ${missing[*]} missing and apt-get is not available: install them with your" \
    "system's package manager (Chromium, PostgreSQL 13+ server binaries, redis-server 6+)" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  SUDO=sudo
fi
echo "Installing ${missing[*]} with apt-get"
servers=()
for package in "${missing[@]}"; do
  [ "$package" = chromium ] || servers+=("$package")
done
$SUDO apt-get update -qq
# chromium with its recommended packages (fonts among them); the servers need only themselves
if [[ " ${missing[*]} " == *" chromium "* ]]; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
if [ "${#servers[@]}" -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${servers[@]}" >/dev/null
fi
for name in "${wanted[@]}"; do
  "have_$name" || { echo "error: $name installed but not found" >&2; exit 1; }
done
