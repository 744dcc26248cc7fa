#!/usr/bin/env bash
# The main job: set up (or reuse) .venv, then reproduce the paper's Split-MNIST tables (Table 1 and 2)
# with the reference semantics, printing ours beside the paper's, then build the book. Extra arguments go to
# the table command, e.g. `bash scripts/main.sh --seeds 0 1 2 --device cuda`; `--execute` first re-runs the
# notebooks at paper size (papermill) before the book is built.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$here/scripts/setup.sh"
cd "$here"
# --execute goes to the book (re-run the notebooks with papermill first); everything else to paper-table.
table_args=(); book_args=()
for arg in "$@"; do
  case "$arg" in --execute) book_args+=("$arg") ;; *) table_args+=("$arg") ;; esac
done
python -m mygo_nb paper-table "${table_args[@]}"
# Then build the book (HTML in _build/html/index.html) from the notebooks' outputs.
bash "$here/scripts/build_book.sh" "${book_args[@]}"
