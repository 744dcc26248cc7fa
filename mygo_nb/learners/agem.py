r"""Averaged gradient episodic memory, ``agem`` (Chaudhry et al., 2019).

After each task a class-balanced random sample of its raw training data is kept, the buffer of `replay`
(`~mygo_nb.learners.replay.ExperienceReplay`): as many bytes per task as that task's MyGO memory, unless the
config names a budget. The buffer is never trained on. On every batch of a later task, after the backward pass,
a reference batch drawn uniformly (without replacement) over every stored sample gives the gradient
:math:`g_\text{ref}` of the scenario's loss on it; the batch's gradient :math:`g` (all trainable parameters
flattened together) is projected when the two conflict:

.. math::

   g \leftarrow g - \frac{g^\top g_\text{ref}}{g_\text{ref}^\top g_\text{ref}}\, g_\text{ref}
   \quad\text{if } g^\top g_\text{ref} < 0, \qquad g \text{ unchanged otherwise,}

so that, to first order, the step does not increase the loss on the buffer. The optimiser then steps along
the projected :math:`g`. The stage log's ``projected`` is the share of steps whose gradient was projected.

Variant ``vandeven``: the buffer of van de Ven et al.'s ``--agem`` option (GMvandeVen/continual-learning at
e6d795a): ``params/param_values.py`` l. 29-31 makes ``--agem`` their stored-data replay with the replayed loss
used only as an inequality constraint, so its buffer is their replay buffer of 100 randomly chosen training
images per class for Split-MNIST (l. 87-92), the budget of ``replay/vandeven``. Their reference batch is one
batch (128) from the previous tasks' buffer (``train/train_task_based.py`` l. 150-156, 185-191), class-
incrementally scored over all ten output units (their default ``--active-classes=all``, ``params/options.py``
l. 147, ``train_task_based.py`` l. 99-101; here over the classes seen so far, as every class-incremental
learner of this package); task-incrementally it is split evenly over the previous tasks, each scored on its
own classes (l. 138-149, 200-211). Their projection (``models/classifier.py`` l. 216-230, 307-325) is the
formula above over every parameter, with ``1e-7`` added to :math:`g_\text{ref}^\top g_\text{ref}`; one Adam
serves their whole stream (``--optimizer=adam``, ``params/options.py`` l. 136), which the presets' runs of
this variant set with ``stream_optimizer``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ..data import Inputs, Task, concat_inputs, subset, take
from ..errors import check_int
from .base import register
from .replay import VANDEVEN_BYTES, ExperienceReplay

__all__ = ["AGEM", "AGEMConfig", "agem_project"]


@dataclass(frozen=True)
class AGEMConfig:
    """``bytes_per_task``: the buffer's bytes per task, as in `~mygo_nb.learners.replay.ReplayConfig` (None: as
    many as the task's MyGO memory); ``reference_size``: samples in each step's reference batch (None: the run's
    ``batch_size``)."""

    bytes_per_task: int | None = None
    reference_size: int | None = None

    def __post_init__(self) -> None:
        check_int("A-GEM bytes_per_task", self.bytes_per_task, minimum=1, optional=True)
        check_int("A-GEM reference_size", self.reference_size, minimum=1, optional=True)


def agem_project(g: Tensor, g_ref: Tensor) -> Tensor:
    """``g`` projected as A-GEM does: ``g - (g·g_ref / g_ref·g_ref) g_ref`` where ``g·g_ref < 0``, else ``g``
    itself (the same tensor). Both are flat vectors."""
    dot = torch.dot(g, g_ref)
    if dot >= 0:
        return g
    return g - (dot / torch.dot(g_ref, g_ref)) * g_ref


@register("agem", config=AGEMConfig,
          variants={None: AGEMConfig(), "vandeven": AGEMConfig(bytes_per_task=VANDEVEN_BYTES)})
class AGEM(ExperienceReplay):
    """A-GEM: each step's gradient projected so as not to increase the loss on a buffer of real samples."""

    config: AGEMConfig  # type: ignore[assignment]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._steps = self._projections = 0  # this task's steps with a reference batch, and those projected

    def extra_loss(self, task: Task, xb: Any, feats: Tensor) -> Tensor | None:
        """None: the buffer constrains the gradient (`after_backward`) and adds no loss."""
        return None

    def reference_batch(self, k: int) -> tuple[Inputs, Tensor, Tensor]:
        """``k`` stored samples (all of them, if fewer) drawn without replacement over the whole buffer: their
        inputs, tasks and task-local labels."""
        device = self.ctx.rng.device
        sizes = torch.tensor([len(y) for _, _, y in self.buffer], device=device)
        starts = torch.cumsum(sizes, 0) - sizes
        pick = torch.randperm(int(sizes.sum()), device=device, generator=self.ctx.rng)[:k]
        which = torch.bucketize(pick, starts, right=True) - 1
        xs, tasks, labels = [], [], []
        for b, (tb, x, y) in enumerate(self.buffer):
            local = (pick[which == b] - starts[b]).to(y.device)
            if len(local):
                xs.append(subset(x, local))
                labels.append(y[local])
                tasks.append(torch.full_like(local, tb))
        return concat_inputs(xs), torch.cat(tasks), torch.cat(labels)

    def before_task(self, task: Task) -> None:
        super().before_task(task)
        self._steps = self._projections = 0

    def after_backward(self, task: Task, idx: Tensor) -> None:
        """Project the batch's gradient against the reference batch's (the module docstring's formula)."""
        if not self.buffer:
            return
        params = [p for p in self.trainable(task) if p.requires_grad]
        xr, tr, yr = self.reference_batch(self.config.reference_size or self.ctx.cfg.batch_size)
        feats = self.net.features(take(xr, torch.arange(len(yr), device=yr.device)))
        ref_loss = self.scenario.cross_entropy(self.net, feats, tr, yr, task.index)
        ref = torch.autograd.grad(ref_loss, params, allow_unused=True)
        g = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).flatten() for p in params])
        g_ref = torch.cat([(r if r is not None else torch.zeros_like(p)).flatten() for p, r in zip(params, ref,
                                                                                                 strict=True)])
        self._steps += 1
        projected = agem_project(g, g_ref)
        if projected is g:
            return
        self._projections += 1
        for p, r, part in zip(params, ref, projected.split([p.numel() for p in params]), strict=True):
            if p.grad is not None:
                p.grad.copy_(part.view(p.shape))
            elif r is not None:  # no gradient of its own (an earlier task's head): the projection gives it one
                p.grad = part.view(p.shape).clone()

    def learn(self, task: Task) -> dict[str, Any]:  # type: ignore[override]
        log = super().learn(task)
        log["projected"] = self._projections / self._steps if self._steps else 0.0
        return log
