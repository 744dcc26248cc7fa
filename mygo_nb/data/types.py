"""The data containers every layer uses (chapter 1): tasks of a stream as device-resident tensors.

A *benchmark* is a sequence of *tasks*; each task owns a few classes, relabelled locally ``0..k-1``, with a
train and a test part. Images are float tensors; text is `TokenBags` (a CSR layout for EmbeddingBag). A
batch is an index slice (`take`): no per-sample Python, no DataLoader.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

__all__ = ["Benchmark", "Inputs", "Task", "TaskData", "TokenBags", "concat_inputs", "subset", "take"]


@dataclass
class TokenBags:
    """Variable-length token-id documents in one flat tensor (CSR layout), sliceable by index.

    ``take(idx)`` returns ``(tokens, offsets)`` ready for :class:`torch.nn.EmbeddingBag`, built with
    tensor ops only.
    """

    tokens: Tensor  # (total,) int64
    starts: Tensor  # (n_docs,) int64
    lengths: Tensor  # (n_docs,) int64

    def __len__(self) -> int:
        return int(self.lengths.numel())

    @property
    def device(self) -> torch.device:
        return self.tokens.device

    def to(self, device: torch.device | str) -> TokenBags:
        return TokenBags(self.tokens.to(device), self.starts.to(device), self.lengths.to(device))

    def take(self, idx: Tensor) -> tuple[Tensor, Tensor]:
        lens = self.lengths[idx]
        offsets = torch.cumsum(lens, 0) - lens
        total = int(lens.sum())
        pos = torch.arange(total, device=lens.device)
        pos += torch.repeat_interleave(self.starts[idx] - offsets, lens, output_size=total)
        return self.tokens[pos], offsets

    def subset(self, idx: Tensor) -> TokenBags:
        tokens, offsets = self.take(idx)
        return TokenBags(tokens, offsets, self.lengths[idx].clone())

    @classmethod
    def from_lists(cls, docs: Sequence[Sequence[int]]) -> TokenBags:
        """Build from Python lists of ids (for tests and small examples)."""
        lengths = torch.tensor([len(d) for d in docs], dtype=torch.int64)
        starts = torch.cumsum(lengths, 0) - lengths
        flat = [t for d in docs for t in d]
        return cls(torch.tensor(flat, dtype=torch.int64), starts, lengths)


Inputs = Tensor | TokenBags


def take(x: Inputs, idx: Tensor) -> Tensor | tuple[Tensor, Tensor]:
    """A batch of inputs: an index slice of an image tensor, or ``(tokens, offsets)`` for text."""
    return x.take(idx) if isinstance(x, TokenBags) else x[idx]


def subset(x: Inputs, idx: Tensor) -> Inputs:
    return x.subset(idx) if isinstance(x, TokenBags) else x[idx]


@dataclass
class TaskData:
    """One split of one task: inputs ``x`` and *local* labels ``y`` in ``0..k-1``."""

    x: Inputs
    y: Tensor

    def __len__(self) -> int:
        return int(self.y.numel())

    def to(self, device: torch.device | str) -> TaskData:
        return TaskData(self.x.to(device), self.y.to(device))


@dataclass
class Task:
    """A task of the stream: its global ``classes`` (local label i is ``classes[i]``) and its data."""

    index: int
    classes: tuple[int, ...]
    class_names: tuple[str, ...]
    train: TaskData
    test: TaskData

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def split(self, name: str) -> TaskData:
        if name not in ("train", "test"):
            raise ValueError(f"unknown split {name!r}; valid choices: train, test")
        return self.train if name == "train" else self.test

    def to(self, device: torch.device | str) -> Task:
        return Task(self.index, self.classes, self.class_names, self.train.to(device),
                    self.test.to(device))


@dataclass
class Benchmark:
    """A named sequence of tasks over one modality (``image`` or ``text``), plus data provenance."""

    name: str
    modality: str
    tasks: list[Task]
    class_names: tuple[str, ...]
    vocab_size: int | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def n_tasks(self) -> int:
        return len(self.tasks)

    @property
    def device(self) -> torch.device:
        return self.tasks[0].train.y.device

    def to(self, device: torch.device | str) -> Benchmark:
        return Benchmark(self.name, self.modality, [t.to(device) for t in self.tasks],
                         self.class_names, self.vocab_size, self.provenance)

    def summary(self) -> str:
        rows = [f"{self.name}: {self.n_tasks} tasks, {self.modality}"]
        for t in self.tasks:
            names = ", ".join(t.class_names)
            rows.append(f"  task {t.index + 1}: {names:<24} train {len(t.train):>6}  test {len(t.test):>5}")
        return "\n".join(rows)


def concat_inputs(xs: list[Inputs]) -> Inputs:
    """Several inputs of one kind (image tensors or `TokenBags`) as one (chapter 6: joint training)."""
    if isinstance(xs[0], TokenBags):
        lengths = torch.cat([x.lengths for x in xs])
        tokens = torch.cat([x.tokens[torch.repeat_interleave(x.starts, x.lengths) + _ranks(x.lengths)] for x in xs])
        return TokenBags(tokens, torch.cumsum(lengths, 0) - lengths, lengths)
    return torch.cat(xs)  # type: ignore[arg-type]


def _ranks(lengths: torch.Tensor) -> torch.Tensor:
    """0, 1, ..., len-1 for every bag, concatenated."""
    total = int(lengths.sum())
    starts = torch.cumsum(lengths, 0) - lengths
    return torch.arange(total, device=lengths.device) - torch.repeat_interleave(starts, lengths, output_size=total)
