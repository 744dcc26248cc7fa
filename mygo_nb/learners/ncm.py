r"""The frozen extractor with a nearest-class-mean classifier, ``ncm``: no training at all.

After each task the mean feature of each of its classes is computed from the task's training data on the
net as it was built (the paper's nets: a random extractor; ``minilm``: the pretrained encoder with its
untrained adapters, whose LoRA update is zero at initialisation). A sample gets the class whose mean is
nearest (Euclidean distance) among the scenario's candidates :math:`C`:

.. math::

   \hat y(x) = \arg\min_{c \in C} \lVert f(x) - \mu_c \rVert^2
             = \arg\max_{c \in C} \Big( \mu_c^\top f(x) - \tfrac12 \lVert \mu_c \rVert^2 \Big),
   \qquad \mu_c = \frac{1}{n_c} \sum_{i:\, y_i = c} f(x_i),

with :math:`f` the extractor (``net.features``) and :math:`C` the task's own classes (task scenario), every
class seen so far (class scenario), or the task-local labels with each mean pooled over every task seen so
far (domain scenario). The right-hand form is a linear head (weights :math:`\mu_c`, bias
:math:`-\frac12\lVert\mu_c\rVert^2`), so `class_mean_head` writes the rule into the scenario's heads and the
run's evaluation scores it as any other method's. The extractor's weights never change. On a pretrained
encoder this is the baseline any method must beat.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch import Tensor

from ..core.context import RunContext
from ..core.loops import FeatureCache
from ..data import Benchmark, Task
from .base import Learner, prefixed, register

__all__ = ["NearestClassMean", "class_mean_head"]


@torch.no_grad()
def class_mean_head(head: torch.nn.Linear, sums: Tensor, counts: Tensor) -> None:
    """Write the nearest-class-mean rule into ``head``: row c gets the mean
    ``sums[c] / counts[c]`` and the bias minus half its squared norm; a column with no
    samples yet can never win (its bias is -1e30)."""
    seen = counts > 0
    means = sums / counts.clamp_min(1)[:, None]
    means = torch.where(seen[:, None], means, torch.zeros_like(sums))
    never = torch.full_like(counts, -1e30, dtype=sums.dtype)
    head.weight.copy_(means)
    head.bias.copy_(torch.where(seen, -0.5 * means.pow(2).sum(1), never))


@register("ncm")
class NearestClassMean(Learner):
    """The frozen extractor and a nearest-class-mean classifier (no training at all)."""

    def __init__(self, bench: Benchmark, ctx: RunContext, config: Any = None) -> None:
        super().__init__(bench, ctx, config)
        self.net.requires_grad_(False)
        self.cache = FeatureCache()  # the extractor never changes: every split's features are computed once
        #: for each head, the summed features of each column's training samples, and their counts
        self.sums: list[Tensor] = []
        self.counts: list[Tensor] = []

    def learn(self, task: Task) -> dict[str, Any]:  # type: ignore[override]
        t0, net, scenario, t = time.perf_counter(), self.net, self.scenario, task.index
        scenario.ensure_heads(net, t)
        h = scenario.head_for(t)
        while len(self.sums) <= h:
            size = net.heads[len(self.sums)].out_features
            self.sums.append(torch.zeros(size, net.feature_dim, device=self.bench.device))
            self.counts.append(torch.zeros(size, device=self.bench.device))
        was = net.training
        net.eval()
        assert self.cache is not None
        feats = self.cache.features(net, (t, "train"), task.train.x)
        net.train(was)
        cols = scenario.target(t, task.train.y)
        self.sums[h].index_add_(0, cols, feats)
        self.counts[h].index_add_(0, cols, torch.ones_like(cols, dtype=self.counts[h].dtype))
        class_mean_head(net.heads[h], self.sums[h], self.counts[h])
        return {"phases": {"class_means": {"seconds": time.perf_counter() - t0, "samples": len(task.train)}},
                "extractor_drift": self.drift()}

    def state(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        tensors, meta = super().state()
        for h, (s, c) in enumerate(zip(self.sums, self.counts, strict=True)):
            tensors[f"ncm.{h}.sums"], tensors[f"ncm.{h}.counts"] = s, c
        return tensors, meta

    def load_state(self, tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
        super().load_state(tensors, meta)
        self.net.requires_grad_(False)
        self.sums, self.counts = [], []
        while f"ncm.{len(self.sums)}.sums" in tensors:
            part = prefixed(tensors, f"ncm.{len(self.sums)}.")
            self.sums.append(part["sums"].clone())  # learn() adds to them in place
            self.counts.append(part["counts"].clone())
