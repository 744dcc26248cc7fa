"""Continual-learning baselines beyond fine-tuning (introduced in notebook 09, beyond the paper).

Each is a sequential learner over the stream, in any scenario (`mygo_nb.scenarios`), trained like
``finetune`` (``wake_epochs`` epochs of Adam at ``lr_fast`` on the whole net, a fresh optimiser per
task) plus what makes it a method; its hyper-parameters are a small frozen config recorded with the run.

- ``ewc`` (Kirkpatrick et al., 2017), online form (Schwarz et al., 2018, with gamma = 1): after each task
  the diagonal Fisher information of the net's own predictive distribution is added to a running sum,
  and later tasks pay ``lam / 2 * sum F (theta - theta*)^2`` around the latest weights.
- ``lwf`` (Li & Hoiem, 2017): before a task, the net is frozen as a teacher; while learning the task,
  the student's old outputs on the *new* inputs are distilled from it (temperature-softened KL).
- ``replay`` (experience replay, storage-fair): after each task a class-balanced random sample of its
  raw training data is kept, as many bytes as that task's MyGO memory (a generator of the same
  configuration); every batch of a later task adds as many replayed samples.
- ``dgr`` (deep generative replay, Shin et al., 2017): one generator for the whole stream (an
  unconditional VAE of the MyGO memories' size), trained on each task's data mixed with its own previous
  samples; the previous solver labels the replayed samples (hard labels).

Replayed losses are weighted by the share of tasks they stand for: ``1/t`` current, ``(t-1)/t`` replay
(implemented as weights 1 and ``t-1``: a common factor, to which Adam is invariant).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .config import check_int, check_real
from .data import Benchmark, Inputs, Task, TokenBags, concat_inputs, take
from .memories import GenerativeMemory, Generator, VAEMemory, make_vae, vae_step
from .models import NeocortexNet, adam, extractor_drift, extractor_snapshot, make_net
from .phases import train_epochs
from .scenarios import Scenario

if TYPE_CHECKING:
    from .methods import Stream

__all__ = [
    "BASELINES",
    "DGR",
    "EWC",
    "DGRConfig",
    "EWCConfig",
    "ExperienceReplay",
    "LwF",
    "LwFConfig",
    "ReplayConfig",
    "SequentialLearner",
    "memory_nbytes",
    "sample_nbytes",
]


@dataclass(frozen=True)
class EWCConfig:
    """``lam``: penalty strength; ``fisher_samples``: training samples per task for the Fisher estimate."""

    lam: float = 1e4
    fisher_samples: int = 500

    def __post_init__(self) -> None:
        check_real("EWC lam", self.lam, minimum=0)
        check_int("EWC fisher_samples", self.fisher_samples, minimum=1)


@dataclass(frozen=True)
class LwFConfig:
    """``alpha``: weight of the distillation term; ``temperature``: softening of both distributions."""

    alpha: float = 1.0
    temperature: float = 2.0

    def __post_init__(self) -> None:
        check_real("LwF alpha", self.alpha, minimum=0)
        check_real("LwF temperature", self.temperature, minimum=0, strict=True)


@dataclass(frozen=True)
class ReplayConfig:
    """``bytes_per_task``: None = as many bytes as the task's MyGO memory, else a fixed budget."""

    bytes_per_task: int | None = None

    def __post_init__(self) -> None:
        check_int("replay bytes_per_task", self.bytes_per_task, minimum=1, optional=True)


@dataclass(frozen=True)
class DGRConfig:
    """DGR has no knobs beyond the shared budget: the generator has the MyGO memories' size (``z_dim``,
    ``gan_hidden``) and trains for ``wake_epochs`` beside the solver. Kept as a config for the record."""

    generator: str = "vae"


