"""The Neocortex Net: a shared extractor plus one head per task (introduced in chapter 2).

A net maps inputs to the *dream space* with ``embed`` (images: the identity; text: a mean-mode
EmbeddingBag), then to features (256 of them) with ``trunk``, then to logits with head ``t``. Together
``embed`` and ``trunk`` are the *extractor*. Generative memories (``memories.py``) produce samples
in the dream space, so dreams enter the net at ``trunk``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import ConfigError

__all__ = [
    "FEATURE_DIM",
    "MLP_HIDDEN",
    "NeocortexNet",
    "UnitPixels",
    "adam",
    "extractor_parameters",
    "make_mlp_net",
    "make_net",
    "param_count",
    "set_extractor_trainable",
]

FEATURE_DIM = 256
TEXT_EMBED_DIM = 128
#: the nets `make_net` builds (`mygo_nb.config.NETS` lists the same)
NET_ARCHS = ("paper", "mlp400", "mlp1000", "minilm")
#: the fully connected nets (`make_mlp_net`) and their hidden units: van de Ven et al.'s Split-MNIST net
#: (``mlp400``) and their permuted-MNIST net (``mlp1000``)
MLP_HIDDEN = {"mlp400": 400, "mlp1000": 1000}
#: MNIST's image shape, the only one the paper's image net reads
MNIST_SHAPE = (1, 28, 28)


class BagEmbed(nn.Module):
    """Mean-mode EmbeddingBag taking ``(tokens, offsets)``."""

    def __init__(self, vocab_size: int, dim: int = TEXT_EMBED_DIM) -> None:
        super().__init__()
        self.bag = nn.EmbeddingBag(vocab_size, dim, mode="mean")

    def forward(self, inputs: tuple[Tensor, Tensor]) -> Tensor:
        tokens, offsets = inputs
        return self.bag(tokens, offsets)


class NeocortexNet(nn.Module):
    """Extractor (``embed`` then ``trunk``) and a growing list of task ``heads``."""

    def __init__(self, embed: nn.Module, trunk: nn.Module,
                 dream_shape: tuple[int, ...], n_out: int = 2,
                 feature_dim: int = FEATURE_DIM) -> None:
        super().__init__()
        self.embed, self.trunk = embed, trunk
        self.heads = nn.ModuleList()
        self.dream_shape, self.n_out = dream_shape, n_out
        self.feature_dim = feature_dim

    def add_head(self, n_out: int | None = None) -> nn.Linear:
        """Append a fresh ``Linear(feature_dim, n_out)`` head on the net's device."""
        device = [*self.parameters(), *self.buffers()][0].device
        head = nn.Linear(self.feature_dim, n_out or self.n_out).to(device)
        self.heads.append(head)
        return head

    def features(self, inputs: Tensor | tuple[Tensor, Tensor]) -> Tensor:
        """Inputs -> ``feature_dim`` features."""
        return self.trunk(self.embed(inputs))

    def forward(self, inputs: Tensor | tuple[Tensor, Tensor], task: int) -> Tensor:
        return self.heads[task](self.features(inputs))

    def dream_forward(self, dreams: Tensor, task: int) -> Tensor:
        """Logits of head ``task`` for dreams (samples that live after ``embed``)."""
        return self.heads[task](self.trunk(dreams))


def make_image_net() -> NeocortexNet:
    """CV net: Conv(1->16,3)-ReLU-Pool-Conv(16->32,3)-ReLU-Pool-Linear(1568->256)."""
    trunk = nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, FEATURE_DIM),
    )
    net = NeocortexNet(nn.Identity(), trunk, (1, 28, 28))
    # channels_last runs the same convolutions about 3x faster on a CPU
    return net.to(memory_format=torch.channels_last)


def make_text_net(vocab_size: int) -> NeocortexNet:
    """NLP net: EmbeddingBag(V,128)-Linear(128->256)-ReLU."""
    trunk = nn.Sequential(nn.Linear(TEXT_EMBED_DIM, FEATURE_DIM), nn.ReLU())
    return NeocortexNet(BagEmbed(vocab_size), trunk, (TEXT_EMBED_DIM,))


class UnitPixels(nn.Module):
    """Pixels in [-1, 1] (the package's images, and dreams) back to [0, 1]."""

    def forward(self, x: Tensor) -> Tensor:
        return (x + 1) / 2


