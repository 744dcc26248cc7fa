#!/usr/bin/env bash
# The test command: set up (or reuse) .venv, lint, then run the whole test suite.
# Real-data tests read MYGO_DATA (e.g. MYGO_DATA=../shared/data) and are skipped with a reason without it.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$here/scripts/setup.sh"
cd "$here"
ruff check mygo_nb tests benchmarks
python -m pytest "$@"