def memory_nbytes(modality: str, n_classes: int, z_dim: int, hidden: int) -> int:
    """Bytes of one MyGO memory (float32 generator) for a task of ``n_classes`` classes."""
    shape = (1, 28, 28) if modality == "image" else (128,)
    g = Generator(z_dim, n_classes, shape, hidden, squash=modality == "image")
    return sum(p.numel() * p.element_size() for p in g.parameters())


def sample_nbytes(x: Inputs, idx: Tensor) -> Tensor:
    """Raw bytes of each selected input, as `mygo_nb.experiment.raw_data_bytes` counts them."""
    if isinstance(x, TokenBags):
        return 4 * (x.lengths[idx] + 1)
    return torch.full((len(idx),), math.prod(x.shape[1:]), device=idx.device)


class SequentialLearner:
    """Shared machinery: a net with the scenario's heads, a per-task training loop with extra loss terms."""

    config: Any = None

    def __init__(self, bench: Benchmark, s: Stream) -> None:
        self.s = s
        self.bench = bench
        self.scenario = Scenario.of(s.scenario, bench)
        self.net = make_net(bench.modality, bench.vocab_size).to(bench.device)
        self._init = extractor_snapshot(self.net)

    def head_for(self, task: int) -> int:
        return self.scenario.head_for(task)

    def extra_loss(self, task: Task, xb: Any, feats: Tensor) -> Tensor | None:
        """A method's term added to the current task's loss on each batch (None: none)."""
        return None

    def before_task(self, task: Task) -> None:
        """Called before training ``task``."""

    def after_task(self, task: Task) -> None:
        """Called after training ``task``."""

    def _train(self, task: Task) -> dict[str, Any]:
        s, net, scn, t = self.s, self.net, self.scenario, task.index
        scn.ensure_heads(net, t)
        y = task.train.y

        def loss_fn(idx: Tensor, xb: Any, feats: Tensor) -> Tensor:
            loss = scn.cross_entropy(net, feats, t, y[idx], t)
            extra = self.extra_loss(task, xb, feats)
            return loss if extra is None else loss + extra

        return train_epochs(net, list(net.parameters()), task.train.x, y, loss_fn, s, s.desc(task, "train"))

    def learn(self, task: Task) -> dict[str, Any]:
        self.before_task(task)
        log = self._train(task)
        t0 = time.perf_counter()
        self.after_task(task)
        return {"phases": {"train": {"seconds": log["seconds"], "samples": log["samples"]},
                           "consolidate": {"seconds": time.perf_counter() - t0, "samples": 0}},
                "train_loss": log["loss"], "extractor_drift": extractor_drift(self.net, self._init)}

    # checkpoints: tensors beyond the net (see mygo_nb.checkpoint)
    def extra_state(self) -> dict[str, Tensor]:
        return {}

    def load_extra_state(self, tensors: dict[str, Tensor]) -> None:
        pass


