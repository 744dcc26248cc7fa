"""The benchmark registry (chapter 1): one entry per benchmark, one file each.

A benchmark file registers its loader with `register_benchmark`, naming its modality, its default and
allowed scenarios, its default number of tasks, the net that fits it and its own parameters with their
defaults (a permutation seed, the angles). `load_benchmark` is the one way to build a benchmark by name: the
CLI's choices, the sweep specs' checks and the book read this registry, and every benchmark's provenance
records the parameters it was built with (``provenance["params"]``), which is what tells two permutation
seeds apart in records and checkpoints.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch

from ..errors import ConfigError, check_choice, check_int
from .types import Benchmark

__all__ = ["BenchmarkEntry", "benchmark_entry", "benchmark_names", "check_params", "check_scenario", "load_benchmark",
           "register_benchmark"]

#: The type of a loader, called as ``loader(root, *, n_tasks, max_train_per_class, device, download, split,
#: **params)``.
Loader = Callable[..., Benchmark]


@dataclass(frozen=True)
class BenchmarkEntry:
    """What the registry knows of a benchmark besides its loader.

    ``tasks``: the default number of tasks; ``max_tasks``: the most it can cut (None: no limit); ``split``:
    whether the loader takes a class split (class-split benchmarks) or builds its tasks itself (derived
    streams); ``params``: the benchmark's own parameters and their defaults (a value of None is resolved by the
    loader, e.g. to the run's seed, and recorded as resolved).
    """

    name: str
    loader: Loader
    modality: str
    summary: str
    tasks: int
    default_scenario: str = "task"
    scenarios: tuple[str, ...] = ("task", "domain", "class")
    net: str = "paper"
    max_tasks: int | None = None
    split: bool = True
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


_REGISTRY: dict[str, BenchmarkEntry] = {}
#: Every scenario a benchmark may run in (`mygo_nb.core.scenarios.SCENARIOS`, which a test keeps equal).
_SCENARIOS = ("task", "domain", "class")


def register_benchmark(name: str, *, modality: str, summary: str, tasks: int, default_scenario: str = "task",
                       scenarios: Sequence[str] = ("task", "domain", "class"), net: str = "paper",
                       max_tasks: int | None = None, split: bool = True,
                       params: Mapping[str, Any] | None = None) -> Callable[[Loader], Loader]:
    """Decorator: register ``loader`` as benchmark ``name`` (see `BenchmarkEntry` for the fields)."""
    check_choice("modality", modality, ("image", "text"))
    if default_scenario not in scenarios:
        raise ConfigError(f"benchmark {name}: default scenario {default_scenario!r} is not among {list(scenarios)}")

    def wrap(loader: Loader) -> Loader:
        if name in _REGISTRY and _REGISTRY[name].loader is not loader:
            raise ConfigError(f"benchmark {name!r} is registered twice")
        _REGISTRY[name] = BenchmarkEntry(name, loader, modality, summary, tasks, default_scenario,
                                         tuple(scenarios), net, max_tasks, split,
                                         MappingProxyType(dict(params or {})))
        return loader

    return wrap


def benchmark_names() -> tuple[str, ...]:
    """Every registered benchmark's name, in registration order (the CLI's ``--benchmark`` choices)."""
    return tuple(_REGISTRY)


def benchmark_entry(name: str) -> BenchmarkEntry:
    """The registry's entry for ``name`` (an unknown name is a one-line `ConfigError` listing the choices)."""
    return _REGISTRY[check_choice("benchmark", name, benchmark_names())]


def check_scenario(entry: BenchmarkEntry, scenario: str | None) -> str:
    """``scenario``, or ``entry``'s default one when it is None; a scenario the benchmark does not run in is a
    one-line `ConfigError` naming those it does."""
    if scenario is None:
        return entry.default_scenario
    check_choice("scenario", scenario, _SCENARIOS)
    if scenario not in entry.scenarios:
        raise ConfigError(f"{entry.name} runs in the scenarios {', '.join(entry.scenarios)}; got {scenario!r}")
    return scenario


def check_params(entry: BenchmarkEntry, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """``params`` completed with ``entry``'s defaults; a name the benchmark does not have is a `ConfigError`."""
    params = {k: _json_or_text(v) for k, v in (params or {}).items()}
    for key in params:
        if key not in entry.params:
            close = difflib.get_close_matches(key, list(entry.params), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            valid = ", ".join(entry.params) or "none"
            raise ConfigError(f"benchmark {entry.name} has no parameter {key!r}{hint}; its parameters: {valid}")
    return {**entry.params, **params}


def _json_or_text(value: Any) -> Any:
    """A string read as JSON (``7``, ``true``, ``null``), else kept: how ``--bench KEY=VALUE`` values arrive."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def load_benchmark(name: str, root: str | os.PathLike[str] | None = None, *, tasks: int | None = None,
                   max_train_per_class: int | None = None, device: torch.device | str = "cpu",
                   download: bool = True, split: Sequence[Sequence[int]] | None = None,
                   params: Mapping[str, Any] | None = None) -> Benchmark:
    """The benchmark ``name`` with ``tasks`` tasks (None: its default), cut into tasks by ``split`` (a tuple of
    class tuples; None: the benchmark's default split; class-split benchmarks only) and built with ``params``
    (its own parameters, see `benchmark_entry`)."""
    entry = benchmark_entry(name)
    if tasks is not None:
        check_int("tasks", tasks, minimum=1)
        if entry.max_tasks is not None and tasks > entry.max_tasks:
            raise ConfigError(f"{name} has at most {entry.max_tasks} tasks; got tasks={tasks}")
    if split is not None and not entry.split:
        raise ConfigError(f"{name} builds its own tasks; it takes no class split")
    full = check_params(entry, params)
    bench = entry.loader(root, n_tasks=tasks, max_train_per_class=max_train_per_class, device=device,
                         download=download, split=split, **full)
    if bench.name != name:
        raise ConfigError(f"the loader of {name} built a benchmark named {bench.name!r}")
    return bench
