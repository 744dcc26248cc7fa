"""One source of truth for the code the chapters show (the book's version of d2l's ``#@save``).

A chapter cell that *defines* a piece of the package starts with one comment line naming the package
object, e.g. ``# mygo_nb.learners.mygo.sleep``; the rest of the cell is that object's source, verbatim
(``inspect.getsource``). The reader runs the cell, and the chapter then uses the definition it just showed.
``tests/test_sources.py`` fails when one character differs on either side; after changing the package,
``python -m mygo_nb.book.sources --write`` copies the new source into the cells.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import inspect
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["MARKER", "DefiningCell", "defining_cells", "object_source", "resolve", "source_diff", "sync_notebook"]

#: The first line of a defining cell, ``# mygo_nb.<module path>.<object name>``.
MARKER = re.compile(r"\A# (mygo_nb(?:\.[A-Za-z_]\w*)+)\n")


@dataclass(frozen=True)
class DefiningCell:
    """A notebook cell that shows a package object: its index, the object's dotted name and the code."""

    index: int
    name: str
    body: str


def _text(source: str | list[str]) -> str:
    return source if isinstance(source, str) else "".join(source)


def defining_cells(notebook: str | Path | dict[str, Any]) -> list[DefiningCell]:
    """The defining cells of a notebook (a path or the parsed JSON), in order."""
    nb = notebook if isinstance(notebook, dict) else json.loads(Path(notebook).read_text(encoding="utf-8"))
    out = []
    for i, cell in enumerate(nb["cells"]):
        src = _text(cell["source"])
        m = MARKER.match(src) if cell["cell_type"] == "code" else None
        if m:
            out.append(DefiningCell(i, m.group(1), src[m.end():]))
    return out


def resolve(name: str) -> Any:
    """The object a dotted name points at: the longest importable module prefix, then attributes."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                raise LookupError(f"{name}: {'.'.join(parts[:cut])} has no {attr!r}")
            obj = getattr(obj, attr)
        return obj
    raise LookupError(f"{name}: no such module")


def object_source(name: str) -> str:
    """The package source of the object ``name`` (without a trailing newline)."""
    return inspect.getsource(resolve(name)).rstrip("\n")


def source_diff(cell_body: str, source: str, name: str = "object") -> str:
    """A unified diff between a cell's code and the package source; empty when they are identical."""
    if cell_body.rstrip("\n") == source.rstrip("\n"):
        return ""
    lines = difflib.unified_diff(source.rstrip("\n").splitlines(), cell_body.rstrip("\n").splitlines(),
                                 f"package: {name}", "notebook cell", lineterm="")
    return "\n".join(lines) or f"{name}: the cell and the package differ in whitespace only"


def sync_notebook(path: Path, write: bool) -> list[str]:
    """Compare (or, with ``write``, overwrite) every defining cell of ``path``; returns the differing names."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    stale = []
    for cell in defining_cells(nb):
        source = object_source(cell.name)
        if source_diff(cell.body, source, cell.name):
            stale.append(cell.name)
            nb["cells"][cell.index]["source"] = f"# {cell.name}\n{source}".splitlines(keepends=True)
    if write and stale:
        path.write_text(json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return stale


def _notebooks(paths: list[Path]) -> Iterator[Path]:
    for p in paths:
        yield from sorted(p.glob("*.ipynb")) if p.is_dir() else [p]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, default=[Path("notebooks")])
    parser.add_argument("--write", action="store_true", help="copy the package's source into stale cells")
    args = parser.parse_args(argv)
    stale = {str(p): s for p in _notebooks(args.paths) if (s := sync_notebook(p, args.write))}
    for path, names in stale.items():
        print(f"{path}: {'updated' if args.write else 'differs from the package'}: {', '.join(names)}")
    return 1 if stale and not args.write else 0


if __name__ == "__main__":
    sys.exit(main())
