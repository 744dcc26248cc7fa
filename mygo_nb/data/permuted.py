"""Permuted-MNIST: every task is all ten digits seen through a fixed shuffle of the pixels.

Task ``k`` applies the pixel permutation ``k`` drawn by numpy's legacy generator from the benchmark's
``seed`` (None: the run's seed), as van de Ven, Tuytelaars & Tolias (2022) draw theirs
(GMvandeVen/continual-learning at e6d795a, ``data/load.py`` L99-L107); the first task keeps the pixels in
place (``first_unpermuted``), as theirs does for seed 0. Their images are MNIST's padded by 2 pixels of
background to 32 x 32 (``data/available.py`` L17-L20, ``data/load.py`` L71-L72); ``pad`` does the same here (0,
the default, keeps MNIST's 28 x 28), and the permutations then run over all ``(28 + 2 pad)^2`` pixels. The
images are stored once (padded once); each batch is permuted on its device (`PixelPermutation`), so fifty
tasks cost one MNIST copy.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import ConfigError, check_int
from .mnist import derived_mnist
from .registry import register_benchmark
from .types import Benchmark

__all__ = ["PERMUTED_TASKS", "PixelPermutation", "permutations", "permuted_mnist"]

#: Tasks of Permuted-MNIST when no number is given (van de Ven et al.'s default).
PERMUTED_TASKS = 10


def permutations(n_tasks: int, seed: int, n_pixels: int = 28 * 28,
                 first_unpermuted: bool = True) -> Tensor:
    """``(n_tasks, n_pixels)`` pixel orders: row ``k`` the ``k``-th permutation that
    numpy's ``RandomState(seed)`` draws (row 0 the identity when ``first_unpermuted``,
    the draws then start at row 1)."""
    rs = np.random.RandomState(seed)
    rows = [np.arange(n_pixels)] if first_unpermuted else []
    rows += [rs.permutation(n_pixels) for _ in range(n_tasks - len(rows))]
    return torch.from_numpy(np.stack(rows)).long()


@dataclass(frozen=True, eq=False)
class PixelPermutation:
    """Reorder each image's pixels: output pixel ``i`` is input pixel ``order[i]``
    (row-major)."""

    order: Tensor
    seed: int
    task: int

    def __call__(self, x: Tensor) -> Tensor:
        return x.flatten(1)[:, self.order].view(x.shape)

    def describe(self) -> dict[str, Any]:
        return {"kind": "pixel permutation", "seed": self.seed, "task": self.task}

    def to(self, device: torch.device | str) -> PixelPermutation:
        return PixelPermutation(self.order.to(device), self.seed, self.task)


@register_benchmark("permuted-mnist", modality="image", tasks=PERMUTED_TASKS, default_scenario="domain",
                    net="mlp400", split=False,
                    params={"seed": None, "first_unpermuted": True, "pad": 0, "train_per_class": None,
                            "test_per_class": None},
                    summary="all ten digits per task, each task a fixed pixel permutation (van de Ven et al.)")
def permuted_mnist(root: str | os.PathLike[str] | None = None, *, n_tasks: int | None = None,
                   max_train_per_class: int | None = None, device: torch.device | str = "cpu",
                   download: bool = True, split: Any = None, seed: int | None = None,
                   first_unpermuted: bool = True, pad: int = 0, train_per_class: int | None = None,
                   test_per_class: int | None = None) -> Benchmark:
    """Permuted-MNIST with ``n_tasks`` tasks (default `PERMUTED_TASKS`), permutations drawn from ``seed``, on
    MNIST padded by ``pad`` pixels of background on every side (2: van de Ven et al.'s 32 x 32; recorded in the
    benchmark's params when not 0, so that a stream of 28 x 28 images records what it always did); each task's
    first ``train_per_class`` training and ``test_per_class`` test images of each digit (None: all; the
    profile's cap on training images applies too)."""
    n = PERMUTED_TASKS if n_tasks is None else check_int("tasks", n_tasks, minimum=1)
    if seed is None:
        raise ConfigError("permuted-mnist needs a permutation seed (load_for_profile uses the run's seed)")
    check_int("permutation seed", seed, minimum=0)
    if not isinstance(first_unpermuted, bool):
        raise ConfigError(f"first_unpermuted must be true or false, got {first_unpermuted!r}")
    check_int("pad", pad, minimum=0)
    orders = permutations(n, seed, (28 + 2 * pad) ** 2, first_unpermuted=first_unpermuted)

    def transforms(dev: torch.device) -> list[PixelPermutation]:
        return [PixelPermutation(orders[k].to(dev), seed, k) for k in range(n)]

    params: dict[str, Any] = {"seed": seed, "first_unpermuted": first_unpermuted, **({"pad": pad} if pad else {})}
    return derived_mnist("permuted-mnist", transforms, params, root, max_train_per_class=max_train_per_class,
                         device=device, download=download, train_per_class=train_per_class,
                         test_per_class=test_per_class, pad=pad)
