"""Joint training, the upper bound (chapter 6): every task's training data at once, in one stage."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ..core.net import adam
from ..data import Task, concat_inputs
from .base import Learner, register
from .sequential import train_supervised

__all__ = ["Joint"]


@register("joint")
class Joint(Learner):
    """All tasks' training data at once, heads as the scenario says: the upper bound."""

    def stages(self, tasks: Sequence[Task]) -> list[tuple[Task, ...]]:
        return [tuple(tasks)]  # the whole stream is one stage

    def learn(self, *tasks: Task) -> dict[str, Any]:
        net, scenario, last = self.net, self.scenario, len(tasks) - 1
        for t in tasks:
            scenario.ensure_heads(net, t.index)
        x = concat_inputs([t.train.x for t in tasks])
        y = torch.cat([t.train.y for t in tasks])
        tid = torch.cat([torch.full_like(t.train.y, t.index) for t in tasks])

        def loss_fn(idx: Tensor, _xb: object, f: Tensor) -> Tensor:
            return scenario.cross_entropy(net, f, tid[idx], y[idx], last)

        log = train_supervised(net, adam(net.parameters(), self.ctx.cfg.lr_fast), x, y, loss_fn, self.ctx,
                               "joint train")
        return {"phases": {"train": {"seconds": log["seconds"], "samples": log["samples"]}},
                "train_loss": log["loss"], "extractor_drift": self.drift()}
