"""Frozen configuration dataclasses and the named profiles (introduced in notebook 04, the wake phase).

`TrainConfig` holds the training budget of every method; its defaults are the paper's (and the public
reference code's). A `Profile` pairs a `TrainConfig` with how much data a run uses: `paper` is the full
protocol, `quick` is a small run for tests and CI (a minute or less on two CPU cores).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "BENCHMARKS",
    "EVAL_SPLITS",
    "PROFILES",
    "ConfigError",
    "Profile",
    "TrainConfig",
    "check_choice",
]


class ConfigError(ValueError):
    """A bad user-facing option: its message is one line naming the problem and the valid choices."""


def check_choice(kind: str, value: str, choices: tuple[str, ...] | list[str]) -> str:
    """Return ``value`` if it is one of ``choices``; else raise `ConfigError` listing them."""
    if value not in choices:
        raise ConfigError(f"unknown {kind} {value!r}; valid choices: {', '.join(choices)}")
    return value


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
        for name in ("batch_size", "wake_epochs", "z_dim", "gan_hidden"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.sleep_steps < 0:
            raise ConfigError(f"sleep_steps must be >= 0, got {self.sleep_steps}")
        for name in ("lr_fast", "lr_slow"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")

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
