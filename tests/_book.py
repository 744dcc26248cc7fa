"""Shared helpers for the book tests: read the TOC and build the book once per test session."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BUILD_TIMEOUT_S = 600


def toc_files(toc_path: Path = ROOT / "_toc.yml") -> list[str]:
    """Every ``file:`` of a jb-book TOC (root first), as written there (no suffix)."""
    toc = yaml.safe_load(toc_path.read_text())
    files = [toc["root"]]

    def walk(entries: list[dict]) -> None:
        for e in entries:
            if "file" in e:
                files.append(e["file"])
            for key in ("parts", "chapters", "sections"):
                walk(e.get(key, []))

    walk(toc.get("parts", []) + toc.get("chapters", []) + toc.get("sections", []))
    return files


def source_of(entry: str, root: Path = ROOT) -> Path | None:
    """The source file of a TOC entry (``.md`` or ``.ipynb``), or None if neither exists."""
    for suffix in (".md", ".ipynb"):
        if (root / f"{entry}{suffix}").is_file():
            return root / f"{entry}{suffix}"
    return None


def jupyter_book() -> str:
    """The ``jupyter-book`` executable of the running interpreter's environment."""
    exe = Path(sys.executable).with_name("jupyter-book")
    found = str(exe) if exe.is_file() else shutil.which("jupyter-book")
    if not found:
        raise RuntimeError("jupyter-book is not installed (pip install -r requirements.txt)")
    return found


@dataclass(frozen=True)
class Build:
    """One strict build: its exit status, its combined output, and the HTML folder."""

    returncode: int
    log: str
    html: Path

    @property
    def warnings(self) -> list[str]:
        return [ln for ln in self.log.splitlines() if "WARNING" in ln or "ERROR" in ln]


def build(source: Path, out: Path, *extra: str) -> Build:
    """``jupyter-book build SOURCE --path-output OUT -W -n --keep-going`` (the source tree is not written)."""
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "NO_COLOR": "1"}
    proc = subprocess.run(
        [jupyter_book(), "build", str(source), "--path-output", str(out), "-W", "-n", "--keep-going", *extra],
        capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, env=env, check=False,
    )
    return Build(proc.returncode, proc.stdout + proc.stderr, out / "_build" / "html")


_BOOK: Build | None = None


def book() -> Build:
    """The repository's book built once per session into a temporary folder (removed at exit)."""
    global _BOOK
    if _BOOK is None:
        out = Path(tempfile.mkdtemp(prefix="mygo-book-"))
        atexit.register(shutil.rmtree, out, ignore_errors=True)
        _BOOK = build(ROOT, out)
    return _BOOK


def _widget_notebook() -> dict:
    """A one-page notebook with math and a saved IntSlider (its widget state as JupyterLab saves it)."""
    import ipywidgets
    import nbformat
    from ipywidgets.embed import embed_data

    slider = ipywidgets.IntSlider(value=7, min=0, max=10, description="steps")
    data = embed_data(views=[slider])
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": data["manager_state"]}
    code = nbformat.v4.new_code_cell("slider", execution_count=1)
    code.outputs = [nbformat.v4.new_output("display_data", data={
        "text/plain": "IntSlider(value=7, description='steps', max=10)",
        "application/vnd.jupyter.widget-view+json": data["view_specs"][0],
    })]
    nb.cells = [nbformat.v4.new_markdown_cell("# Widget check\n\nInline math $e^{i\\pi} + 1 = 0$.\n"), code]
    slider.close()
    return nb


_WIDGET_BOOK: Build | None = None


def widget_book() -> Build:
    """A one-page book with the repository's ``_config.yml`` and a notebook holding saved widget state."""
    global _WIDGET_BOOK
    if _WIDGET_BOOK is None:
        import nbformat

        tmp = Path(tempfile.mkdtemp(prefix="mygo-widget-book-"))
        atexit.register(shutil.rmtree, tmp, ignore_errors=True)
        src = tmp / "src"
        (src / "book").mkdir(parents=True)
        shutil.copy(ROOT / "_config.yml", src / "_config.yml")
        shutil.copy(ROOT / "book" / "references.bib", src / "book" / "references.bib")
        shutil.copytree(ROOT / "book" / "_static", src / "book" / "_static")
        shutil.copytree(ROOT / "book" / "_ext", src / "book" / "_ext")
        (src / "_toc.yml").write_text("format: jb-book\nroot: book/widget_check\n")
        nbformat.write(nbformat.from_dict(_widget_notebook()), src / "book" / "widget_check.ipynb")
        _WIDGET_BOOK = build(src, tmp / "out")
    return _WIDGET_BOOK
