#!/usr/bin/env bash
# Create or reuse the project's virtual environment (.venv, or $MYGO_VENV) with the pinned packages.
# Sourced by scripts/main.sh and scripts/test.sh; safe to run on its own.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${MYGO_VENV:-$here/.venv}"
py="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  echo "setup: creating $venv" >&2
  "$py" -m venv "$venv"
fi
stamp="$venv/.mygo-requirements.sha256"
want="$(cat "$here/requirements.txt" "$here/pyproject.toml" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing pinned packages into $venv (torch is large: a few minutes the first time)" >&2
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q -r "$here/requirements.txt"
  "$venv/bin/python" -m pip install -q --no-deps -e "$here"
  "$venv/bin/python" -m ipykernel install --sys-prefix --name python3 >/dev/null
  echo "$want" > "$stamp"
fi
export PATH="$venv/bin:$PATH"
