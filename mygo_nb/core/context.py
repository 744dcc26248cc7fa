"""The run context a learner gets besides its tasks: budget, random streams, progress (chapter 4)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..config import TrainConfig
from ..data import Task

__all__ = ["RunContext"]


@dataclass
class RunContext:
    """What every learner needs besides the task: the training budget, the run's two random streams (one on
    the run's device for shuffling and noise, one on the CPU for choices made in Python, such as which memory
    dreams), whether to show progress bars, the stream's length and the scenario's name."""

    cfg: TrainConfig
    rng: torch.Generator
    host_rng: torch.Generator
    progress: bool = True
    n_tasks: int = 1
    scenario: str = "task"

    def desc(self, task: Task, phase: str) -> str:
        """A progress-bar label such as ``task 2/5 wake``."""
        return f"task {task.index + 1}/{self.n_tasks} {phase}"
