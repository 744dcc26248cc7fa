"""Generative memories: one conditional GAN per task, dreaming in the net's dream space (chapter 3).

Chapter 10 (better memories) measures how good dreams are (`fit_memory`, `dream_score`) and adds a
conditional VAE (`ConditionalVAE`, `vae_step`, `VAEMemory`) of the
same size class: its decoder is a `Generator` with the same layers, so it dreams the same way and costs
the same bytes; the encoder is discarded after the wake like the discriminator.

Images: one-hidden-layer (128) MLPs over 784 pixels in [-1, 1] (Tanh output). Text: the same MLPs
over the 128-d EmbeddingBag space (linear output). Both condition on the task-local class through a
label embedding of size ``n_classes``. After the wake phase the discriminator is discarded and the
generator is the task's *memory*; its samples are *dreams*.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..config import TrainConfig
from ..data import Task
from ..errors import StoreError, check_choice
from .loops import epoch_loop
from .net import NeocortexNet, adam, make_net
from .scenarios import Scenario

__all__ = [
    "GAN_RECIPES",
    "MEMORY_KINDS",
    "VAE_NOISE",
    "ConditionalVAE",
    "Discriminator",
    "FactorGenerator",
    "FactorMemory",
    "FactorTrainer",
    "GANRecipe",
    "GANTrainer",
    "GenerativeMemory",
    "Generator",
    "MemoryTrainer",
    "ProjectionDiscriminator",
    "RecipeGANTrainer",
    "VAEEncoder",
    "VAEMemory",
    "VAETrainer",
    "add_class_moments",
    "balanced_labels",
    "class_factors",
    "dream_score",
    "dream_share",
    "factor_rank",
    "fit_memory",
    "gan_step",
    "learn_from_dreams",
    "make_gan",
    "make_vae",
    "memory_from_meta",
    "memory_meta",
    "memory_nbytes",
    "memory_trainer",
    "recipe_gan_step",
    "vae_step",
]


class Generator(nn.Module):
    """``G(z, c)``: noise plus a class embedding -> a dream of shape ``out_shape``."""

    def __init__(self, z_dim: int, n_classes: int, out_shape: tuple[int, ...],
                 hidden: int = 128, squash: bool = True, depth: int = 1) -> None:
        super().__init__()
        self.z_dim, self.n_classes = z_dim, n_classes
        self.out_shape = tuple(out_shape)
        self.embed = nn.Embedding(n_classes, n_classes)
        layers: list[nn.Module] = [nn.Linear(z_dim + n_classes, hidden), nn.ReLU()]
        for _ in range(depth - 1):  # more hidden layers (deep generative replay)
            layers += [nn.Linear(hidden, hidden), nn.ReLU()]
        layers.append(nn.Linear(hidden, math.prod(out_shape)))
        if squash:  # images live in [-1, 1]
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor, c: Tensor) -> Tensor:
        x = self.net(torch.cat([z, self.embed(c)], 1))
        return x.view(-1, *self.out_shape)


class Discriminator(nn.Module):
    """``D(x, c)``: a sample plus a class embedding -> one real/fake logit."""

    def __init__(self, in_shape: tuple[int, ...], n_classes: int,
                 hidden: int = 128) -> None:
        super().__init__()
        self.in_dim = math.prod(in_shape)
        self.embed = nn.Embedding(n_classes, n_classes)
        self.net = nn.Sequential(
            nn.Linear(self.in_dim + n_classes, hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        x = x.reshape(-1, self.in_dim)
        return self.net(torch.cat([x, self.embed(c)], 1))


def make_gan(dream_shape: tuple[int, ...], n_classes: int, z_dim: int,
             hidden: int = 128, device: torch.device | str = "cpu",
             ) -> tuple[Generator, Discriminator]:
    """A fresh (G, D) pair; image dreams (3-d shape) get a Tanh output."""
    squash = len(dream_shape) == 3
    g = Generator(z_dim, n_classes, dream_shape, hidden, squash=squash)
    d = Discriminator(dream_shape, n_classes, hidden)
    return g.to(device), d.to(device)


def gan_step(g: Generator, d: Discriminator, opt_g: torch.optim.Optimizer,
             opt_d: torch.optim.Optimizer, real: Tensor, labels: Tensor,
             rng: torch.Generator) -> tuple[Tensor, Tensor]:
    """One discriminator step, then one generator step (non-saturating BCE).

    D learns on a no-grad fake batch; the G step draws fresh noise and needs no
    gradients of D's weights. Returns both losses, detached.
    """
    n, device = labels.numel(), real.device
    ones, zeros = torch.ones(n, 1, device=device), torch.zeros(n, 1, device=device)
    bce = F.binary_cross_entropy_with_logits
    z = torch.randn(n, g.z_dim, device=device, generator=rng)
    with torch.no_grad():
        fake = g(z, labels)
    opt_d.zero_grad(set_to_none=True)
    loss_d = 0.5 * (bce(d(real, labels), ones) + bce(d(fake, labels), zeros))
    loss_d.backward()
    opt_d.step()
    z = torch.randn(n, g.z_dim, device=device, generator=rng)
    opt_g.zero_grad(set_to_none=True)
    d.requires_grad_(False)
    loss_g = bce(d(g(z, labels), labels), ones)
    loss_g.backward()
    d.requires_grad_(True)
    opt_g.step()
    return loss_d.detach(), loss_g.detach()


def balanced_labels(n: int, n_classes: int, device: torch.device | str = "cpu") -> Tensor:
    """``n`` labels cycling through ``0..n_classes-1`` (exactly class-balanced when ``n`` divides)."""
    return torch.arange(n, device=device) % n_classes


@dataclass
class GenerativeMemory:
    """A task's memory: its trained generator (the discriminator is discarded)."""

    task: int
    generator: Generator
    kind: ClassVar[str] = "gan"

    @property
    def n_classes(self) -> int:
        return self.generator.n_classes

    @torch.no_grad()
    def dream(self, n: int, rng: torch.Generator | None = None,
              labels: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``n`` dreams and their task-local labels (class-balanced by default)."""
        device = next(self.generator.parameters()).device
        if labels is None:
            labels = balanced_labels(n, self.n_classes, device)
        z = torch.randn(n, self.generator.z_dim, device=device, generator=rng)
        return self.generator(z, labels), labels

    def nbytes(self) -> int:
        """Storage of the generator's parameters in bytes."""
        return sum(p.numel() * p.element_size() for p in self.generator.parameters())


# --------------------------------------------------------------------------------------------------
# Conditional VAE (notebook 09, beyond the paper)
# --------------------------------------------------------------------------------------------------
#: The decoder's Gaussian noise variance, as a fraction of the batch's mean per-dimension data variance.
VAE_NOISE = 0.05


class VAEEncoder(nn.Module):
    """``q(z | x, c)``: a sample plus a class embedding -> mean and log-variance."""

    def __init__(self, in_shape: tuple[int, ...], n_classes: int, z_dim: int,
                 hidden: int = 128, depth: int = 1) -> None:
        super().__init__()
        self.in_dim, self.z_dim = math.prod(in_shape), z_dim
        self.embed = nn.Embedding(n_classes, n_classes)
        first = nn.Linear(self.in_dim + n_classes, hidden)
        layers: list[nn.Module] = [first, nn.ReLU()]
        for _ in range(depth - 1):
            layers += [nn.Linear(hidden, hidden), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(hidden, 2 * z_dim))

    def forward(self, x: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
        x = x.reshape(-1, self.in_dim)
        h = self.net(torch.cat([x, self.embed(c)], 1))
        return h[:, : self.z_dim], h[:, self.z_dim:]


class ConditionalVAE(nn.Module):
    """An encoder ``q(z | x, c)`` and a decoder ``p(x | z, c)`` (a `Generator`)."""

    def __init__(self, encoder: VAEEncoder, decoder: Generator) -> None:
        super().__init__()
        self.encoder, self.decoder = encoder, decoder

    def forward(self, x: Tensor, c: Tensor, rng: torch.Generator | None = None,
                ) -> tuple[Tensor, Tensor, Tensor]:
        """Reconstruction (one reparameterised sample), mean and log-variance."""
        mu, logvar = self.encoder(x, c)
        eps = torch.randn(mu.shape, device=mu.device, generator=rng)
        z = mu + torch.exp(0.5 * logvar) * eps
        return self.decoder(z, c), mu, logvar


def make_vae(dream_shape: tuple[int, ...], n_classes: int, z_dim: int,
             hidden: int = 128, device: torch.device | str = "cpu",
             depth: int = 1) -> ConditionalVAE:
    """A fresh conditional VAE with ``depth`` hidden layers each way; as in
    `make_gan`, image dreams get a Tanh output."""
    squash = len(dream_shape) == 3
    decoder = Generator(z_dim, n_classes, dream_shape, hidden, squash, depth)
    encoder = VAEEncoder(dream_shape, n_classes, z_dim, hidden, depth)
    return ConditionalVAE(encoder, decoder).to(device)


def vae_step(vae: ConditionalVAE, opt: torch.optim.Optimizer, real: Tensor,
             labels: Tensor, rng: torch.Generator, weights: Tensor | None = None,
             bernoulli: bool = False) -> tuple[Tensor, Tensor]:
    """One step on the negative ELBO (standard-normal prior); returns the detached
    reconstruction and KL terms, averaged over the batch (a mean weighted by
    ``weights``, one per sample, when given).

    The decoder is Gaussian, its noise variance `VAE_NOISE` times the batch's mean
    variance per dimension (one setting suits pixels and the much smaller text
    embeddings), or, with ``bernoulli``, each pixel in [-1, 1] is a probability of ink.
    """
    recon, mu, logvar = vae(real, labels, rng)
    flat = real.detach().flatten(1)
    if bernoulli:
        p = ((recon.flatten(1) + 1) / 2).clamp(1e-6, 1 - 1e-6)
        rec = F.binary_cross_entropy(p, (flat + 1) / 2, reduction="none").sum(1)
        scale = torch.ones((), device=rec.device)
    else:
        noise_var = VAE_NOISE * flat.var(0, unbiased=False).mean().clamp_min(1e-8)
        rec = (recon - real).flatten(1).pow(2).sum(1)
        scale = 2 * noise_var
    kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)
    if weights is None:
        rec, kl = rec.mean(), kl.mean()
    else:
        w = weights / weights.sum()
        rec, kl = (w * rec).sum(), (w * kl).sum()
    rec = rec / scale
    opt.zero_grad(set_to_none=True)
    (rec + kl).backward()
    opt.step()
    return rec.detach(), kl.detach()


@dataclass
class VAEMemory(GenerativeMemory):
    """A task's memory as the decoder of a conditional VAE: dreams decode ``z ~ N(0, I)`` with a class."""

    kind: ClassVar[str] = "vae"


# --------------------------------------------------------------------------------------------------
# One interface for training a memory, whatever its kind
# --------------------------------------------------------------------------------------------------
class MemoryTrainer:
    """A memory being learned in a wake: ``step`` trains it on one batch, ``memory`` keeps what dreams.

    `GANTrainer` and `VAETrainer` implement it; `memory_trainer` makes one by kind (``gan`` or ``vae``).
    """

    kind: ClassVar[str] = ""
    #: the names of the two losses ``step`` returns (per-epoch logs use them)
    loss_names: ClassVar[tuple[str, str]] = ("", "")

    def step(self, real: Tensor, labels: Tensor, rng: torch.Generator) -> tuple[Tensor, Tensor]:
        """One training step on dream-space samples ``real`` with task-local ``labels``."""
        raise NotImplementedError

    def memory(self, task: int) -> GenerativeMemory:
        """The trained generator as task ``task``'s memory (in eval mode)."""
        raise NotImplementedError


class GANTrainer(MemoryTrainer):
    """A conditional GAN; both nets learn with Adam at ``lr_fast`` (`gan_step`)."""

    kind = "gan"
    loss_names = ("d_loss", "g_loss")

    def __init__(self, dream_shape: tuple[int, ...], n_classes: int,
                 cfg: TrainConfig, device: torch.device | str) -> None:
        self.g, self.d = make_gan(dream_shape, n_classes, cfg.z_dim,
                                  cfg.gan_hidden, device)
        self.opt_g = adam(self.g.parameters(), cfg.lr_fast)
        self.opt_d = adam(self.d.parameters(), cfg.lr_fast)

    def step(self, real: Tensor, labels: Tensor,
             rng: torch.Generator) -> tuple[Tensor, Tensor]:
        return gan_step(self.g, self.d, self.opt_g, self.opt_d, real, labels, rng)

    def memory(self, task: int) -> GenerativeMemory:
        return GenerativeMemory(task, self.g.eval())


@dataclass(frozen=True)
class GANRecipe:
    """How a cGAN memory learns, beyond the paper's recipe (`GANTrainer`: BCE, Adam at
    ``lr_fast``, β1 = 0.9). ``loss``: ``bce`` (non-saturating) or ``hinge``; learning rates
    (None: the run's ``lr_fast``) and β1 of both Adams; spectral norm on D's layers;
    ``real_label`` < 1 is one-sided label smoothing of D's real targets (``bce`` only);
    ``projection``: D reads the class through a projection (`ProjectionDiscriminator`)."""

    loss: str = "bce"
    lr_g: float | None = None
    lr_d: float | None = None
    beta1: float = 0.9
    spectral_norm: bool = False
    real_label: float = 1.0
    projection: bool = False

    def __post_init__(self) -> None:
        check_choice("GAN loss", self.loss, ("bce", "hinge"))


#: Named cGAN recipes, each a memory kind. ``gan-dcgan`` is the DCGAN recipe (Radford et al., 2016;
#: Adam 2e-4, β1 0.5) with one-sided label smoothing; ``gan-sn`` a hinge-loss GAN with a spectrally
#: normalised discriminator and two time-scale learning rates (Miyato et al., 2018; Heusel et al., 2017);
#: ``gan-proj`` the DCGAN recipe with a projection discriminator (Miyato & Koyama, 2018).
GAN_RECIPES: dict[str, GANRecipe] = {
    "gan-dcgan": GANRecipe(lr_g=2e-4, lr_d=2e-4, beta1=0.5, real_label=0.9),
    "gan-sn": GANRecipe(loss="hinge", lr_g=1e-4, lr_d=4e-4, beta1=0.5, spectral_norm=True),
    "gan-proj": GANRecipe(lr_g=2e-4, lr_d=2e-4, beta1=0.5, real_label=0.9, projection=True),
}


class ProjectionDiscriminator(Discriminator):
    """``D(x, c) = w·h + e_c·h`` with ``h`` the hidden features of ``x`` (Miyato & Koyama,
    2018): the class decides through an inner product, not 2 of 786 inputs. Same size
    class as `Discriminator`; it is discarded after the wake, so the memory is unchanged."""

    def __init__(self, in_shape: tuple[int, ...], n_classes: int, hidden: int = 128) -> None:
        super().__init__(in_shape, n_classes, hidden)
        self.net = nn.Sequential(nn.Linear(self.in_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))
        self.embed = nn.Embedding(n_classes, hidden)
        nn.init.normal_(self.embed.weight, std=0.02)  # N(0, 1) would swamp D's first logit

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        h = self.net[1](self.net[0](x.reshape(-1, self.in_dim)))
        return self.net[2](h) + (self.embed(c) * h).sum(1, keepdim=True)


def recipe_gan_step(g: Generator, d: Discriminator, opt_g: torch.optim.Optimizer,
                    opt_d: torch.optim.Optimizer, real: Tensor, labels: Tensor,
                    rng: torch.Generator, recipe: GANRecipe) -> tuple[Tensor, Tensor]:
    """`gan_step` under a `GANRecipe`: the same order of steps and noise draws."""
    n, device = labels.numel(), real.device
    bce = F.binary_cross_entropy_with_logits
    z = torch.randn(n, g.z_dim, device=device, generator=rng)
    with torch.no_grad():
        fake = g(z, labels)
    opt_d.zero_grad(set_to_none=True)
    d_real, d_fake = d(real, labels), d(fake, labels)
    if recipe.loss == "hinge":
        loss_d = F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
    else:
        loss_d = 0.5 * (bce(d_real, torch.full_like(d_real, recipe.real_label))
                        + bce(d_fake, torch.zeros_like(d_fake)))
    loss_d.backward()
    opt_d.step()
    z = torch.randn(n, g.z_dim, device=device, generator=rng)
    opt_g.zero_grad(set_to_none=True)
    d.requires_grad_(False)
    out = d(g(z, labels), labels)
    loss_g = -out.mean() if recipe.loss == "hinge" else bce(out, torch.ones_like(out))
    loss_g.backward()
    d.requires_grad_(True)
    opt_g.step()
    return loss_d.detach(), loss_g.detach()


class RecipeGANTrainer(GANTrainer):
    """A conditional GAN of the paper's size trained with a named `GANRecipe` (its memory,
    like `GANTrainer`'s, is the plain generator)."""

    def __init__(self, dream_shape: tuple[int, ...], n_classes: int, cfg: TrainConfig,
                 device: torch.device | str, recipe: GANRecipe) -> None:
        self.recipe = recipe
        self.g, self.d = make_gan(dream_shape, n_classes, cfg.z_dim, cfg.gan_hidden, device)
        if recipe.projection:
            self.d = ProjectionDiscriminator(dream_shape, n_classes, cfg.gan_hidden).to(device)
        if recipe.spectral_norm:
            for i in (0, 2):
                self.d.net[i] = nn.utils.parametrizations.spectral_norm(self.d.net[i])
        betas = (recipe.beta1, 0.999)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=recipe.lr_g or cfg.lr_fast, betas=betas)
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=recipe.lr_d or cfg.lr_fast, betas=betas)

    def step(self, real: Tensor, labels: Tensor, rng: torch.Generator) -> tuple[Tensor, Tensor]:
        return recipe_gan_step(self.g, self.d, self.opt_g, self.opt_d, real, labels, rng, self.recipe)


