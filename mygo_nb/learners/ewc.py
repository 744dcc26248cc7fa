"""Online elastic weight consolidation, ``ewc`` (notebook 09; Kirkpatrick et al., 2017; Schwarz et al., 2018).

After each task the diagonal Fisher information of the net's own predictive distribution is added to a
running sum (online EWC with gamma = 1), and later tasks pay ``lam / 2 * sum F (theta - theta*)^2`` around the
latest weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..data import Task, take
from ..errors import check_int, check_real
from .base import prefixed, register
from .sequential import SequentialLearner

__all__ = ["EWC", "EWCConfig"]


@dataclass(frozen=True)
class EWCConfig:
    """``lam``: penalty strength; ``fisher_samples``: training samples per task for the Fisher estimate."""

    lam: float = 1e4
    fisher_samples: int = 500

    def __post_init__(self) -> None:
        check_real("EWC lam", self.lam, minimum=0)
        check_int("EWC fisher_samples", self.fisher_samples, minimum=1)


# van de Ven et al.'s EWC strengths for Split-MNIST (their public code's defaults): class- and task-incremental
@register("ewc", config=EWCConfig,
          variants={None: EWCConfig(), "vandeven": EWCConfig(lam=1e9), "vandeven-task": EWCConfig(lam=1e5)})
class EWC(SequentialLearner):
    """Online elastic weight consolidation: a quadratic penalty around the latest weights, Fisher-weighted."""

    config: EWCConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fisher: dict[str, Tensor] = {}
        self.anchor: dict[str, Tensor] = {}

    def extra_loss(self, task: Task, xb: Any, feats: Tensor) -> Tensor | None:
        if not self.fisher:
            return None
        penalty = feats.new_zeros(())
        for name, p in self.net.named_parameters():
            if name in self.fisher:
                penalty = penalty + (self.fisher[name] * (p - self.anchor[name]).pow(2)).sum()
        return 0.5 * self.config.lam * penalty

    def after_task(self, task: Task) -> None:
        """Add this task's diagonal Fisher (labels sampled from the net's own prediction) to the sum."""
        net, scenario, t, rng = self.net, self.scenario, task.index, self.ctx.rng
        data = task.train
        n = min(self.config.fisher_samples, len(data))
        idx = torch.randperm(len(data), device=data.y.device, generator=rng)[:n]
        params = dict(net.named_parameters())
        fisher = {k: torch.zeros_like(p) for k, p in params.items()}
        net.eval()
        for i in idx.tolist():
            one = torch.tensor([i], device=data.y.device)
            logits = scenario.logits(net, net.features(take(data.x, one)), t, t)
            y = torch.multinomial(F.softmax(logits.detach(), 1), 1, generator=rng)[:, 0]
            net.zero_grad(set_to_none=True)
            F.cross_entropy(logits, y).backward()
            for k, p in params.items():
                if p.grad is not None:
                    fisher[k] += p.grad.detach().pow(2) / n
        net.zero_grad(set_to_none=True)
        net.train()
        for k, f in fisher.items():
            self.fisher[k] = self.fisher[k] + f if k in self.fisher and self.fisher[k].shape == f.shape else f
            self.anchor[k] = params[k].detach().clone()

    def state(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        tensors, meta = super().state()
        tensors.update({f"fisher.{k}": v for k, v in self.fisher.items()})
        tensors.update({f"anchor.{k}": v for k, v in self.anchor.items()})
        return tensors, meta

    def load_state(self, tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
        super().load_state(tensors, meta)
        self.fisher, self.anchor = prefixed(tensors, "fisher."), prefixed(tensors, "anchor.")
