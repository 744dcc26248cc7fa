"""Continual-learning scenarios: heads, labels and what is known at test time (introduced in chapter 9).

Following van de Ven, Tuytelaars & Tolias (2022), the same stream of tasks can be learned in three ways:

- ``task`` (task-incremental, the paper's): one head per task; the task is given at test time, so a
  sample is classified among its own task's classes through that task's head.
- ``domain`` (domain-incremental): one shared head with as many outputs as the largest task; labels
  are task-local (Split-MNIST: "first or second digit of the pair") and the task is not given.
- ``class`` (class-incremental): one head that grows to every class of the stream; labels are global
  and a sample is classified among *all classes seen so far* with no task identity.

A `Scenario` holds the task sizes and answers the questions every learner and the evaluation ask: which
head serves a task, which logit columns are active after a training stage, what a task-local label
becomes as a target. "Growing" is implemented by masking: the class head is created at full size and
only the columns of classes seen so far are used, in training and at test.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ConfigError, check_choice
from .net import NeocortexNet

__all__ = ["SCENARIOS", "Scenario"]

SCENARIOS: tuple[str, ...] = ("task", "domain", "class")


@dataclass(frozen=True)
class Scenario:
    """A scenario (``task``, ``domain`` or ``class``) over a stream whose tasks have ``task_sizes`` classes."""

    name: str
    task_sizes: tuple[int, ...]

    def __post_init__(self) -> None:
        check_choice("scenario", self.name, SCENARIOS)
        if not self.task_sizes or any(not isinstance(k, int) or k < 1 for k in self.task_sizes):
            raise ConfigError(f"task sizes must be positive integers, got {self.task_sizes!r}")

    @classmethod
    def of(cls, name: str, tasks: object) -> Scenario:
        """The scenario ``name`` for a benchmark or a list of tasks (anything with ``n_classes`` items)."""
        seq = getattr(tasks, "tasks", tasks)
        return cls(name, tuple(t.n_classes for t in seq))  # type: ignore[attr-defined]

    # ------------------------------------------------------------------------------------- layout
    @property
    def offsets(self) -> tuple[int, ...]:
        """Global index of each task's first class (class scenario labels)."""
        return (0, *accumulate(self.task_sizes))[:-1]

    @property
    def n_heads(self) -> int:
        return len(self.task_sizes) if self.name == "task" else 1

    def head_size(self, head: int) -> int:
        if self.name == "task":
            return self.task_sizes[head]
        return max(self.task_sizes) if self.name == "domain" else sum(self.task_sizes)

    def head_for(self, task: int) -> int:
        """Index of the head that serves ``task``."""
        return task if self.name == "task" else 0

    def n_active(self, task: int, stage: int) -> int:
        """How many leading logit columns classify a sample of ``task`` after training stage ``stage``."""
        if self.name == "class":
            return self.offsets[stage] + self.task_sizes[stage]
        return self.head_size(self.head_for(task))

    def own_columns(self, task: int) -> slice:
        """The logit columns of ``task``'s own classes in its head (the class head's block of that task)."""
        if self.name == "class":
            return slice(self.offsets[task], self.offsets[task] + self.task_sizes[task])
        return slice(0, self.task_sizes[task])

    def ensure_heads(self, net: NeocortexNet, task: int) -> None:
        """Give ``net`` the heads it needs to learn ``task`` (a new one per task, or the one shared head)."""
        while len(net.heads) <= self.head_for(task):
            net.add_head(self.head_size(len(net.heads)))

    # ------------------------------------------------------------------------------------ outputs
    def target(self, task: int | Tensor, y: Tensor) -> Tensor:
        """The training/test target for task-local labels ``y`` of ``task`` (one index or one per sample)."""
        if self.name != "class":
            return y
        if isinstance(task, int):
            return y + self.offsets[task]
        return y + torch.tensor(self.offsets, device=y.device)[task]

    def logits(self, net: NeocortexNet, feats: Tensor, task: int, stage: int) -> Tensor:
        """Active logits for features of samples of ``task`` after stage ``stage``."""
        return net.heads[self.head_for(task)](feats)[:, : self.n_active(task, stage)]

    def cross_entropy(self, net: NeocortexNet, feats: Tensor, task: int | Tensor, y: Tensor, stage: int) -> Tensor:
        """Mean cross-entropy of ``net``'s active logits against task-local labels ``y``.

        ``task`` is one task index, or a tensor giving each sample's task (a mixed batch: replay, joint
        training); in the task scenario each task's samples then go through their own head.
        """
        if isinstance(task, int):
            return F.cross_entropy(self.logits(net, feats, task, stage), self.target(task, y))
        if self.name != "task":
            head = net.heads[0](feats)[:, : self.n_active(0, stage)]
            return F.cross_entropy(head, self.target(task, y))
        loss = feats.new_zeros(())
        for t in torch.unique(task).tolist():
            m = task == t
            loss = loss + F.cross_entropy(self.logits(net, feats[m], t, stage), y[m], reduction="sum")
        return loss / len(y)
