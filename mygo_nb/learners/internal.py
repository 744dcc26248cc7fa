"""MyGO with internal replay: memories that dream the extractor's features, not pixels (chapter 12).

In the reference code the extractor never learns. `Internal` makes that a design: the extractor's
*lower* layers (the convolutions, up to the flatten; all of ``embed`` for text) learn in the first wake
only (``lower="wake"``) or never (``lower="random"``, the reference code's extractor), and then stay
frozen, so a feature they computed on task 1 means the same on task 5. Each task's memory is a
factor memory (`mygo_nb.core.memories.FactorTrainer`) of those features, no larger in bytes than the
paper's cGAN memory of the same task; its dreams enter the net above the lower layers.

- *Wake*: `hippocampal_wake` on the *upper* layers (the rest of the extractor) and the head, fed the
  task's features at ``lr_fast``; the memory learns the same features. With ``lower_rate`` above 0 the
  lower layers keep learning in later wakes, slowly (``lower_rate`` times ``lr_fast``), before the
  features are taken: older memories then dream of features the lower layers have moved away from a
  little, and the new task's features are the lower layers' own (a slow learner, as in SLCA).
- *Sleep* (`internal_sleep`): the upper layers and the shared head learn at ``lr_slow`` to classify
  class-balanced dreams of every task, as their labels say.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import TrainConfig
from ..core.loops import encode, epoch_loop, sleep_loop
from ..core.memories import GenerativeMemory, balanced_labels, factor_rank, memory_nbytes
from ..core.net import NeocortexNet, adam
from ..core.scenarios import Scenario
from ..data import Task, TaskData, take
from ..errors import ConfigError, check_choice, check_real
from .base import Learner, register
from .consolidate import (
    STUDENT_INITS,
    ConsolidateConfig,
    ConsolidateSleepLog,
    hippocampal_wake,
    shared_head_sleep,
)

__all__ = ["Internal", "InternalConfig", "equal_shares", "internal_sleep", "lower_cut", "lower_features",
           "lower_parameters", "lower_wake", "upper_view"]

LOWERS: tuple[str, ...] = ("wake", "random")


@dataclass(frozen=True)
class InternalConfig:
    """``lower``: ``wake`` (the lower layers learn in the first wake, then freeze) or ``random`` (frozen
    at initialisation). ``distill``: weight of the teachers' logit MSE added to the sleep's cross-entropy
    (0: none). ``real_fraction``: share of each sleep batch that is the new task's real features.
    ``student_init``: the sleep's student starts as the ``hippocampus`` or the ``pre-wake`` net.
    ``lower_rate``: the lower layers' rate in the wakes after the first, as a fraction of ``lr_fast``
    (0: frozen after the first wake; only with ``lower="wake"``)."""

    lower: str = "wake"
    distill: float = 0.0
    real_fraction: float = 0.0
    student_init: str = "hippocampus"
    lower_rate: float = 0.0

    def __post_init__(self) -> None:
        check_choice("lower", self.lower, LOWERS)
        check_real("lower_rate", self.lower_rate, minimum=0)
        if self.lower_rate and self.lower != "wake":
            raise ConfigError(f"lower_rate={self.lower_rate} needs lower='wake' (lower={self.lower!r} never learns)")
        check_real("distill", self.distill, minimum=0)
        check_real("real_fraction", self.real_fraction, minimum=0, below=1)
        check_choice("student_init", self.student_init, STUDENT_INITS)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def lower_cut(net: NeocortexNet) -> int:
    """How many of the trunk's layers are *lower*: those up to and including its last ``Flatten``
    (none for a trunk without one, whose lower part is ``embed`` alone)."""
    flat = [i for i, m in enumerate(net.trunk) if isinstance(m, nn.Flatten)]  # type: ignore[arg-type]
    return flat[-1] + 1 if flat else 0


def lower_parameters(net: NeocortexNet, cut: int) -> list[nn.Parameter]:
    """The lower layers' parameters: ``embed``'s (a pretrained encoder's: its adapters) and the trunk's up to
    ``cut``."""
    return [*net.embed.parameters(), *net.trunk[:cut].parameters()]  # type: ignore[index]


def lower_features(net: NeocortexNet, cut: int, x: Any) -> Tensor:
    """The lower layers' output for all of ``x`` (batched, without autograd): the feature dream space."""
    lower = net.trunk[:cut]  # type: ignore[index]
    return encode(lambda xb: lower(net.embed(xb)), x)


def upper_view(net: NeocortexNet, cut: int,
               dream_shape: tuple[int, ...]) -> NeocortexNet:
    """``net`` above its lower layers, sharing their weights: inputs are features
    of shape ``dream_shape``, dreams enter at its trunk, its heads are ``net``'s."""
    upper = net.trunk[cut:]  # type: ignore[index]
    view = NeocortexNet(nn.Identity(), upper, dream_shape, net.n_out, net.feature_dim)
    view.heads = net.heads
    return view


def lower_wake(net: NeocortexNet, task: Task, scenario: Scenario, cfg: TrainConfig,
               rng: torch.Generator, *, cut: int = 0, lower_rate: float = 1.0, progress: bool = False,
               desc: str = "lower wake") -> dict[str, Any]:
    """A wake of the lower layers: every weight of ``net`` (lower, upper, the task's head) learns
    ``task`` for ``wake_epochs``, cross-entropy over the task's own classes; the lower layers
    (`lower_parameters` below ``cut``) at ``lower_rate`` times ``lr_fast``, the rest at ``lr_fast``."""
    t0 = time.perf_counter()
    scenario.ensure_heads(net, task.index)
    head, own = net.heads[scenario.head_for(task.index)], scenario.own_columns(task.index)
    trainable = [p for p in net.parameters() if p.requires_grad]
    if lower_rate == 1:
        opt = adam(trainable, cfg.lr_fast)
    else:
        lower = {id(p) for p in lower_parameters(net, cut)}
        groups = [{"params": [p for p in trainable if id(p) in lower], "lr": lower_rate * cfg.lr_fast},
                  {"params": [p for p in trainable if id(p) not in lower]}]
        opt = adam([g for g in groups if g["params"]], cfg.lr_fast)
    data = task.train
    net.train()

    def step(idx: Tensor) -> Tensor:
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(head(net.features(take(data.x, idx)))[:, own], data.y[idx])
        loss.backward()
        opt.step()
        return loss.detach()[None]

    means = epoch_loop(len(data), cfg.wake_epochs, cfg.batch_size, rng, step, progress=progress, desc=desc)
    return {"lower_loss": [m[0] for m in means], "seconds": time.perf_counter() - t0,
            "samples": cfg.wake_epochs * len(data)}


def equal_shares(
    memories: list[GenerativeMemory], batch_size: int, scenario: Scenario,
    device: torch.device,
) -> tuple[list[tuple[GenerativeMemory, int]], list[Tensor], Tensor]:
    """A sleep batch's equal share of every memory's dreams: (memory, count) pairs, each
    share's class-balanced labels, and the scenario's targets for the whole batch."""
    k = len(memories)
    counts = [batch_size // k + (i < batch_size % k) for i in range(k)]
    pairs = list(zip(memories, counts, strict=True))
    labels = [balanced_labels(n, m.n_classes, device) for m, n in pairs]
    targets = torch.cat([scenario.target(m.task, y)
                         for (m, _), y in zip(pairs, labels, strict=True)])
    return pairs, labels, targets


def internal_sleep(
    student: NeocortexNet, teachers: dict[int, NeocortexNet], known: dict[int, slice],
    memories: list[GenerativeMemory], cfg: TrainConfig, options: InternalConfig,
    scenario: Scenario, stage: int, rng: torch.Generator, *,
    real: TaskData | None = None, progress: bool = False, desc: str = "sleep",
) -> ConsolidateSleepLog:
    """The sleep of internal replay: ``cfg.sleep_steps`` steps at ``lr_slow`` on the
    student's upper layers and shared head, each on a batch with an equal share of
    every memory's dreams (the new task's too).

    The loss is the cross-entropy of the active logits against the dreams' labels;
    ``options.distill`` times the teachers' logit MSE (`shared_head_sleep`'s) is
    added when it is not 0, and ``options.real_fraction`` of the batch may be
    ``real`` features of the new task.
    """
    if options.distill or options.real_fraction:
        both = ConsolidateConfig(memory="factor", real_fraction=options.real_fraction)
        return shared_head_sleep(student, teachers, known, memories, cfg, both,
                                 scenario, stage, rng, real=real, progress=progress,
                                 desc=desc, distill=options.distill)
    t0, log = time.perf_counter(), ConsolidateSleepLog(budget=cfg.sleep_steps)
    if cfg.sleep_steps == 0 or not memories:
        return log
    student.requires_grad_(True)
    student.train()
    opt = adam(student.parameters(), cfg.lr_slow)
    device = next(student.parameters()).device
    pairs, labels, targets = equal_shares(memories, cfg.batch_size, scenario, device)
    n_active = scenario.n_active(stage, stage)

    def dream_step(_step: int) -> Tensor:
        dreams = torch.cat([m.dream(n, rng, y)[0]
                            for (m, n), y in zip(pairs, labels, strict=True)])
        logits = student.heads[0](student.trunk(dreams))
        return F.cross_entropy(logits[:, :n_active], targets)

    losses = sleep_loop(opt, cfg.sleep_steps, dream_step, progress=progress, desc=desc)
    # every step dreams of every task
    return log.finish(losses, [-1] * len(losses), t0, sum(n for _, n in pairs))


@register("mygo", config=InternalConfig, variants={"internal": InternalConfig()}, scenarios=("domain", "class"))
class Internal(Learner):
    """MyGO with internal replay: factor memories of frozen lower-layer features (``mygo/internal``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cut = lower_cut(self.net)

    def freeze_lower(self) -> None:
        """Stop the lower layers (``embed`` and the trunk up to the cut) from learning."""
        for p in lower_parameters(self.net, self.cut):
            p.requires_grad_(False)

    def memory_budget(self, task: Task) -> int:
        """Bytes a memory of ``task`` may take: those of the paper's cGAN memory of its inputs."""
        cfg = self.ctx.cfg
        return memory_nbytes(self.net.dream_shape, task.n_classes, cfg.z_dim, cfg.gan_hidden)

    def learn(self, task: Task) -> dict[str, Any]:  # type: ignore[override]
        ctx, c, scenario, t, cfg = self.ctx, self.config, self.scenario, task.index, self.ctx.cfg
        phases: dict[str, dict[str, float]] = {}
        if t == 0 and c.lower == "wake":
            llog = lower_wake(self.net, task, scenario, cfg, ctx.rng, cut=self.cut, progress=ctx.progress,
                              desc=ctx.desc(task, "lower wake"))
            phases["lower_wake"] = {"seconds": llog["seconds"], "samples": llog["samples"]}
        elif c.lower_rate:
            # a copy learns the task with slow lower layers; only its lower layers are kept, so the upper
            # layers and heads that the wake and the sleep start from are the net's own
            slow = copy.deepcopy(self.net)
            for p in lower_parameters(slow, self.cut):
                p.requires_grad_(True)
            llog = lower_wake(slow, task, scenario, cfg, ctx.rng, cut=self.cut, lower_rate=c.lower_rate,
                              progress=ctx.progress, desc=ctx.desc(task, "lower wake"))
            with torch.no_grad():
                for p, q in zip(lower_parameters(self.net, self.cut), lower_parameters(slow, self.cut),
                                strict=True):
                    p.copy_(q)
            phases["lower_wake"] = {"seconds": llog["seconds"], "samples": llog["samples"]}
        self.freeze_lower()
        feats = lower_features(self.net, self.cut, task.train.x)
        shape = tuple(feats.shape[1:])
        ftask = dataclasses.replace(task, train=TaskData(feats, task.train.y))
        view = upper_view(self.net, self.cut, shape)
        pre_wake = copy.deepcopy(view).requires_grad_(False).eval()
        rank = factor_rank(shape, task.n_classes, self.memory_budget(task))
        memory_cfg = dataclasses.replace(cfg, z_dim=rank)
        hippocampus, memory, wlog = hippocampal_wake(view, ftask, "factor", memory_cfg, ctx.rng, scenario=scenario,
                                                     progress=ctx.progress, desc=ctx.desc(task, "wake"))
        self.memories.append(memory)
        phases["wake"] = {"seconds": wlog.pop("seconds"), "samples": wlog.pop("samples")}
        if t == 0:  # one task: the hippocampal copy is all there is to keep
            student, slog = copy.deepcopy(hippocampus), ConsolidateSleepLog(budget=cfg.sleep_steps)
        else:
            if c.student_init == "hippocampus":
                student = copy.deepcopy(hippocampus)
            else:
                student = copy.deepcopy(pre_wake)
                scenario.ensure_heads(student, t)
            teachers = {m.task: pre_wake for m in self.memories}
            teachers[t] = hippocampus
            old = slice(0, scenario.n_active(t - 1, t - 1))
            known = {m.task: scenario.own_columns(t) if m.task == t else old for m in self.memories}
            slog = internal_sleep(student, teachers, known, self.memories, cfg, c, scenario, t, ctx.rng,
                                  real=ftask.train, progress=ctx.progress, desc=ctx.desc(task, "sleep"))
        phases["sleep"] = {"seconds": slog.seconds, "samples": slog.samples}
        # the student's upper layers and heads replace the net's; the lower layers stay as they are
        self.net.trunk = nn.Sequential(*self.net.trunk[: self.cut], *student.trunk)  # type: ignore[index]
        self.net.heads = student.heads
        self.net.requires_grad_(True)
        self.freeze_lower()
        self.net.train()
        log = {"phases": phases, "wake": wlog, "sleep_loss": slog.loss, "sleep_dream_task": slog.dream_task,
               "memory_rank": rank, "extractor_drift": self.drift()}
        return log
