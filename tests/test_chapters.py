"""What every numbered chapter holds as a textbook chapter: learning goals and its runtime at the top, at least
one figure, displayed equations next to the code that computes them, and exercises that each come with a hint
and a worked solution. Read from the committed notebooks (no execution)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
#: a displayed equation: a $$ ... $$ block (dollarmath) or a {math} directive
DISPLAYED = re.compile(r"^\$\$|^```\{math\}", re.M)
EXERCISE = re.compile(r"^(`{3,}|:{3,})\{exercise\}[^\n]*\n:label: (\S+)(.*?)^\1\s*$", re.M | re.S)
SOLUTION = re.compile(r"^(`{3,}|:{3,})\{solution\} (\S+)", re.M)
HINT = re.compile(r"^(`{3,}|:{3,})\{hint\}", re.M)
FIGURE_MIME = ("image/png", "image/svg+xml", "image/jpeg")


def _cells(path: Path) -> list[nbformat.NotebookNode]:
    return nbformat.read(path, as_version=4).cells


def _has_figure(cells: list[nbformat.NotebookNode]) -> bool:
    for c in cells:
        if c.cell_type == "code" and any(m in o.get("data", {}) for o in c.get("outputs", []) for m in FIGURE_MIME):
            return True
        if c.cell_type == "markdown" and re.search(r"```\{figure\}|!\[[^\]]*\]\(", c.source):
            return True
    return False


def test_there_are_twelve_chapters() -> None:
    assert len(CHAPTERS) >= 12, [p.name for p in CHAPTERS]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_has_a_figure(path: Path) -> None:
    assert _has_figure(_cells(path)), f"{path.name}: no figure (an image output or a figure in the text)"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_opens_with_its_goals_and_runtime(path: Path) -> None:
    first = next(c for c in _cells(path) if c.cell_type == "markdown").source
    assert re.search(r"learn|goal", first, re.I), f"{path.name}: the first cell states no learning goals"
    said = re.search(r"\b(runtime|runs? in|takes)\b", first, re.I)
    timed = re.search(r"\d\s*(s|seconds?|min|minutes?|h|hours?)\b", first)
    assert said and timed, f"{path.name}: the first cell states no runtime"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_exercise_has_a_hint_and_a_solution(path: Path) -> None:
    text = "\n\n".join(c.source for c in _cells(path) if c.cell_type == "markdown")
    exercises = {m.group(2): m.group(3) for m in EXERCISE.finditer(text)}
    assert exercises, f"{path.name}: no exercises"
    solved = {m.group(2) for m in SOLUTION.finditer(text)}
    assert not set(exercises) - solved, f"{path.name}: exercises without a solution: {sorted(set(exercises) - solved)}"
    unhinted = sorted(label for label, body in exercises.items() if not HINT.search(body))
    assert not unhinted, f"{path.name}: exercises without a hint: {unhinted}"


def test_solutions_are_collapsed() -> None:
    for path in CHAPTERS:
        text = "\n".join(c.source for c in _cells(path) if c.cell_type == "markdown")
        for m in re.finditer(r"^(`{3,}|:{3,})\{solution\}[^\n]*\n((?::[^\n]*\n)*)", text, re.M):
            assert ":class: dropdown" in m.group(2), f"{path.name}: a solution is not collapsed: {m.group(0)!r}"


def _equations_beside_code() -> list[tuple[str, int]]:
    """(notebook, cell index) of every markdown cell with a displayed equation that sits right before or after a
    code cell."""
    found = []
    for path in CHAPTERS:
        cells = _cells(path)
        for i, c in enumerate(cells):
            if c.cell_type != "markdown" or not DISPLAYED.search(c.source):
                continue
            near = [cells[j] for j in (i - 1, i + 1) if 0 <= j < len(cells)]
            if any(n.cell_type == "code" for n in near):
                found += [(path.stem, i)] * len(DISPLAYED.findall(c.source))
    return found


def test_at_least_twelve_displayed_equations_sit_next_to_their_code() -> None:
    found = _equations_beside_code()
    assert len(found) >= 12, f"{len(found)} displayed equations next to a code cell: {found}"
    assert len({nb for nb, _ in found}) >= 6, f"equations in only {sorted({nb for nb, _ in found})}"


def test_the_checks_catch_a_chapter_without_them() -> None:
    bare = [nbformat.v4.new_markdown_cell("# A chapter\n\nSome text."), nbformat.v4.new_code_cell("x = 1")]
    assert not _has_figure(bare)
    text = "````{exercise}\n:label: ex-a\n\nDo it.\n````\n"
    assert {m.group(2) for m in EXERCISE.finditer(text)} == {"ex-a"}
    assert not HINT.search(next(EXERCISE.finditer(text)).group(3))
    hinted = "````{exercise}\n:label: ex-a\n\nDo it.\n\n```{hint}\n:class: dropdown\nLook.\n```\n````\n"
    assert HINT.search(next(EXERCISE.finditer(hinted)).group(3))
    assert not DISPLAYED.search("inline $x$ only") and DISPLAYED.search("$$\nx = 1\n$$")


#: widget models that only do something with a live kernel (a progress bar or a label needs none)
CONTROLS = re.compile(r"(Dropdown|Slider|Play|Button|Text|Checkbox|Select|Toggle|Picker|Combobox|RadioButtons)Model$")


def _widget_state(nb: nbformat.NotebookNode) -> dict[str, dict]:
    """The notebook's saved widget models, by model id."""
    return nb.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})


