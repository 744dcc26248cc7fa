"""A MyGO whose sleep really consolidates (introduced in notebook 09, beyond the paper).

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
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .config import TrainConfig, check_choice, check_int, check_real
from .data import Benchmark, Task, TaskData, TokenBags, take
from .memories import (
    GenerativeMemory,
    VAEMemory,
    balanced_labels,
    gan_step,
    make_gan,
    make_vae,
    vae_step,
)
from .models import (
    NeocortexNet,
    adam,
    extractor_drift,
    extractor_parameters,
    extractor_snapshot,
    make_net,
    set_extractor_trainable,
)
from .phases import SleepLog
from .scenarios import Scenario

if TYPE_CHECKING:
    from .methods import Stream

__all__ = ["CONFIGS", "Consolidate", "ConsolidateConfig", "ConsolidateSleepLog", "consolidating_sleep",
           "hippocampal_wake", "shared_head_sleep"]

MEMORY_KINDS: tuple[str, ...] = ("gan", "vae")
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
}


# --------------------------------------------------------------------------------------------------
# Wake: a hippocampal copy of the whole net, and the task's generative memory
# --------------------------------------------------------------------------------------------------
def hippocampal_wake(net: NeocortexNet, task: Task, memory: str, cfg: TrainConfig, rng: torch.Generator, *,
                     scenario: Scenario | None = None, progress: bool = True,
                     desc: str = "wake") -> tuple[NeocortexNet, GenerativeMemory, dict[str, Any]]:
    """Train a copy of ``net`` (extractor unfrozen, the task's head) on ``task`` at ``lr_fast`` for
    ``wake_epochs``, and, batch by batch, a fresh ``memory`` (``gan``/``vae``) on the same inputs in the
    copy's dream space (its ``embed`` output, after the copy's step). ``net`` is not changed.

    The ``scenario`` (default: task-incremental) says which head the task uses (a new one, or the shared
    one); the cross-entropy runs over the task's own classes only (`Scenario.own_columns`). Returns the
    hippocampal copy, the memory and a log (per-epoch mean losses, seconds, samples).
    """
    t0 = time.perf_counter()
    hpc = copy.deepcopy(net)
    scn = scenario or Scenario("task", (task.n_classes,) * (task.index + 1))
    scn.ensure_heads(hpc, task.index)
    head = hpc.heads[scn.head_for(task.index)]
    # the copy learns the task as a task of its own: a softmax over its own classes only (with a class head,
    # its block of columns); telling them apart from older classes is the sleep's job
    own = scn.own_columns(task.index)
    set_extractor_trainable(hpc, True)
    opt = adam([*extractor_parameters(hpc), *head.parameters()], cfg.lr_fast)
    data = task.train
    device = data.y.device
    if memory == "gan":
        g, d = make_gan(hpc.dream_shape, task.n_classes, cfg.z_dim, cfg.gan_hidden, device)
        opt_g, opt_d = adam(g.parameters(), cfg.lr_fast), adam(d.parameters(), cfg.lr_fast)
    else:
        vae = make_vae(hpc.dream_shape, task.n_classes, cfg.z_dim, cfg.gan_hidden, device)
        opt_v = adam(vae.parameters(), cfg.lr_fast)
    names = ("d_loss", "g_loss") if memory == "gan" else ("recon_loss", "kl")
    log: dict[str, Any] = {"hippocampus_loss": [], names[0]: [], names[1]: []}
    n, bs = len(data), cfg.batch_size
    steps = (n + bs - 1) // bs
    text = isinstance(data.x, TokenBags)
    hpc.train()
    with tqdm(total=cfg.wake_epochs * steps, desc=desc, disable=not progress, leave=False, unit="batch") as bar:
        for _ in range(cfg.wake_epochs):
            perm = torch.randperm(n, device=device, generator=rng)
            sums = torch.zeros(3, device=device)
            for i in range(steps):
                idx = perm[i * bs:(i + 1) * bs]
                xb, y = take(data.x, idx), data.y[idx]
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(head(hpc.features(xb))[:, own], y)
                loss.backward()
                opt.step()
                with torch.no_grad():
                    real = hpc.embed(xb) if text else xb
                if memory == "gan":
                    a, b = gan_step(g, d, opt_g, opt_d, real, y, rng)
                else:
                    a, b = vae_step(vae, opt_v, real, y, rng)
                sums += torch.stack([loss.detach(), a, b])
                bar.update()
            means = (sums / steps).tolist()
            for key, v in zip(("hippocampus_loss", *names), means, strict=True):
                log[key].append(v)
    set_extractor_trainable(hpc, False)
    hpc.requires_grad_(False)
    hpc.eval()
    if memory == "gan":
        mem: GenerativeMemory = GenerativeMemory(task.index, g.eval())
    else:
        mem = VAEMemory(task.index, vae.decoder.eval())
    log["seconds"] = time.perf_counter() - t0
    log["samples"] = cfg.wake_epochs * n
    return hpc, mem, log


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

    def finish(self, losses: torch.Tensor, steps: int, dream_task: list[int], t0: float,
               batch: int) -> ConsolidateSleepLog:
        """Fill in the record of a sleep that ran ``steps`` steps of ``batch`` samples since ``t0``."""
        self.steps, self.loss, self.dream_task = steps, losses[:steps].tolist(), dream_task
        self.seconds, self.samples = time.perf_counter() - t0, steps * batch
        return self


class _Patience:
    """The adaptive sleep's stopping rule: ``patience`` windows without a relative improvement."""

    def __init__(self, ccfg: ConsolidateConfig) -> None:
        self.c, self.best, self.bad = ccfg, math.inf, 0

    def step(self, opt: torch.optim.Optimizer, loss: torch.Tensor, losses: torch.Tensor, step: int) -> bool:
        """One optimiser step on ``loss``, recorded in ``losses[step]``; True when the sleep should end."""
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses[step] = loss.detach()
        return self.stop(losses, step)

    def stop(self, losses: torch.Tensor, step: int) -> bool:
        c = self.c
        if c.patience is None or (step + 1) % c.window:
            return False
        mean = float(losses[step + 1 - c.window:step + 1].mean())
        if mean < self.best * (1 - c.min_improvement):
            self.best, self.bad = mean, 0
        else:
            self.bad += 1
        return self.bad >= c.patience


