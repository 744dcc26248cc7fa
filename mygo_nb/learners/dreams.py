"""Learning from dreams alone, ``dreams`` (chapter 10 §2): what a memory recipe's dreams are worth.

Each task's generative memory learns the task at the wake's budget (`~mygo_nb.core.memories.fit_memory`), then
a fresh Neocortex Net learns every task from the memories' dreams alone (`~mygo_nb.core.memories.learn_from_dreams`:
``sleep_steps`` steps at ``lr_fast``, each batch an equal share of every memory's dreams, labelled with the class
each dream was asked for). Tested on real data, this is the memories' *classification accuracy score*
(Ravuri & Vinyals, 2019): in the class scenario, the ceiling of any learner that keeps no real data and learns
only from these memories. One variant per memory recipe (`~mygo_nb.core.memories.MEMORY_KINDS`); images only
(their dreams are pixels).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..core.memories import dream_share, fit_memory, learn_from_dreams
from ..data import Task
from ..errors import ConfigError, check_choice
from .base import Learner, register

__all__ = ["DREAM_RECIPES", "Dreams", "DreamsConfig"]

#: the memory recipes ``dreams`` has a variant for: the paper's cGAN, the GAN recipes of chapter 10 §2 and the VAE
DREAM_RECIPES: tuple[str, ...] = ("gan", "gan-dcgan", "gan-sn", "gan-proj", "vae")


@dataclass(frozen=True)
class DreamsConfig:
    """``memory``: the recipe of every task's memory (one of `DREAM_RECIPES`)."""

    memory: str = "gan"

    def __post_init__(self) -> None:
        check_choice("dreams memory", self.memory, DREAM_RECIPES)


@register("dreams", config=DreamsConfig, variants={k: DreamsConfig(k) for k in DREAM_RECIPES})
class Dreams(Learner):
    """Learning from dreams alone: every task's memory learns it, then the net learns all tasks from dreams."""

    config: DreamsConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.bench.modality != "image":
            raise ConfigError(f"dreams works on image benchmarks (its memories dream pixels); {self.bench.name} "
                              "is text")

    def stages(self, tasks: Sequence[Task]) -> list[tuple[Task, ...]]:
        return [tuple(tasks)]  # the memories learn the stream, then the net learns it from them, in one stage

    def learn(self, *tasks: Task) -> dict[str, Any]:
        ctx, last = self.ctx, len(tasks) - 1
        t0 = time.perf_counter()
        self.memories = [fit_memory(t, self.config.memory, ctx.cfg, ctx.rng, progress=ctx.progress) for t in tasks]
        wake = time.perf_counter() - t0
        for t in tasks:
            self.scenario.ensure_heads(self.net, t.index)
        t0 = time.perf_counter()
        losses = learn_from_dreams(self.net, self.scenario, self.memories, ctx.cfg, ctx.rng, stage=last,
                                   steps=ctx.cfg.sleep_steps, progress=ctx.progress)
        sleep = time.perf_counter() - t0
        share = dream_share(ctx.cfg.batch_size, len(tasks))
        return {"phases": {"wake": {"seconds": wake, "samples": ctx.cfg.wake_epochs * sum(len(t.train) for t in tasks)},
                           "sleep": {"seconds": sleep, "samples": ctx.cfg.sleep_steps * share * len(tasks)}},
                "dream_loss": sum(losses[-50:]) / max(1, len(losses[-50:])), "extractor_drift": self.drift()}
