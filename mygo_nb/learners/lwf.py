"""Learning without forgetting, ``lwf`` (chapter 9; Li & Hoiem, 2017).

Before a task the net is frozen as a teacher; while the task is learned, the student's old outputs on the
*new* inputs are distilled from it (temperature-softened KL).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..core.net import NeocortexNet
from ..data import Task
from ..errors import check_real
from .base import register
from .sequential import SequentialLearner

__all__ = ["LwF", "LwFConfig"]


@dataclass(frozen=True)
class LwFConfig:
    """``alpha``: weight of the distillation term; ``temperature``: softening of both distributions."""

    alpha: float = 1.0
    temperature: float = 2.0

    def __post_init__(self) -> None:
        check_real("LwF alpha", self.alpha, minimum=0)
        check_real("LwF temperature", self.temperature, minimum=0, strict=True)


@register("lwf", config=LwFConfig)
class LwF(SequentialLearner):
    """Learning without forgetting: distil the previous net's old outputs on the new task's inputs."""

    config: LwFConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.teacher: NeocortexNet | None = None

    def before_task(self, task: Task) -> None:
        self.teacher = copy.deepcopy(self.net).requires_grad_(False).eval() if task.index else None

    def _old_outputs(self, net: NeocortexNet, feats: Tensor, t: int) -> list[Tensor]:
        """Per earlier task, the logits that task's classes got before this one (one entry with a shared head)."""
        scenario = self.scenario
        if scenario.name == "task":
            return [net.heads[j](feats) for j in range(t)]
        return [scenario.logits(net, feats, t - 1, t - 1)]

    def extra_loss(self, task: Task, xb: Any, feats: Tensor) -> Tensor | None:
        if self.teacher is None:
            return None
        T, t = self.config.temperature, task.index
        with torch.no_grad():
            old = self._old_outputs(self.teacher, self.teacher.features(xb), t)
        new = self._old_outputs(self.net, feats, t)
        kd = sum(F.kl_div(F.log_softmax(s / T, 1), F.softmax(o / T, 1), reduction="batchmean")
                 for s, o in zip(new, old, strict=True))
        return self.config.alpha * T * T * kd / len(old)  # type: ignore[operator]

    def after_task(self, task: Task) -> None:
        self.teacher = None
