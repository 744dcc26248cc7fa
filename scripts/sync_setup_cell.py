"""Write the notebooks' set-up cell from the one setting that says where the project is published.

    python scripts/sync_setup_cell.py            # write the cell into every notebook whose cell differs
    python scripts/sync_setup_cell.py --check    # change nothing; exit 1 listing the notebooks that differ

The cell installs the package where ``mygo_nb`` is not importable (on Colab, Binder or any fresh kernel) from
``repository.url`` / ``repository.branch`` of ``_config.yml``, and does nothing where it is installed. It is
the cell after the ``parameters`` cell, found by its first line (the current or the former "Colab only"
cell); a notebook without one gets it inserted there. Its tags are ``["remove-cell"]`` (the book does not
show it), its cell id is kept, and running the script twice changes nothing the second time. Notebooks:
``notebooks/*.ipynb`` and the sweep notebook shipped in the package (``mygo_nb/reproduce/notebooks/``). A
notebook that needs an optional extra of the package names it in its metadata (``"mygo_nb": {"extras":
["pretrained"]}``): its cell also installs where the extra's module is missing, and asks for that extra.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIRS = ("notebooks", "mygo_nb/reproduce/notebooks")
FIRST_LINE = "# Set-up: install mygo_nb where it is missing (Colab, Binder, a fresh kernel)."
#: First lines of earlier versions of the cell, so that the script finds and replaces them.
FORMER_FIRST_LINES = ("# Colab only: install the package",)
TAGS = ["remove-cell"]
MAX_COLUMNS = 88
#: For each optional extra of the package (pyproject.toml), a module that is missing where it is not installed.
EXTRA_MODULES = {"pretrained": "peft"}

TEMPLATE = '''{first_line}
# The package comes from the project's repository ({config}: repository.url). pip
# keeps the runtime's torch when it is recent enough (mygo-nb asks for torch>=2.3 and
# pins nothing). Set MYGO_NB_SOURCE to install something else (a fork, a local path).
import importlib.util
import os
import subprocess
import sys

REPOSITORY = "{url}"
if {missing}:
    source = os.environ.get("MYGO_NB_SOURCE",{indent}f"{package} @ git+{{REPOSITORY}}@{branch}")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", source], check=True)'''


def repository(config: Path = ROOT / "_config.yml") -> tuple[str, str]:
    """``(url, branch)`` of the book's ``repository`` setting."""
    repo = (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("repository") or {}
    url, branch = str(repo.get("url") or "").rstrip("/"), str(repo.get("branch") or "main")
    if not url.startswith("https://"):
        raise SystemExit(f"{config}: repository.url must be the project's https URL, got {url!r}")
    return url, branch


def cell_source(config: Path = ROOT / "_config.yml", extras: Sequence[str] = ()) -> str:
    """The set-up cell's text for the repository named in ``config``, installing the package with ``extras``."""
    url, branch = repository(config)
    unknown = sorted(set(extras) - set(EXTRA_MODULES))
    if unknown:
        raise SystemExit(f"unknown extras {unknown}; known: {sorted(EXTRA_MODULES)}")
    modules = ", ".join(f'"{m}"' for m in ("mygo_nb", *(EXTRA_MODULES[e] for e in extras)))
    missing = (f"any(importlib.util.find_spec(m) is None for m in ({modules}))" if extras
               else 'importlib.util.find_spec("mygo_nb") is None')
    package = f"mygo-nb[{','.join(extras)}]" if extras else "mygo-nb"
    indent = "\n" + " " * 28 if extras else " "  # the longer package name takes the next line
    text = TEMPLATE.format(first_line=FIRST_LINE, config=config.name, url=url, branch=branch,
                           missing=missing, package=package, indent=indent)
    long = [line for line in text.splitlines() if len(line) > MAX_COLUMNS]
    if long:
        raise SystemExit(f"set-up cell lines longer than {MAX_COLUMNS} characters: {long}")
    return text


def notebooks(root: Path = ROOT) -> list[Path]:
    """The notebooks that get the cell."""
    return sorted(p for d in NOTEBOOK_DIRS for p in (root / d).glob("*.ipynb"))


def _is_setup(cell: dict) -> bool:
    first = cell.get("source", "").lstrip().split("\n", 1)[0]
    return cell.get("cell_type") == "code" and first.startswith((FIRST_LINE, *FORMER_FIRST_LINES))


def _parameters_index(nb: nbformat.NotebookNode) -> int:
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            return i
    raise ValueError("no code cell tagged 'parameters'")


def sync(nb: nbformat.NotebookNode, source: str) -> str | None:
    """Put the set-up cell into ``nb`` (in place); return what changed, or None when it was up to date."""
    found = [i for i, cell in enumerate(nb.cells) if _is_setup(cell)]
    if len(found) > 1:
        raise ValueError(f"{len(found)} set-up cells (cells {found}); keep one")
    if not found:
        cell = nbformat.v4.new_code_cell(source, metadata={"tags": list(TAGS)})
        if nb.nbformat_minor < 5:  # cell ids came with nbformat 4.5; an older notebook keeps its format
            del cell["id"]
        nb.cells.insert(_parameters_index(nb) + 1, cell)
        return "inserted"
    cell = nb.cells[found[0]]
    changes = []
    if cell.source != source:
        cell.source = source
        changes.append("text")
    if cell.metadata.get("tags") != TAGS:
        cell.metadata["tags"] = list(TAGS)
        changes.append("tags")
    return "updated (" + " and ".join(changes) + ")" if changes else None


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 when a notebook's cell differs")
    p.add_argument("--root", type=Path, default=ROOT, help="the repository (default: this script's)")
    p.add_argument("paths", nargs="*", type=Path, help="notebooks (default: notebooks/*.ipynb and the sweep notebook)")
    args = p.parse_args(argv)
    stale = []
    sources: dict[tuple[str, ...], str] = {}  # one cell text per set of extras (reads _config.yml once each)
    for path in args.paths or notebooks(args.root):
        raw = path.read_text(encoding="utf-8")
        nb = nbformat.reads(raw, as_version=4)
        extras = tuple(nb.metadata.get("mygo_nb", {}).get("extras", ()))
        if extras not in sources:
            sources[extras] = cell_source(args.root / "_config.yml", extras)
        try:
            change = sync(nb, sources[extras])
        except ValueError as e:
            print(f"{path}: {e}", file=sys.stderr)
            return 2
        if change is None:
            continue
        stale.append(path)
        if args.check:
            print(f"{path}: set-up cell out of date (it would be {change})")
        else:  # written as Jupyter writes notebooks; a missing final newline stays missing (no spurious diff)
            path.write_text(nbformat.writes(nb) + ("\n" if raw.endswith("\n") else ""), encoding="utf-8")
            print(f"{path}: set-up cell {change}")
    if args.check and stale:
        print(f"{len(stale)} notebook(s) out of date: run python scripts/sync_setup_cell.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
