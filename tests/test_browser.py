"""A real browser on the built book: headless Chromium, served from 127.0.0.1 with every other host blocked.

Checks that the Split-MNIST chapter (notebook 06) paints its text and its PNG figures (decoded, laid out and
visible in a screenshot), shows no traceback, and that a saved widget and math render from the vendored
bundles without any network. Then the book as published: served under a sub-path (``/mygo-nb/``) by
``python -m http.server``, its figures, math and styles load; chapters 4 and 5 show the code they teach; and on
no page at a 1280 px window does a code block scroll sideways (code cells hold 88 characters a line).
"""

from __future__ import annotations

import functools
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ._book import ROOT, Build, book, widget_book

pytestmark = pytest.mark.slow
CHAPTER = "notebooks/06_split_mnist"
BROWSER_TIMEOUT_S = 120


def chromium() -> str:
    """The Chromium executable ($MYGO_CHROMIUM, else the first on PATH), or skip with the reason."""
    for name in (os.environ.get("MYGO_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        found = name and shutil.which(name)
        if found:
            return found
    pytest.skip("no Chromium found (apt-get install -y chromium; scripts/test.sh does it when run as root)")


# Injected before </body> of served pages: after load, record every PNG <img>'s decoded size and its place on
# the page in an attribute that --dump-dom shows (Chromium's DOM dump cannot run a script of ours otherwise).
PROBE = b"""<script>window.addEventListener("load", () => setTimeout(() => {
  const pngs = [...document.images].filter(i => /[.]png([?#]|$)/.test(i.src)).map(i => {
    const r = i.getBoundingClientRect();
    return {src: i.getAttribute("src"), w: i.naturalWidth, h: i.naturalHeight,
            x: r.left + scrollX, y: r.top + scrollY, cw: r.width, ch: r.height};
  });
  document.documentElement.setAttribute("data-png-probe", JSON.stringify(pngs));
}, 0));</script>"""


class _Server:
    """A static file server on 127.0.0.1 that records (path, status) of every request and probes HTML pages."""

    def __init__(self, root: Path) -> None:
        self.requests: list[tuple[str, int]] = []
        server = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                page = Path(self.translate_path(self.path))
                if page.suffix != ".html" or not page.is_file():
                    return super().do_GET()
                body = page.read_bytes().replace(b"</body>", PROBE + b"</body>", 1)
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                server.requests.append((self.path.split("?")[0], int(code) if str(code).isdigit() else 0))

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, page: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{page}"

    def served(self, suffix: str) -> list[str]:
        return [p for p, code in self.requests if p.endswith(suffix) and code == 200]


def png_probe(dom: str) -> list[dict]:
    """The PNG images the probe saw: src, decoded size (w, h) and box on the page (x, y, cw, ch)."""
    found = re.search(r'data-png-probe="([^"]*)"', dom)
    assert found, "the page never finished loading (no probe result in the DOM)"
    return json.loads(html.unescape(found.group(1)))


@pytest.fixture
def serve() -> Iterator:
    servers: list[_Server] = []

    def start(root: Path) -> _Server:
        s = _Server(root)
        s.thread.start()
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.httpd.shutdown()
        s.httpd.server_close()


#: A console line of Chromium's log (``--enable-logging=stderr``) that reports an error: an uncaught exception
#: or promise rejection, a failed load, or a message that names an error.
CONSOLE_ERROR = re.compile(r'CONSOLE[^"]*"((?:Uncaught|Failed to load|[^"]*\b(?:Error|error)\b)[^"]*)", source: (\S*)')


def console_errors(log: str) -> list[str]:
    """The console errors in a Chromium log: ``"<message> (<source>)"`` each."""
    return [f"{m.group(1)} ({m.group(2)})" for m in CONSOLE_ERROR.finditer(log)]


def browse(url: str, *, screenshot: Path | None = None, height: int = 3000, budget_ms: int = 8000,
           console: list[str] | None = None) -> str:
    """Load ``url`` in headless Chromium (no network beyond 127.0.0.1) for ``budget_ms`` of virtual time; return
    the DOM or write a screenshot. Console errors of the page (and of its frames) are appended to ``console``."""
    with tempfile.TemporaryDirectory(prefix="mygo-chromium-") as profile:
        cmd = [
            chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--hide-scrollbars", f"--window-size=1280,{height}", f"--virtual-time-budget={budget_ms}",
            "--enable-logging=stderr", "--v=0",
        ]
        cmd += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
        proc = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    if console is not None:
        console.extend(console_errors(proc.stderr))
    return proc.stdout


def _built(b: Build, page: str) -> Path:
    if not (b.html / f"{page}.html").is_file():
        if b.returncode != 0:
            pytest.fail(f"the book build failed, so {page}.html is missing:\n{b.log[-3000:]}")
        pytest.skip(f"{page} is not in the book yet")
    return b.html


def test_split_mnist_chapter_renders_its_figures(serve, tmp_path: Path) -> None:
    chromium()
    server = serve(_built(book(), CHAPTER))
    url = server.url(f"{CHAPTER}.html")

    dom = browse(url)
    assert "Split-MNIST" in dom and "</html>" in dom
    assert [s for s in _img_sources(dom) if s.split("?")[0].endswith(".png")], (
        "the chapter has no PNG figure (were the notebook's outputs committed?)")
    for marker in ("Traceback (most recent call last)", 'class="output traceback'):
        assert marker not in dom, f"the page shows an error output ({marker!r})"
    assert not [p for p, code in server.requests if code >= 400 and p != "/favicon.ico"], server.requests
    figures = [f for f in png_probe(dom) if f["w"] > 0 and f["cw"] >= 100 and f["ch"] >= 100]
    assert figures, f"no PNG figure was decoded and laid out: {png_probe(dom)}"

    # Screenshot down to the bottom of the first figure; the figure's box must be painted, not blank.
    fig = figures[0]
    x0, y0, x1, y1 = (round(v) for v in (fig["x"], fig["y"], fig["x"] + fig["cw"], fig["y"] + fig["ch"]))
    shot = tmp_path / "06_split_mnist.png"
    browse(url, screenshot=shot, height=min(y1 + 200, 16000))
    page = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert page.std() > 20, f"blank-looking page: pixel std {page.std():.1f}"
    box = page[y0:y1, x0:x1]
    assert box.size and box.std() > 20 and (box < 128).mean() > 0.005, (
        f"the figure's box {x0, y0, x1, y1} looks blank: std {box.std():.1f}")
    keep = os.environ.get("MYGO_KEEP_SCREENSHOT")
    if keep:
        Image.open(shot).crop((0, max(0, y0 - 300), page.shape[1], y1 + 100)).save(keep)


def test_saved_widget_renders_offline_from_the_vendored_bundle(serve) -> None:
    chromium()
    server = serve(_built(widget_book(), "book/widget_check"))
    dom = browse(server.url("book/widget_check.html"))
    assert "widget-slider" in dom, "the IntSlider was not rendered by the embed bundle"
    assert server.served("_static/vendor/html-manager/embed.js")
    assert "mjx-container" in dom, "MathJax (vendored) did not typeset the page's math"


def _img_sources(dom: str) -> list[str]:
    return re.findall(r"<img\b[^>]*\bsrc=\"([^\"]+)\"", dom)


# ------------------------------------------------------------------------------------------------------------------
# The book as published: served from a sub-path (/mygo-nb/, as GitHub Pages serves a project site) by a plain
# `python -m http.server`, every page surveyed in one headless Chromium run.
# ------------------------------------------------------------------------------------------------------------------
SUBPATH = "mygo-nb"
#: Text each chapter must show (visible text of the rendered page): the package code the chapter teaches.
CHAPTER_SOURCES = {"notebooks/04_wake": "def wake(", "notebooks/05_sleep": "def sleep("}
#: Characters a code cell must show per line without horizontal scrolling at a 1280 px window.
CODE_COLUMNS = 88

# The survey page (served beside the book): loads each page of ?pages=[...] in a 1280 px wide same-origin iframe,
# waits for its images and MathJax, measures it, and writes the results into data-survey for --dump-dom.
SURVEY_HTML = """<!doctype html><html><head><meta charset="utf-8"><style>
body { margin: 0 } iframe { width: 1280px; height: 900px; border: 0; display: block }
</style></head><body><iframe id="f"></iframe><script>
const pages = JSON.parse(new URLSearchParams(location.search).get("pages"));
const frame = document.getElementById("f");
const sleep = ms => new Promise(r => setTimeout(r, ms));
const open = url => new Promise(r => { frame.onload = () => r(); frame.src = url; });
async function settle(page) {
  for (let i = 0; i < 100; i++) {  // a redirect (index.html's meta refresh) lands on page.until
    const w = frame.contentWindow;
    if ((!page.until || w.location.pathname.endsWith(page.until)) && w.document.readyState === "complete") break;
    await sleep(100);
  }
  const win = frame.contentWindow;
  if (win.MathJax && win.MathJax.startup && win.MathJax.startup.promise) {
    try { await win.MathJax.startup.promise; } catch (e) {}
  }
  await Promise.all([...win.document.images].map(
    i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
  await sleep(300);
  return win;
}
function measure(win, page) {
  const doc = win.document, css = e => win.getComputedStyle(e);
  const shown = [...doc.querySelectorAll("pre")].filter(p => p.getClientRects().length);
  const scrolled = shown.filter(p => p.scrollWidth > p.clientWidth + 1).map(p => ({
    scroll: p.scrollWidth, client: p.clientWidth,
    line: p.textContent.split("\\n").reduce((a, b) => b.length > a.length ? b : a, "").slice(0, 100)}));
  let code = null;
  const pre = [...doc.querySelectorAll("div.cell_input pre")].find(p => p.getClientRects().length);
  if (pre) {  // how wide CODE_COLUMNS characters are in this code cell's font, and the room it has
    const probe = doc.createElement("span");
    probe.style.whiteSpace = "pre"; probe.style.display = "inline-block";
    probe.textContent = "x".repeat(page.columns);
    pre.appendChild(probe);
    const st = css(pre);
    code = {columns_px: probe.getBoundingClientRect().width, white_space: st.whiteSpace, font_size: st.fontSize,
            room_px: pre.clientWidth - parseFloat(st.paddingLeft) - parseFloat(st.paddingRight)};
    probe.remove();
  }
  const maths = [...doc.querySelectorAll("span.math, div.math")];
  const links = [...doc.querySelectorAll('link[rel="stylesheet"]')].map(l => l.getAttribute("href"));
  const sidebar = doc.querySelector(".bd-sidebar-primary");
  return {
    url: page.url, path: win.location.pathname, title: doc.title,
    height: doc.documentElement.scrollHeight,
    pre: shown.length, scrolled, code,
    images: [...doc.images].map(i => ({src: i.getAttribute("src"), w: i.naturalWidth, h: i.naturalHeight,
                                       complete: i.complete})),
    math: maths.length, math_typeset: maths.filter(m => m.querySelector("mjx-container")).length,
    stylesheets: links.length,
    stylesheets_loaded: [...doc.styleSheets].filter(s => s.href && s.cssRules.length > 0).length,
    theme_font: css(doc.documentElement).getPropertyValue("--pst-font-family-base").trim(),
    sidebar_px: sidebar ? sidebar.getBoundingClientRect().width : 0,
    found: (page.needles || []).filter(n => doc.body.innerText.includes(n)),
  };
}
(async () => {
  const out = [];
  for (const page of pages) {
    await open(page.url);
    out.push(measure(await settle(page), page));
  }
  document.body.setAttribute("data-survey", JSON.stringify(out));
})().catch(e => document.body.setAttribute("data-survey-error", String(e && e.stack || e)));
</script></body></html>
"""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class SubpathSite:
    """``python -m http.server`` on 127.0.0.1 serving the built book under ``/mygo-nb/`` (and the survey page)."""

    root: Path
    port: int
    proc: subprocess.Popen

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def log(self) -> list[tuple[str, int]]:
        """(path, status) of every request so far, from the server's log on stderr."""
        text = Path(self.root.parent / "server.log").read_text(errors="replace")
        return [(m.group(1).split("?")[0], int(m.group(2)))
                for m in re.finditer(r'"GET (\S+) HTTP/[\d.]+" (\d{3})', text)]


@pytest.fixture(scope="module")
def subpath_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SubpathSite]:
    chromium()
    html_dir = _built(book(), "book/intro")
    base = tmp_path_factory.mktemp("subpath")
    root = base / "www"
    root.mkdir()
    (root / SUBPATH).symlink_to(html_dir, target_is_directory=True)
    (root / "survey.html").write_text(SURVEY_HTML, encoding="utf-8")
    port = _free_port()
    with open(base / "server.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                                 "--directory", str(root)], stdout=log, stderr=subprocess.STDOUT)
    site = SubpathSite(root, port, proc)
    try:
        deadline = time.monotonic() + 20
        while True:  # wait until it answers
            try:
                urllib.request.urlopen(site.url("survey.html"), timeout=2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"http.server did not start: {(base / 'server.log').read_text()[-2000:]}")
                time.sleep(0.2)
        yield site
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def survey(site: SubpathSite, pages: list[dict], console: list[str] | None = None) -> list[dict]:
    """Measure ``pages`` (``{"url": ..., "needles": [...], "until": ...}``) in one Chromium run (see SURVEY_HTML);
    console errors of every page go into ``console``."""
    for p in pages:
        p.setdefault("columns", CODE_COLUMNS)
    query = urllib.parse.urlencode({"pages": json.dumps(pages)})
    dom = browse(site.url(f"survey.html?{query}"), height=900, budget_ms=30000 + 6000 * len(pages), console=console)
    error = re.search(r'data-survey-error="([^"]*)"', dom)
    assert not error, html.unescape(error.group(1))
    found = re.search(r'data-survey="([^"]*)"', dom)
    assert found, "the survey never finished (no result in the DOM)"
    return json.loads(html.unescape(found.group(1)))


def book_pages(b: Build) -> list[str]:
    """Every HTML page of a built book (relative paths), assets excluded."""
    skip = {"_static", "_sources", "_images"}
    return sorted(p.relative_to(b.html).as_posix() for p in b.html.rglob("*.html") if not skip & set(p.parts))


@pytest.fixture(scope="module")
def every_page_and_console(subpath_site: SubpathSite) -> tuple[dict[str, dict], dict[str, list[str]]]:
    """The survey of every page of the book, served under /mygo-nb/, by page (``notebooks/04_wake.html``), and
    each page's console errors (one Chromium run a page, so that an error belongs to its page)."""
    found: dict[str, dict] = {}
    console: dict[str, list[str]] = {}
    for p in book_pages(book()):
        needles = [CHAPTER_SOURCES[p[:-5]]] if p[:-5] in CHAPTER_SOURCES else []
        console[p] = []
        [found[p]] = survey(subpath_site, [{"url": f"/{SUBPATH}/{p}", "needles": needles}], console[p])
    return found, console


@pytest.fixture(scope="module")
def every_page(every_page_and_console: tuple[dict[str, dict], dict[str, list[str]]]) -> dict[str, dict]:
    return every_page_and_console[0]


def test_console_error_pattern_catches_errors_and_passes_messages() -> None:
    log = ('[1:1:1201/1.1:INFO:CONSOLE:64] "Uncaught SyntaxError: Identifier \'X\' has already been declared", '
           'source: http://127.0.0.1:1/a.html (64)\n'
           '[1:1:1201/1.2:INFO:CONSOLE:1] "[PST]: Changed to auto mode using the light theme.", source: x.js (1)\n'
           '[1:1:1201/1.3:INFO:CONSOLE:8] "Uncaught (in promise) TypeError: Cannot read properties of undefined", '
           'source: embed.js (8)\n')
    assert console_errors(log) == [
        "Uncaught SyntaxError: Identifier 'X' has already been declared (http://127.0.0.1:1/a.html)",
        "Uncaught (in promise) TypeError: Cannot read properties of undefined (embed.js)"]


def test_no_page_logs_a_console_error(every_page_and_console: tuple[dict[str, dict], dict[str, list[str]]]) -> None:
    """Every page of the book loads without an error in its console (scripts declared once, widget bundle happy)."""
    pages, console = every_page_and_console
    assert len(pages) >= 15, f"only {len(pages)} pages surveyed"
    errors = {page: lines for page, lines in console.items() if lines}
    assert not errors, f"console errors: {json.dumps(errors, indent=1)}"


#: A page a reader can hold: at most 15 screens of 800 px at a 1280 px window.
MAX_PAGE_PX = 12_000


#: Sphinx's generated lists, not pages one reads: the general index of every documented name, and search.
NOT_READ = {"genindex.html", "search.html", "py-modindex.html"}


def test_no_page_is_taller_than_fifteen_screens(every_page: dict[str, dict]) -> None:
    heights = {page: r["height"] for page, r in every_page.items() if page not in NOT_READ}
    print("\n".join(f"{h / 800:5.1f} screens  {page}" for page, h in sorted(heights.items())))
    assert all(h > 800 for p, h in heights.items() if p.startswith("notebooks/")), heights
    tall = {page: f"{h} px ({h / 800:.1f} screens)" for page, h in sorted(heights.items()) if h > MAX_PAGE_PX}
    assert not tall, f"pages taller than {MAX_PAGE_PX} px: {json.dumps(tall, indent=1)}"


def test_book_works_from_a_subpath_figures_math_styles(subpath_site: SubpathSite, every_page: dict[str, dict]) -> None:
    """Served under /mygo-nb/ by a plain static server, the book loads every asset by a relative URL: the root
    redirects to the intro, chapters show their figures (decoded PNGs), math is typeset by the vendored
    MathJax, and the theme's and the book's stylesheets apply."""
    [root] = survey(subpath_site, [{"url": f"/{SUBPATH}/", "until": "/book/intro.html"}])
    assert root["path"] == f"/{SUBPATH}/book/intro.html", root["path"]
    for page in ("notebooks/04_wake.html", "notebooks/06_split_mnist.html", "book/intro.html"):
        r = every_page[page]
        assert r["path"] == f"/{SUBPATH}/{page}"
        broken = [i for i in r["images"] if not (i["complete"] and i["w"] > 0)]
        assert not broken, f"{page}: images not loaded: {broken}"
        assert r["math"] == r["math_typeset"], f"{page}: {r['math'] - r['math_typeset']} formulas not typeset"
        assert r["stylesheets"] and r["stylesheets_loaded"] == r["stylesheets"], (
            f"{page}: {r['stylesheets_loaded']} of {r['stylesheets']} stylesheets loaded")
        assert r["theme_font"] and r["sidebar_px"] > 100, f"{page}: the theme's CSS is not applied: {r}"
    figures = [i for p in ("notebooks/04_wake.html", "notebooks/06_split_mnist.html")
               for i in every_page[p]["images"] if i["src"].split("?")[0].endswith(".png") and i["w"] > 0]
    assert figures, "no PNG figure on chapters 4 and 6"
    assert sum(every_page[p]["math_typeset"] for p in ("notebooks/04_wake.html", "book/intro.html")) > 0, "no math"
    missing = sorted({p for p, code in subpath_site.log() if code >= 400 and not p.endswith("favicon.ico")})
    assert not missing, f"requests that failed under /{SUBPATH}/: {missing}"


@pytest.mark.parametrize("chapter", sorted(CHAPTER_SOURCES))
def test_chapter_shows_the_code_it_teaches(every_page: dict[str, dict], chapter: str) -> None:
    page = every_page.get(f"{chapter}.html")
    assert page is not None, f"{chapter}.html is not in the built book"
    assert CHAPTER_SOURCES[chapter] in page["found"], (
        f"{chapter}: the rendered page does not show {CHAPTER_SOURCES[chapter]!r}")


def test_no_code_block_scrolls_sideways(every_page: dict[str, dict]) -> None:
    """On every page at a 1280 px window, no <pre> (code cells, outputs, code blocks) is wider than its box."""
    assert sum(r["pre"] for r in every_page.values()) > 20, "too few code blocks seen: did the survey run?"
    scrolled = {page: r["scrolled"] for page, r in every_page.items() if r["scrolled"]}
    assert not scrolled, f"code blocks that scroll sideways: {json.dumps(scrolled, indent=1)}"


def test_code_cells_show_88_columns(every_page: dict[str, dict]) -> None:
    """A code cell's box holds 88 characters of its font per line (the notebooks' line length); a longer line
    wraps (white-space: pre-wrap) instead of scrolling."""
    cells = {page: r["code"] for page, r in every_page.items() if r["code"]}
    assert len(cells) >= 10, f"code cells found on only {sorted(cells)}"
    narrow = {p: c for p, c in cells.items() if c["columns_px"] > c["room_px"] + 0.5}
    assert not narrow, f"code cells narrower than {CODE_COLUMNS} characters: {narrow}"
    assert {c["white_space"] for c in cells.values()} == {"pre-wrap"}, cells


def test_notebook_pages_launch_on_colab_and_binder_from_the_repository() -> None:
    """The launch and repository buttons point at ``repository`` of _config.yml (the one publishing setting)."""
    import yaml

    b = book()
    page = _built(b, CHAPTER) / f"{CHAPTER}.html"
    repo = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["repository"]
    slug, branch = repo["url"].removeprefix("https://github.com/"), repo["branch"]
    links = set(re.findall(r'href="([^"]+)"', page.read_text(encoding="utf-8")))
    assert f"https://colab.research.google.com/github/{slug}/blob/{branch}/{CHAPTER}.ipynb" in links
    assert f"https://mybinder.org/v2/gh/{slug}/{branch}?urlpath=lab/tree/{CHAPTER}.ipynb" in links
    assert repo["url"] in links
