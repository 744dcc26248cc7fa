"""Deep generative replay, ``dgr`` (chapter 9; Shin et al., 2017).

One generator for the whole stream (an unconditional VAE of the MyGO memories' size), trained on each task's
data mixed with its own previous samples; the previous solver labels the replayed samples (hard labels).
Replayed losses, the solver's and the generator's, are weighted by the share of tasks they stand for (weights
1 and ``t``), and the generator's decoder is Bernoulli for images, as in the public code of van de Ven et al.
(2022).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn

from ..core.memories import Generator, VAEMemory, make_vae, vae_step
from ..core.net import NeocortexNet
from ..data import Task
from .base import prefixed, register
from .sequential import SequentialLearner

__all__ = ["DGR"]


@register("dgr")
class DGR(SequentialLearner):
    """Deep generative replay: one generator and one solver for the whole stream."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cfg = self.ctx.cfg
        self.vae = make_vae(self.net.dream_shape, 1, cfg.z_dim, cfg.gan_hidden, self.bench.device, cfg.vae_depth)
        self.prev_gen: Generator | None = None
        self.prev_net: NeocortexNet | None = None
        self.last_task = -1  # the latest task the generator has learned
        self._generator_batch: tuple[Tensor, Tensor | None] | None = None  # the batch's samples for the VAE

    def before_task(self, task: Task) -> None:
        if task.index:
            self.prev_gen = copy.deepcopy(self.vae.decoder).requires_grad_(False).eval()
            self.prev_net = copy.deepcopy(self.net).requires_grad_(False).eval()
        self.opt_v = self.adam_for("generator", list(self.vae.parameters()))

    def optimised_modules(self) -> dict[str, nn.Module]:
        return {**super().optimised_modules(), "vae": self.vae}

    @torch.no_grad()
    def _replay_batch(self, n: int, t: int) -> tuple[Tensor, Tensor, Tensor]:
        """``n`` samples of the previous generator, each with a previous task and the previous solver's label."""
        assert self.prev_gen is not None and self.prev_net is not None
        scenario, rng = self.scenario, self.ctx.rng
        device = next(self.prev_gen.parameters()).device
        z = torch.randn(n, self.prev_gen.z_dim, device=device, generator=rng)
        x = self.prev_gen(z, torch.zeros(n, dtype=torch.long, device=device))
        f = self.prev_net.trunk(x)
        if scenario.name == "task":
            tasks = torch.randint(t, (n,), device=device, generator=rng)
            y = torch.empty(n, dtype=torch.long, device=device)
            for j in range(t):
                m = tasks == j
                y[m] = self.prev_net.heads[j](f[m]).argmax(1)
            return x, tasks, y
        pred = scenario.logits(self.prev_net, f, t - 1, t - 1).argmax(1)
        if scenario.name == "class":  # global label -> (task, local label)
            offsets = torch.tensor(scenario.offsets, device=device)
            tasks = torch.bucketize(pred, offsets, right=True) - 1
            return x, tasks, pred - offsets[tasks]
        return x, torch.zeros_like(pred), pred

    def extra_loss(self, task: Task, xb: Any, feats: Tensor) -> Tensor | None:
        """The replayed samples' loss (weight ``t``); keeps the batch, real and replayed, for `after_step`."""
        t, n = task.index, len(feats)
        real = self.net.embed(xb).detach() if isinstance(xb, tuple) else xb
        loss, weights = None, None
        if t:
            xr, tr, yr = self._replay_batch(n, t)
            loss = t * self.scenario.cross_entropy(self.net, self.net.trunk(xr), tr, yr, t)
            # the generator learns its own previous samples weighted as the classifier does (1 and t): every
            # task keeps an equal share of what it dreams (with equal weights the oldest task's share would
            # halve with every new task)
            weights = torch.ones(len(real) + n, device=real.device)
            weights[len(real):] = t
            real = torch.cat([real, xr])
        self._generator_batch = real, weights  # text: embeddings taken before the solver's step
        return loss

    def after_step(self, task: Task, idx: Tensor) -> None:
        """One generator step on the batch `extra_loss` kept (the solver's step does not touch the generator)."""
        assert self._generator_batch is not None
        (real, weights), self._generator_batch = self._generator_batch, None
        # pixels: a Bernoulli decoder, as in the public code of van de Ven et al. (far better dreams here than the
        # Gaussian one: 81 % against 50 % class-incremental at 500 batches a task); text embeddings: Gaussian
        vae_step(self.vae, self.opt_v, real, torch.zeros(len(real), dtype=torch.long, device=real.device),
                 self.ctx.rng, weights, bernoulli=self.bench.modality == "image")

    def after_task(self, task: Task) -> None:
        self.prev_gen = self.prev_net = None
        self.last_task = task.index
        # the one generator is the memory, counted (for storage) at the latest task it has learned
        self.memories = [VAEMemory(self.last_task, self.vae.decoder)]

    def state(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        tensors, meta = super().state()
        # the memory is the VAE's own decoder: kept once, with the VAE, and rebuilt from it on load
        tensors = {k: v for k, v in tensors.items() if not k.startswith("memory.")}
        meta["memories"] = []
        tensors["last_task"] = torch.tensor(self.last_task)
        tensors.update({f"vae.{k}": v for k, v in self.vae.state_dict().items()})
        return tensors, meta

    def load_state(self, tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
        super().load_state(tensors, meta)
        self.vae.load_state_dict(prefixed(tensors, "vae."))
        self.last_task = int(tensors["last_task"])
        self.memories = [VAEMemory(self.last_task, self.vae.decoder)] if self.last_task >= 0 else []
