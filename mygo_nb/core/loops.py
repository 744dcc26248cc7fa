"""The two training loops every learner uses, and the feature cache (chapters 4 and 5).

`epoch_loop` is the one pass-over-the-data loop: shuffled epochs of index batches, a method-specific
``step(idx)`` per batch, per-epoch mean losses and a progress bar. `sleep_loop` is the one optimiser-step
loop on generated data: ``loss_fn(step)`` per step, an optional early stop, the losses recorded on the
device. What a method does in a step is its own code; the loops only own the order of things.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from ..data import Inputs, take
from .net import NeocortexNet, extractor_parameters

__all__ = ["ENCODE_BATCH", "FeatureCache", "encode", "epoch_loop", "sleep_loop"]

ENCODE_BATCH = 2048


@torch.no_grad()
def encode(fn: Callable[..., Tensor], x: Inputs, batch: int = ENCODE_BATCH) -> Tensor:
    """``fn`` applied to all of ``x`` in chunks, without autograd."""
    n = len(x)
    device = x.device
    outs = [fn(take(x, torch.arange(i, min(i + batch, n), device=device))) for i in range(0, n, batch)]
    return torch.cat(outs)


def epoch_loop(n: int, epochs: int, batch_size: int, rng: torch.Generator,
               step: Callable[[Tensor], Tensor], *, n_steps: int | None = None,
               progress: bool = False, desc: str = "train") -> list[list[float]]:
    """``epochs`` shuffled passes over ``n`` samples in batches of indices, or, given
    ``n_steps``, that many batches (a fresh shuffle each pass, the last one partial).

    ``step(idx)`` trains on one batch and returns its losses as a 1-d tensor; the
    result holds, per epoch, the mean of each loss over the epoch's batches.
    """
    if n <= 0 or batch_size <= 0:
        raise ValueError(f"epoch_loop needs n > 0, batch_size > 0: {n}, {batch_size}")
    steps = (n + batch_size - 1) // batch_size
    total = epochs * steps if n_steps is None else n_steps
    means: list[list[float]] = []
    with tqdm(total=total, desc=desc, leave=False, disable=not progress) as bar:
        for first in range(0, total, steps):
            perm = torch.randperm(n, device=rng.device, generator=rng)
            sums, k = torch.zeros(()), min(steps, total - first)
            for s in range(k):
                sums = sums + step(perm[s * batch_size:(s + 1) * batch_size]).detach()
                bar.update()
            means.append((sums / k).tolist())
    return means


def sleep_loop(opt: torch.optim.Optimizer, steps: int,
               loss_fn: Callable[[int], Tensor], *,
               stop: Callable[[Tensor, int], bool] | None = None,
               progress: bool = False, desc: str = "sleep") -> Tensor:
    """Up to ``steps`` optimiser steps on ``loss_fn(step)``; returns every loss.

    A loss that needs no gradient is recorded without a step. ``stop(losses, step)``
    (an adaptive sleep) may end the loop after the step it is called for.
    """
    losses: Tensor | None = None
    for step in tqdm(range(steps), desc=desc, disable=not progress, leave=False):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(step)
        if loss.requires_grad:
            loss.backward()
            opt.step()
        if losses is None:
            losses = torch.zeros(steps, device=loss.device)
        losses[step] = loss.detach()
        if stop is not None and stop(losses, step):
            return losses[: step + 1]
    return losses if losses is not None else torch.zeros(0)


class FeatureCache:
    """Extractor outputs per key (e.g. ``(task, split)``), reused while the extractor's weights are unchanged.

    The cache keeps a copy of the extractor's weights and compares it exactly (``torch.equal``) on every
    access; any difference drops all entries, so a stale entry is never returned. (Parameter version
    counters are not enough: fused optimiser kernels update weights without bumping them.)
    """

    def __init__(self) -> None:
        self._store: dict[Any, Tensor] = {}
        self._snapshot: list[Tensor] = []
        self._ids: list[int] = []

    def _sync(self, net: NeocortexNet) -> None:
        params = extractor_parameters(net)
        ids = [id(p) for p in params]
        if ids != self._ids or not all(torch.equal(p, s) for p, s in zip(params, self._snapshot, strict=True)):
            self._store.clear()
            self._snapshot = [p.detach().clone() for p in params]
            self._ids = ids

    def get(self, net: NeocortexNet, key: Any) -> Tensor | None:
        self._sync(net)
        return self._store.get(key)

    def put(self, net: NeocortexNet, key: Any, feats: Tensor) -> Tensor:
        self._sync(net)
        self._store[key] = feats
        return feats

    def features(self, net: NeocortexNet, key: Any, x: Inputs) -> Tensor:
        """Cached ``net.features(x)`` for ``key``, computed (in chunks, no autograd) on a miss."""
        feats = self.get(net, key)
        return feats if feats is not None else self.put(net, key, encode(net.features, x))
