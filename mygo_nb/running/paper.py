"""The numbers the MyGO paper reports, and side-by-side tables against ours (chapters 6 and 7).

Table 1 gives final per-task accuracies, Table 2 the average accuracy after each task (Split-MNIST).
The paper's methods map to ours as: MyGO -> ``mygo/reference`` (what its public code runs), Fine-tuning
-> ``finetune`` (one shared head); both evaluated on the training subsets, as the reference code does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from .records import RunResult

__all__ = ["PAPER_METHODS", "PAPER_TABLE1", "PAPER_TABLE2", "mean_std", "paper_comparison"]

#: (benchmark, paper method) -> per-task final accuracies and their average (Table 1).
PAPER_TABLE1: dict[tuple[str, str], dict[str, object]] = {
    ("split-mnist", "Fine-tuning"): {"tasks": [43.85, 69.59, 21.90, 95.44, 99.61], "average": 66.08},
    ("split-mnist", "MyGO"): {"tasks": [99.23, 95.14, 96.96, 99.46, 95.15], "average": 97.19},
    ("split-agnews", "Fine-tuning"): {"tasks": [63.11, 96.37], "average": 79.74},
    ("split-agnews", "MyGO"): {"tasks": [76.64, 73.43], "average": 75.03},
}
#: paper method -> average accuracy after each Split-MNIST task (Table 2).
PAPER_TABLE2: dict[str, list[float]] = {
    "Fine-tuning": [100.00, 78.04, 63.71, 73.06, 66.08],
    "MyGO": [99.23, 97.19, 97.11, 97.70, 97.19],
}
#: paper method -> (our method, our variant).
PAPER_METHODS: dict[str, tuple[str, str | None]] = {"MyGO": ("mygo", "reference"), "Fine-tuning": ("finetune", None)}


def mean_std(values: Iterable[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    v = list(values)
    m = sum(v) / len(v)
    s = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else 0.0
    return m, s


def _fmt(values: Sequence[float]) -> str:
    m, s = mean_std(values)
    return f"{m:.2f} ± {s:.2f}" if len(values) > 1 else f"{m:.2f}"


def paper_comparison(results: Sequence[RunResult], benchmark: str = "split-mnist") -> str:
    """Markdown: the paper's Table 1 (and Table 2 for Split-MNIST) beside ours, mean ± std over seeds."""
    lines = [f"Table 1 — final accuracy per task (%), {benchmark}, evaluated on "
             f"{', '.join(sorted({r.eval_on for r in results}))}", ""]
    rows: list[list[str]] = []
    curves: list[list[str]] = []
    for paper_name, (method, variant) in PAPER_METHODS.items():
        paper = PAPER_TABLE1.get((benchmark, paper_name))
        mine = [r for r in results if r.benchmark == benchmark and r.method == method and r.variant == variant]
        if paper is None:
            continue
        tasks = paper["tasks"]  # type: ignore[assignment]
        rows.append([f"{paper_name} (paper)", *(f"{a:.2f}" for a in tasks), f"{paper['average']:.2f}"])  # type: ignore[union-attr]
        if mine:
            per_task = list(zip(*(r.metrics["final_accuracies"] for r in mine), strict=True))
            rows.append([f"{paper_name} (ours, {method}{'/' + variant if variant else ''}, n={len(mine)})",
                         *(_fmt(col) for col in per_task), _fmt([r.average_accuracy for r in mine])])
        if benchmark == "split-mnist":
            curves.append([f"{paper_name} (paper)", *(f"{a:.2f}" for a in PAPER_TABLE2[paper_name])])
            if mine:
                cols = zip(*(r.metrics["average_accuracy_curve"] for r in mine), strict=True)
                curves.append([f"{paper_name} (ours, n={len(mine)})", *(_fmt(c) for c in cols)])
    T = len(rows[0]) - 2 if rows else 0
    lines += _md(["Model", *(f"T{i + 1}" for i in range(T)), "Average"], rows)
    if curves:
        lines += ["", "Table 2 — average accuracy after each task (%)", ""]
        lines += _md(["Model", *(f"After T{i + 1}" for i in range(len(curves[0]) - 1))], curves)
    return "\n".join(lines)


def _md(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return out + ["| " + " | ".join(r) + " |" for r in rows]
