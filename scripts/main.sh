#!/usr/bin/env bash
# The main job: set up (or reuse) .venv, then reproduce the paper's Split-MNIST tables (Table 1 and 2)
# with the reference semantics, printing ours beside the paper's. Extra arguments go to the command,
# e.g. `bash scripts/main.sh --seeds 0 1 2 --device cuda`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$here/scripts/setup.sh"
cd "$here"
python -m mygo_nb paper-table "$@"
