"""Sequential fine-tuning, the paper's baseline (notebook 06): the whole net learns each task in turn.

``finetune`` is the reference code's: one shared head and one optimiser for the whole stream (in the task
scenario too, so its task and domain runs are the same computation). ``finetune-multihead`` gives each task
its own head (the fair task-incremental baseline).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..core.context import RunContext
from ..core.net import adam, extractor_parameters
from ..core.store import flatten_optimizer, match_layouts, unflatten_optimizer
from ..data import Benchmark, Task
from .base import prefixed, register
from .sequential import SequentialLearner

__all__ = ["Finetune", "FinetuneMultihead"]


@register("finetune")
class Finetune(SequentialLearner):
    """Fine-tuning with one shared head and one optimiser for the whole stream (the reference baseline)."""

    def __init__(self, bench: Benchmark, ctx: RunContext, config: object = None) -> None:
        super().__init__(bench, ctx, config)
        self.scenario.ensure_heads(self.net, 0)
        self.opt = adam(self.net.parameters(), ctx.cfg.lr_fast)

    def heads_layout(self, scenario: str) -> str:
        return "class" if scenario == "class" else "domain"  # one shared head, as the reference code

    def optimizer_for(self, task: Task) -> torch.optim.Optimizer:
        return self.opt

    def state(self) -> tuple[dict[str, Tensor], dict]:
        tensors, meta = super().state()
        opt_tensors, meta["optimizer"] = flatten_optimizer(self.opt.state_dict())
        return {**tensors, **{f"opt.{k}": v for k, v in opt_tensors.items()}}, meta

    def load_state(self, tensors: dict[str, Tensor], meta: dict) -> None:
        super().load_state(tensors, meta)
        self.opt.load_state_dict(unflatten_optimizer(prefixed(tensors, "opt."), meta["optimizer"]))
        match_layouts(self.opt)


@register("finetune-multihead", scenarios=("task",))
class FinetuneMultihead(SequentialLearner):
    """Fine-tuning with one head per task: the extractor and the task's head learn it, a fresh Adam each."""

    def trainable(self, task: Task) -> list[nn.Parameter]:
        return [*extractor_parameters(self.net), *self.net.heads[task.index].parameters()]
