"""Experience replay, storage-fair, ``replay`` (chapter 9).

After each task a class-balanced random sample of its raw training data is kept: as many bytes as that
task's MyGO memory (a generator of the run's configuration) unless the config names a budget (variant
``vandeven``: van de Ven et al.'s 100 images per class). Every batch
of a later task adds as many replayed samples, drawn uniformly over everything kept. Replayed losses are
weighted by the share of tasks they stand for (weights 1 and ``t``: a common factor Adam ignores).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..core.memories import memory_nbytes
from ..data import Inputs, Task, TokenBags, concat_inputs, stored, subset, take
from ..data.types import TokenMatrix, is_tokens
from ..errors import check_int
from .base import prefixed, register
from .sequential import SequentialLearner

__all__ = ["ExperienceReplay", "ReplayConfig", "sample_nbytes"]


@dataclass(frozen=True)
class ReplayConfig:
    """``bytes_per_task``: None = as many bytes as the task's MyGO memory, else a fixed budget."""

    bytes_per_task: int | None = None

    def __post_init__(self) -> None:
        check_int("replay bytes_per_task", self.bytes_per_task, minimum=1, optional=True)


def sample_nbytes(x: Inputs, idx: Tensor) -> Tensor:
    """Raw bytes of each selected input, as `mygo_nb.running.experiment.raw_data_bytes` counts them."""
    if is_tokens(x):
        return x.doc_nbytes(idx)  # type: ignore[union-attr]
    return torch.full((len(idx),), math.prod(x.shape[1:]), device=idx.device)


def _select_within(x: Inputs, y: Tensor, n_classes: int, budget: int, rng: torch.Generator) -> Tensor:
    """Indices of a class-balanced random sample whose raw bytes fit ``budget``."""
    per_class = []
    for c in range(n_classes):
        members = torch.nonzero(y == c)[:, 0]
        per_class.append(members[torch.randperm(len(members), device=y.device, generator=rng)])
    order = torch.stack([pc[:min(map(len, per_class))] for pc in per_class], 1).flatten()  # round-robin by class
    cost = torch.cumsum(sample_nbytes(x, order), 0)
    return order[cost <= budget]


# van de Ven et al.'s Split-MNIST buffer: 100 images of 28 x 28 bytes per class, two classes per task
VANDEVEN_BYTES = 2 * 100 * 28 * 28


@register("replay", config=ReplayConfig,
          variants={None: ReplayConfig(), "vandeven": ReplayConfig(bytes_per_task=VANDEVEN_BYTES)})
class ExperienceReplay(SequentialLearner):
    """Experience replay with a buffer of real samples as large, in bytes, as the MyGO memories."""

    config: ReplayConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.buffer: list[tuple[int, Inputs, Tensor]] = []  # (task, inputs, local labels)

    def stored_bytes(self) -> dict[int, int]:
        return {t: int(sample_nbytes(x, torch.arange(len(y), device=y.device)).sum()) for t, x, y in self.buffer}

    def budget(self, task: Task) -> int:
        if self.config.bytes_per_task is not None:
            return self.config.bytes_per_task
        cfg = self.ctx.cfg
        return memory_nbytes(self.net.dream_shape, task.n_classes, cfg.z_dim, cfg.gan_hidden)

    def extra_loss(self, task: Task, xb: Any, feats: Tensor) -> Tensor | None:
        if not self.buffer:
            return None
        t, n = task.index, len(feats)
        # as many replayed samples as current ones, drawn uniformly over the stored samples
        sizes = torch.tensor([len(y) for _, _, y in self.buffer])
        which = torch.multinomial(sizes.float(), n, replacement=True, generator=self.ctx.host_rng)
        parts_x, parts_y, parts_t = [], [], []
        for b, (tb, xs, ys) in enumerate(self.buffer):
            k = int((which == b).sum())
            if k:
                idx = torch.randint(len(ys), (k,), device=ys.device, generator=self.ctx.rng)
                parts_x.append(subset(xs, idx))
                parts_y.append(ys[idx])
                parts_t.append(torch.full_like(ys[idx], tb))
        xr = concat_inputs(parts_x)
        fr = self.net.features(take(xr, torch.arange(len(xr), device=feats.device)))
        loss = self.scenario.cross_entropy(self.net, fr, torch.cat(parts_t), torch.cat(parts_y), t)
        return t * loss  # current term weight 1, replay t: the 1/(t+1), t/(t+1) split up to a factor Adam ignores

    def after_task(self, task: Task) -> None:
        data = task.train
        idx = _select_within(data.x, data.y, task.n_classes, self.budget(task), self.ctx.rng)
        self.buffer.append((task.index, stored(data.x, idx), data.y[idx]))  # pixels as seen (transform applied)

    def state(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        tensors, meta = super().state()
        for i, (t, x, y) in enumerate(self.buffer):
            tensors[f"buffer.{i}.task"], tensors[f"buffer.{i}.y"] = torch.tensor(t), y
            if isinstance(x, TokenBags):
                tensors[f"buffer.{i}.tokens"], tensors[f"buffer.{i}.starts"] = x.tokens, x.starts
                tensors[f"buffer.{i}.lengths"] = x.lengths
            elif is_tokens(x):  # a pretrained encoder's TokenMatrix
                tensors[f"buffer.{i}.ids"], tensors[f"buffer.{i}.lengths"] = x.ids, x.lengths
            else:
                tensors[f"buffer.{i}.x"] = x
        return tensors, meta

    def load_state(self, tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
        super().load_state(tensors, meta)
        self.buffer = []
        i = 0
        while f"buffer.{i}.y" in tensors:
            part = prefixed(tensors, f"buffer.{i}.")
            x: Inputs
            if "x" in part:
                x = part["x"]
            elif "ids" in part:  # only a run on a pretrained encoder's tokens saves these
                x = TokenMatrix(part["ids"], part["lengths"])  # type: ignore[assignment]
            else:
                x = TokenBags(part["tokens"], part["starts"], part["lengths"])
            self.buffer.append((int(part["task"]), x, part["y"]))
            i += 1
