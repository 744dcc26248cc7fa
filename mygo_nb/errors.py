"""The package's error types and the validators every layer uses (the bottom layer: imports nothing of ours).

Every user-facing error is one line that names the problem and, where there is one, the fix or the valid
choices: `ConfigError` for a bad option or spec, `DataError` for missing or corrupt data, `StoreError` for a
file (checkpoint, saved net or memory) that cannot be used.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

__all__ = ["ConfigError", "DataError", "StoreError", "check_choice", "check_int", "check_real", "short_repr"]


class ConfigError(ValueError):
    """A bad user-facing option: its message is one line naming the problem and the valid choices."""


class DataError(RuntimeError):
    """Data missing, corrupt or inconsistent; the message names the file and the fix."""


class StoreError(ConfigError):
    """A saved file (checkpoint, net, memory) that cannot be used: corrupt, of another format or another run."""


def short_repr(value: Any, n: int = 40) -> str:
    """A short one-line ``repr`` of a user value for error messages."""
    r = repr(value)
    return r if len(r) <= n else r[: n - 3] + "..."


def check_choice(kind: str, value: str, choices: tuple[str, ...] | list[str]) -> str:
    """Return ``value`` if it is one of ``choices``; else raise `ConfigError` listing them."""
    if value not in choices:
        raise ConfigError(f"unknown {kind} {value!r}; valid choices: {', '.join(choices)}")
    return value


def _is_int(v: Any) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_real(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def check_int(name: str, value: Any, *, minimum: int, optional: bool = False) -> int | None:
    """Return ``value`` if it is an integer ``>= minimum`` (or None when ``optional``); else `ConfigError`."""
    if optional and value is None:
        return None
    if not (_is_int(value) and value >= minimum):
        what = f"None or an integer >= {minimum}" if optional else f"an integer >= {minimum}"
        raise ConfigError(f"{name} must be {what}, got {short_repr(value)}")
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
        raise ConfigError(f"{name} must be {what}, got {short_repr(value)}")
    return value
