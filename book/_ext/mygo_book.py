"""Three pieces of the book that Sphinx does not have: author-year bibliography labels, the chapter table, and
table cells whose ``mean ± std`` never wraps.

``authoryear`` (a pybtex formatting style, ``bibtex_default_style: authoryear`` in ``_config.yml``): the
bibliography lists each work under the label its author-year citations show in the text, e.g.
``[Ji and Song, 2025]``, ``[Goodfellow et al., 2014]``, ``[Cotix AI, 2025]``, sorted by the authors' names,
then year and title; two works with one label get ``2018a`` and ``2018b``. Entries are formatted as pybtex's
``unsrt`` formats them, with LaTeX font commands such as ``\texttt{...}`` reduced to their text.

``{chapter-runtimes}`` (a directive): a table of the book's chapters in ``_toc.yml`` order with each chapter's
default size (the profile its ``parameters`` cell falls back to, and whether it reuses saved run records) and
the wall time of its committed execution, read from the notebook's metadata (papermill's ``duration``, else the
span of the cells' execution timestamps), so the table always states what the committed outputs took.

Table cells: the spaces around ``±`` become narrow no-break spaces (in docutils tables and in the HTML tables of
notebook outputs), so ``97.83 ± 0.07`` stays on one line however narrow its column.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import nbformat
import yaml
from docutils import nodes
from docutils.statemachine import StringList
from pybtex.database import Entry
from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.unsrt import Style as UnsrtStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.sorting import BaseSortingStyle
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

# --- author-year bibliography -----------------------------------------------------------------------------------


def _plain(latex: str) -> str:
    """LaTeX (braces, accents) as plain text: ``{Cotix AI}`` -> ``Cotix AI``, ``L{\\'e}on`` -> ``Léon``."""
    return Text.from_latex(latex).render_as("text")


def _surname(person: Any) -> str:
    """The name a citation shows: von part and last name, e.g. ``van de Ven``, ``Lopez-Paz``, ``Cotix AI``."""
    return _plain(" ".join(person.prelast_names + person.last_names))


def _authors(entry: Any) -> Sequence[Any]:
    return entry.persons.get("author") or entry.persons.get("editor") or ()


def author_year_label(entry: Any) -> str:
    """``A, year``, ``A and B, year`` or ``A et al., year`` (the key when an entry has no author)."""
    names = [_surname(p) for p in _authors(entry)]
    if not names:
        who = entry.key
    elif len(names) == 1:
        who = names[0]
    elif len(names) == 2:
        who = f"{names[0]} and {names[1]}"
    else:
        who = f"{names[0]} et al."
    return f"{who}, {entry.fields.get('year', 'n.d.')}"


class AuthorYearLabelStyle(BaseLabelStyle):
    """Author-year labels; equal labels get the suffixes a, b, ... in sorted order."""

    def format_labels(self, sorted_entries: Sequence[Any]) -> Iterator[str]:
        labels = [author_year_label(e) for e in sorted_entries]
        counts = Counter(labels)
        seen: Counter[str] = Counter()
        for label in labels:
            if counts[label] > 1:
                seen[label] += 1
                label = f"{label}{chr(ord('a') + seen[label] - 1)}"
            yield label


class AuthorYearSortingStyle(BaseSortingStyle):
    """By the authors' names as the labels show them (case- and brace-insensitive), then year and title."""

    def sorting_key(self, entry: Any) -> tuple[str, str, str]:
        people = "   ".join(f"{_surname(p)}  {_plain(' '.join(p.first_names + p.middle_names))}"
                           for p in _authors(entry))
        return (people.lower() or entry.key, entry.fields.get("year", ""),
                _plain(entry.fields.get("title", "")).lower())


#: LaTeX font commands pybtex's parser leaves as text (``\texttt{src/test.py}``): their argument is kept as is.
FONT_COMMAND = re.compile(r"\\(?:texttt|textsf|textrm|textit|textbf|emph)\s*\{([^{}]*)\}")


class AuthorYearStyle(UnsrtStyle):
    """pybtex's ``unsrt`` entries under author-year labels, sorted by author."""

    default_label_style = "authoryear"
    default_sorting_style = "authoryear"

    def format_entry(self, label: str, entry: Any, bib_data: Any = None) -> Any:
        fields = {name: FONT_COMMAND.sub(r"{\1}", value) for name, value in entry.fields.items()}
        if fields != dict(entry.fields):
            plain = Entry(entry.type, fields=fields, persons=entry.persons)
            plain.key = entry.key
            entry = plain
        return super().format_entry(label, entry, bib_data=bib_data)


def register_bibliography_style() -> None:
    """Make ``authoryear`` known to pybtex (as a formatting, a label and a sorting style)."""
    for group, cls in (("pybtex.style.labels", AuthorYearLabelStyle),
                       ("pybtex.style.sorting", AuthorYearSortingStyle),
                       ("pybtex.style.formatting", AuthorYearStyle)):
        register_plugin(group, "authoryear", cls, force=True)


# --- the chapter table ------------------------------------------------------------------------------------------

PROFILE_DEFAULT = re.compile(r"""^profile\s*=\s*os\.environ\.get\(\s*["']MYGO_PROFILE["']\s*,\s*["'](\w[\w-]*)["']""",
                             re.M)
PROFILE_LITERAL = re.compile(r"""^profile\s*=\s*["'](\w[\w-]*)["']""", re.M)


def toc_entries(root: Path) -> list[str]:
    """Every ``file:`` of ``_toc.yml`` in order (the root page first)."""
    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    files = [toc["root"]]

    def walk(entries: list[dict[str, Any]]) -> None:
        for e in entries:
            if "file" in e:
                files.append(e["file"])
            for key in ("parts", "chapters", "sections"):
                walk(e.get(key, []))

    walk(toc.get("parts", []) + toc.get("chapters", []))
    return files


def execution_seconds(nb: Any) -> float | None:
    """Wall seconds of the notebook's committed execution: papermill's duration, else the cells' span."""
    duration = nb.metadata.get("papermill", {}).get("duration")
    if isinstance(duration, (int, float)):
        return float(duration)
    starts, ends = [], []
    for cell in nb.cells:
        ex = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in ex and "shell.execute_reply" in ex:
            starts.append(dt.datetime.fromisoformat(ex["iopub.execute_input"].replace("Z", "+00:00")))
            ends.append(dt.datetime.fromisoformat(ex["shell.execute_reply"].replace("Z", "+00:00")))
    return (max(ends) - min(starts)).total_seconds() if starts else None


def ran_on_gpu(nb: Any) -> bool:
    """Whether the committed outputs say the chapter ran on a CUDA device (``... on cuda``, ``device: cuda``)."""
    pattern = re.compile(r"\bon cuda\b|\bdevice[=:]\s*'?cuda", re.I)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("text", "") or out.get("data", {}).get("text/plain", "")
            if pattern.search("".join(text) if isinstance(text, list) else str(text)):
                return True
    return False


def default_size(nb: Any) -> str:
    """The profile the parameters cell falls back to, and whether saved run records are reused."""
    cell = next((c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])),
                None)
    if cell is None:
        return "—"
    m = PROFILE_DEFAULT.search(cell.source) or PROFILE_LITERAL.search(cell.source)
    size = f"`{m.group(1)}` profile" if m else "—"
    if re.search(r"^records_dir\s*=\s*(?!None)", cell.source, re.M):
        size += ", saved run records reused"
    return size


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def chapter_rows(root: Path) -> list[tuple[str, str, str, str]]:
    """(doc link, default size, 2-core CPU time, GPU time) of every chapter notebook in the TOC."""
    rows = []
    for entry in toc_entries(root):
        path = root / f"{entry}.ipynb"
        if not entry.startswith("notebooks/") or not path.is_file():
            continue  # the numbered chapters only (not the appendix's one-run notebook)
        nb = nbformat.read(path, as_version=4)
        seconds = format_seconds(execution_seconds(nb))
        cpu, gpu = ("—", seconds) if ran_on_gpu(nb) else (seconds, "—")
        title = nb.cells[0].source.splitlines()[0].lstrip("# ").strip()
        number = int(Path(entry).name[:2])  # the chapter's number, as the numbered TOC shows it
        rows.append((f"{{doc}}`{number} · {title} </{entry}>`", default_size(nb), cpu, gpu))
    return rows


