"""Frozen configuration dataclasses and the named profiles (introduced in notebook 04, the wake phase).

`TrainConfig` holds the training budget of every method; its defaults are the paper's (and the public
reference code's). A `Profile` pairs a `TrainConfig` with how much data a run uses: `paper` is the full
protocol, `quick` is a small run for tests and CI (a minute or less on two CPU cores).
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "BENCHMARKS",
    "EVAL_SPLITS",
    "PROFILES",
    "ConfigError",
    "Profile",
    "TrainConfig",
    "check_choice",
    "check_int",
    "check_notebook_params",
    "check_real",
    "method_label",
    "validate_params",
]


class ConfigError(ValueError):
    """A bad user-facing option: its message is one line naming the problem and the valid choices."""


def method_label(method: str, variant: str | None) -> str:
    """``method`` or ``method/variant``: how tables, records and messages name a run's method."""
    return method + (f"/{variant}" if variant else "")


def check_choice(kind: str, value: str, choices: tuple[str, ...] | list[str]) -> str:
    """Return ``value`` if it is one of ``choices``; else raise `ConfigError` listing them."""
    if value not in choices:
        raise ConfigError(f"unknown {kind} {value!r}; valid choices: {', '.join(choices)}")
    return value


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _show(v: Any, n: int = 40) -> str:
    """A short one-line ``repr`` of a user value for error messages."""
    r = repr(v)
    return r if len(r) <= n else r[: n - 3] + "..."


def check_int(name: str, value: Any, *, minimum: int, optional: bool = False) -> int | None:
    """Return ``value`` if it is an integer ``>= minimum`` (or None when ``optional``); else `ConfigError`."""
    if optional and value is None:
        return None
    if not (_is_int(value) and value >= minimum):
        what = f"None or an integer >= {minimum}" if optional else f"an integer >= {minimum}"
        raise ConfigError(f"{name} must be {what}, got {_show(value)}")
    return value


def check_real(name: str, value: Any, *, minimum: float, strict: bool = False,
               below: float | None = None) -> float:
    """Return ``value`` if it is a finite number ``>= minimum`` (``> minimum`` when ``strict``) and, if given,
    ``< below``; else `ConfigError` naming the valid range."""
    ok = _is_real(value) and math.isfinite(value) and (value > minimum if strict else value >= minimum)
    if below is not None:
        ok = ok and value < below
    if not ok:
        what = (f"a finite number {'>' if strict else '>='} {minimum:g}" if below is None
                else f"a number in {'(' if strict else '['}{minimum:g}, {below:g})")
        raise ConfigError(f"{name} must be {what}, got {_show(value)}")
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


# --------------------------------------------------------------------------------------------------
# Notebook parameters (papermill)
# --------------------------------------------------------------------------------------------------
def _choice_of(kind: str, choices: Any) -> Any:
    def check(v: Any) -> None:
        check_choice(kind, v, tuple(choices() if callable(choices) else choices))
    return check


def _methods() -> tuple[str, ...]:
    from .methods import METHODS

    return METHODS


def _variants() -> tuple[str, ...]:
    from .methods import VARIANTS

    return tuple(v for vs in VARIANTS.values() for v in vs)


def _scenarios() -> tuple[str, ...]:
    from .scenarios import SCENARIOS

    return SCENARIOS


def _check_device(v: str) -> None:
    if v not in ("auto", "cpu", "cuda") and not (v.startswith("cuda:") and v[5:].isdigit()):
        raise ConfigError(f"unknown device {v!r}; valid choices: auto, cpu, cuda, cuda:N")


def _check_seed(v: int) -> None:
    if v < 0:
        raise ConfigError(f"seed must be >= 0, got {v}")


def _check_seeds(v: list[Any]) -> None:
    if not v or not all(_is_int(s) and s >= 0 for s in v):
        raise ConfigError(f"seeds must be a non-empty list of integers >= 0, got {_show(v)}")


_STR, _OPT_STR, _INT, _BOOL, _LIST = (str,), (str, type(None)), (int,), (bool,), (list, tuple)
#: Every parameter a notebook may take, as name -> (allowed types, extra check or None).
NOTEBOOK_PARAMS: dict[str, tuple[tuple[type, ...], Any]] = {
    "benchmark": (_STR, _choice_of("benchmark", BENCHMARKS)),
    "method": (_STR, _choice_of("method", _methods)),
    "variant": (_OPT_STR, lambda v: v is None or _choice_of("variant", _variants)(v)),
    "profile": (_STR, _choice_of("profile", lambda: tuple(PROFILES))),
    "seed": (_INT, _check_seed),
    "seeds": ((*_LIST, type(None)), lambda v: v is None or _check_seeds(list(v))),
    "device": (_STR, _check_device),
    "data_root": (_OPT_STR, None),
    "agnews_root": (_OPT_STR, None),
    "records_dir": (_OPT_STR, None),
    "result_path": (_OPT_STR, None),
    "eval_on": (_STR, _choice_of("eval split", EVAL_SPLITS)),
    "scenario": (_STR, _choice_of("scenario", _scenarios)),
    "progress": (_BOOL, None),
}


def validate_params(params: Mapping[str, Any], allowed: Iterable[str] | None = None) -> dict[str, Any]:
    """Check notebook parameters (e.g. the ones papermill injected) and return them as a new dict.

    Every name must be one of ``allowed`` (default: all of `NOTEBOOK_PARAMS`), every value of the
    parameter's type and valid (a known benchmark, method, profile, ...). The first problem raises a
    `ConfigError` with a one-line message naming the parameter and what it accepts.
    """
    names = sorted(NOTEBOOK_PARAMS if allowed is None else allowed)
    for name, value in params.items():
        if name not in names:
            close = difflib.get_close_matches(str(name), names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown notebook parameter {name!r}{hint}; valid names: {', '.join(names)}")
        if name not in NOTEBOOK_PARAMS:
            continue  # a notebook-specific name the caller vouches for
        types, check = NOTEBOOK_PARAMS[name]
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        if not ok:
            want = " or ".join("None" if t is type(None) else t.__name__ for t in types)
            raise ConfigError(f"notebook parameter {name!r} must be {want}, got {type(value).__name__} "
                              f"{_show(value)}")
        if check is not None:
            try:
                check(value)
            except ConfigError as e:
                raise ConfigError(f"notebook parameter {name!r}: {e}") from None
    return dict(params)


def check_notebook_params(notebook: str | Path, params: Mapping[str, Any]) -> dict[str, Any]:
    """`validate_params` against the names that ``notebook``'s ``parameters`` cell declares (for drivers
    that run notebooks with papermill: call it before ``papermill.execute_notebook``)."""
    import papermill

    declared = papermill.inspect_notebook(str(notebook))
    if not declared:
        raise ConfigError(f"{notebook} has no cell tagged 'parameters'; it takes no parameters")
    return validate_params(params, allowed=declared)