def shared_head_sleep(student: NeocortexNet, teachers: dict[int, NeocortexNet], known: dict[int, slice],
                      memories: list[GenerativeMemory], cfg: TrainConfig, ccfg: ConsolidateConfig,
                      scenario: Scenario, stage: int, rng: torch.Generator, *, real: TaskData | None = None,
                      progress: bool = True, desc: str = "sleep") -> ConsolidateSleepLog:
    """The consolidating sleep with one shared head (``domain`` and ``class`` scenarios).

    With no task identity, a sleep step must teach the head to tell *every* task's classes apart, so each
    batch mixes an equal share of dreams from every memory (one memory per step, as in the task scenario,
    would train a shared head on one task at a time). The loss is the cross-entropy of the student's active
    logits against the dreams' conditioning labels (as targets of the scenario), plus the MSE to each
    dream's teacher (``teachers[task]``) on the logit columns ``known[task]`` that teacher learned,
    plus ``ccfg.feature_weight`` times the trunk-feature MSE. ``real`` (the task of ``stage``) adds
    ``ccfg.real_fraction`` real inputs, with their true labels and the same teacher as that task's dreams.
    """
    t0 = time.perf_counter()
    log = ConsolidateSleepLog(budget=cfg.sleep_steps)
    if cfg.sleep_steps == 0 or not memories:
        return log
    student.requires_grad_(True)
    opt = adam(student.parameters(), cfg.lr_slow)
    device = next(student.parameters()).device
    bs, k = cfg.batch_size, len(memories)
    n_real = min(bs - 1, round(ccfg.real_fraction * bs)) if real is not None and len(real) else 0
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
    losses = torch.zeros(cfg.sleep_steps, device=device)
    student.train()
    rule = _Patience(ccfg)
    steps = cfg.sleep_steps
    for step in tqdm(range(cfg.sleep_steps), desc=desc, disable=not progress, leave=False, unit="step"):
        dreams = torch.cat([m.dream(c, rng, y)[0] for m, c, y in zip(memories, counts, local, strict=True)])
        f_s = student.trunk(dreams)
        targets = dream_targets
        if n_real:
            idx = torch.randint(len(real), (n_real,), device=device, generator=rng)  # type: ignore[arg-type]
            xb = take(real.x, idx)  # type: ignore[union-attr]
            f_s = torch.cat([f_s, student.features(xb)])
            targets = torch.cat([targets, scenario.target(stage, real.y[idx])])  # type: ignore[union-attr]
        logits = student.heads[0](f_s)
        loss = F.cross_entropy(logits[:, :n_act], targets)
        for members in groups.values():
            teacher = teachers[memories[members[0]].task]
            cols = known[memories[members[0]].task]
            rows = torch.cat([torch.arange(starts[i], starts[i + 1], device=device) for i in members])
            with torch.no_grad():
                f_t = teacher.trunk(dreams[rows])
                if n_real and memories[members[0]].task == stage:
                    f_t = torch.cat([f_t, teacher.features(xb)])
            if n_real and memories[members[0]].task == stage:
                rows = torch.cat([rows, torch.arange(len(dreams), len(f_s), device=device)])
            share = len(rows) / len(f_s)
            loss = loss + share * F.mse_loss(logits[rows, cols], teacher.heads[0](f_t)[:, cols])
            if ccfg.feature_weight:
                loss = loss + share * ccfg.feature_weight * F.mse_loss(f_s[rows], f_t)
        if rule.step(opt, loss, losses, step):
            steps = step + 1
            break
    return log.finish(losses, steps, [-1] * steps, t0, sum(counts) + n_real)  # every step dreams of every task


