"""Learners trained task by task with supervised epochs: fine-tuning and the baselines (chapters 6 and 9).

`train_supervised` is the plain supervised loop (`mygo_nb.core.loops.epoch_loop` with one optimiser step per
batch on a method's loss). `SequentialLearner` runs it on each task with the run's scenario heads; a method
adds what makes it a method through its hooks: `~SequentialLearner.before_task`,
`~SequentialLearner.extra_loss` (a term added to every batch's loss), `~SequentialLearner.after_backward` (the
batch's gradients are in ``.grad``, before the step: gradient surgery), `~SequentialLearner.after_step` (after
the optimiser's step: per-step bookkeeping) and `~SequentialLearner.after_task`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from ..core.context import RunContext
from ..core.loops import epoch_loop
from ..core.net import NeocortexNet, adam
from ..core.store import flatten_optimizer, match_layouts, unflatten_optimizer
from ..data import Inputs, Task, take
from .base import Learner, prefixed

__all__ = ["SequentialLearner", "train_supervised"]


def train_supervised(net: NeocortexNet, opt: torch.optim.Optimizer, x: Inputs, y: Tensor,
                     loss_fn: Callable[[Tensor, Any, Tensor], Tensor], ctx: RunContext, desc: str, *,
                     after_backward: Callable[[Tensor], None] | None = None,
                     after_step: Callable[[Tensor], None] | None = None) -> dict[str, Any]:
    """``wake_epochs`` shuffled epochs (or ``iters_per_task`` batches, when set) of ``opt`` steps on
    ``loss_fn(idx, xb, feats)`` (the batch's indices, its inputs and their features). ``after_backward(idx)``
    runs between the backward pass and the step, ``after_step(idx)`` after the step. Returns the per-epoch
    mean losses, the seconds and the samples seen."""
    t0 = time.perf_counter()
    net.train()

    def step(idx: Tensor) -> Tensor:
        opt.zero_grad(set_to_none=True)
        xb = take(x, idx)
        loss = loss_fn(idx, xb, net.features(xb))
        loss.backward()
        if after_backward is not None:
            after_backward(idx)
        opt.step()
        if after_step is not None:
            after_step(idx)
        return loss.detach().reshape(1)

    cfg, n = ctx.cfg, len(y)
    n_steps = cfg.iters_per_task or None
    means = epoch_loop(n, cfg.wake_epochs, cfg.batch_size, ctx.rng, step, n_steps=n_steps, progress=ctx.progress,
                       desc=desc)
    if n_steps is None:
        samples = cfg.wake_epochs * n
    else:  # whole passes, then the partial last one
        passes, rest = divmod(n_steps, -(-n // cfg.batch_size))
        samples = passes * n + rest * cfg.batch_size  # rest < a pass: all full batches
    return {"loss": [m[0] for m in means], "seconds": time.perf_counter() - t0, "samples": samples}


class SequentialLearner(Learner):
    """A net with the scenario's heads, trained on each task in turn (Adam at ``lr_fast``, ``wake_epochs``), plus
    the method's hooks. The default trains the whole net with a fresh Adam per task (one for the stream with the
    profile's ``stream_optimizer``) and no extra term."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._stream: dict[str, torch.optim.Optimizer] = {}  # with cfg.stream_optimizer: one Adam per key

    def before_task(self, task: Task) -> None:
        """Called before training ``task`` (its head exists already)."""

    def extra_loss(self, task: Task, xb: Any, feats: Tensor) -> Tensor | None:
        """A method's term added to the current task's loss on each batch (None: none)."""
        return None

    def after_backward(self, task: Task, idx: Tensor) -> None:
        """Called on each batch after the backward pass, before the optimiser's step: the gradients of the
        batch's loss are in the parameters' ``.grad`` (None where a parameter got none), to be changed in place.
        ``idx``: the batch's indices into ``task.train``."""

    def after_step(self, task: Task, idx: Tensor) -> None:
        """Called on each batch after the optimiser's step (``idx``: the batch's indices into
        ``task.train``)."""

    def after_task(self, task: Task) -> None:
        """Called after training ``task``."""

    def optimizer_for(self, task: Task) -> torch.optim.Optimizer:
        """The optimiser that learns ``task`` (default: `adam_for` over `trainable`)."""
        return self.adam_for("net", self.trainable(task))

    def adam_for(self, key: str, params: list[nn.Parameter], *, stream: bool | None = None) -> torch.optim.Optimizer:
        """Adam at ``lr_fast`` over ``params``: a fresh one for each task, or, with ``stream`` (default: the
        profile's ``stream_optimizer``), the one Adam ``key`` names for the whole stream, parameters new to it
        joining it (kept in checkpoints)."""
        if not (self.ctx.cfg.stream_optimizer if stream is None else stream):
            return adam(params, self.ctx.cfg.lr_fast)
        opt = self._stream.get(key)
        if opt is None:
            opt = self._stream[key] = adam(params, self.ctx.cfg.lr_fast)
            return opt
        held = {id(p) for g in opt.param_groups for p in g["params"]}
        new = [p for p in params if id(p) not in held]
        if new:
            opt.add_param_group({"params": new})
        return opt

    def optimised_modules(self) -> dict[str, nn.Module]:
        """The modules whose parameters an `adam_for` optimiser may hold, by name (for checkpoints)."""
        return {"net": self.net}

    def state(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        tensors, meta = super().state()
        names = {id(p): f"{m}.{n}" for m, mod in self.optimised_modules().items() for n, p in mod.named_parameters()}
        for key, opt in self._stream.items():
            flat, rest = flatten_optimizer(opt.state_dict())
            tensors.update({f"opt.{key}.{k}": v for k, v in flat.items()})
            groups = [[names[id(p)] for p in g["params"]] for g in opt.param_groups]
            meta.setdefault("stream_opts", {})[key] = {"groups": groups, "state": rest}
        return tensors, meta

    def load_state(self, tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
        super().load_state(tensors, meta)
        params = {f"{m}.{n}": p for m, mod in self.optimised_modules().items() for n, p in mod.named_parameters()}
        self._stream = {}
        for key, saved in meta.get("stream_opts", {}).items():
            first, *rest = [[params[n] for n in g] for g in saved["groups"]]
            opt = adam(first, self.ctx.cfg.lr_fast)
            for group in rest:
                opt.add_param_group({"params": group})
            opt.load_state_dict(unflatten_optimizer(prefixed(tensors, f"opt.{key}."), saved["state"]))
            match_layouts(opt)
            self._stream[key] = opt

    def trainable(self, task: Task) -> list[nn.Parameter]:
        """The parameters that learn ``task`` (default: all of them)."""
        return list(self.net.parameters())

    def learn(self, task: Task) -> dict[str, Any]:  # type: ignore[override]
        ctx, net, scenario, t = self.ctx, self.net, self.scenario, task.index
        scenario.ensure_heads(net, t)
        self.before_task(task)
        y = task.train.y

        def loss_fn(idx: Tensor, xb: Any, feats: Tensor) -> Tensor:
            loss = scenario.cross_entropy(net, feats, t, y[idx], t)
            extra = self.extra_loss(task, xb, feats)
            return loss if extra is None else loss + extra

        log = train_supervised(net, self.optimizer_for(task), task.train.x, y, loss_fn, ctx, ctx.desc(task, "train"),
                               after_backward=lambda idx: self.after_backward(task, idx),
                               after_step=lambda idx: self.after_step(task, idx))
        t0 = time.perf_counter()
        self.after_task(task)
        return {"phases": {"train": {"seconds": log["seconds"], "samples": log["samples"]},
                           "consolidate": {"seconds": time.perf_counter() - t0, "samples": 0}},
                "train_loss": log["loss"], "extractor_drift": self.drift()}
