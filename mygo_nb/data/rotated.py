"""Rotated-MNIST: every task is all ten digits turned by the task's angle.

Task ``k`` of ``n`` rotates each image by ``k * max_angle / n`` degrees counter-clockwise (the first task
upright), bilinearly, the corners filled with the background (-1), with torchvision's ``rotate`` on each
batch's device (`Rotation`); the images are stored once. Lopez-Paz & Ranzato (2017) drew 20 angles in
[0, 180); these are evenly spaced in that range.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2.functional import rotate

from ..errors import check_int, check_real
from .mnist import derived_mnist
from .registry import register_benchmark
from .types import Benchmark

__all__ = ["ROTATED_TASKS", "Rotation", "rotated_mnist"]

#: Tasks of Rotated-MNIST when no number is given.
ROTATED_TASKS = 10


@dataclass(frozen=True)
class Rotation:
    """Turn each image by ``degrees`` counter-clockwise about its centre; pixels from outside are -1."""

    degrees: float
    task: int

    def __call__(self, x: Tensor) -> Tensor:
        if self.degrees == 0:
            return x
        return rotate(x, self.degrees, interpolation=InterpolationMode.BILINEAR, fill=-1.0)

    def describe(self) -> dict[str, Any]:
        return {"kind": "rotation", "degrees": self.degrees, "task": self.task}

    def to(self, device: torch.device | str) -> Rotation:
        return self


@register_benchmark("rotated-mnist", modality="image", tasks=ROTATED_TASKS, default_scenario="domain",
                    split=False, params={"max_angle": 180.0, "train_per_class": None, "test_per_class": None},
                    summary="all ten digits per task, each task turned by its own angle in [0, max_angle)")
def rotated_mnist(root: str | os.PathLike[str] | None = None, *, n_tasks: int | None = None,
                  max_train_per_class: int | None = None, device: torch.device | str = "cpu",
                  download: bool = True, split: Any = None, max_angle: float = 180.0,
                  train_per_class: int | None = None, test_per_class: int | None = None) -> Benchmark:
    """Rotated-MNIST with ``n_tasks`` tasks (default `ROTATED_TASKS`), angles ``k * max_angle / n_tasks``; the
    caps on images per digit as in `~mygo_nb.data.permuted.permuted_mnist`."""
    n = ROTATED_TASKS if n_tasks is None else check_int("tasks", n_tasks, minimum=1)
    check_real("max_angle", max_angle, minimum=0)
    transforms = [Rotation(float(max_angle) * k / n, k) for k in range(n)]
    return derived_mnist("rotated-mnist", lambda dev: transforms, {"max_angle": float(max_angle)}, root,
                         max_train_per_class=max_train_per_class, device=device, download=download,
                         train_per_class=train_per_class, test_per_class=test_per_class)
