"""MyGO: the wake and sleep phases and the learner that alternates them (notebooks 04 and 05).

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
from ..core.memories import GenerativeMemory, balanced_labels, memory_trainer
from ..core.net import (
    FEATURE_DIM,
    NeocortexNet,
    adam,
    extractor_is_frozen,
    extractor_parameters,
    set_extractor_trainable,
)
from ..data import Benchmark, Task, TokenBags
from ..errors import ConfigError
from .base import Learner, register

__all__ = ["MyGO", "MyGOConfig", "SleepLog", "WakeLog", "sleep", "wake"]


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


def wake(net: NeocortexNet, task: Task, head: nn.Module, cfg: TrainConfig, rng: torch.Generator, *,
         progress: bool = False, desc: str = "wake",
         cache: FeatureCache | None = None) -> tuple[GenerativeMemory, WakeLog]:
    """Train ``head`` on the frozen extractor's features of ``task`` and a fresh cGAN on its dream-space data.

    ``head`` may be one of ``net.heads`` (the reference code) or a separate hippocampal head (the paper).
    Returns the task's generative memory and the log. With a ``cache``, the task's training features
    are stored under ``(task.index, "train")`` for later evaluation.
    """
    if not extractor_is_frozen(net):
        raise RuntimeError("wake() expects a frozen extractor; call set_extractor_trainable(net, False)")
    t0 = time.perf_counter()
    data, was_training = task.train, net.training
    net.eval()
    real = encode(net.embed, data.x) if isinstance(data.x, TokenBags) else data.x  # dream-space data
    feats = encode(net.trunk, real)  # computed once: the extractor does not learn in the wake
    if cache is not None:
        cache.put(net, (task.index, "train"), feats)
    gan = memory_trainer("gan", net.dream_shape, task.n_classes, cfg, data.y.device)
    opt = adam(head.parameters(), cfg.lr_fast)

    def step(idx: Tensor) -> Tensor:
        y = data.y[idx]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(head(feats[idx]), y)
        loss.backward()
        opt.step()
        d_loss, g_loss = gan.step(real[idx], y, rng)
        return torch.stack([loss.detach(), d_loss, g_loss])

    means = epoch_loop(len(data), cfg.wake_epochs, cfg.batch_size, rng, step, progress=progress, desc=desc)
    net.train(was_training)
    head_loss, d_loss, g_loss = (list(col) for col in zip(*means, strict=True))
    log = WakeLog(head_loss, d_loss, g_loss, time.perf_counter() - t0, cfg.wake_epochs * len(data))
    return gan.memory(task.index), log


def _same_extractor(a: NeocortexNet, b: NeocortexNet) -> bool:
    pa, pb = extractor_parameters(a), extractor_parameters(b)
    return len(pa) == len(pb) and all(torch.equal(x, y) for x, y in zip(pa, pb, strict=True))


def sleep(student: NeocortexNet, teacher: NeocortexNet, memories: Sequence[GenerativeMemory], cfg: TrainConfig,
          rng: torch.Generator, host_rng: torch.Generator, *, progress: bool = False,
          desc: str = "sleep") -> SleepLog:
    """``cfg.sleep_steps`` distillation steps from ``teacher`` into ``student`` on dreams.

    Each step picks a memory uniformly, draws a class-balanced batch of dreams and minimises
    ``MSE(student logits, teacher logits)`` on that memory's task head; Adam at ``lr_slow`` updates
    every student parameter that requires grad. When the student's extractor is frozen and equal to the
    teacher's, both nets' features are the same numbers, so they are computed once.
    """
    t0 = time.perf_counter()
    if cfg.sleep_steps == 0 or not memories:
        return SleepLog()
    opt = adam([p for p in student.parameters() if p.requires_grad], cfg.lr_slow)
    shared = extractor_is_frozen(student) and _same_extractor(student, teacher)
    device = next(student.parameters()).device
    choices = torch.randint(len(memories), (cfg.sleep_steps,), generator=host_rng).tolist()
    labels = {m.n_classes: balanced_labels(cfg.batch_size, m.n_classes, device) for m in memories}
    student.train()
    teacher.eval()

    def distil(step: int) -> Tensor:
        mem = memories[choices[step]]
        dreams, _ = mem.dream(cfg.batch_size, rng, labels[mem.n_classes])
        with torch.no_grad():
            f_t = teacher.trunk(dreams)
            t_logits = teacher.heads[mem.task](f_t)
        f_s = f_t if shared else student.trunk(dreams)
        return F.mse_loss(student.heads[mem.task](f_s), t_logits)

    losses = sleep_loop(opt, cfg.sleep_steps, distil, progress=progress, desc=desc)
    return SleepLog(losses.tolist(), [memories[c].task for c in choices], time.perf_counter() - t0,
                    cfg.sleep_steps * cfg.batch_size)


@dataclass(frozen=True)
class MyGOConfig:
    """``hippocampal_head``: False is the reference code (the wake trains the student's own new head, the
    teacher is a copy of the student), True the paper's text (a separate head learns in the wake, the
    teacher carries it, the student gets a fresh head and a trainable extractor for the sleep)."""

    hippocampal_head: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.hippocampal_head, bool):
            raise ConfigError(f"hippocampal_head must be true or false, got {self.hippocampal_head!r}")


@register("mygo", config=MyGOConfig, scenarios=("task",),
          variants={"reference": MyGOConfig(hippocampal_head=False), "paper": MyGOConfig(hippocampal_head=True)})
class MyGO(Learner):
    """MyGO's wake-sleep learner: one head per task, one cGAN memory per task."""

    def __init__(self, bench: Benchmark, ctx: RunContext, config: MyGOConfig | None = None) -> None:
        super().__init__(bench, ctx, config)
        set_extractor_trainable(self.net, False)
        self.cache = FeatureCache()

    def learn(self, task: Task) -> dict[str, Any]:  # type: ignore[override]
        ctx, net, cfg = self.ctx, self.net, self.ctx.cfg
        set_extractor_trainable(net, False)
        if self.config.hippocampal_head:  # the paper: a separate head learns the task in the wake
            hippocampal = nn.Linear(FEATURE_DIM, task.n_classes).to(next(net.parameters()).device)
            memory, wlog = wake(net, task, hippocampal, cfg, ctx.rng, progress=ctx.progress,
                                desc=ctx.desc(task, "wake"), cache=self.cache)
            net.add_head(task.n_classes)  # the student's fresh head for the task
            teacher = copy.deepcopy(net)
            teacher.heads[task.index].load_state_dict(hippocampal.state_dict())
            set_extractor_trainable(net, True)
        else:  # the reference code: the wake trains the student's own head, the teacher is its copy
            head = net.add_head(task.n_classes)
            memory, wlog = wake(net, task, head, cfg, ctx.rng, progress=ctx.progress, desc=ctx.desc(task, "wake"),
                                cache=self.cache)
            teacher = copy.deepcopy(net)
        self.memories.append(memory)
        slog = sleep(net, teacher, self.memories, cfg, ctx.rng, ctx.host_rng, progress=ctx.progress,
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
