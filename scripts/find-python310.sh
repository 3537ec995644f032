#!/usr/bin/env bash
# Print the path of a Python 3.10 interpreter (Rasa 3.6 needs Python < 3.11), or explain how to
# get one and exit 1. Looks at $PYTHON310, python3.10 on PATH, then pyenv's versions.
set -u
candidates=()
[ -n "${PYTHON310:-}" ] && candidates+=("$PYTHON310")
command -v python3.10 >/dev/null 2>&1 && candidates+=("$(command -v python3.10)")
roots=()
command -v pyenv >/dev/null 2>&1 && roots+=("$(pyenv root 2>/dev/null)")
roots+=("${PYENV_ROOT:-$HOME/.pyenv}")
for root in "${roots[@]}"; do
  for py in "$root"/versions/3.10*/bin/python3.10; do
    [ -x "$py" ] && candidates+=("$py")
  done
done
for py in "${candidates[@]}"; do
  if "$py" -c 'import sys, venv; sys.exit(0 if sys.version_info[:2] == (3, 10) else 1)' 2>/dev/null; then
    echo "$py"
    exit 0
  fi
done
cat >&2 <<'MSG'
error: Python 3.10 was not found (Rasa 3.6 runs on Python 3.8-3.10, not 3.11 or newer).
Install it, then run make again. Either:
  pyenv install 3.10.13          (pyenv: https://github.com/pyenv/pyenv)
  apt-get install python3.10 python3.10-venv   (where your OS packages it)
or point to an interpreter you already have:
  make run PYTHON310=/path/to/python3.10
MSG
exit 1
