#!/usr/bin/env bash
# Build the book and publish _build/html on the gh-pages branch with ghp-import (GitHub Pages serves that branch
# at https://OWNER.github.io/REPO/, a sub-path: the pages use relative links only, tests/test_browser.py checks it).
#   bash scripts/publish_book.sh              strict build, then commit _build/html to the local gh-pages branch
#   bash scripts/publish_book.sh --push       the same, then push gh-pages to the remote (default: origin)
#   bash scripts/publish_book.sh --no-build   publish the _build/html that is there
# Options: --branch NAME (default gh-pages), --remote NAME (default origin). Only the gh-pages branch changes:
# ghp-import writes its commit straight into that branch; the work tree, the index and HEAD stay as they are.
# .github/workflows/book.yml does the same on every push to main, through GitHub's Pages actions instead.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build=1
push=()
branch=gh-pages
remote=origin
while [ $# -gt 0 ]; do
  case "$1" in
    --push) push=(--push) ;;
    --no-push) push=() ;;
    --no-build) build=0 ;;
    --branch) branch="${2:?--branch needs a name}"; shift ;;
    --remote) remote="${2:?--remote needs a name}"; shift ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "publish_book: unknown option $1 (use --push, --no-build, --branch, --remote or --help)" >&2; exit 2 ;;
  esac
  shift
done
cd "$here"
if [ "$build" = 1 ]; then
  bash "$here/scripts/build_book.sh"
fi
html="$here/_build/html"
[ -f "$html/index.html" ] || { echo "publish_book: no book in $html (build it first)" >&2; exit 1; }

venv="${MYGO_VENV:-$here/.venv}"
ghp="$venv/bin/ghp-import"
[ -x "$ghp" ] || ghp="$(command -v ghp-import || true)"
[ -n "$ghp" ] || { echo "publish_book: ghp-import not found (pip install -r requirements.txt)" >&2; exit 1; }

source_rev="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
dirty=""
git diff --quiet HEAD -- 2>/dev/null || dirty=" (with uncommitted changes)"
# -n: a .nojekyll file, so that GitHub Pages serves _static/ and _images/ (Jekyll would drop _folders).
"$ghp" -n -b "$branch" -r "$remote" -m "Publish the book from $source_rev$dirty" "${push[@]}" "$html"
pages="$(git rev-parse --short "$branch")"
if [ ${#push[@]} -gt 0 ]; then
  echo "publish_book: pushed $branch ($pages) to $remote"
else
  echo "publish_book: committed the book to the local branch $branch ($pages); push it with --push" \
       "(or: git push $remote $branch)"
fi