class VAETrainer(MemoryTrainer):
    """A conditional VAE, trained with Adam at ``lr_fast`` (`vae_step`)."""

    kind = "vae"
    loss_names = ("recon_loss", "kl")

    def __init__(self, dream_shape: tuple[int, ...], n_classes: int,
                 cfg: TrainConfig, device: torch.device | str) -> None:
        self.vae = make_vae(dream_shape, n_classes, cfg.z_dim, cfg.gan_hidden, device,
                            cfg.vae_depth)
        self.opt = adam(self.vae.parameters(), cfg.lr_fast)

    def step(self, real: Tensor, labels: Tensor,
             rng: torch.Generator) -> tuple[Tensor, Tensor]:
        return vae_step(self.vae, self.opt, real, labels, rng)

    def memory(self, task: int) -> GenerativeMemory:
        return VAEMemory(task, self.vae.decoder.eval())


# --------------------------------------------------------------------------------------------------
# Factor memories: a Gaussian per class, fitted from running moments (chapter 12)
# --------------------------------------------------------------------------------------------------
class FactorGenerator(nn.Module):
    """``G(z, c)`` of a factor memory: class ``c``'s mean, plus ``rank`` factors times
    the first latents, plus a per-dimension noise scale times the rest (probabilistic
    PCA per class), clipped to the range the task's data spanned."""

    def __init__(self, n_classes: int, out_shape: tuple[int, ...], rank: int) -> None:
        super().__init__()
        dim = math.prod(out_shape)
        self.n_classes, self.out_shape, self.rank = n_classes, tuple(out_shape), rank
        self.z_dim = rank + dim  # the factors' latents, then one per dimension
        frozen = dict(requires_grad=False)
        self.mean = nn.Parameter(torch.zeros(n_classes, dim), **frozen)
        self.factors = nn.Parameter(torch.zeros(n_classes, dim, rank), **frozen)
        self.noise = nn.Parameter(torch.zeros(n_classes, dim), **frozen)
        self.bounds = nn.Parameter(torch.tensor([-math.inf, math.inf]), **frozen)

    def forward(self, z: Tensor, c: Tensor) -> Tensor:
        zf, ze = z[:, : self.rank], z[:, self.rank:]
        x = self.mean[c] + self.noise[c] * ze
        for j in range(self.n_classes):
            rows = c == j
            x[rows] += zf[rows] @ self.factors[j].T
        x = x.clamp(self.bounds[0], self.bounds[1])
        return x.view(-1, *self.out_shape)


