"""A real browser on the built book: headless Chromium, served from 127.0.0.1 with every other host blocked.

Checks that the Split-MNIST chapter (notebook 06) paints its text and its PNG figures (decoded, laid out and
visible in a screenshot), shows no traceback, and that a saved widget and math render from the vendored
bundles without any network.
"""

from __future__ import annotations

import functools
import html
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ._book import Build, book, widget_book

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


def browse(url: str, *, screenshot: Path | None = None, height: int = 3000) -> str:
    """Load ``url`` in headless Chromium (no network beyond 127.0.0.1); return the DOM or write a screenshot."""
    with tempfile.TemporaryDirectory(prefix="mygo-chromium-") as profile:
        cmd = [
            chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--hide-scrollbars", f"--window-size=1280,{height}", "--virtual-time-budget=8000",
        ]
        cmd += [f"--screenshot={screenshot}"] if screenshot else ["--dump-dom"]
        proc = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
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
