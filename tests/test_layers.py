"""The package's layers import only downwards: the import-linter contract in pyproject.toml holds, fails on an
upward import (shown on a copy of the package with one added), and no code outside the learner contract asks a
learner what it is."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = [sys.executable, "-c",
        "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())"]


def _lint(package_parent: Path) -> subprocess.CompletedProcess[str]:
    pytest.importorskip("importlinter")
    env = {"PYTHONPATH": str(package_parent), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    return subprocess.run([*LINT, "--config", str(ROOT / "pyproject.toml"), "--no-cache"], cwd=package_parent,
                          env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_layer_contract_is_kept() -> None:
    proc = _lint(ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "1 kept, 0 broken" in proc.stdout


@pytest.mark.slow
def test_layer_contract_fails_on_an_upward_import(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "mygo_nb", tmp_path / "mygo_nb", ignore=shutil.ignore_patterns("__pycache__"))
    net = tmp_path / "mygo_nb" / "core" / "net.py"
    upward = "from torch import Tensor, nn\n\nfrom ..running import records  # noqa\n"
    net.write_text(net.read_text().replace("from torch import Tensor, nn\n", upward, 1))
    proc = _lint(tmp_path)
    assert proc.returncode != 0
    assert "BROKEN" in proc.stdout and "mygo_nb.core.net -> mygo_nb.running.records" in proc.stdout, proc.stdout[-3000:]


def test_no_code_asks_a_learner_what_it_is() -> None:
    pattern = re.compile(r"isinstance\(learner|hasattr\(learner|getattr\(learner")
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in (ROOT / "mygo_nb").rglob("*.py")
            for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert not hits, hits