@dataclass
class FactorMemory(GenerativeMemory):
    """A task's memory as one low-rank Gaussian per class (`FactorGenerator`)."""

    kind: ClassVar[str] = "factor"


def add_class_moments(n: Tensor, total: Tensor, outer: Tensor, x: Tensor,
                      labels: Tensor) -> None:
    """Add a batch of float32 rows ``x`` to per-class counts ``n``, sums ``total`` and
    sums of outer products ``outer`` (float64, in place): products in float32, summed
    in float64."""
    n += torch.bincount(labels, minlength=len(n)).double()
    total.index_add_(0, labels, x.double())
    for j in labels.unique().tolist():
        xj = x[labels == j]
        outer[j] += xj.T @ xj


def class_factors(n: Tensor, total: Tensor, outer: Tensor,
                  rank: int) -> tuple[Tensor, Tensor, Tensor]:
    """One class's mean, its ``rank`` leading principal directions scaled by their
    standard deviations, and the standard deviation they leave per dimension, from
    its count, sum and sum of outer products (probabilistic PCA's fit)."""
    mean = total / n
    cov = outer / n - torch.outer(mean, mean)
    values, vectors = torch.linalg.eigh(cov)  # ascending
    top = values.flip(0)[:rank].clamp_min(0)
    factors = vectors.flip(1)[:, :rank] * top.sqrt()
    left = (cov.diagonal() - factors.pow(2).sum(1)).clamp_min(0)
    return mean, factors, left.sqrt()


