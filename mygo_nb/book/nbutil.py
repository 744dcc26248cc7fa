"""Small helpers the notebooks share: saved run records (local, or published: `mygo_nb.book.remote`), and paths
printed without machine details (chapter 1)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..config import Profile
from ..data import Benchmark
from ..running.experiment import run
from ..running.records import RunResult
from .remote import MANIFEST, find_remote, record_fields, record_files, record_key, records_url, run_key

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
    found = _find_local(records_dir, run_key(bench, method, variant, profile, seed, eval_on, scenario, config),
                        config is not None)
    return None if found is None else found[0]


def _find_local(records_dir: str | os.PathLike[str] | None, key: tuple[Any, ...],
                by_config: bool) -> tuple[RunResult, Path] | None:
    if records_dir is None or not Path(records_dir).is_dir():
        return None
    for path in record_files(Path(records_dir)):
        try:
            r = RunResult.load(path)
            same = record_key(record_fields(r), by_config) == key
        except (OSError, ValueError, TypeError, KeyError, AttributeError):  # gone meanwhile, or not a record
            continue
        if same:
            return r, path
    return None


def records_note(records_dir: str | os.PathLike[str] | None) -> str:
    """One line for a notebook that reuses saved run records (chapters 5-13): where they come from, or that
    there are none here (on Colab, or next to an installed wheel, the repository's ``results/`` folder is
    absent; `run_or_load` then fetches the published records, `mygo_nb.book.remote`, and trains the others)."""
    if records_dir is None:
        return "saved run records: off (records_dir = None), every run trains here"
    folder = Path(records_dir)
    n = sum(1 for _ in folder.rglob("*.json")) if folder.is_dir() else 0
    url = records_url()
    if n == 0:
        where = f"none at {show_path(folder)}, every run trains here"
        return f"saved run records: {where}" + (f" unless {url} publishes its record" if url else "")
    files = "1 JSON file" if n == 1 else f"{n} JSON files"
    return (f"saved run records: {files} under {show_path(folder)}; a run whose configuration and data match "
            "one exactly is loaded from it (marked 'saved record'), any other run trains")


def _uses_remote(records_dir: str | os.PathLike[str] | None) -> bool:
    """Published records are looked up unless records are off or ``records_dir`` is the repository's own
    ``results/`` (it holds the manifest, so it has every published record of its commit)."""
    return records_dir is not None and not (Path(records_dir) / MANIFEST).is_file()


def run_or_load(bench: Benchmark, method: str, variant: str | None, profile: Profile, *, seed: int = 0,
                eval_on: str = "test", records_dir: str | os.PathLike[str] | None = None,
                progress: bool = True, scenario: str = "task") -> tuple[RunResult, bool]:
    """The saved record of this run if there is one (chapter 6), else a fresh `run`. Records are looked up
    in ``records_dir``, then (unless that folder is the repository's ``results/``, with its manifest) among the
    published ones (`mygo_nb.book.remote`: fetched, checked against their sha256, cached); ``records_dir=None``
    trains every run. A loaded record prints one line saying where it came from: the folder, the cache or the
    URL.

    Returns the record and whether it was loaded. Records written by ``python -m mygo_nb paper-table
    --out-dir DIR`` are found by their content (benchmark, method, variant, seed, split, configuration).
    """
    key = run_key(bench, method, variant, profile, seed, eval_on, scenario)
    local = _find_local(records_dir, key, False)
    if local is not None:
        print(f"saved record from {show_path(local[1])}")
        return local[0], True
    remote = find_remote(key) if _uses_remote(records_dir) else None
    if remote is not None:
        r, url, cached = remote
        print(f"saved record from {url}" if cached is None else f"saved record from {show_path(cached)} (cached {url})")
        return r, True
    return run(bench, method, variant, profile, seed=seed, eval_on=eval_on, progress=progress, scenario=scenario), False