# --------------------------------------------------------------------------------------------------
# EWC
# --------------------------------------------------------------------------------------------------
class EWC(SequentialLearner):
    """Online elastic weight consolidation (``ewc``)."""

    def __init__(self, bench: Benchmark, s: Stream, config: EWCConfig | None = None) -> None:
        super().__init__(bench, s)
        self.config = config or EWCConfig()
        self.fisher: dict[str, Tensor] = {}
        self.anchor: dict[str, Tensor] = {}

    def extra_loss(self, task: Task, xb: Any, feats: Tensor) -> Tensor | None:
        if not self.fisher:
            return None
        penalty = feats.new_zeros(())
        for name, p in self.net.named_parameters():
            if name in self.fisher:
                penalty = penalty + (self.fisher[name] * (p - self.anchor[name]).pow(2)).sum()
        return 0.5 * self.config.lam * penalty

    def after_task(self, task: Task) -> None:
        """Add this task's diagonal Fisher (labels sampled from the net's own prediction) to the sum."""
        net, scn, t = self.net, self.scenario, task.index
        data = task.train
        n = min(self.config.fisher_samples, len(data))
        idx = torch.randperm(len(data), device=data.y.device, generator=self.s.rng)[:n]
        params = dict(net.named_parameters())
        fisher = {k: torch.zeros_like(p) for k, p in params.items()}
        net.eval()
        for i in idx.tolist():
            one = torch.tensor([i], device=data.y.device)
            logits = scn.logits(net, net.features(take(data.x, one)), t, t)
            y = torch.multinomial(F.softmax(logits.detach(), 1), 1, generator=self.s.rng)[:, 0]
            net.zero_grad(set_to_none=True)
            F.cross_entropy(logits, y).backward()
            for k, p in params.items():
                if p.grad is not None:
                    fisher[k] += p.grad.detach().pow(2) / n
        net.zero_grad(set_to_none=True)
        net.train()
        for k, f in fisher.items():
            self.fisher[k] = self.fisher[k] + f if k in self.fisher and self.fisher[k].shape == f.shape else f
            self.anchor[k] = params[k].detach().clone()

    def extra_state(self) -> dict[str, Tensor]:
        return {**{f"fisher.{k}": v for k, v in self.fisher.items()},
                **{f"anchor.{k}": v for k, v in self.anchor.items()}}

    def load_extra_state(self, tensors: dict[str, Tensor]) -> None:
        self.fisher = {k[7:]: v for k, v in tensors.items() if k.startswith("fisher.")}
        self.anchor = {k[7:]: v for k, v in tensors.items() if k.startswith("anchor.")}


# --------------------------------------------------------------------------------------------------
# LwF
# --------------------------------------------------------------------------------------------------
class LwF(SequentialLearner):
    """Learning without forgetting (``lwf``): distil the previous net's old outputs on new inputs."""

    def __init__(self, bench: Benchmark, s: Stream, config: LwFConfig | None = None) -> None:
        super().__init__(bench, s)
        self.config = config or LwFConfig()
        self.teacher: NeocortexNet | None = None

    def before_task(self, task: Task) -> None:
        self.teacher = copy.deepcopy(self.net).requires_grad_(False).eval() if task.index else None

    def _old_outputs(self, net: NeocortexNet, feats: Tensor, t: int) -> list[Tensor]:
        """Per earlier task, the logits that task's classes got before this one (one entry with a shared head)."""
        scn = self.scenario
        if scn.name == "task":
            return [net.heads[j](feats) for j in range(t)]
        return [scn.logits(net, feats, t - 1, t - 1)]

    def extra_loss(self, task: Task, xb: Any, feats: Tensor) -> Tensor | None:
        if self.teacher is None:
            return None
        T, t = self.config.temperature, task.index
        with torch.no_grad():
            old = self._old_outputs(self.teacher, self.teacher.features(xb), t)
        new = self._old_outputs(self.net, feats, t)
        kd = sum(F.kl_div(F.log_softmax(s / T, 1), F.softmax(o / T, 1), reduction="batchmean")
                 for s, o in zip(new, old, strict=True))
        return self.config.alpha * T * T * kd / len(old)  # type: ignore[operator]

    def after_task(self, task: Task) -> None:
        self.teacher = None


# --------------------------------------------------------------------------------------------------
# Experience replay (storage-fair)
# --------------------------------------------------------------------------------------------------
def _select_within(x: Inputs, y: Tensor, n_classes: int, budget: int, rng: torch.Generator) -> Tensor:
    """Indices of a class-balanced random sample whose raw bytes fit ``budget``."""
    per_class = []
    for c in range(n_classes):
        members = torch.nonzero(y == c)[:, 0]
        per_class.append(members[torch.randperm(len(members), device=y.device, generator=rng)])
    order = torch.stack([pc[:min(map(len, per_class))] for pc in per_class], 1).flatten()  # round-robin by class
    cost = torch.cumsum(sample_nbytes(x, order), 0)
    return order[cost <= budget]


