"""The Jupyter Book: TOC completeness, a strict build (zero warnings), offline assets, and link checking."""

from __future__ import annotations

import pkgutil
import re
import socket
import tempfile
from pathlib import Path

import pytest

import mygo_nb

from ._book import ROOT, book, build, source_of, toc_files, widget_book

pytestmark = pytest.mark.slow
REMOTE_ASSET = re.compile(r"<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=\"(?:https?:)?//[^\"]*\"[^>]*>", re.I)


def test_toc_lists_every_notebook_and_every_entry_exists() -> None:
    entries = toc_files()
    missing = [e for e in entries if source_of(e) is None]
    assert not missing, f"_toc.yml names files that do not exist: {missing}"
    notebooks = sorted(p.relative_to(ROOT).with_suffix("").as_posix() for p in (ROOT / "notebooks").glob("*.ipynb"))
    absent = [nb for nb in notebooks if nb not in entries]
    assert not absent, f"notebooks missing from _toc.yml: {absent}"


def test_api_page_documents_exactly_the_package_modules() -> None:
    modules = {m.name.removeprefix("mygo_nb.") for m in pkgutil.walk_packages(mygo_nb.__path__, "mygo_nb.")
               if not m.name.rsplit(".", 1)[-1].startswith("_")}
    pages = [e for e in toc_files() if e.startswith("book/api/")]
    assert "book/api/index" in pages and len(pages) > 2, f"_toc.yml lists no API pages under book/api/: {pages}"
    per_page = {e: re.findall(r"^\.\. automodule:: mygo_nb\.([\w.]+)$", (ROOT / f"{e}.md").read_text(), re.M)
                for e in pages}
    documented = [m for found in per_page.values() for m in found]
    twice = sorted({m for m in documented if documented.count(m) > 1})
    assert not twice, f"documented on more than one API page: {twice}"
    assert set(documented) == modules, f"undocumented: {modules - set(documented)}; gone: {set(documented) - modules}"
    on_disk = sorted(p.relative_to(ROOT).with_suffix("").as_posix() for p in (ROOT / "book/api").glob("*.md"))
    assert sorted(pages) == on_disk, f"book/api/ pages and _toc.yml differ: {set(on_disk) ^ set(pages)}"


def test_results_page_includes_every_committed_table() -> None:
    page = (ROOT / "book/results.md").read_text()
    tables = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "results").rglob("*.md") if p.name != "README.md")
    assert not [t for t in tables if f"../{t}" not in page], f"book/results.md does not include all of {tables}"


def test_book_builds_strictly_with_zero_warnings_and_every_page() -> None:
    b = book()
    assert not b.warnings, "\n".join(b.warnings)
    assert b.returncode == 0, b.log[-3000:]
    pages = [e for e in toc_files() if source_of(e) is not None]
    missing = [e for e in pages if not (b.html / f"{e}.html").is_file()]
    assert not missing, f"no HTML for TOC pages {missing}"
    assert (b.html / "index.html").is_file()
    api = (b.html / "book/api/core.html").read_text()
    assert 'id="mygo_nb.core.metrics.backward_transfer"' in api, "autodoc did not document mygo_nb.core.metrics"


def test_built_pages_load_no_remote_assets() -> None:
    b = book()
    pages = sorted(b.html.rglob("*.html"))
    assert pages
    offenders = {p.relative_to(b.html).as_posix(): REMOTE_ASSET.findall(p.read_text()) for p in pages}
    assert not {k: v for k, v in offenders.items() if v}, offenders
    intro = (b.html / "book/intro.html").read_text()
    assert "_static/vendor/mathjax/tex-mml-chtml.js" in intro, "math page does not load the vendored MathJax"
    assert (b.html / "_static/vendor/mathjax/output/chtml/fonts/woff-v2/MathJax_Main-Regular.woff").is_file()


def test_saved_widget_state_loads_the_vendored_embed_bundle() -> None:
    b = widget_book()
    assert not b.warnings and b.returncode == 0, b.log[-3000:]
    page = (b.html / "book/widget_check.html").read_text()
    assert 'type="application/vnd.jupyter.widget-state+json"' in page
    scripts = re.findall(r"<script[^>]*\bsrc=\"([^\"]+)\"", page)
    assert any(s.split("?")[0].endswith("_static/vendor/html-manager/embed.js") for s in scripts), scripts
    assert not REMOTE_ASSET.findall(page)
    assert (b.html / "_static/vendor/html-manager/embed.js").stat().st_size > 1_000_000


def _online(host: str = "doi.org", port: int = 443) -> bool:
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError:
        return False
    return True


def test_external_links_resolve() -> None:
    if not _online():
        pytest.skip("linkcheck needs the network and doi.org:443 is unreachable (offline machine)")
    with tempfile.TemporaryDirectory(prefix="mygo-linkcheck-") as out:
        b = build(ROOT, Path(out), "--builder", "linkcheck")
        broken = [ln for ln in b.log.splitlines() if "broken" in ln or "WARNING" in ln]
        assert b.returncode == 0 and not broken, "\n".join(broken) or b.log[-3000:]
