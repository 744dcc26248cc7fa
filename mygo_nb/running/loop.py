"""The stream loop: feed a learner its stages, evaluate every seen task after each one (chapter 6).

`run_stream` is the one loop every method runs through, using only the learner contract
(`mygo_nb.learners.Learner`): `stages`, `learn`, `scenario`, `cache` and, for checkpoints, `state`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from ..core.loops import FeatureCache, encode
from ..core.metrics import accuracy
from ..core.net import NeocortexNet
from ..core.scenarios import Scenario
from ..data import Benchmark, Task
from ..learners import Learner

__all__ = ["EVAL_BATCH", "StageCheckpoints", "StreamRun", "evaluate", "run_stream"]

EVAL_BATCH = 2048


@torch.no_grad()
def evaluate(net: NeocortexNet, tasks: list[Task], head_for: Callable[[int], int] | Scenario, split: str = "test",
             cache: FeatureCache | None = None, stage: int | None = None) -> list[float]:
    """Accuracy (%) of ``net`` on each task's ``split``.

    ``head_for`` is a `Scenario` (heads, active classes after training stage ``stage`` -- default: the
    last task in ``tasks`` -- and targets as the scenario says) or a function giving each task's head
    (task-local labels). With a `FeatureCache`, extractor outputs are reused while the extractor's weights
    are unchanged.
    """
    was = net.training
    net.eval()
    accs = []
    stage = tasks[-1].index if stage is None else stage
    for t in tasks:
        data = t.split(split)
        if cache is None:
            feats = encode(net.features, data.x, EVAL_BATCH)
        else:
            feats = cache.features(net, (t.index, split), data.x)
        if isinstance(head_for, Scenario):
            accs.append(accuracy(head_for.logits(net, feats, t.index, stage), head_for.target(t.index, data.y)))
        else:
            accs.append(accuracy(net.heads[head_for(t.index)](feats), data.y))
    net.train(was)
    return accs


@dataclass
class StreamRun:
    """The raw outcome of `run_stream`: the accuracy matrix (row i: after stage i, column j: task j, None
    for a task not yet seen), each stage's log, the evaluation's seconds and the learner."""

    accuracy: list[list[float | None]]
    stages: list[dict[str, Any]] = field(default_factory=list)
    eval_seconds: float = 0.0
    learner: Learner | None = None


class StageCheckpoints(Protocol):
    """What the loop needs of checkpoints (`mygo_nb.running.checkpoint.Checkpointer` is one)."""

    def restore(self, learner: Learner, out: StreamRun, n_stages: int) -> int:
        """Load the newest saved stage into ``learner`` and ``out``; return how many stages are done."""
        ...

    def save(self, learner: Learner, out: StreamRun) -> Any:
        """Save the state after the last stage in ``out``."""
        ...


def run_stream(learner: Learner, bench: Benchmark, eval_on: str = "test",
               checkpoint: StageCheckpoints | None = None) -> StreamRun:
    """Feed ``bench``'s stream to ``learner`` stage by stage and evaluate every seen task after each stage.

    With a `~mygo_nb.running.checkpoint.Checkpointer`, the state is saved after every stage and a resumed run
    starts after the newest checkpoint's stage.
    """
    stages = learner.stages(bench.tasks)
    out = StreamRun(accuracy=[], learner=learner)
    done = checkpoint.restore(learner, out, len(stages)) if checkpoint else 0
    for stage in stages[done:]:
        out.stages.append(learner.learn(*stage))
        last = stage[-1].index
        t0 = time.perf_counter()
        row = evaluate(learner.net, bench.tasks[: last + 1], learner.scenario, eval_on, learner.cache, stage=last)
        out.eval_seconds += time.perf_counter() - t0
        out.accuracy.append(row + [None] * (bench.n_tasks - len(row)))
        if checkpoint:
            checkpoint.save(learner, out)
    return out
