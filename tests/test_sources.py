"""The chapters show the package's code verbatim (mygo_nb.book.sources), and that check can fail."""

from __future__ import annotations

import ast
import json
import re
import shutil
from pathlib import Path

import pytest

from mygo_nb.book import sources

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
#: What each chapter builds on the page (at least these package objects, as defining cells).
PIECES = {
    "01_data": ["mygo_nb.data.splits.images_to_tensor", "mygo_nb.data.splits.class_index",
                "mygo_nb.data.splits.build_tasks"],
    "02_neocortex_net": ["mygo_nb.core.net.NeocortexNet", "mygo_nb.core.net.make_image_net",
                         "mygo_nb.core.net.make_text_net", "mygo_nb.core.net.set_extractor_trainable"],
    "03_generative_memory": ["mygo_nb.core.memories.Generator", "mygo_nb.core.memories.Discriminator",
                             "mygo_nb.core.memories.gan_step", "mygo_nb.core.memories.GenerativeMemory"],
    "04_wake": ["mygo_nb.core.loops.epoch_loop", "mygo_nb.learners.mygo.wake"],
    "05_sleep": ["mygo_nb.core.loops.sleep_loop", "mygo_nb.learners.mygo.sleep",
                 "mygo_nb.learners.mygo.reference_wake", "mygo_nb.learners.mygo.paper_wake"],
    "09_beyond_the_paper": ["mygo_nb.learners.consolidate.consolidating_sleep"],
    "10_better_memories": ["mygo_nb.core.memories.VAEEncoder", "mygo_nb.core.memories.ConditionalVAE",
                           "mygo_nb.core.memories.vae_step"],
    "12_internal_replay": ["mygo_nb.core.memories.FactorTrainer", "mygo_nb.learners.internal.upper_view",
                           "mygo_nb.learners.internal.internal_sleep"],
    "13_baselines_held_to_their_papers": ["mygo_nb.core.net.make_mlp_net", "mygo_nb.data.mnist.vandeven_split",
                                          "mygo_nb.data.splits.validation_split"],
}
ALL = sorted(NOTEBOOKS.glob("*.ipynb"))
PAGE_WIDTH = 88  # characters of code the book shows on one line


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


@pytest.mark.parametrize("chapter", sorted(PIECES))
def test_chapter_builds_its_pieces(chapter: str) -> None:
    names = [c.name for c in sources.defining_cells(NOTEBOOKS / f"{chapter}.ipynb")]
    missing = [n for n in PIECES[chapter] if n not in names]
    assert not missing, f"{chapter} does not show {missing}"


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_defining_cells_are_the_package_source(path: Path) -> None:
    diffs = [sources.source_diff(c.body, sources.object_source(c.name), c.name)
             for c in sources.defining_cells(path)]
    diffs = [d for d in diffs if d]
    assert not diffs, "run `python -m mygo_nb.book.sources --write`:\n" + "\n".join(diffs)


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_chapter_uses_the_definition_it_showed(path: Path) -> None:
    """No cell imports a shown object from the package: the chapter runs the cell's definition."""
    shown = {c.name.rsplit(".", 1)[1] for c in sources.defining_cells(path)}
    imported = set()
    for cell in _cells(path):
        if cell["cell_type"] != "code":
            continue
        code = "\n".join(line for line in "".join(cell["source"]).splitlines()
                         if not line.lstrip().startswith(("%", "!")))
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("mygo_nb"):
                imported |= {a.asname or a.name for a in node.names}
    assert not shown & imported, f"{path.stem} imports what it defines: {sorted(shown & imported)}"


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_no_code_line_wider_than_the_page(path: Path) -> None:
    wide = [(i, line) for i, cell in enumerate(_cells(path)) if cell["cell_type"] == "code"
            for line in "".join(cell["source"]).splitlines() if len(line) > PAGE_WIDTH]
    assert not wide, f"{path.stem}: code lines wider than {PAGE_WIDTH} characters: {wide}"


def test_one_character_on_either_side_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = NOTEBOOKS / "04_wake.ipynb"
    cell = next(c for c in sources.defining_cells(src) if c.name == "mygo_nb.learners.mygo.wake")
    package = sources.object_source(cell.name)
    assert sources.source_diff(cell.body, package) == ""
    # the notebook side: one character changed, one space added at a line end
    pos = cell.body.index("lr_fast")
    assert sources.source_diff(cell.body[:pos] + "lr_slow" + cell.body[pos + 7:], package)
    assert sources.source_diff(cell.body.replace("\n", " \n", 1), package)
    # the package side: one character changed
    assert sources.source_diff(cell.body, package.replace("cfg.lr_fast", "cfg.lr_fasT", 1))

    # the whole check, on a copy of the notebook: the edited cell is reported, --write repairs it
    copy = tmp_path / src.name
    shutil.copy(src, copy)
    nb = json.loads(copy.read_text(encoding="utf-8"))
    text = "".join(nb["cells"][cell.index]["source"]).replace("lr_fast", "lr_fasT", 1)
    nb["cells"][cell.index]["source"] = text
    copy.write_text(json.dumps(nb), encoding="utf-8")
    assert sources.main([str(copy)]) == 1
    assert sources.main([str(copy), "--write"]) == 0
    assert sources.sync_notebook(copy, write=False) == []
    # a package whose wake changed by one character makes the untouched notebook stale
    real = sources.object_source
    changed = package.replace("lr_fast", "lr_fasT", 1)
    monkeypatch.setattr(sources, "object_source", lambda name: changed if name == cell.name else real(name))
    assert sources.sync_notebook(copy, write=False) == [cell.name]


def test_unknown_object_is_a_clear_error() -> None:
    with pytest.raises(LookupError, match="no 'nope'"):
        sources.resolve("mygo_nb.core.net.nope")


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_no_object_addresses_on_pages(path: Path) -> None:
    """A cell whose last expression returns an object prints ``<... at 0x...>``: noise that changes every run."""
    shown = [(i, "".join(o.get("data", {}).get("text/plain", "")))
             for i, cell in enumerate(_cells(path)) for o in cell.get("outputs", [])
             if o.get("output_type") == "execute_result"]
    noisy = [(i, text[:60]) for i, text in shown if re.search(r"<[\w.]+ (object )?at 0x[0-9a-f]+>", text)]
    assert not noisy, f"{path.stem}: {noisy}"


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_no_machine_paths_in_notebooks(path: Path) -> None:
    """Absolute paths of the machine that executed a notebook (outputs, papermill metadata) stay off the page."""
    text = path.read_text(encoding="utf-8")
    leaks = sorted(set(re.findall(r"/(?:work|tmp|root|home/\w+)/[^\s\"']*", text)))
    assert not leaks, f"{path.stem}: {leaks[:5]}"
