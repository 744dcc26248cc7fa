"""Small helpers the notebooks share: saved run records, and paths printed without machine details (notebook 01)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..config import Profile
from ..data import Benchmark
from ..learners.base import config_dict
from ..running.experiment import run
from ..running.records import RunResult

__all__ = ["find_record", "records_note", "run_or_load", "show_path"]


def show_path(path: str | os.PathLike[str], base: str | os.PathLike[str] | None = None) -> str:
    """``path`` relative to ``base`` (default: the working directory) when below it, else with the home
    folder written as ``~`` and otherwise only its last two parts, so outputs never show machine paths."""
    p = Path(path).expanduser().resolve()
    b = Path(base).resolve() if base is not None else Path.cwd().resolve()
    try:
        return os.path.relpath(p, b) if p.is_relative_to(b.parent.parent) else _short(p)
    except ValueError:
        return _short(p)


def _short(p: Path) -> str:
    try:
        return "~/" + str(p.relative_to(Path.home()))
    except ValueError:
        return str(Path("…", *p.parts[-2:]))


def find_record(records_dir: str | os.PathLike[str] | None, bench: Benchmark, method: str, variant: str | None,
                profile: Profile, seed: int, eval_on: str, scenario: str = "task",
                config: Any = None) -> RunResult | None:
    """A saved `RunResult` (any ``*.json`` below ``records_dir``) of exactly this run (scenario included) on
    exactly these data files (same checksums, same task sizes) with this configuration, or None.

    With ``config`` (a run given its own method config, as in ``run(..., config=)``), a record matches on the
    config it ran with instead of on the variant's name, so a ``mygo/consolidate-vae`` record is found for
    ``config=ConsolidateConfig(memory="vae")``.
    """
    if records_dir is None or not Path(records_dir).is_dir():
        return None
    mine = variant if config is None else config_dict(config)
    want = (bench.name, method, mine, scenario, seed, eval_on, profile.to_dict(), bench.provenance.get("files"),
            [len(t.train) for t in bench.tasks], [len(t.test) for t in bench.tasks])
    root = Path(records_dir)
    for path in sorted(root.rglob("*.json")):
        if any(part.startswith(".") for part in path.relative_to(root).parts[:-1]):
            continue  # a sweep's in-flight state (.checkpoints/, .attempts/), never a record
        try:
            r = RunResult.load(path)
            theirs = r.variant if config is None else r.traces.get("method_config")
            got = (r.benchmark, r.method, theirs, r.scenario, r.seed, r.eval_on, r.config, r.data.get("files"),
                   r.data.get("train_sizes"), r.data.get("test_sizes"))
        except (OSError, ValueError, TypeError, KeyError, AttributeError):  # gone meanwhile, or not a record
            continue
        if got == want:
            return r
    return None


def records_note(records_dir: str | os.PathLike[str] | None) -> str:
    """One line for a notebook that reuses saved run records (notebooks 05-09): where they come from, or that
    there are none here and every run trains (on Colab, or next to an installed wheel, the repository's
    ``results/`` folder is absent; `run_or_load` then trains)."""
    if records_dir is None:
        return "saved run records: off (records_dir = None), every run trains here"
    folder = Path(records_dir)
    n = sum(1 for _ in folder.rglob("*.json")) if folder.is_dir() else 0
    if n == 0:
        return f"saved run records: none at {show_path(folder)}, every run trains here"
    files = "1 JSON file" if n == 1 else f"{n} JSON files"
    return (f"saved run records: {files} under {show_path(folder)}; a run whose configuration and data match "
            "one exactly is loaded from it (marked 'saved record'), any other run trains")


def run_or_load(bench: Benchmark, method: str, variant: str | None, profile: Profile, *, seed: int = 0,
                eval_on: str = "test", records_dir: str | os.PathLike[str] | None = None,
                progress: bool = True, scenario: str = "task") -> tuple[RunResult, bool]:
    """The saved record of this run from ``records_dir`` if there is one (notebook 06), else a fresh `run`
    (also when ``records_dir`` is None or does not exist, e.g. on Colab; `records_note` says which).

    Returns the record and whether it was loaded. Records written by ``python -m mygo_nb paper-table
    --out-dir DIR`` are found by their content (benchmark, method, variant, seed, split, configuration).
    """
    found = find_record(records_dir, bench, method, variant, profile, seed, eval_on, scenario)
    if found is not None:
        return found, True
    return run(bench, method, variant, profile, seed=seed, eval_on=eval_on, progress=progress, scenario=scenario), False
