"""The wake and sleep phases (introduced in notebooks 04 and 05).

*Wake*: the extractor is frozen; a head learns the new task at ``lr_fast`` while the task's cGAN learns
its data. Because nothing in the extractor learns, its outputs are computed once per task and every
batch is an index slice of them.

*Sleep*: a teacher and a student see dreams from a uniformly chosen memory; the student minimises the
MSE between its logits and the teacher's for the dreamed task's head, at ``lr_slow``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from .config import TrainConfig
from .data import Inputs, Task, TokenBags, take
from .memories import GenerativeMemory, balanced_labels, gan_step, make_gan
from .models import NeocortexNet, adam, extractor_is_frozen, extractor_parameters

if TYPE_CHECKING:
    from .methods import Stream

__all__ = ["FeatureCache", "SleepLog", "WakeLog", "encode", "sleep", "train_epochs", "wake"]

ENCODE_BATCH = 2048


@torch.no_grad()
def encode(fn: Callable[..., Tensor], x: Inputs, batch: int = ENCODE_BATCH) -> Tensor:
    """``fn`` applied to all of ``x`` in chunks, without autograd."""
    n = len(x)
    device = x.device
    outs = [fn(take(x, torch.arange(i, min(i + batch, n), device=device))) for i in range(0, n, batch)]
    return torch.cat(outs)


class FeatureCache:
    """Extractor outputs per key (e.g. ``(task, split)``), reused while the extractor's weights are unchanged.

    The cache keeps a copy of the extractor's weights and compares it exactly (``torch.equal``) on every
    access; any difference drops all entries, so a stale entry is never returned. (Parameter version
    counters are not enough: fused optimiser kernels update weights without bumping them.)
    """

    def __init__(self) -> None:
        self._store: dict[Any, Tensor] = {}
        self._snapshot: list[Tensor] = []
        self._ids: list[int] = []

    def _sync(self, net: NeocortexNet) -> None:
        params = extractor_parameters(net)
        ids = [id(p) for p in params]
        if ids != self._ids or not all(torch.equal(p, s) for p, s in zip(params, self._snapshot, strict=True)):
            self._store.clear()
            self._snapshot = [p.detach().clone() for p in params]
            self._ids = ids

    def get(self, net: NeocortexNet, key: Any) -> Tensor | None:
        self._sync(net)
        return self._store.get(key)

    def put(self, net: NeocortexNet, key: Any, feats: Tensor) -> Tensor:
        self._sync(net)
        self._store[key] = feats
        return feats

    def features(self, net: NeocortexNet, key: Any, x: Inputs) -> Tensor:
        """Cached ``net.features(x)`` for ``key``, computed (in chunks, no autograd) on a miss."""
        feats = self.get(net, key)
        return feats if feats is not None else self.put(net, key, encode(net.features, x))


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


def wake(net: NeocortexNet, task: Task, head: nn.Module, cfg: TrainConfig, rng: torch.Generator,
         *, progress: bool = True, desc: str = "wake",
         cache: FeatureCache | None = None) -> tuple[GenerativeMemory, WakeLog]:
    """Train ``head`` on the frozen extractor's features of ``task`` and a fresh cGAN on its dream-space data.

    ``head`` may be one of ``net.heads`` (the reference code) or a separate hippocampal head (the paper).
    Returns the task's generative memory and the log. With a ``cache``, the task's training features
    are stored under ``(task.index, "train")`` for later evaluation.
    """
    if not extractor_is_frozen(net):
        raise RuntimeError("wake() expects a frozen extractor; call set_extractor_trainable(net, False)")
    t0 = time.perf_counter()
    data = task.train
    device = data.y.device
    was_training = net.training
    net.eval()  # no dropout/batch-norm here, but make the frozen extractor's role explicit
    real = encode(net.embed, data.x) if isinstance(data.x, TokenBags) else data.x  # dream-space data
    feats = encode(net.trunk, real)
    if cache is not None:
        cache.put(net, (task.index, "train"), feats)
    g, d = make_gan(net.dream_shape, task.n_classes, cfg.z_dim, cfg.gan_hidden, device)
    opt_h = adam(head.parameters(), cfg.lr_fast)
    opt_g, opt_d = adam(g.parameters(), cfg.lr_fast), adam(d.parameters(), cfg.lr_fast)
    n, bs = len(data), cfg.batch_size
    steps = (n + bs - 1) // bs
    log = WakeLog()
    bar = tqdm(total=cfg.wake_epochs * steps, desc=desc, disable=not progress, leave=False, unit="batch")
    for _ in range(cfg.wake_epochs):
        perm = torch.randperm(n, device=device, generator=rng)
        sums = torch.zeros(3, device=device)
        for s in range(steps):
            idx = perm[s * bs:(s + 1) * bs]
            y = data.y[idx]
            opt_h.zero_grad(set_to_none=True)
            loss_h = F.cross_entropy(head(feats[idx]), y)
            loss_h.backward()
            opt_h.step()
            loss_d, loss_g = gan_step(g, d, opt_g, opt_d, real[idx], y, rng)
            sums += torch.stack([loss_h.detach(), loss_d, loss_g])
            bar.update()
        means = (sums / steps).tolist()
        log.head_loss.append(means[0])
        log.d_loss.append(means[1])
        log.g_loss.append(means[2])
    bar.close()
    net.train(was_training)
    g.eval()
    log.seconds = time.perf_counter() - t0
    log.samples = cfg.wake_epochs * n
    return GenerativeMemory(task.index, g), log


def _same_extractor(a: NeocortexNet, b: NeocortexNet) -> bool:
    pa, pb = extractor_parameters(a), extractor_parameters(b)
    return len(pa) == len(pb) and all(torch.equal(x, y) for x, y in zip(pa, pb, strict=True))


def sleep(student: NeocortexNet, teacher: NeocortexNet, memories: Sequence[GenerativeMemory], cfg: TrainConfig,
          rng: torch.Generator, host_rng: torch.Generator, *, progress: bool = True,
          desc: str = "sleep") -> SleepLog:
    """``cfg.sleep_steps`` distillation steps from ``teacher`` into ``student`` on dreams.

    Each step picks a memory uniformly, draws a class-balanced batch of dreams and minimises
    ``MSE(student logits, teacher logits)`` on that memory's task head; Adam at ``lr_slow`` updates
    every student parameter that requires grad. When the student's extractor is frozen and equal to the
    teacher's, both nets' features are the same numbers, so they are computed once.
    """
    t0 = time.perf_counter()
    log = SleepLog()
    if cfg.sleep_steps == 0 or not memories:
        return log
    params = [p for p in student.parameters() if p.requires_grad]
    opt = adam(params, cfg.lr_slow)
    shared = extractor_is_frozen(student) and _same_extractor(student, teacher)
    device = next(student.parameters()).device
    choices = torch.randint(len(memories), (cfg.sleep_steps,), generator=host_rng).tolist()
    losses = torch.zeros(cfg.sleep_steps, device=device)
    labels = {m.n_classes: balanced_labels(cfg.batch_size, m.n_classes, device) for m in memories}
    student.train()
    teacher.eval()
    for step in tqdm(range(cfg.sleep_steps), desc=desc, disable=not progress, leave=False, unit="step"):
        mem = memories[choices[step]]
        dreams, _ = mem.dream(cfg.batch_size, rng, labels[mem.n_classes])
        opt.zero_grad(set_to_none=True)
        if shared:
            with torch.no_grad():
                f = student.trunk(dreams)
                t_logits = teacher.heads[mem.task](f)
            s_logits = student.heads[mem.task](f)
        else:
            with torch.no_grad():
                t_logits = teacher.dream_forward(dreams, mem.task)
            s_logits = student.dream_forward(dreams, mem.task)
        loss = F.mse_loss(s_logits, t_logits)
        if loss.requires_grad:
            loss.backward()
            opt.step()
        losses[step] = loss.detach()
    log.loss = losses.tolist()
    log.dream_task = [memories[c].task for c in choices]
    log.seconds = time.perf_counter() - t0
    log.samples = cfg.sleep_steps * cfg.batch_size
    return log


def train_epochs(net: NeocortexNet, params: list[nn.Parameter], x: Inputs, y: torch.Tensor,
                  loss_fn: Callable[[torch.Tensor, Any, torch.Tensor], torch.Tensor], s: Stream, desc: str,
                  opt: torch.optim.Optimizer | None = None) -> dict[str, Any]:
    """Plain supervised training: ``wake_epochs`` shuffled epochs at ``lr_fast`` of ``loss_fn(idx, xb, feats)``
    (batch indices, the batch's inputs and their features).

    Used by fine-tuning and joint training (notebook 06) and the baselines of notebook 09. Returns the
    per-epoch mean losses, the seconds and the number of samples seen."""
    t0 = time.perf_counter()
    opt = opt or adam(params, s.cfg.lr_fast)
    n, bs = len(y), s.cfg.batch_size
    steps = (n + bs - 1) // bs
    net.train()
    losses = []
    with tqdm(total=s.cfg.wake_epochs * steps, desc=desc, disable=not s.progress, leave=False, unit="batch") as bar:
        for _ in range(s.cfg.wake_epochs):
            perm = torch.randperm(n, device=y.device, generator=s.rng)
            total = torch.zeros((), device=y.device)
            for i in range(steps):
                idx = perm[i * bs:(i + 1) * bs]
                opt.zero_grad(set_to_none=True)
                xb = take(x, idx)
                loss = loss_fn(idx, xb, net.features(xb))
                loss.backward()
                opt.step()
                total += loss.detach()
                bar.update()
            losses.append(float(total) / steps)
    return {"loss": losses, "seconds": time.perf_counter() - t0, "samples": s.cfg.wake_epochs * n}
