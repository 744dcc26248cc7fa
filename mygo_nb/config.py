"""Frozen configuration dataclasses and the named profiles (introduced in chapter 4, the wake phase).

`TrainConfig` holds the training budget of every method and the sizes of its nets; its defaults are the
paper's (and the public reference code's). A `Profile` pairs a `TrainConfig` with how much data a run uses
and how the stream is cut into tasks: `paper` is the full protocol, `quick` is a small run for tests and CI
(a minute or less on two CPU cores), `long-sleep` is the paper's budget with 3000 sleep steps, `vandeven` is
the Split-MNIST protocol of van de Ven, Tuytelaars & Tolias (2022) and their public code, under which the
baselines are held to their published numbers, `vandeven-permuted` their permuted-MNIST protocol (with the
benchmark parameter ``pad=2``), `lora-toolkit` the budget of the reference repository's
LoRA toolkit (a pretrained text encoder, net ``minilm``). `with_options` sets fields of any frozen config from
``KEY=VALUE`` strings (the CLI's ``--set``).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import ConfigError, check_choice, check_int, check_real

__all__ = [
    "EVAL_SPLITS",
    "NETS",
    "PROFILES",
    "TASK_SPLITS",
    "Profile",
    "TrainConfig",
    "method_label",
    "with_options",
]

# the Neocortex Net's extractors: the paper's (a small CNN for images, an EmbeddingBag for text), van
# de Ven et al.'s fully connected nets (images only; the input follows the benchmark's image shape):
# mlp400 of Split-MNIST (784-400-400) and mlp1000 of permuted MNIST (1024-1000-1000 on 32 x 32 images),
# and a pretrained transformer with LoRA adapters (text only; all-MiniLM-L6-v2 unless the benchmark's
# tokenizer names another model)
NETS: tuple[str, ...] = ("paper", "mlp400", "mlp1000", "minilm")
# how a profile cuts a benchmark into tasks: the benchmark's default split, or van de Ven et al.'s
# (Split-MNIST only: the digits relabelled by a permutation drawn from the run's seed)
TASK_SPLITS: tuple[str, ...] = ("default", "vandeven")

def method_label(method: str, variant: str | None) -> str:
    """``method`` or ``method/variant``: how tables, records and messages name a run's method."""
    return method + (f"/{variant}" if variant else "")


@dataclass(frozen=True)
class TrainConfig:
    """Budgets, learning rates and net sizes shared by all methods. Defaults = the paper's budgets.

    ``iters_per_task``: 0 trains each task for ``wake_epochs`` passes over its data; more trains the
    supervised methods (fine-tuning and the baselines) for that many batches per task instead.
    ``net``: one of `NETS`. ``vae_depth``: hidden layers (of ``gan_hidden`` units) in every VAE's
    encoder and decoder (deep generative replay's generator, VAE memories); GANs keep one.
    ``stream_optimizer``: False gives the supervised methods a fresh Adam for every task; True keeps one Adam
    for the whole stream (its moments carry over, new parameters such as a new head join it), as van de Ven
    et al.'s public code does.
    """

    batch_size: int = 128
    wake_epochs: int = 5
    sleep_steps: int = 1000
    lr_fast: float = 1e-3
    lr_slow: float = 1e-4
    z_dim: int = 64
    gan_hidden: int = 128
    iters_per_task: int = 0
    net: str = "paper"
    vae_depth: int = 1
    stream_optimizer: bool = False

    def __post_init__(self) -> None:
        for name in ("batch_size", "wake_epochs", "sleep_steps", "z_dim", "gan_hidden", "iters_per_task",
                     "vae_depth"):
            check_int(name, getattr(self, name), minimum=0 if name in ("sleep_steps", "iters_per_task") else 1)
        check_choice("net", self.net, NETS)
        if not isinstance(self.stream_optimizer, bool):
            raise ConfigError(f"stream_optimizer must be true or false, got {self.stream_optimizer!r}")
        for name in ("lr_fast", "lr_slow"):
            check_real(name, getattr(self, name), minimum=0, strict=True)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Profile:
    """A named size: the training budget, an optional cap on training samples per class and how the
    benchmark is cut into tasks (one of `TASK_SPLITS`)."""

    name: str
    train: TrainConfig = field(default_factory=TrainConfig)
    max_train_per_class: int | None = None
    task_split: str = "default"

    def __post_init__(self) -> None:
        check_choice("task_split", self.task_split, TASK_SPLITS)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "train": self.train.to_dict(),
                "max_train_per_class": self.max_train_per_class, "task_split": self.task_split}