class FactorTrainer(MemoryTrainer):
    """A factor memory: per-class moments (float64); `memory` fits `class_factors`."""

    kind = "factor"
    loss_names = ("spread", "mean_shift")

    def __init__(self, dream_shape: tuple[int, ...], n_classes: int,
                 cfg: TrainConfig, device: torch.device | str) -> None:
        self.shape, dim = tuple(dream_shape), math.prod(dream_shape)
        self.rank = min(cfg.z_dim, dim)
        f64 = dict(dtype=torch.float64, device=device)
        self.n = torch.zeros(n_classes, **f64)
        self.sum = torch.zeros(n_classes, dim, **f64)
        self.outer = torch.zeros(n_classes, dim, dim, **f64)
        self.bounds = torch.tensor([math.inf, -math.inf], **f64)

    def step(self, real: Tensor, labels: Tensor,
             rng: torch.Generator) -> tuple[Tensor, Tensor]:
        """Add a batch; returns its mean squared distance to its class means, and
        how far (squared, averaged over classes) the class means moved."""
        x32 = real.detach().flatten(1).float()
        x, before = x32.double(), self.sum / self.n.clamp_min(1)[:, None]
        add_class_moments(self.n, self.sum, self.outer, x32, labels)
        self.bounds = torch.stack([torch.minimum(self.bounds[0], x.min()),
                                   torch.maximum(self.bounds[1], x.max())])
        after = self.sum / self.n.clamp_min(1)[:, None]
        shift = (after - before).pow(2).sum(1).mean()
        return (x - after[labels]).pow(2).sum(1).mean().float(), shift.float()

    def memory(self, task: int) -> GenerativeMemory:
        if bool((self.n == 0).any()):
            raise ValueError("a factor memory needs samples of every class of its task")
        g = FactorGenerator(len(self.n), self.shape, self.rank).to(self.n.device)
        with torch.no_grad():
            for j, n in enumerate(self.n):
                fit = class_factors(n, self.sum[j], self.outer[j], self.rank)
                g.mean[j], g.factors[j], g.noise[j] = fit
            g.bounds.copy_(self.bounds)
        return FactorMemory(task, g.eval())  # type: ignore[arg-type]


