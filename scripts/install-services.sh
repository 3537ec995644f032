#!/usr/bin/env bash
# Install the database servers the multi-server tests start on their own (tests/services.py):
# PostgreSQL (Debian's postgresql: initdb and postgres under /usr/lib/postgresql/<ver>/bin) and
# Redis (Debian's redis-server). Does nothing when both are there. `make services` runs this.
# Only the binaries are needed: the tests start throwaway servers on free loopback ports in temp
# directories, so the system-wide services Debian may start are not used (or needed).
set -euo pipefail

have_postgres() {
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null &&
    compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null
}
have_redis() {
  command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ]
}

missing=()
have_postgres || missing+=(postgresql)
have_redis || missing+=(redis-server)
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "error: ${missing[*]} missing and apt-get is not available: install them with your" \
    "system's package manager (PostgreSQL 13+ server binaries, redis-server 6+)" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  SUDO=sudo
fi
echo "Installing ${missing[*]} with apt-get"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
  "${missing[@]}" >/dev/null
have_postgres || { echo "error: postgresql installed but no initdb found" >&2; exit 1; }
have_redis || { echo "error: redis-server installed but not found" >&2; exit 1; }