PROFILES: dict[str, Profile] = {
    "paper": Profile("paper", TrainConfig()),
    "quick": Profile("quick", TrainConfig(wake_epochs=3, sleep_steps=100), max_train_per_class=1000),
    # the paper's budget with a sleep three times as long (internal replay's class-incremental result)
    "long-sleep": Profile("long-sleep", TrainConfig(sleep_steps=3000)),
    # van de Ven, Tuytelaars & Tolias (2022), Split-MNIST, as their public code's defaults set it: the
    # 784-400-400 net, 2,000 batches of 128 per task, Adam at 1e-3, a 784-400-400 VAE with z = 100
    "vandeven": Profile("vandeven", TrainConfig(iters_per_task=2000, z_dim=100, gan_hidden=400,
                                                net="mlp400", vae_depth=2), task_split="vandeven"),
    # van de Ven et al.'s permuted MNIST (GMvandeVen/continual-learning at e6d795a, params/param_values.py):
    # 5,000 batches per task (l. 64), Adam at 1e-4 (l. 65) kept for the whole stream (their default optimizer
    # 'adam', params/options.py l. 136-137, is reset only as 'adam_reset', train/train_task_based.py l. 109),
    # batches of 128 (l. 66), two hidden layers of 1,000 units (fc_lay 3, l. 55; fc_units 1000, l. 70-72) on their
    # 32 x 32 images (benchmark parameter pad=2), and deep generative replay's VAE of the classifier's size
    # (l. 97-99: g_z_dim = z_dim 100, params/options.py l. 117; g_fc_lay = fc_lay, two hidden layers;
    # g_fc_uni = fc_units 1000; l. 95-96: the generator trains as long and at the same rate, as the package's
    # generators do). Its task split is the benchmark's (10 tasks, l. 61-63).
    "vandeven-permuted": Profile("vandeven-permuted",
                                 TrainConfig(iters_per_task=5000, lr_fast=1e-4, batch_size=128, z_dim=100,
                                             gan_hidden=1000, net="mlp1000", vae_depth=2,
                                             stream_optimizer=True)),
    # the reference repository's toolkit/rwkv/lora_with_mygo.py (commit 51d3328, lines 27-45): wake at 1e-4
    # for 3 epochs, sleep at 3e-5 for 200 steps, batches of 16, z = 64, on a pretrained encoder with LoRA
    # r = 8, alpha = 16 (the LoRASpec defaults). Its 1,000 examples per task (line 89) are 500 per class
    # here; its LoRA dropout 0.05 is 0 here (resumable runs) and its 128 tokens per text 64.
    "lora-toolkit": Profile("lora-toolkit", TrainConfig(batch_size=16, wake_epochs=3, sleep_steps=200,
                                                        lr_fast=1e-4, lr_slow=3e-5, z_dim=64, net="minilm"),
                            max_train_per_class=500),
}

# "val": the held-out part of the training data (`mygo_nb.data.validation_split`), where hyper-parameters are chosen
EVAL_SPLITS: tuple[str, ...] = ("test", "train", "val")


def with_options(config: Any, options: Mapping[str, Any] | None) -> Any:
    """``config`` (a frozen dataclass) with the fields named in ``options`` replaced.

    A string value is read as JSON (numbers, ``true``, ``false``, ``null``), else taken as a plain string; any
    other value is used as it is (sweep specs give JSON values). An unknown
    name or an invalid value is a one-line `ConfigError` (the config's own checks run).
    """
    if not options:
        return config
    names = [f.name for f in dataclasses.fields(config)]  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    for key, raw in options.items():
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            valid = ", ".join(names) or "none: this method has no options"
            raise ConfigError(f"{type(config).__name__} has no option {key!r}{hint}; valid options: {valid}")
        if not isinstance(raw, str):
            values[key] = raw
            continue
        try:
            values[key] = json.loads(raw)
        except ValueError:
            values[key] = raw
    try:
        return dataclasses.replace(config, **values)
    except TypeError as e:
        raise ConfigError(f"{type(config).__name__}: {e}") from None