def _widget_views(nb: nbformat.NotebookNode) -> list[str]:
    """The model ids of the widget views in the notebook's outputs."""
    return [o["data"]["application/vnd.jupyter.widget-view+json"]["model_id"] for c in nb.cells
            if c.cell_type == "code" for o in c.get("outputs", [])
            if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]


def _controls_on_the_page(nb: nbformat.NotebookNode) -> list[str]:
    state = _widget_state(nb)
    found, todo, seen = [], _widget_views(nb), set()
    while todo:
        m = todo.pop()
        if m in seen or m not in state:
            continue
        seen.add(m)
        name = state[m].get("model_name", "")
        if CONTROLS.search(name):
            found.append(name)
        todo += re.findall(r"IPY_MODEL_([0-9a-f]{32})", str(state[m].get("state", {})))
    return found


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_static_pages_show_no_control_that_needs_a_kernel(path: Path) -> None:
    controls = _controls_on_the_page(nbformat.read(path, as_version=4))
    assert not controls, f"{path.name} shows controls that do nothing without a kernel: {sorted(set(controls))}"


def test_a_saved_slider_counts_as_a_control() -> None:
    nb = nbformat.v4.new_notebook()
    view = {"model_id": "a" * 32, "version_major": 2, "version_minor": 0}
    nb.cells = [nbformat.v4.new_code_cell("w", outputs=[nbformat.v4.new_output(
        "display_data", {"application/vnd.jupyter.widget-view+json": view})])]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {
        "a" * 32: {"model_name": "VBoxModel", "state": {"children": ["IPY_MODEL_" + "b" * 32]}},
        "b" * 32: {"model_name": "IntSliderModel", "state": {}}}}}
    assert _controls_on_the_page(nb) == ["IntSliderModel"]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_saved_widgets_refer_only_to_saved_models(path: Path) -> None:
    """Every widget view of an output and every model a saved model names is in the saved state (the embed
    bundle logs 'widget model not found' otherwise)."""
    nb = nbformat.read(path, as_version=4)
    state, views = _widget_state(nb), _widget_views(nb)
    named = [m for v in state.values() for m in re.findall(r"IPY_MODEL_([0-9a-f]{32})", str(v.get("state", {})))]
    missing = sorted({m for m in views + named if m not in state})
    assert not missing, f"{path.name}: widget models missing from the saved state: {missing[:5]}"
