"""The numbered notebooks, executed at the quick size with nbval (slow: a few minutes on two CPU cores).

Runs ``pytest --nbval-lax`` on ``notebooks/`` in a subprocess with ``MYGO_PROFILE=quick``: every cell must
run without error (the notebooks' own ``assert`` cells check their claims), and cells marked
``# NBVAL_CHECK_OUTPUT`` must reproduce their committed output. Skipped without ``MYGO_DATA``.
Set ``MYGO_SKIP_NOTEBOOKS=1`` to skip it in a quick local loop.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def _notebooks() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def test_notebooks_are_numbered_and_parameterised() -> None:
    import nbformat

    books = _notebooks()
    assert [p.name[:2] for p in books] == [f"{i:02d}" for i in range(1, len(books) + 1)] and len(books) >= 8
    for path in books:
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# "), path.name
        assert "parameters" in code[0].metadata.get("tags", []), f"{path.name}: first code cell is not 'parameters'"
        # chapters run at the paper's size by default; chapter 14 (a method of one's own) at the quick size
        default = "quick" if path.name.startswith("14_") else "paper"
        assert f'os.environ.get("MYGO_PROFILE", "{default}")' in code[0].source, path.name
        assert nb.metadata["kernelspec"]["name"] == "python3", path.name
        text = "\n".join(c.source for c in nb.cells)
        assert "## Summary" in text and "## References" in text, path.name
        for c in code:
            for out in c.get("outputs", []):
                assert out.get("output_type") != "error", f"{path.name}: committed error output"
                blob = str(out.get("text", "")) + str(out.get("data", {}).get("text/plain", ""))
                for machine in ("/work/", "/tmp/", "/root/", "/home/"):
                    assert machine not in blob, f"{path.name}: machine path {machine!r} in an output"


@pytest.mark.slow
@pytest.mark.integration
def test_notebooks_run_at_quick_size(data_root: Path) -> None:
    if os.environ.get("MYGO_SKIP_NOTEBOOKS"):
        pytest.skip("MYGO_SKIP_NOTEBOOKS is set")
    pytest.importorskip("nbval")
    env = {**os.environ, "MYGO_PROFILE": "quick", "MYGO_DATA": str(data_root), "PYTHONWARNINGS": "ignore",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "tests"), os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "nbval_patience", "--nbval-lax",
           "--nbval-sanitize-with", str(NOTEBOOKS / "nbval_sanitize.cfg"), "--nbval-current-env",
           *[str(p) for p in _notebooks()]]
    proc = subprocess.run(cmd, cwd=NOTEBOOKS, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
