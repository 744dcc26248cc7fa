"""`SequentialLearner`'s per-batch hooks: their order, what each one sees, and DGR's generator step in
``after_step``."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from mygo_nb.config import TrainConfig
from mygo_nb.core.context import RunContext
from mygo_nb.data import Benchmark, Task
from mygo_nb.learners import SequentialLearner
from mygo_nb.learners.dgr import DGR
from mygo_nb.running.experiment import seed_everything

CFG = TrainConfig(batch_size=32, wake_epochs=2, sleep_steps=20)


def _ctx(bench: Benchmark, scenario: str = "class") -> RunContext:
    rng, host = seed_everything(0, bench.device)
    return RunContext(CFG, rng, host, progress=False, n_tasks=bench.n_tasks, scenario=scenario)


class Recorder(SequentialLearner):
    """Records every hook call: (hook, task, what it saw)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[str, int, Any]] = []

    def _weight(self) -> Tensor:
        return self.net.trunk[0].weight.detach().clone()

    def before_task(self, task: Task) -> None:
        self.calls.append(("before_task", task.index, None))

    def extra_loss(self, task: Task, xb: Any, feats: Tensor) -> Tensor | None:
        self.calls.append(("extra_loss", task.index, len(feats)))
        return None

    def after_backward(self, task: Task, idx: Tensor) -> None:
        grads = all(p.grad is not None for p in self.net.trunk.parameters())
        self.calls.append(("after_backward", task.index, (idx.tolist(), grads, self._weight())))

    def after_step(self, task: Task, idx: Tensor) -> None:
        self.calls.append(("after_step", task.index, (idx.tolist(), self._weight())))

    def after_task(self, task: Task) -> None:
        self.calls.append(("after_task", task.index, None))


def test_hooks_are_called_in_order_on_every_batch(tiny_bench: Benchmark) -> None:
    learner = Recorder(tiny_bench, _ctx(tiny_bench))
    for task in tiny_bench.tasks:
        learner.learn(task)
    n = len(tiny_bench.tasks[0].train)
    steps = CFG.wake_epochs * -(-n // CFG.batch_size)
    per_task = ["before_task"] + ["extra_loss", "after_backward", "after_step"] * steps + ["after_task"]
    assert [c[0] for c in learner.calls] == per_task * 2
    assert [c[1] for c in learner.calls] == [0] * len(per_task) + [1] * len(per_task)
    first = learner.calls[: len(per_task)]
    backward = [c[2] for c in first if c[0] == "after_backward"]
    step = [c[2] for c in first if c[0] == "after_step"]
    for (idx_b, grads, w_before), (idx_s, w_after) in zip(backward, step, strict=True):
        assert idx_b == idx_s and grads  # the same batch; its gradients are there before the step
        assert not torch.equal(w_before, w_after)  # the step happened between the two hooks
    epoch = steps // CFG.wake_epochs
    for e in range(CFG.wake_epochs):  # each epoch's batches cover the task's training set once
        seen = sorted(i for idx, _, _ in backward[e * epoch:(e + 1) * epoch] for i in idx)
        assert seen == list(range(n))


class ZeroGradients(SequentialLearner):
    """Gradient surgery that removes every gradient: Adam then steps by exactly zero."""

    def after_backward(self, task: Task, idx: Tensor) -> None:
        for p in self.net.parameters():
            if p.grad is not None:
                p.grad.zero_()


def test_gradients_changed_in_after_backward_are_the_ones_the_optimiser_steps_on(tiny_bench: Benchmark) -> None:
    plain, zeroed = SequentialLearner(tiny_bench, _ctx(tiny_bench)), ZeroGradients(tiny_bench, _ctx(tiny_bench))
    plain.learn(tiny_bench.tasks[0])
    zeroed.learn(tiny_bench.tasks[0])
    assert plain.drift() > 0 and zeroed.drift() == 0.0


def test_dgr_trains_its_generator_in_after_step_not_in_the_loss(image3: Benchmark) -> None:
    learner = DGR(image3, _ctx(image3))
    learner.learn(image3.tasks[0])
    task = image3.tasks[1]
    learner.scenario.ensure_heads(learner.net, 1)
    learner.before_task(task)
    idx = torch.arange(16, device=image3.device)
    x = task.train.x[idx]

    def vae() -> list[Tensor]:
        return [p.detach().clone() for p in learner.vae.parameters()]

    before = vae()
    loss = learner.extra_loss(task, x, learner.net.features(x))
    assert loss is not None and loss.requires_grad  # the replayed samples' loss
    assert all(torch.equal(a, b) for a, b in zip(before, vae(), strict=True))
    learner.after_step(task, idx)
    assert not all(torch.equal(a, b) for a, b in zip(before, vae(), strict=True))
