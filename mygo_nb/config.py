"""Frozen configuration dataclasses and the named profiles (introduced in notebook 04, the wake phase).

`TrainConfig` holds the training budget of every method; its defaults are the paper's (and the public
reference code's). A `Profile` pairs a `TrainConfig` with how much data a run uses: `paper` is the full
protocol, `quick` is a small run for tests and CI (a minute or less on two CPU cores). `with_options`
sets fields of any frozen config from ``KEY=VALUE`` strings (the CLI's ``--set``).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import ConfigError, check_int, check_real

__all__ = ["BENCHMARKS", "EVAL_SPLITS", "PROFILES", "Profile", "TrainConfig", "method_label", "with_options"]

def method_label(method: str, variant: str | None) -> str:
    """``method`` or ``method/variant``: how tables, records and messages name a run's method."""
    return method + (f"/{variant}" if variant else "")


@dataclass(frozen=True)
class TrainConfig:
    """Budgets and learning rates shared by all methods. Defaults = the paper's protocol."""

    batch_size: int = 128
    wake_epochs: int = 5
    sleep_steps: int = 1000
    lr_fast: float = 1e-3
    lr_slow: float = 1e-4
    z_dim: int = 64
    gan_hidden: int = 128

    def __post_init__(self) -> None:
        for name in ("batch_size", "wake_epochs", "sleep_steps", "z_dim", "gan_hidden"):
            check_int(name, getattr(self, name), minimum=0 if name == "sleep_steps" else 1)
        for name in ("lr_fast", "lr_slow"):
            check_real(name, getattr(self, name), minimum=0, strict=True)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Profile:
    """A named size: the training budget plus an optional cap on training samples per class."""

    name: str
    train: TrainConfig = field(default_factory=TrainConfig)
    max_train_per_class: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "train": self.train.to_dict(),
                "max_train_per_class": self.max_train_per_class}


PROFILES: dict[str, Profile] = {
    "paper": Profile("paper", TrainConfig()),
    "quick": Profile("quick", TrainConfig(wake_epochs=3, sleep_steps=100), max_train_per_class=1000),
}

BENCHMARKS: tuple[str, ...] = ("split-mnist", "split-agnews")
EVAL_SPLITS: tuple[str, ...] = ("test", "train")


def with_options(config: Any, options: Mapping[str, str] | None) -> Any:
    """``config`` (a frozen dataclass) with the fields named in ``options`` replaced.

    Each value is read as JSON (numbers, ``true``, ``false``, ``null``), else taken as a plain string. An unknown
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
        try:
            values[key] = json.loads(raw)
        except ValueError:
            values[key] = raw
    try:
        return dataclasses.replace(config, **values)
    except TypeError as e:
        raise ConfigError(f"{type(config).__name__}: {e}") from None
