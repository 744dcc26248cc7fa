"""A real browser on the built book: headless Chromium, served from 127.0.0.1 with every other host blocked.

Checks that the Split-MNIST chapter (notebook 06) paints its text and its PNG figures, shows no traceback,
and that a saved widget renders from the vendored embed bundle without any network.
"""

from __future__ import annotations

import functools
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


class _Server:
    """A static file server on 127.0.0.1 that records (path, status) of every request."""

    def __init__(self, root: Path) -> None:
        self.requests: list[tuple[str, int]] = []
        server = self

        class Handler(SimpleHTTPRequestHandler):
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
    pngs = [src for src in _img_sources(dom) if src.split("?")[0].endswith(".png")]
    assert pngs, "the chapter has no PNG figure (were the notebook's outputs committed?)"
    assert server.served(".png"), f"the browser fetched no PNG; requests: {server.requests}"
    for marker in ("Traceback (most recent call last)", 'class="output traceback', "ename"):
        assert marker not in dom, f"the page shows an error output ({marker!r})"
    assert not [p for p, code in server.requests if code >= 400 and p != "/favicon.ico"], server.requests

    shot = tmp_path / "06_split_mnist.png"
    browse(url, screenshot=shot)
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    inked = float((pixels < 200).mean())
    assert pixels.std() > 20 and 0.01 < inked < 0.9, f"blank-looking screenshot: std {pixels.std():.1f}, ink {inked}"
    keep = os.environ.get("MYGO_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)


def test_saved_widget_renders_offline_from_the_vendored_bundle(serve) -> None:
    chromium()
    server = serve(_built(widget_book(), "book/widget_check"))
    dom = browse(server.url("book/widget_check.html"))
    assert "widget-slider" in dom, "the IntSlider was not rendered by the embed bundle"
    assert server.served("_static/vendor/html-manager/embed.js")
    assert "mjx-container" in dom, "MathJax (vendored) did not typeset the page's math"


def _img_sources(dom: str) -> list[str]:
    return re.findall(r"<img\b[^>]*\bsrc=\"([^\"]+)\"", dom)
