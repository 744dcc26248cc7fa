#!/usr/bin/env bash
# Re-vendor the book's browser assets from npm into book/_static/vendor/ so that built pages need no CDN:
#   - @jupyter-widgets/html-manager: the standalone widget embed bundle (renders saved ipywidgets state);
#   - mathjax 3: the tex-mml-chtml component, its CHTML woff fonts and the TeX extensions it autoloads.
# The copies are committed; run this only to change versions (needs npm and the npm registry).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
html_manager="${HTML_MANAGER_VERSION:-1.0.15}"  # the 1.0.x line renders ipywidgets 8 (controls 2.0) state
mathjax="${MATHJAX_VERSION:-3.2.2}"             # Sphinx 7's default mathjax_path is mathjax@3 tex-mml-chtml
command -v npm >/dev/null || { echo "vendor_book_assets: npm not found" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "@jupyter-widgets/html-manager@$html_manager" "mathjax@$mathjax" >/dev/null)
mkdir -p "$tmp/hm" "$tmp/mj"
tar xzf "$tmp"/jupyter-widgets-html-manager-*.tgz -C "$tmp/hm"
tar xzf "$tmp"/mathjax-*.tgz -C "$tmp/mj"

out="$here/book/_static/vendor"
rm -rf "$out"
mkdir -p "$out/html-manager" "$out/mathjax/output/chtml/fonts" "$out/mathjax/input/tex"
hm="$tmp/hm/package"
cp "$hm/dist/embed.js" "$hm/dist/embed.js.LICENSE.txt" "$out/html-manager/"
cp "$hm/dist/"*.woff2 "$out/html-manager/"  # Font Awesome icons; browsers pick woff2 first
cp "$hm/LICENSE" "$out/html-manager/LICENSE" 2>/dev/null || true
mj="$tmp/mj/package/es5"
cp "$mj/tex-mml-chtml.js" "$out/mathjax/"
cp "$tmp/mj/package/LICENSE" "$out/mathjax/LICENSE"
cp -r "$mj/output/chtml/fonts/woff-v2" "$out/mathjax/output/chtml/fonts/"
cp -r "$mj/input/tex/extensions" "$out/mathjax/input/tex/"
rm -f "$out/mathjax/input/tex/extensions/all-packages.js"
cat > "$out/VERSIONS.txt" <<EOF
@jupyter-widgets/html-manager $html_manager (dist/embed.js, BSD-3-Clause; bundled licences in embed.js.LICENSE.txt)
mathjax $mathjax (es5/tex-mml-chtml.js, CHTML woff-v2 fonts, TeX extensions; Apache-2.0)
Refresh with: bash scripts/vendor_book_assets.sh
EOF
du -sh "$out"