class ExperienceReplay(SequentialLearner):
    """Experience replay (``replay``) with a buffer as large, in bytes, as the MyGO memories."""

    def __init__(self, bench: Benchmark, s: Stream, config: ReplayConfig | None = None) -> None:
        super().__init__(bench, s)
        self.config = config or ReplayConfig()
        self.buffer: list[tuple[int, Inputs, Tensor]] = []  # (task, inputs, local labels)

    @property
    def buffer_bytes(self) -> dict[int, int]:
        """Raw bytes kept per task (as `mygo_nb.experiment.raw_data_bytes` counts them)."""
        return {t: int(sample_nbytes(x, torch.arange(len(y), device=y.device)).sum()) for t, x, y in self.buffer}

    def budget(self, task: Task) -> int:
        if self.config.bytes_per_task is not None:
            return self.config.bytes_per_task
        return memory_nbytes(self.bench.modality, task.n_classes, self.s.cfg.z_dim, self.s.cfg.gan_hidden)

    def extra_loss(self, task: Task, xb: Any, feats: Tensor) -> Tensor | None:
        if not self.buffer:
            return None
        t = task.index
        n = len(feats)
        # as many replayed samples as current ones, drawn uniformly over the stored samples
        sizes = torch.tensor([len(y) for _, _, y in self.buffer])
        which = torch.multinomial(sizes.float(), n, replacement=True, generator=self.s.host_rng)
        parts_x, parts_y, parts_t = [], [], []
        for b, (tb, xs, ys) in enumerate(self.buffer):
            k = int((which == b).sum())
            if k:
                idx = torch.randint(len(ys), (k,), device=ys.device, generator=self.s.rng)
                parts_x.append(xs.subset(idx) if isinstance(xs, TokenBags) else xs[idx])
                parts_y.append(ys[idx])
                parts_t.append(torch.full_like(ys[idx], tb))
        xr = concat_inputs(parts_x)
        fr = self.net.features(take(xr, torch.arange(len(xr), device=feats.device)))
        loss = self.scenario.cross_entropy(self.net, fr, torch.cat(parts_t), torch.cat(parts_y), t)
        return t * loss  # current term weight 1, replay t: the 1/(t+1), t/(t+1) split up to a factor Adam ignores

    def after_task(self, task: Task) -> None:
        data = task.train
        idx = _select_within(data.x, data.y, task.n_classes, self.budget(task), self.s.rng)
        kept = data.x.subset(idx) if isinstance(data.x, TokenBags) else data.x[idx]
        self.buffer.append((task.index, kept, data.y[idx]))

    def extra_state(self) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        for i, (t, x, y) in enumerate(self.buffer):
            out[f"buffer.{i}.task"] = torch.tensor(t)
            out[f"buffer.{i}.y"] = y
            if isinstance(x, TokenBags):
                out[f"buffer.{i}.tokens"], out[f"buffer.{i}.starts"] = x.tokens, x.starts
                out[f"buffer.{i}.lengths"] = x.lengths
            else:
                out[f"buffer.{i}.x"] = x
        return out

    def load_extra_state(self, tensors: dict[str, Tensor]) -> None:
        self.buffer = []
        i = 0
        while f"buffer.{i}.y" in tensors:
            y = tensors[f"buffer.{i}.y"]
            if f"buffer.{i}.x" in tensors:
                x: Inputs = tensors[f"buffer.{i}.x"]
            else:
                x = TokenBags(tensors[f"buffer.{i}.tokens"], tensors[f"buffer.{i}.starts"],
                              tensors[f"buffer.{i}.lengths"])
            self.buffer.append((int(tensors[f"buffer.{i}.task"]), x, y))
            i += 1


