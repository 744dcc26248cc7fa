#!/usr/bin/env bash
# Build the Jupyter Book (HTML in _build/html/index.html) from the notebooks' committed outputs.
#   bash scripts/build_book.sh              strict build: jupyter-book build . -W -n --keep-going
#   bash scripts/build_book.sh --execute    first re-run every notebook in place with papermill (paper size)
#   bash scripts/build_book.sh --linkcheck  check external links instead of building (skipped offline)
# Set MYGO_DATA to the data folder for --execute. Uses .venv (created by scripts/setup.sh if needed).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
execute=0
linkcheck=0
for arg in "$@"; do
  case "$arg" in
    --execute) execute=1 ;;
    --linkcheck) linkcheck=1 ;;
    -h|--help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build_book: unknown option $arg (use --execute, --linkcheck or --help)" >&2; exit 2 ;;
  esac
done
source "$here/scripts/setup.sh"
cd "$here"

if [ "$linkcheck" = 1 ]; then
  # Only with a network: offline every external link would fail, which says nothing about the links.
  if ! python -c "import socket; socket.create_connection(('doi.org', 443), timeout=5).close()" 2>/dev/null; then
    echo "build_book: linkcheck skipped: no network (cannot reach doi.org:443)"
    exit 0
  fi
  exec jupyter-book build . --builder linkcheck -W -n --keep-going
fi

if [ "$execute" = 1 ]; then
  # Run every notebook in place at paper size; one heavy job at a time on shared machines.
  lock=(); command -v flock >/dev/null && lock=(flock /tmp/mygo-cpu.lock)
  for nb in notebooks/[0-9]*.ipynb; do
    echo "build_book: executing $nb (paper profile)" >&2
    tmp="$(mktemp --suffix=.ipynb)"
    # Write to a temporary file and replace the notebook only when the whole run succeeded.
    # The notebooks read MYGO_PROFILE; passing no -p keeps papermill from injecting a parameters cell.
    MYGO_PROFILE=paper "${lock[@]}" papermill --cwd notebooks "$nb" "$tmp" || { rm -f "$tmp"; exit 1; }
    # papermill records where it wrote the output; keep the temporary file's path off the published page
    python -c 'import json, sys; p, nb = sys.argv[1:]; d = json.load(open(p)); d["metadata"].get("papermill", {})["output_path"] = nb; json.dump(d, open(p, "w"), indent=1, ensure_ascii=False); open(p, "a").write("\n")' "$tmp" "$nb"
    mv "$tmp" "$nb"
  done
fi

jupyter-book build . -W -n --keep-going
echo "build_book: open $here/_build/html/index.html"
