"""A probe, not a method: internal replay whose memories hand back the task's real pooled embeddings.

Internal replay (`mygo_nb.learners.internal`) freezes the lower layers after the first wake and keeps one factor
memory of their features per task. With this plugin loaded, method ``features-oracle`` is the same learner whose
memories, instead of dreaming, return features drawn from the task's own training set (stored; 1,800 x 384
floats a task of Split AG News on the ``minilm`` net, 2,764,800 B, twelve times a factor memory). Its accuracy
is what perfect dreams would give the same frozen lower layers and the same sleep; the gap to it is the
memory's, the gap above it is the frozen layers'.

    HF_HUB_OFFLINE=1 python -m mygo_nb run --plugin benchmarks/real_features_probe.py \\
        --benchmark split-agnews --net minilm --method features-oracle --scenario class --profile quick \\
        --data-root ../shared/data/agnews_dev --eval-on val --seed 0 --no-checkpoint

The memory is swapped while `Internal.learn` runs, by rebinding the wake it calls in its module
(`mygo_nb.learners.internal.hippocampal_wake`) and restoring it afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor

from mygo_nb.learners import internal
from mygo_nb.learners.base import register
from mygo_nb.learners.internal import Internal, InternalConfig


class RealFeatures:
    """A task's stored features, drawn class-balanced where a memory would dream."""

    kind = "real-features"

    def __init__(self, task: int, x: Tensor, y: Tensor, n_classes: int) -> None:
        self.task, self.x, self.y, self.n_classes = task, x, y, n_classes

    @torch.no_grad()
    def dream(self, n: int, rng: torch.Generator | None = None,
              labels: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if labels is None:
            labels = torch.arange(n, device=self.x.device) % self.n_classes
        out = torch.empty(n, *self.x.shape[1:], device=self.x.device)
        for c in range(self.n_classes):
            rows = (labels == c).nonzero().flatten()
            pool = (self.y == c).nonzero().flatten()
            pick = torch.randint(len(pool), (len(rows),), generator=rng, device=self.x.device)
            out[rows] = self.x[pool[pick]]
        return out, labels

    def nbytes(self) -> int:
        return self.x.numel() * self.x.element_size()


@contextmanager
def stored_features() -> Iterator[None]:
    """While open, internal replay's wake returns a `RealFeatures` of its task in place of the factor memory."""
    wake = internal.hippocampal_wake

    def wake_keeping_features(view: Any, ftask: Any, kind: str, cfg: Any, rng: Any, **kw: Any) -> Any:
        hippocampus, memory, log = wake(view, ftask, kind, cfg, rng, **kw)
        return hippocampus, RealFeatures(memory.task, ftask.train.x, ftask.train.y, memory.n_classes), log

    internal.hippocampal_wake = wake_keeping_features
    try:
        yield
    finally:
        internal.hippocampal_wake = wake


@register("features-oracle", config=InternalConfig, scenarios=("domain", "class"))
class FeaturesOracle(Internal):
    """Internal replay with stored real features for memories (a probe of the memory's share of the gap)."""

    def learn(self, task: Any) -> dict[str, Any]:  # type: ignore[override]
        with stored_features():
            return super().learn(task)
