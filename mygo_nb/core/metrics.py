"""Continual-learning metrics on an accuracy matrix (introduced in chapter 6).

``R[i][j]`` is the accuracy (in %) on task ``j`` after training task ``i``; entries with ``j > i`` are
``None`` (not yet seen). A method trained once on all tasks (``joint``) has a single row.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["accuracy", "average_accuracy", "average_accuracy_curve", "backward_transfer", "forgetting", "summarize"]

Matrix = Sequence[Sequence[float | None]]


def accuracy(logits: torch.Tensor, y: torch.Tensor) -> float:
    """Percentage of rows whose arg-max equals the label."""
    if y.numel() == 0:
        raise ValueError("accuracy of an empty set is undefined")
    return 100.0 * float((logits.argmax(1) == y).float().mean())


def _seen(row: Sequence[float | None]) -> list[float]:
    return [a for a in row if a is not None]


def average_accuracy(R: Matrix) -> float:
    """Mean accuracy over the tasks seen after the last training stage."""
    return sum(_seen(R[-1])) / len(_seen(R[-1]))


def average_accuracy_curve(R: Matrix) -> list[float]:
    """Average accuracy over the seen tasks after each training stage (the paper's Table 2)."""
    return [sum(_seen(r)) / len(_seen(r)) for r in R]


def backward_transfer(R: Matrix) -> float | None:
    """BWT = mean over j < T-1 of R[T-1][j] - R[j][j] (Lopez-Paz & Ranzato, 2017); None if undefined."""
    T = len(R)
    if T < 2 or any(R[j][j] is None for j in range(T)):
        return None
    return sum(R[-1][j] - R[j][j] for j in range(T - 1)) / (T - 1)  # type: ignore[operator]


def forgetting(R: Matrix) -> float | None:
    """Mean over j < T-1 of (best earlier accuracy on j) - (final accuracy on j) (Chaudhry et al., 2018)."""
    T = len(R)
    if T < 2 or any(R[j][j] is None for j in range(T)):
        return None
    drops = [max(R[i][j] for i in range(j, T - 1)) - R[-1][j] for j in range(T - 1)]  # type: ignore[type-var]
    return sum(drops) / len(drops)  # type: ignore[arg-type]


def summarize(R: Matrix) -> dict[str, float | list[float] | None]:
    """All metrics of one accuracy matrix."""
    return {
        "final_accuracies": [float(a) for a in _seen(R[-1])],
        "average_accuracy": average_accuracy(R),
        "average_accuracy_curve": average_accuracy_curve(R),
        "backward_transfer": backward_transfer(R),
        "forgetting": forgetting(R),
    }
