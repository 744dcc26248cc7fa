"""Sequential fine-tuning, the paper's baseline (chapter 6): the whole net learns each task in turn.

``finetune`` is the reference code's: one shared head and one optimiser for the whole stream (in the task
scenario too, so its task and domain runs are the same computation). ``finetune-multihead`` gives each task
its own head (the fair task-incremental baseline).
"""

from __future__ import annotations

import torch
from torch import nn

from ..core.context import RunContext
from ..core.net import extractor_parameters
from ..data import Benchmark, Task
from .base import register
from .sequential import SequentialLearner

__all__ = ["Finetune", "FinetuneMultihead"]


@register("finetune")
class Finetune(SequentialLearner):
    """Fine-tuning with one shared head and one optimiser for the whole stream (the reference baseline)."""

    def __init__(self, bench: Benchmark, ctx: RunContext, config: object = None) -> None:
        super().__init__(bench, ctx, config)
        self.scenario.ensure_heads(self.net, 0)

    def heads_layout(self, scenario: str) -> str:
        return "class" if scenario == "class" else "domain"  # one shared head, as the reference code

    def optimizer_for(self, task: Task) -> torch.optim.Optimizer:
        return self.adam_for("net", list(self.net.parameters()), stream=True)  # whatever the profile says


@register("finetune-multihead", scenarios=("task",))
class FinetuneMultihead(SequentialLearner):
    """Fine-tuning with one head per task: the extractor and the task's head learn it, a fresh Adam each."""

    def trainable(self, task: Task) -> list[nn.Parameter]:
        return [*extractor_parameters(self.net), *self.net.heads[task.index].parameters()]