def consolidating_sleep(student: NeocortexNet, teachers: dict[int, NeocortexNet],
                        memories: list[GenerativeMemory], cfg: TrainConfig, ccfg: ConsolidateConfig,
                        rng: torch.Generator, host_rng: torch.Generator, *, real: TaskData | None = None,
                        progress: bool = True, desc: str = "sleep") -> ConsolidateSleepLog:
    """Up to ``cfg.sleep_steps`` distillation steps into ``student`` (Adam at ``lr_slow``, every parameter).

    Each step picks a memory uniformly and draws a class-balanced batch of its dreams; the teacher is
    ``teachers[memory.task]`` and the loss is the MSE between the student's and the teacher's logits on
    that task's head, plus ``ccfg.feature_weight`` times the MSE of their trunk features. With
    ``ccfg.real_fraction`` and ``real``, that share of the batch is real inputs drawn from ``real``
    (through the whole net, ``embed`` included). With ``ccfg.patience``, the sleep ends early when the
    windowed mean loss stops improving.
    """
    t0 = time.perf_counter()
    log = ConsolidateSleepLog(budget=cfg.sleep_steps)
    if cfg.sleep_steps == 0 or not memories:
        return log
    student.requires_grad_(True)
    opt = adam(student.parameters(), cfg.lr_slow)
    device = next(student.parameters()).device
    bs = cfg.batch_size
    n_real = min(bs - 1, round(ccfg.real_fraction * bs)) if real is not None and len(real) else 0
    n_dream = bs - n_real
    choices = torch.randint(len(memories), (cfg.sleep_steps,), generator=host_rng).tolist()
    labels = {m.n_classes: balanced_labels(n_dream, m.n_classes, device) for m in memories}
    losses = torch.zeros(cfg.sleep_steps, device=device)
    student.train()
    rule = _Patience(ccfg)
    steps = cfg.sleep_steps
    for step in tqdm(range(cfg.sleep_steps), desc=desc, disable=not progress, leave=False, unit="step"):
        mem = memories[choices[step]]
        teacher = teachers[mem.task]
        dreams, _ = mem.dream(n_dream, rng, labels[mem.n_classes])
        f_s = student.trunk(dreams)
        with torch.no_grad():
            f_t = teacher.trunk(dreams)
        if n_real:
            idx = torch.randint(len(real), (n_real,), device=device, generator=rng)  # type: ignore[arg-type]
            xb = take(real.x, idx)  # type: ignore[union-attr]
            f_s = torch.cat([f_s, student.features(xb)])
            with torch.no_grad():
                f_t = torch.cat([f_t, teacher.features(xb)])
        loss = F.mse_loss(student.heads[mem.task](f_s), teacher.heads[mem.task](f_t))
        if ccfg.feature_weight:
            loss = loss + ccfg.feature_weight * F.mse_loss(f_s, f_t)
        if rule.step(opt, loss, losses, step):
            steps = step + 1
            break
    return log.finish(losses, steps, [memories[c].task for c in choices[:steps]], t0, bs)