def factor_rank(dream_shape: tuple[int, ...], n_classes: int, nbytes: int) -> int:
    """The largest rank whose factor memory (float32) takes no more than ``nbytes``."""
    dim = math.prod(dream_shape)
    rank = (nbytes - 8) // (4 * n_classes * dim) - 2
    if rank < 1:
        raise ValueError(f"{nbytes} bytes cannot hold a factor memory of {n_classes} classes x {dim} dimensions")
    return min(rank, dim)


_TRAINERS: dict[str, type[MemoryTrainer]] = {"gan": GANTrainer, "vae": VAETrainer, "factor": FactorTrainer}
_MEMORIES: dict[str, type[GenerativeMemory]] = {"gan": GenerativeMemory, "vae": VAEMemory,
                                                 "factor": FactorMemory}
#: Every memory kind a learner may ask for, ``gan`` (the paper's recipe), ``vae``, ``factor`` and the
#: named `GAN_RECIPES` (their memories are plain generators, stored as ``gan``).
MEMORY_KINDS: tuple[str, ...] = (*_TRAINERS, *GAN_RECIPES)


def memory_trainer(kind: str, dream_shape: tuple[int, ...], n_classes: int, cfg: TrainConfig,
                   device: torch.device | str) -> MemoryTrainer:
    """A fresh memory of ``kind`` (``gan`` or ``vae``) for a task of ``n_classes``, ready to train."""
    kind = check_choice("memory kind", kind, MEMORY_KINDS)
    if kind in GAN_RECIPES:
        return RecipeGANTrainer(dream_shape, n_classes, cfg, device, GAN_RECIPES[kind])
    return _TRAINERS[kind](dream_shape, n_classes, cfg, device)