# --------------------------------------------------------------------------------------------------
# Deep generative replay
# --------------------------------------------------------------------------------------------------
class DGR(SequentialLearner):
    """Deep generative replay (``dgr``): one generator and one solver for the whole stream."""

    def __init__(self, bench: Benchmark, s: Stream, config: DGRConfig | None = None) -> None:
        super().__init__(bench, s)
        self.config = config or DGRConfig()
        self.vae = make_vae(self.net.dream_shape, 1, s.cfg.z_dim, s.cfg.gan_hidden, bench.device)
        self.prev_gen: Generator | None = None
        self.prev_net: NeocortexNet | None = None
        self.last_task = -1  # the latest task the generator has learned
        self._replay: tuple[Tensor, Tensor, Tensor] | None = None

    def before_task(self, task: Task) -> None:
        if task.index:
            self.prev_gen = copy.deepcopy(self.vae.decoder).requires_grad_(False).eval()
            self.prev_net = copy.deepcopy(self.net).requires_grad_(False).eval()
        self.opt_v = adam(self.vae.parameters(), self.s.cfg.lr_fast)

    @torch.no_grad()
    def _replay_batch(self, n: int, t: int) -> tuple[Tensor, Tensor, Tensor]:
        """``n`` samples of the previous generator, each with a previous task and the previous solver's label."""
        assert self.prev_gen is not None and self.prev_net is not None
        scn, rng = self.scenario, self.s.rng
        device = next(self.prev_gen.parameters()).device
        z = torch.randn(n, self.prev_gen.z_dim, device=device, generator=rng)
        x = self.prev_gen(z, torch.zeros(n, dtype=torch.long, device=device))
        f = self.prev_net.trunk(x)
        if scn.name == "task":
            tasks = torch.randint(t, (n,), device=device, generator=rng)
            y = torch.empty(n, dtype=torch.long, device=device)
            for j in range(t):
                m = tasks == j
                y[m] = self.prev_net.heads[j](f[m]).argmax(1)
            return x, tasks, y
        pred = scn.logits(self.prev_net, f, t - 1, t - 1).argmax(1)
        if scn.name == "class":  # global label -> (task, local label)
            offsets = torch.tensor(scn.offsets, device=device)
            tasks = torch.bucketize(pred, offsets, right=True) - 1
            return x, tasks, pred - offsets[tasks]
        return x, torch.zeros_like(pred), pred

    def extra_loss(self, task: Task, xb: Any, feats: Tensor) -> Tensor | None:
        t, n = task.index, len(feats)
        real = self.net.embed(xb).detach() if isinstance(xb, tuple) else xb
        if t:
            xr, tr, yr = self._replay_batch(n, t)
            loss = t * self.scenario.cross_entropy(self.net, self.net.trunk(xr), tr, yr, t)
            real = torch.cat([real, xr])
        else:
            loss = None
        # the generator learns the current inputs and its own previous samples, in the same proportions
        vae_step(self.vae, self.opt_v, real, torch.zeros(len(real), dtype=torch.long, device=real.device), self.s.rng)
        return loss

    def after_task(self, task: Task) -> None:
        self.prev_gen = self.prev_net = None
        self.last_task = task.index

    @property
    def memories(self) -> list[GenerativeMemory]:
        """The one generator, counted (for storage) at the latest task it has learned."""
        return [VAEMemory(self.last_task, self.vae.decoder)] if self.last_task >= 0 else []

    def extra_state(self) -> dict[str, Tensor]:
        return {"last_task": torch.tensor(self.last_task), **{f"vae.{k}": v for k, v in self.vae.state_dict().items()}}

    def load_extra_state(self, tensors: dict[str, Tensor]) -> None:
        self.vae.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("vae.")})
        self.last_task = int(tensors["last_task"])


BASELINES: dict[str, type[SequentialLearner]] = {"ewc": EWC, "lwf": LwF, "replay": ExperienceReplay, "dgr": DGR}


def config_dict(learner: Any) -> dict[str, Any] | None:
    """The learner's frozen method config as a dict, if it has one."""
    c = getattr(learner, "config", None)
    return asdict(c) if c is not None else None
