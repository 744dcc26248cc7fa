"""Writing a sweep folder's summary: ``summary.md``, ``summary.csv`` and ``figures/``."""

from __future__ import annotations

import os
from pathlib import Path

from ..running.records import atomic_write_text
from .aggregate import (
    Group,
    collect_results,
    group_results,
    results_csv,
    results_markdown,
    scenarios_markdown,
    tasks_markdown,
)
from .figures import save_figures

__all__ = ["aggregate"]


def aggregate(folder: str | os.PathLike[str], *, figures: bool = True) -> list[Group]:
    """Write ``summary.md``, ``summary.csv`` (and ``figures/``) from every RunResult in ``folder``."""
    from filelock import FileLock

    folder = Path(folder)
    (folder / ".locks").mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder / ".locks" / "summary.lock")):
        groups = group_results(collect_results(folder))
        md = results_markdown(groups)
        if any(g.scenario != "task" or any(r.storage for r in g.runs) for g in groups):
            md += "\n" + scenarios_markdown(groups)
        if by_tasks := tasks_markdown(groups):
            md += "\n" + by_tasks
        atomic_write_text(folder / "summary.md", md)
        atomic_write_text(folder / "summary.csv", results_csv(groups))
        if figures and groups:
            save_figures(groups, folder / "figures")
    return groups