def memory_nbytes(dream_shape: tuple[int, ...], n_classes: int, z_dim: int, hidden: int,
                  depth: int = 1) -> int:
    """Bytes of the float32 parameters of one memory's generator of this configuration."""
    g = Generator(z_dim, n_classes, dream_shape, hidden, depth=depth)
    return 4 * sum(p.numel() for p in g.parameters())


# --------------------------------------------------------------------------------------------------
# Saving memories: the facts that rebuild a generator (checkpoints and `mygo_nb.core.store` use them)
# --------------------------------------------------------------------------------------------------
def memory_meta(memory: GenerativeMemory) -> dict[str, Any]:
    """JSON-able facts that rebuild ``memory``'s generator (its weights are stored apart)."""
    g = memory.generator
    if isinstance(g, FactorGenerator):
        return {"task": memory.task, "kind": memory.kind, "n_classes": g.n_classes,
                "out_shape": list(g.out_shape), "rank": g.rank}
    return {"task": memory.task, "kind": memory.kind, "z_dim": g.z_dim, "n_classes": g.n_classes,
            "out_shape": list(g.out_shape), "hidden": g.net[0].out_features, "squash": isinstance(g.net[-1], nn.Tanh),
            "depth": sum(isinstance(m, nn.Linear) for m in g.net) - 1}


