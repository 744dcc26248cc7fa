"""MyGO: the wake and sleep phases and the learner that alternates them (chapters 4 and 5).

*Wake* (`wake`): the extractor is frozen; a head learns the new task at ``lr_fast`` while the task's cGAN
learns its data. Because nothing in the extractor learns, its outputs are computed once per task and every
batch is an index slice of them.

*Sleep* (`sleep`): a teacher and a student see dreams from a uniformly chosen memory; the student minimises
the MSE between its logits and the teacher's for the dreamed task's head, at ``lr_slow``.

The learner `MyGO` comes in two variants (`MyGOConfig`): ``reference`` (the public code: the wake trains the
student's own head, so the teacher equals the student and the sleep loss is exactly 0) and ``paper`` (the
paper's text: a separate hippocampal head learns in the wake, the teacher carries it, the whole student
learns in the sleep).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import TrainConfig
from ..core.context import RunContext
from ..core.loops import FeatureCache, encode, epoch_loop, sleep_loop
from ..core.memories import GAN_RECIPES, GenerativeMemory, memory_trainer
from ..core.net import (
    NeocortexNet,
    adam,
    extractor_is_frozen,
    extractor_parameters,
    set_extractor_trainable,
)
from ..data import Benchmark, Task
from ..data.types import is_tokens
from ..errors import ConfigError, check_choice
from .base import Learner, register

__all__ = ["MyGO", "MyGOConfig", "SleepLog", "WakeLog", "paper_wake", "reference_wake", "same_extractor", "sleep",
           "wake"]


@dataclass
class WakeLog:
    """Per-epoch mean losses of the head and of the cGAN, and the phase's wall time."""

    head_loss: list[float] = field(default_factory=list)
    d_loss: list[float] = field(default_factory=list)
    g_loss: list[float] = field(default_factory=list)
    seconds: float = 0.0
    samples: int = 0


@dataclass
class SleepLog:
    """The distillation loss and the dreamed task of every sleep step, and the phase's wall time."""

    loss: list[float] = field(default_factory=list)
    dream_task: list[int] = field(default_factory=list)
    seconds: float = 0.0
    samples: int = 0


def wake(
    net: NeocortexNet, task: Task, head: nn.Module, cfg: TrainConfig,
    rng: torch.Generator, *, progress: bool = False, desc: str = "wake",
    cache: FeatureCache | None = None, memory: str = "gan",
) -> tuple[GenerativeMemory, WakeLog]:
    """Train ``head`` on the frozen extractor's features of ``task`` while a fresh cGAN
    learns the task's dream-space data; return the task's memory and the log.

    ``head`` is one of ``net.heads`` (the reference code) or a separate hippocampal
    head (the paper). A ``cache`` keeps the task's features for the evaluation;
    ``memory`` names the cGAN's recipe (the paper's ``gan`` by default).
    """
    if not extractor_is_frozen(net):
        raise RuntimeError("wake() expects a frozen extractor")
    t0, data = time.perf_counter(), task.train
    # the dream space: images as they are, texts after the EmbeddingBag
    real = encode(net.embed, data.x) if is_tokens(data.x) else data.x
    feats = encode(net.trunk, real)  # once: the extractor does not learn in the wake
    if cache is not None:
        cache.put(net, (task.index, "train"), feats)
    gan = memory_trainer(memory, net.dream_shape, task.n_classes, cfg, data.y.device)
    opt = adam(head.parameters(), cfg.lr_fast)

    def step(idx: Tensor) -> Tensor:
        y = data.y[idx]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(head(feats[idx]), y)
        loss.backward()
        opt.step()
        d_loss, g_loss = gan.step(real[idx], y, rng)
        return torch.stack([loss.detach(), d_loss, g_loss])

    n, epochs, batch = len(data), cfg.wake_epochs, cfg.batch_size
    means = epoch_loop(n, epochs, batch, rng, step, progress=progress, desc=desc)
    head_loss, d_loss, g_loss = (list(col) for col in zip(*means, strict=True))
    log = WakeLog(head_loss, d_loss, g_loss, time.perf_counter() - t0, epochs * n)
    return gan.memory(task.index), log


def same_extractor(a: NeocortexNet, b: NeocortexNet) -> bool:
    """Whether ``a`` and ``b`` hold equal extractor weights, tensor for tensor."""
    pa, pb = extractor_parameters(a), extractor_parameters(b)
    same = len(pa) == len(pb)
    return same and all(torch.equal(x, y) for x, y in zip(pa, pb, strict=True))


