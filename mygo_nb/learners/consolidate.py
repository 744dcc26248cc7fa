"""A MyGO whose sleep really consolidates (introduced in chapter 9, beyond the paper).

`Consolidate` keeps MyGO's wake-sleep cycle but gives each phase something to do:

- *Wake* (`hippocampal_wake`): a hippocampal copy of the whole net -- extractor unfrozen, a new head --
  learns the new task at ``lr_fast`` while the task's generative memory (a cGAN, or a conditional VAE)
  learns the task's dream-space data batch by batch.
- *Sleep* (`consolidating_sleep`): the student distils from two teachers at ``lr_slow``, every
  parameter trainable: on dreams of the new task from the hippocampal copy, on dreams of an old task
  from the frozen pre-wake net, each through the dreamed task's head.

The options the paper lists as future work are fields of the frozen `ConsolidateConfig`, each measurable
on its own (`CONFIGS` names one config per ``mygo`` variant): ``memory="vae"``; ``feature_weight`` (also
match the teacher's 256 trunk features); ``patience`` (an adaptive sleep that ends when the windowed
loss stops improving, logging the steps saved); ``real_fraction`` (that share of every sleep batch is
real current-task data, distilled from the same teacher through the same head); and ``student_init``
(the student starts as the hippocampal copy, or as the pre-wake net with a fresh head).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from ..config import TrainConfig
from ..core.loops import epoch_loop, sleep_loop
from ..core.memories import MEMORY_KINDS, GenerativeMemory, balanced_labels, memory_trainer
from ..core.net import NeocortexNet, adam, extractor_parameters, set_extractor_trainable
from ..core.scenarios import Scenario
from ..data import Task, TaskData, take
from ..data.types import is_tokens
from ..errors import check_choice, check_int, check_real
from .base import Learner, register
from .mygo import SleepLog

__all__ = ["CONFIGS", "Consolidate", "ConsolidateConfig", "ConsolidateSleepLog", "add_real",
           "consolidating_sleep", "hippocampal_wake", "n_real_inputs", "shared_head_sleep"]

STUDENT_INITS: tuple[str, ...] = ("hippocampus", "pre-wake")


@dataclass(frozen=True)
class ConsolidateConfig:
    """What a consolidating sleep does beyond plain logit distillation on dreams.

    ``memory``: ``gan`` or ``vae``. ``feature_weight``: weight of the MSE between student and teacher
    trunk features, added to the logit MSE (0 = logits only). ``patience``: None for a fixed
    ``sleep_steps`` budget, else stop after that many ``window``-step windows whose mean loss is not
    ``min_improvement`` (relative) below the best so far. ``real_fraction``: share of each sleep batch
    taken from the current task's real training inputs. ``student_init``: ``hippocampus`` (the student
    starts as the hippocampal copy) or ``pre-wake`` (the pre-wake net plus a fresh head).
    """

    memory: str = "gan"
    feature_weight: float = 0.0
    patience: int | None = None
    window: int = 50
    min_improvement: float = 0.01
    real_fraction: float = 0.0
    student_init: str = "hippocampus"

    def __post_init__(self) -> None:
        check_choice("memory", self.memory, MEMORY_KINDS)
        check_choice("student_init", self.student_init, STUDENT_INITS)
        check_real("feature_weight", self.feature_weight, minimum=0)
        check_int("patience", self.patience, minimum=1, optional=True)
        check_int("window", self.window, minimum=1)
        check_real("min_improvement", self.min_improvement, minimum=0, below=1)
        check_real("real_fraction", self.real_fraction, minimum=0, below=1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: One named config per ``mygo`` variant: the base design, then each option on its own.
CONFIGS: dict[str, ConsolidateConfig] = {
    "consolidate": ConsolidateConfig(),
    "consolidate-vae": ConsolidateConfig(memory="vae"),
    "consolidate-features": ConsolidateConfig(feature_weight=1.0),
    "consolidate-adaptive": ConsolidateConfig(patience=3),
    "consolidate-real": ConsolidateConfig(real_fraction=0.25),
    "consolidate-prewake": ConsolidateConfig(student_init="pre-wake"),
    "consolidate-proj": ConsolidateConfig(memory="gan-proj"),
}


# --------------------------------------------------------------------------------------------------
# Wake: a hippocampal copy of the whole net, and the task's generative memory
# --------------------------------------------------------------------------------------------------
def hippocampal_wake(
    net: NeocortexNet, task: Task, memory: str, cfg: TrainConfig, rng: torch.Generator,
    *, scenario: Scenario | None = None, progress: bool = False, desc: str = "wake",
) -> tuple[NeocortexNet, GenerativeMemory, dict[str, Any]]:
    """Train a copy of ``net`` (extractor unfrozen, the task's head) on ``task`` at
    ``lr_fast`` for ``wake_epochs``, and, batch by batch, a fresh ``memory`` on the same
    inputs in the copy's dream space (its ``embed`` output, after the copy's step).

    The ``scenario`` (default: task-incremental) says which head the task uses; the
    cross-entropy runs over the task's own classes only (`Scenario.own_columns`).
    Returns the hippocampal copy, the memory and a log (losses, seconds, samples).
    """
    t0 = time.perf_counter()
    hippocampus = copy.deepcopy(net)
    scenario = scenario or Scenario("task", (task.n_classes,) * (task.index + 1))
    scenario.ensure_heads(hippocampus, task.index)
    head = hippocampus.heads[scenario.head_for(task.index)]
    own = scenario.own_columns(task.index)
    set_extractor_trainable(hippocampus, True)
    opt = adam([*extractor_parameters(hippocampus), *head.parameters()], cfg.lr_fast)
    data = task.train
    trainer = memory_trainer(memory, hippocampus.dream_shape, task.n_classes, cfg,
                             data.y.device)
    text = is_tokens(data.x)  # text: the memory learns the pooled embeddings
    hippocampus.train()

    def step(idx: Tensor) -> Tensor:
        xb, y = take(data.x, idx), data.y[idx]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(head(hippocampus.features(xb))[:, own], y)
        loss.backward()
        opt.step()
        with torch.no_grad():
            real = hippocampus.embed(xb) if text else xb
        return torch.stack([loss.detach(), *trainer.step(real, y, rng)])

    means = epoch_loop(len(data), cfg.wake_epochs, cfg.batch_size, rng, step,
                       progress=progress, desc=desc)
    set_extractor_trainable(hippocampus, False)
    hippocampus.requires_grad_(False)
    hippocampus.eval()
    names = ("hippocampus_loss", *trainer.loss_names)
    log: dict[str, Any] = {k: list(v) for k, v in zip(names, zip(*means, strict=True),
                                                      strict=True)}
    log["seconds"] = time.perf_counter() - t0
    log["samples"] = cfg.wake_epochs * len(data)
    return hippocampus, trainer.memory(task.index), log


# --------------------------------------------------------------------------------------------------
# Sleep: distillation from two teachers
# --------------------------------------------------------------------------------------------------
@dataclass
class ConsolidateSleepLog(SleepLog):
    """`SleepLog` plus the step budget and the steps actually run (an adaptive sleep may stop early)."""

    budget: int = 0
    steps: int = 0

    @property
    def steps_saved(self) -> int:
        return self.budget - self.steps

    def finish(self, losses: Tensor, dream_task: list[int], t0: float, batch: int) -> ConsolidateSleepLog:
        """Fill in the record of a sleep whose steps had the ``losses``, with ``batch`` samples each, since ``t0``."""
        self.steps, self.loss, self.dream_task = len(losses), losses.tolist(), dream_task[: len(losses)]
        self.seconds, self.samples = time.perf_counter() - t0, len(losses) * batch
        return self


class Patience:
    """The adaptive sleep's stopping rule: ``patience`` windows without a relative improvement (a
    `mygo_nb.core.loops.sleep_loop` ``stop``; never stops when ``patience`` is None)."""

    def __init__(self, options: ConsolidateConfig) -> None:
        self.c, self.best, self.bad = options, math.inf, 0

    def __call__(self, losses: Tensor, step: int) -> bool:
        c = self.c
        if c.patience is None or (step + 1) % c.window:
            return False
        mean = float(losses[step + 1 - c.window:step + 1].mean())
        if mean < self.best * (1 - c.min_improvement):
            self.best, self.bad = mean, 0
        else:
            self.bad += 1
        return self.bad >= c.patience


def n_real_inputs(options: ConsolidateConfig, real: TaskData | None, batch: int) -> int:
    """How many real current-task inputs a sleep batch of ``batch`` samples holds."""
    return min(batch - 1, round(options.real_fraction * batch)) if real is not None and len(real) else 0


def shared_head_sleep(student: NeocortexNet, teachers: dict[int, NeocortexNet], known: dict[int, slice],
                      memories: list[GenerativeMemory], cfg: TrainConfig, options: ConsolidateConfig,
                      scenario: Scenario, stage: int, rng: torch.Generator, *, real: TaskData | None = None,
                      progress: bool = False, desc: str = "sleep", distill: float = 1.0) -> ConsolidateSleepLog:
    """The consolidating sleep with one shared head (``domain`` and ``class`` scenarios).

    With no task identity, a sleep step must teach the head to tell *every* task's classes apart, so each
    batch mixes an equal share of dreams from every memory (one memory per step, as in the task scenario,
    would train a shared head on one task at a time). The loss is the cross-entropy of the student's active
    logits against the dreams' conditioning labels (as targets of the scenario), plus the MSE to each
    dream's teacher (``teachers[task]``) on the logit columns ``known[task]`` that teacher learned,
    plus ``options.feature_weight`` times the trunk-feature MSE (both terms weighted by ``distill``).
    ``real`` (the task of ``stage``) adds ``options.real_fraction`` real inputs, with their true labels and
    the same teacher as that task's dreams.
    """
    t0 = time.perf_counter()
    log = ConsolidateSleepLog(budget=cfg.sleep_steps)
    if cfg.sleep_steps == 0 or not memories:
        return log
    student.requires_grad_(True)
    opt = adam(student.parameters(), cfg.lr_slow)
    device = next(student.parameters()).device
    bs, k = cfg.batch_size, len(memories)
    n_real = n_real_inputs(options, real, bs)
    n_dream = max(bs - n_real, k)
    counts = [n_dream // k + (i < n_dream % k) for i in range(k)]
    local = [balanced_labels(c, m.n_classes, device) for c, m in zip(counts, memories, strict=True)]
    dream_targets = torch.cat([scenario.target(m.task, y) for m, y in zip(memories, local, strict=True)])
    # dreams grouped by teacher: one teacher forward per distinct teacher net
    groups: dict[int, list[int]] = {}
    for i, m in enumerate(memories):
        groups.setdefault(id(teachers[m.task]), []).append(i)
    starts = [0, *torch.tensor(counts).cumsum(0).tolist()]
    n_act = scenario.n_active(stage, stage)
    student.train()

    def distil(_step: int) -> Tensor:
        dreams = torch.cat([m.dream(c, rng, y)[0] for m, c, y in zip(memories, counts, local, strict=True)])
        f_s, targets = student.trunk(dreams), dream_targets
        if n_real:
            idx = torch.randint(len(real), (n_real,), device=device, generator=rng)  # type: ignore[arg-type]
            xb = take(real.x, idx)  # type: ignore[union-attr]
            f_s = torch.cat([f_s, student.features(xb)])
            targets = torch.cat([targets, scenario.target(stage, real.y[idx])])  # type: ignore[union-attr]
        logits = student.heads[0](f_s)
        loss = F.cross_entropy(logits[:, :n_act], targets)
        for members in groups.values():
            task = memories[members[0]].task
            teacher, cols = teachers[task], known[task]
            rows = torch.cat([torch.arange(starts[i], starts[i + 1], device=device) for i in members])
            with torch.no_grad():
                f_t = teacher.trunk(dreams[rows])
                if n_real and task == stage:
                    f_t = torch.cat([f_t, teacher.features(xb)])
            if n_real and task == stage:
                rows = torch.cat([rows, torch.arange(len(dreams), len(f_s), device=device)])
            share = distill * len(rows) / len(f_s)
            loss = loss + share * F.mse_loss(logits[rows, cols], teacher.heads[0](f_t)[:, cols])
            if options.feature_weight:
                loss = loss + share * options.feature_weight * F.mse_loss(f_s[rows], f_t)
        return loss

    losses = sleep_loop(opt, cfg.sleep_steps, distil, stop=Patience(options), progress=progress, desc=desc)
    return log.finish(losses, [-1] * len(losses), t0, sum(counts) + n_real)  # every step dreams of every task


def add_real(student: NeocortexNet, teacher: NeocortexNet, real: TaskData, n: int,
             rng: torch.Generator, f_s: Tensor, f_t: Tensor) -> tuple[Tensor, Tensor]:
    """Append both nets' features of ``n`` random real inputs (through ``embed``) to a batch's."""
    idx = torch.randint(len(real), (n,), device=f_s.device, generator=rng)
    xb = take(real.x, idx)
    f_s = torch.cat([f_s, student.features(xb)])
    with torch.no_grad():
        f_t = torch.cat([f_t, teacher.features(xb)])
    return f_s, f_t


def consolidating_sleep(
    student: NeocortexNet, teachers: dict[int, NeocortexNet],
    memories: list[GenerativeMemory], cfg: TrainConfig, options: ConsolidateConfig,
    rng: torch.Generator, host_rng: torch.Generator, *, real: TaskData | None = None,
    progress: bool = False, desc: str = "sleep",
) -> ConsolidateSleepLog:
    """Up to ``cfg.sleep_steps`` steps of distillation into every weight of ``student``.

    Each step picks a memory uniformly and draws a class-balanced batch of its dreams.
    Their teacher is ``teachers[memory.task]`` (the hippocampal copy for the new task,
    the pre-wake net for the old ones); the loss is the MSE of the two nets' logits on
    the dreamed task's head, plus the options' feature MSE; ``real`` inputs may join.
    """
    t0, log = time.perf_counter(), ConsolidateSleepLog(budget=cfg.sleep_steps)
    if cfg.sleep_steps == 0 or not memories:
        return log
    student.requires_grad_(True)
    opt = adam(student.parameters(), cfg.lr_slow)
    n_real = n_real_inputs(options, real, cfg.batch_size)
    n_dream, steps = cfg.batch_size - n_real, cfg.sleep_steps
    choices = torch.randint(len(memories), (steps,), generator=host_rng).tolist()

    def distil(step: int) -> Tensor:
        memory = memories[choices[step]]
        teacher, head = teachers[memory.task], memory.task
        dreams, _ = memory.dream(n_dream, rng)
        f_s = student.trunk(dreams)
        with torch.no_grad():
            f_t = teacher.trunk(dreams)
        if n_real:  # real inputs of the new task join the batch
            f_s, f_t = add_real(student, teacher, real, n_real, rng, f_s, f_t)
        loss = F.mse_loss(student.heads[head](f_s), teacher.heads[head](f_t))
        if options.feature_weight:
            loss = loss + options.feature_weight * F.mse_loss(f_s, f_t)
        return loss

    stop = Patience(options)
    losses = sleep_loop(opt, steps, distil, stop=stop, progress=progress, desc=desc)
    return log.finish(losses, [memories[c].task for c in choices], t0, cfg.batch_size)


# --------------------------------------------------------------------------------------------------
# The learner
# --------------------------------------------------------------------------------------------------
@register("mygo", config=ConsolidateConfig, variants=CONFIGS)
class Consolidate(Learner):
    """MyGO with a hippocampal wake and a two-teacher consolidating sleep (``mygo`` / ``consolidate*``).

    Runs in every scenario: with one head per task the sleep is `consolidating_sleep`, with a shared head
    (``domain``, ``class``) it is `shared_head_sleep`.
    """

    def learn(self, task: Task) -> dict[str, Any]:  # type: ignore[override]
        ctx, c, scenario, t = self.ctx, self.config, self.scenario, task.index
        pre_wake = copy.deepcopy(self.net).requires_grad_(False).eval()
        hippocampus, memory, wlog = hippocampal_wake(self.net, task, c.memory, ctx.cfg, ctx.rng, scenario=scenario,
                                             progress=ctx.progress, desc=ctx.desc(task, "wake"))
        self.memories.append(memory)
        if c.student_init == "hippocampus":
            student = copy.deepcopy(hippocampus)
        else:
            student = self.net
            scenario.ensure_heads(student, t)
        teachers = {m.task: pre_wake for m in self.memories}
        teachers[t] = hippocampus
        real = task.train if c.real_fraction else None
        if c.student_init == "hippocampus" and len(self.memories) == 1:
            # nothing to consolidate: the student *is* the only teacher, so every loss would be exactly 0
            slog = ConsolidateSleepLog(budget=ctx.cfg.sleep_steps)
        elif scenario.name == "task":
            slog = consolidating_sleep(student, teachers, self.memories, ctx.cfg, c, ctx.rng, ctx.host_rng,
                                       real=real, progress=ctx.progress, desc=ctx.desc(task, "sleep"))
        else:
            # each teacher is trusted on the logit columns it learned: the pre-wake net on the classes
            # active before this task, the hippocampal copy on this task's own classes
            old = slice(0, scenario.n_active(t - 1, t - 1))
            known = {m.task: scenario.own_columns(t) if m.task == t else old for m in self.memories}
            slog = shared_head_sleep(student, teachers, known, self.memories, ctx.cfg, c, scenario, t, ctx.rng,
                                     real=real, progress=ctx.progress, desc=ctx.desc(task, "sleep"))
        student.requires_grad_(True)
        student.train()
        self.net = student
        return {
            "phases": {"wake": {"seconds": wlog.pop("seconds"), "samples": wlog.pop("samples")},
                       "sleep": {"seconds": slog.seconds, "samples": slog.samples}},
            "wake": wlog,
            "sleep_loss": slog.loss,
            "sleep_dream_task": slog.dream_task,
            "sleep_budget": {"budget": slog.budget, "steps": slog.steps, "steps_saved": slog.steps_saved},
            "extractor_drift": self.drift(),
        }