# --------------------------------------------------------------------------------------------------
# The learner
# --------------------------------------------------------------------------------------------------
class Consolidate:
    """MyGO with a hippocampal wake and a two-teacher consolidating sleep (``mygo`` / ``consolidate*``).

    Runs in every scenario (``s.scenario``): with one head per task the sleep is `consolidating_sleep`,
    with a shared head (``domain``, ``class``) it is `shared_head_sleep`.
    """

    def __init__(self, bench: Benchmark, s: Stream, config: ConsolidateConfig | None = None) -> None:
        self.s = s
        self.config = config or ConsolidateConfig()
        self.scenario = Scenario.of(s.scenario, bench)
        self.net = make_net(bench.modality, bench.vocab_size).to(bench.device)
        self.memories: list[GenerativeMemory] = []
        self._init = extractor_snapshot(self.net)

    def head_for(self, task: int) -> int:
        return self.scenario.head_for(task)

    def learn(self, task: Task) -> dict[str, Any]:
        s, c, scn, t = self.s, self.config, self.scenario, task.index
        pre_wake = copy.deepcopy(self.net).requires_grad_(False).eval()
        hpc, memory, wlog = hippocampal_wake(self.net, task, c.memory, s.cfg, s.rng, scenario=scn,
                                             progress=s.progress, desc=s.desc(task, "wake"))
        self.memories.append(memory)
        if c.student_init == "hippocampus":
            student = copy.deepcopy(hpc)
        else:
            student = self.net
            scn.ensure_heads(student, t)
        teachers = {m.task: pre_wake for m in self.memories}
        teachers[t] = hpc
        real = task.train if c.real_fraction else None
        if c.student_init == "hippocampus" and len(self.memories) == 1:
            # nothing to consolidate: the student *is* the only teacher, so every loss would be exactly 0
            slog = ConsolidateSleepLog(budget=s.cfg.sleep_steps)
        elif scn.name == "task":
            slog = consolidating_sleep(student, teachers, self.memories, s.cfg, c, s.rng, s.host_rng, real=real,
                                       progress=s.progress, desc=s.desc(task, "sleep"))
        else:
            # each teacher is trusted on the logit columns it learned: the pre-wake net on the classes
            # active before this task, the hippocampal copy on this task's own classes
            old = slice(0, scn.n_active(t - 1, t - 1))
            known = {m.task: scn.own_columns(t) if m.task == t else old for m in self.memories}
            slog = shared_head_sleep(student, teachers, known, self.memories, s.cfg, c, scn, t, s.rng, real=real,
                                     progress=s.progress, desc=s.desc(task, "sleep"))
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
            "extractor_drift": extractor_drift(self.net, self._init),
        }