def memory_from_meta(meta: dict[str, Any], state: dict[str, Tensor],
                     device: torch.device | str = "cpu") -> GenerativeMemory:
    """The memory described by `memory_meta` output ``meta``, with generator weights ``state``."""
    kind = meta.get("kind", "gan")
    if kind not in _MEMORIES:
        raise StoreError(f"a saved memory is of unknown kind {kind!r}; valid kinds: {', '.join(MEMORY_KINDS)}")
    if kind == "factor":
        factor = FactorGenerator(int(meta["n_classes"]), tuple(meta["out_shape"]), int(meta["rank"]))
        factor.load_state_dict(state)
        return FactorMemory(int(meta["task"]), factor.to(device).eval())  # type: ignore[arg-type]
    g = Generator(int(meta["z_dim"]), int(meta["n_classes"]), tuple(meta["out_shape"]), int(meta["hidden"]),
                  squash=bool(meta["squash"]), depth=int(meta.get("depth", 1)))
    g.load_state_dict(state)
    return _MEMORIES[kind](int(meta["task"]), g.to(device).eval())


# --------------------------------------------------------------------------------------------------
# How good are the dreams? (notebook 09)
# --------------------------------------------------------------------------------------------------
def fit_memory(task: Task, kind: str, cfg: TrainConfig, rng: torch.Generator, *,
               progress: bool = False) -> GenerativeMemory:
    """A memory (``gan`` or ``vae``) trained alone on an *image* task's pixels for ``wake_epochs``, exactly as
    the wake phases train one (same sizes, optimiser and batches), for measuring dream quality."""
    if task.train.x.ndim != 4:
        raise ValueError("fit_memory works on image tasks, whose dream space is the pixels")
    data = task.train
    trainer = memory_trainer(kind, tuple(data.x.shape[1:]), task.n_classes, cfg, data.y.device)

    def step(idx: Tensor) -> Tensor:
        return torch.stack(trainer.step(data.x[idx], data.y[idx], rng))

    epoch_loop(len(data), cfg.wake_epochs, cfg.batch_size, rng, step, progress=progress,
               desc=f"{kind} task {task.index + 1}")
    return trainer.memory(task.index)