class ChapterRuntimes(SphinxDirective):
    """``{chapter-runtimes}``: the chapter table (see the module docstring)."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        root = Path(self.env.srcdir)
        for entry in toc_entries(root):
            if (root / f"{entry}.ipynb").is_file():
                self.env.note_dependency(str(root / f"{entry}.ipynb"))
        lines = ["| Chapter | Default size | 2-core CPU | GPU |", "|---|---|---|---|"]
        lines += [f"| {link} | {size} | {cpu} | {gpu} |" for link, size, cpu, gpu in chapter_rows(root)]
        container = nodes.container(classes=["chapter-runtimes"])
        self.state.nested_parse(StringList(lines, source=self.get_source_info()[0]), self.content_offset,
                                container)
        return [container]


# --- "97.83 ± 0.07" never wraps ---------------------------------------------------------------------------------

PLUS_MINUS = re.compile(r"(?<=\S) ± (?=\S)")
NNBSP = "\u202f"  # narrow no-break space


def keep_plus_minus_together(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """Bind ``mean ± std`` with narrow no-break spaces in every table cell (docutils tables and HTML outputs), so a
    narrow column wraps between values, never inside one."""
    for entry in doctree.findall(nodes.entry):
        for text in list(entry.findall(nodes.Text)):
            if " ± " in text and not isinstance(text.parent, (nodes.literal, nodes.literal_block)):
                text.parent.replace(text, nodes.Text(PLUS_MINUS.sub(f"{NNBSP}±{NNBSP}", str(text))))
    for raw in doctree.findall(nodes.raw):
        body = raw.astext()
        if "html" in raw.get("format", "").split() and "<td" in body and " ± " in body:
            raw.children = [nodes.Text(PLUS_MINUS.sub("&#8239;±&#8239;", body))]


def setup(app: Sphinx) -> dict[str, Any]:
    register_bibliography_style()
    app.add_directive("chapter-runtimes", ChapterRuntimes)
    app.connect("doctree-resolved", keep_plus_minus_together)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
