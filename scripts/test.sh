#!/usr/bin/env bash
# The test command: set up (or reuse) .venv, lint, then run the whole test suite.
# Real-data tests read MYGO_DATA (e.g. MYGO_DATA=../shared/data) and are skipped with a reason without it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$here/scripts/setup.sh"
cd "$here"
ruff check mygo_nb tests benchmarks scripts notebooks
# tests/test_browser.py needs Chromium: install it when absent and we can (root with apt-get), else it skips.
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "test: installing chromium for the browser test" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
    || echo "test: could not install chromium; tests/test_browser.py will skip" >&2
fi
python -m pytest --durations=12 "$@"  # the slowest tests, to keep CI time in view