def dream_share(batch_size: int, n_memories: int) -> int:
    """Dreams each memory adds to a batch of `learn_from_dreams` (an equal share, at least one)."""
    return max(1, batch_size // n_memories)


def learn_from_dreams(net: NeocortexNet, scenario: Scenario, memories: Sequence[GenerativeMemory], cfg: TrainConfig,
                      rng: torch.Generator, *, stage: int, steps: int, progress: bool = False) -> list[float]:
    """``net`` (with ``scenario``'s heads for every memory's task) learns from dreams alone: ``steps`` Adam steps
    at ``lr_fast``, each batch an equal share of every memory's dreams, labelled with the class each dream was
    asked for, scored as after training stage ``stage``. Returns each step's loss."""
    opt = adam(net.parameters(), cfg.lr_fast)
    share = dream_share(cfg.batch_size, len(memories))
    tid = torch.cat([torch.full((share,), m.task, device=rng.device) for m in memories])
    losses = []
    for _ in tqdm(range(steps), desc="learning from dreams", disable=not progress, leave=False):
        xs, ys = [], []
        for m in memories:
            x, y = m.dream(share, rng, torch.randint(m.n_classes, (share,), generator=rng, device=rng.device))
            xs.append(x)
            ys.append(y)
        feats = net.features(torch.cat(xs).contiguous(memory_format=torch.channels_last))
        loss = scenario.cross_entropy(net, feats, tid, torch.cat(ys), stage)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


def dream_score(memories: Sequence[GenerativeMemory], tasks: Sequence[Task], cfg: TrainConfig, rng: torch.Generator,
                *, steps: int = 1000, progress: bool = False) -> list[float]:
    """Classification accuracy score of the memories (Ravuri & Vinyals, 2019), class-incremental style.

    A fresh image Neocortex Net with one head over every class of ``tasks`` learns from dreams alone
    (`learn_from_dreams`), then classifies each task's real test images among all classes. Returns the
    accuracy (%) per task: what a learner that keeps no real data could at best recover from these memories
    in the class scenario (the ``dreams`` learner does the same inside a run).
    """
    net = make_net("image").to(tasks[0].train.y.device)
    scenario = Scenario.of("class", tasks)
    scenario.ensure_heads(net, 0)
    last = len(tasks) - 1
    learn_from_dreams(net, scenario, memories, cfg, rng, stage=last, steps=steps, progress=progress)
    net.eval()
    with torch.no_grad():
        return [100.0 * float((scenario.logits(net, net.features(t.test.x), t.index, last).argmax(1)
                               == scenario.target(t.index, t.test.y)).float().mean()) for t in tasks]
