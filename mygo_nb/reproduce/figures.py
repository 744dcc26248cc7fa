"""A sweep's figures: average accuracy after each task, mean accuracy matrices, methods x scenarios bars."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from ..book.plotting import SMALL, accuracy_heatmap, scenario_bars
from ..running.paper import PAPER_TABLE2
from .aggregate import Group

__all__ = ["save_figures"]


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in text).strip("-")


def _save_fig(fig: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def save_figures(groups: Sequence[Group], folder: Path) -> list[Path]:
    """Average accuracy after each task (per benchmark, data and scenario), mean accuracy-matrix heatmaps (per
    group) and, where a benchmark has runs outside the task scenario, the methods × scenarios bars."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    by_bench: dict[tuple[str, str, str], list[Group]] = {}
    for g in groups:
        by_bench.setdefault((g.stream or g.benchmark, g.data, g.scenario), []).append(g)
    for (bench, data, scenario), gs in by_bench.items():
        fig, ax = plt.subplots(figsize=(7.0, 4.6), layout="constrained")
        for i, g in enumerate(gs):
            a = np.array([r.metrics["average_accuracy_curve"] for r in g.runs], dtype=float)
            x = np.arange(1, a.shape[1] + 1)
            ax.plot(x, a.mean(0), "o-", color=f"C{i}", label=f"{g.label}, eval {g.eval_on} (n={len(a)})")
            if len(a) > 1:
                sd = a.std(0, ddof=1)
                ax.fill_between(x, a.mean(0) - sd, a.mean(0) + sd, color=f"C{i}", alpha=0.2)
        if bench == "split-mnist" and scenario == "task":
            for name, vals in PAPER_TABLE2.items():
                ax.plot(np.arange(1, len(vals) + 1), vals, "x--", color="gray" if name == "Fine-tuning" else "k",
                        label=f"{name} (paper, eval train)")
        ax.set_xlabel("tasks learned")
        ax.set_ylabel("average accuracy on seen tasks (%)")
        ax.set_title(f"{bench} ({data}), {scenario} scenario: mean ± std over seeds", fontsize=10)
        ax.xaxis.get_major_locator().set_params(integer=True)
        # below the axes, where it covers no curve
        ax.legend(fontsize=SMALL, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
        ax.grid(alpha=0.3)
        sc = "" if scenario == "task" else f"__{scenario}"
        path = folder / f"{_slug(bench)}__{_slug(data)}{sc}__average-accuracy.png"
        _save_fig(fig, path)
        written.append(path)
    for g in groups:
        R = np.array([[[np.nan if v is None else v for v in row] for row in r.accuracy_matrix] for r in g.runs],
                     dtype=float)
        seen = (~np.isnan(R)).sum(0)
        M = np.where(seen > 0, np.nansum(R, axis=0) / np.maximum(seen, 1), np.nan)  # None (not yet seen) stays blank
        fig, ax = plt.subplots(figsize=(3.8, 3.4))
        title = f"{g.stream or g.benchmark} {g.label}\neval {g.eval_on}, {g.data}, mean of n={len(g.runs)}"
        im = accuracy_heatmap(ax, M, title)
        ax.set_ylabel("after training")
        fig.colorbar(im, ax=ax, shrink=0.8, label="accuracy (%)")
        fig.tight_layout()
        sc = "" if g.scenario == "task" else f"__{g.scenario}"
        path = folder / (f"{_slug(g.stream or g.benchmark)}__{_slug(g.data)}__{_slug(g.method_label)}__{g.profile}{sc}"
                         f"__eval-{g.eval_on}__accuracy-matrix.png")
        _save_fig(fig, path)
        written.append(path)
    sections: dict[tuple[str, str, str, str], list[Group]] = {}
    for g in groups:
        sections.setdefault((g.stream or g.benchmark, g.data, g.profile, g.eval_on), []).append(g)
    for (bench, data, profile, eval_on), gs in sections.items():
        if all(g.scenario == "task" for g in gs):
            continue
        table: dict[str, dict[str, list[float]]] = {}
        for g in gs:
            table.setdefault(g.method_label, {})[g.scenario] = [r.average_accuracy for r in g.runs]
        fig = scenario_bars(dict(sorted(table.items())),
                            title=f"{bench} ({data}), {profile} profile, eval {eval_on}: average accuracy")
        path = folder / f"{_slug(bench)}__{_slug(data)}__{profile}__eval-{eval_on}__methods-x-scenarios.png"
        _save_fig(fig, path)
        written.append(path)
    return written