def sleep(
    student: NeocortexNet, teacher: NeocortexNet,
    memories: Sequence[GenerativeMemory], cfg: TrainConfig,
    rng: torch.Generator, host_rng: torch.Generator, *,
    progress: bool = False, desc: str = "sleep",
) -> SleepLog:
    """``cfg.sleep_steps`` steps of distillation from ``teacher`` into ``student``.

    Each step picks a memory uniformly, draws a class-balanced batch of its dreams and
    minimises the MSE between the student's and the teacher's logits of that memory's
    task head; Adam at ``lr_slow`` updates every trainable weight of the student.
    """
    t0, steps, batch = time.perf_counter(), cfg.sleep_steps, cfg.batch_size
    if steps == 0 or not memories:
        return SleepLog()
    opt = adam([p for p in student.parameters() if p.requires_grad], cfg.lr_slow)
    # a frozen student extractor equal to the teacher's gives the same features
    shared = extractor_is_frozen(student) and same_extractor(student, teacher)
    choices = torch.randint(len(memories), (steps,), generator=host_rng).tolist()

    def distil(step: int) -> Tensor:
        memory = memories[choices[step]]
        dreams, _ = memory.dream(batch, rng)
        with torch.no_grad():
            f_t = teacher.trunk(dreams)
            t_logits = teacher.heads[memory.task](f_t)
        f_s = f_t if shared else student.trunk(dreams)
        return F.mse_loss(student.heads[memory.task](f_s), t_logits)

    losses = sleep_loop(opt, steps, distil, progress=progress, desc=desc)
    dreamed = [memories[c].task for c in choices]
    return SleepLog(losses.tolist(), dreamed, time.perf_counter() - t0, steps * batch)


def reference_wake(
    net: NeocortexNet, task: Task, ctx: RunContext, cache: FeatureCache | None = None,
    kind: str = "gan",
) -> tuple[GenerativeMemory, NeocortexNet, WakeLog]:
    """The public code's wake: the student's own new head learns the task, and the
    teacher is a copy of the student (so the sleep's loss is exactly 0)."""
    head = net.add_head(task.n_classes)
    memory, log = wake(net, task, head, ctx.cfg, ctx.rng, progress=ctx.progress,
                       desc=ctx.desc(task, "wake"), cache=cache, memory=kind)
    return memory, copy.deepcopy(net), log


def paper_wake(
    net: NeocortexNet, task: Task, ctx: RunContext, cache: FeatureCache | None = None,
    kind: str = "gan",
) -> tuple[GenerativeMemory, NeocortexNet, WakeLog]:
    """The paper's wake: a separate hippocampal head learns the task; the teacher
    carries it, the student gets a fresh head and a trainable extractor."""
    device = next(net.parameters()).device
    hippocampal = nn.Linear(net.feature_dim, task.n_classes).to(device)
    memory, log = wake(net, task, hippocampal, ctx.cfg, ctx.rng, progress=ctx.progress,
                       desc=ctx.desc(task, "wake"), cache=cache, memory=kind)
    net.add_head(task.n_classes)  # the student's head for the task: fresh
    teacher = copy.deepcopy(net)
    teacher.heads[task.index].load_state_dict(hippocampal.state_dict())
    set_extractor_trainable(net, True)  # the whole student learns in the sleep
    return memory, teacher, log


@dataclass(frozen=True)
class MyGOConfig:
    """``hippocampal_head``: False is the reference code (the wake trains the student's own new head, the
    teacher is a copy of the student), True the paper's text (a separate head learns in the wake, the
    teacher carries it, the student gets a fresh head and a trainable extractor for the sleep).
    ``memory``: the cGAN's recipe, the paper's ``gan`` or one of `GAN_RECIPES` (beyond the paper)."""

    hippocampal_head: bool = False
    memory: str = "gan"

    def __post_init__(self) -> None:
        if not isinstance(self.hippocampal_head, bool):
            raise ConfigError(f"hippocampal_head must be true or false, got {self.hippocampal_head!r}")
        check_choice("memory", self.memory, ("gan", *GAN_RECIPES))


@register("mygo", config=MyGOConfig, scenarios=("task",),
          variants={"reference": MyGOConfig(hippocampal_head=False), "paper": MyGOConfig(hippocampal_head=True),
                    "paper-proj": MyGOConfig(hippocampal_head=True, memory="gan-proj")})
class MyGO(Learner):
    """MyGO's wake-sleep learner: one head per task, one cGAN memory per task."""

    def __init__(self, bench: Benchmark, ctx: RunContext, config: MyGOConfig | None = None) -> None:
        super().__init__(bench, ctx, config)
        set_extractor_trainable(self.net, False)
        self.cache = FeatureCache()

    def learn(self, task: Task) -> dict[str, Any]:  # type: ignore[override]
        ctx, net = self.ctx, self.net
        set_extractor_trainable(net, False)
        wake_phase = paper_wake if self.config.hippocampal_head else reference_wake
        memory, teacher, wlog = wake_phase(net, task, ctx, self.cache, self.config.memory)
        self.memories.append(memory)
        slog = sleep(net, teacher, self.memories, ctx.cfg, ctx.rng, ctx.host_rng, progress=ctx.progress,
                     desc=ctx.desc(task, "sleep"))
        set_extractor_trainable(net, False)
        return {
            "phases": {"wake": {"seconds": wlog.seconds, "samples": wlog.samples},
                       "sleep": {"seconds": slog.seconds, "samples": slog.samples}},
            "wake": {"head_loss": wlog.head_loss, "d_loss": wlog.d_loss, "g_loss": wlog.g_loss},
            "sleep_loss": slog.loss,
            "sleep_dream_task": slog.dream_task,
            "extractor_drift": self.drift(),
        }