def make_mlp_net(hidden: int = 400,
                 image_shape: tuple[int, int, int] = (1, 28, 28)) -> NeocortexNet:
    """van de Ven et al.'s fully connected nets, reading pixels in [0, 1] as theirs do:
    Linear(pixels->hidden)-ReLU-Linear(hidden->hidden)-ReLU on images of ``image_shape``
    (Split-MNIST: 784-400-400; permuted MNIST, padded to 32 x 32: 1024-1000-1000)."""
    c, h, w = image_shape
    trunk = nn.Sequential(UnitPixels(), nn.Flatten(), nn.Linear(c * h * w, hidden),
                          nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
    return NeocortexNet(nn.Identity(), trunk, (c, h, w), feature_dim=hidden)


def make_net(modality: str, vocab_size: int | None = None, arch: str = "paper",
             model: str | None = None, image_shape: tuple[int, ...] | None = None) -> NeocortexNet:
    """The Neocortex Net for a benchmark's modality (``image`` or ``text``), no heads yet; ``arch``
    ``mlp400`` and ``mlp1000`` are `make_mlp_net` with 400 and 1000 hidden units (images only),
    ``minilm`` a pretrained encoder with LoRA adapters (`mygo_nb.core.pretrained.make_pretrained_text_net`;
    text only) on ``model``, the model whose tokenizer made the benchmark's token ids
    (`Benchmark.tokenizer`), ``paper`` the paper's net for the modality. ``image_shape``: the benchmark's
    ``(C, H, W)`` (None: MNIST's 1 x 28 x 28), the input of a fully connected net; the paper's image net
    reads 1 x 28 x 28 only."""
    if arch not in NET_ARCHS:
        raise ConfigError(f"unknown net {arch!r}; valid nets: {', '.join(NET_ARCHS)}")
    if arch == "minilm":
        if modality != "text":
            raise ConfigError("the minilm net is a pretrained text encoder; image benchmarks use paper, mlp400 or "
                              "mlp1000")
        if model is None:
            raise ConfigError("the minilm net reads its own tokenizer's token ids: load the text benchmark with "
                              "the benchmark parameter tokenizer=minilm (or a model folder)")
        # imported here only: transformers and peft (about 2 s to import) are an optional extra, kept out of
        # every `import mygo_nb` (not an import cycle)
        from .pretrained import make_pretrained_text_net

        return make_pretrained_text_net(model)
    if model is not None:
        raise ConfigError(f"the benchmark's texts are token ids of the model {model!r}; they need the net "
                          f"minilm (--net minilm), not {arch}")
    shape = MNIST_SHAPE if image_shape is None else tuple(int(d) for d in image_shape)
    if arch in MLP_HIDDEN:
        if modality != "image":
            raise ConfigError(f"the {arch} net is for images; text benchmarks use the paper's net or minilm")
        if len(shape) != 3:
            raise ConfigError(f"the {arch} net reads images of shape (C, H, W); got {shape}")
        return make_mlp_net(MLP_HIDDEN[arch], shape)  # type: ignore[arg-type]
    if modality == "image":
        if shape != MNIST_SHAPE:
            raise ConfigError(f"the paper's image net reads 1 x 28 x 28 images; these are {' x '.join(map(str, shape))}"
                              " (a padded stream): use a fully connected net, mlp400 or mlp1000")
        return make_image_net()
    if modality == "text":
        if not vocab_size:
            raise ValueError("a text net needs vocab_size")
        return make_text_net(vocab_size)
    raise ValueError(f"unknown modality {modality!r}; valid choices: image, text")


def extractor_parameters(net: NeocortexNet) -> list[nn.Parameter]:
    """The extractor's weights: ``embed``'s, then ``trunk``'s."""
    return [*net.embed.parameters(), *net.trunk.parameters()]


def set_extractor_trainable(net: NeocortexNet, trainable: bool) -> None:
    """Freeze (``False``) or unfreeze (``True``) the extractor; heads are untouched."""
    for p in extractor_parameters(net):
        p.requires_grad_(trainable)


def extractor_is_frozen(net: NeocortexNet) -> bool:
    return not any(p.requires_grad for p in extractor_parameters(net))


def adam(params: Iterable[nn.Parameter] | Iterable[dict[str, Any]], lr: float) -> torch.optim.Adam:
    """Adam with the fused kernel (same update rule, fewer passes over memory); ``params`` may be
    parameter groups, ``lr`` the rate of those that name none."""
    return torch.optim.Adam(list(params), lr=lr, fused=True)


def param_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@torch.no_grad()
def extractor_snapshot(net: NeocortexNet) -> list[Tensor]:
    return [p.detach().clone() for p in extractor_parameters(net)]


@torch.no_grad()
def extractor_drift(net: NeocortexNet, snapshot: list[Tensor]) -> float:
    """L2 distance between the extractor's weights now and ``snapshot`` (all tensors together)."""
    sq = sum(float((p - s).pow(2).sum()) for p, s in zip(extractor_parameters(net), snapshot, strict=True))
    return sq ** 0.5
