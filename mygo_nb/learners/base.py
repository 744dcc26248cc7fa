"""The learner contract and the one registry of methods (chapter 6; the "Add your own method" appendix).

A *learner* owns a Neocortex Net and learns a stream of tasks, one *stage* at a time: `Learner.stages` cuts
the stream (one task per stage by default; joint training takes every task in one stage) and
`Learner.learn` learns one stage and returns its log. Everything else the loop, the checkpoints and the run
records need goes through this class too: the `scenario` (which heads serve which tasks), `state` /
`load_state` (what a checkpoint holds), `memories` and `stored_bytes` (the storage account), `config` (a
frozen dataclass, recorded with the run) and the stage log's keys (they become the record's traces).

`register` adds a learner to the registry under a method name, with its config class, the scenarios it
is defined for and, optionally, named variants (one config each). The CLI, the sweep specs and the docs
read the registry; a new method is one file with one ``@register`` (see ``learners/__init__.py``).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from torch import Tensor

from ..config import method_label
from ..core.context import RunContext
from ..core.loops import FeatureCache
from ..core.memories import GenerativeMemory, memory_from_meta, memory_meta
from ..core.net import NeocortexNet, extractor_drift, extractor_snapshot, make_net
from ..core.scenarios import SCENARIOS, Scenario
from ..data import Benchmark, Task
from ..errors import ConfigError, StoreError, check_choice

__all__ = ["REGISTRY", "Entry", "Learner", "NoOptions", "check_method", "config_dict", "make_learner", "methods",
           "prefixed", "register", "variants"]

@dataclass(frozen=True)
class NoOptions:
    """The config of a method that has no options of its own (its budget is the run's `TrainConfig`)."""


class Learner:
    """The contract between a method and the loop (`mygo_nb.running.loop`), checkpoints and run records.

    Subclasses implement `learn`; they may override `stages`, `heads_layout`, `state` / `load_state` (calling
    the base versions) and `stored_bytes`. The constructor builds the net first (weights from torch's global
    stream, seeded by the run), then the subclass adds what it needs.
    """

    #: what `register` set: the method's name, and its config class
    method: ClassVar[str] = ""
    config_type: ClassVar[type] = NoOptions

    def __init__(self, bench: Benchmark, ctx: RunContext, config: Any = None) -> None:
        self.bench, self.ctx = bench, ctx
        self.config = config if config is not None else self.config_type()
        self.scenario = Scenario.of(self.heads_layout(ctx.scenario), bench)
        shape = tuple(bench.tasks[0].train.x.shape[1:]) if bench.modality == "image" else None
        self.net: NeocortexNet = make_net(bench.modality, bench.vocab_size, ctx.cfg.net, model=bench.tokenizer,
                                          image_shape=shape).to(bench.device)
        self.memories: list[GenerativeMemory] = []
        #: extractor outputs the evaluation reuses while the extractor is unchanged, or None for no cache
        self.cache: FeatureCache | None = None
        self._init = extractor_snapshot(self.net)

    def heads_layout(self, scenario: str) -> str:
        """The scenario whose head layout the net uses in the run's ``scenario`` (usually the same)."""
        return scenario

    def stages(self, tasks: Sequence[Task]) -> list[tuple[Task, ...]]:
        """How the stream reaches `learn`: one task per stage (override to take several at once)."""
        return [(t,) for t in tasks]

    def learn(self, *tasks: Task) -> dict[str, Any]:
        """Learn one stage; return its log: ``phases`` (``{name: {"seconds", "samples"}}``) and any traces
        (e.g. ``extractor_drift``, ``sleep_loss``), one value per stage in the run record."""
        raise NotImplementedError

    # ---------------------------------------------------------------------------- storage account
    def stored_bytes(self) -> dict[int, int] | None:
        """Raw bytes of real samples kept per task (a replay buffer); None for a method that keeps none."""
        return None

    # --------------------------------------------------------------------------------- checkpoints
    def state(self) -> tuple[dict[str, Tensor], dict[str, Any]]:
        """Everything a checkpoint must hold to continue the stream: tensors and JSON-able facts.

        The base holds the net (extractor and heads) and the memories; a subclass adds its own under its own
        key prefix, calling this first."""
        tensors = {f"net.{k}": v for k, v in self.net.state_dict().items()}
        meta: dict[str, Any] = {"heads": [h.out_features for h in self.net.heads], "memories": []}
        for i, m in enumerate(self.memories):
            tensors.update({f"memory.{i}.{k}": v for k, v in m.generator.state_dict().items()})
            meta["memories"].append(memory_meta(m))
        return tensors, meta

    def load_state(self, tensors: dict[str, Tensor], meta: dict[str, Any]) -> None:
        """Restore what `state` returned onto a learner built as at the start of the run."""
        net, heads = self.net, [int(n) for n in meta["heads"]]
        if [h.out_features for h in net.heads] != heads[: len(net.heads)]:
            raise StoreError("checkpoint's heads do not match the learner's; delete the checkpoint folder")
        for n_out in heads[len(net.heads):]:
            net.add_head(n_out)
        net.load_state_dict(prefixed(tensors, "net."))
        device = next(net.parameters()).device
        self.memories = [memory_from_meta(m, prefixed(tensors, f"memory.{i}."), device)
                         for i, m in enumerate(meta["memories"])]

    # ----------------------------------------------------------------------------------- helpers
    def drift(self) -> float:
        """How far the extractor has moved from its initial weights (L2, all tensors together)."""
        return extractor_drift(self.net, self._init)


def prefixed(tensors: Mapping[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The entries of ``tensors`` under ``prefix``, with the prefix removed."""
    return {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}


# --------------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    """One registered method (and variant): its learner class, its default config, its scenarios."""

    method: str
    variant: str | None
    learner: type[Learner]
    config: Any
    scenarios: tuple[str, ...]

    @property
    def label(self) -> str:
        return method_label(self.method, self.variant)

    @property
    def summary(self) -> str:
        """The first line of the learner's docstring."""
        return (self.learner.__doc__ or "").strip().splitlines()[0] if self.learner.__doc__ else ""


#: method name -> variant (None for a method without variants) -> entry; insertion order = registration order
REGISTRY: dict[str, dict[str | None, Entry]] = {}


def register(name: str, *, config: type = NoOptions, scenarios: Sequence[str] = SCENARIOS,
             variants: Mapping[str, Any] | None = None) -> Callable[[type[Learner]], type[Learner]]:
    """Class decorator: register a `Learner` as method ``name`` with its frozen ``config`` class and the
    ``scenarios`` it is defined for. ``variants`` (name -> config instance) registers named variants instead
    of one default; a method's first registered variant is its default, unless ``variants`` also holds the
    key None (the plain method name, then the default)."""
    for sc in scenarios:
        check_choice("scenario", sc, SCENARIOS)

    def deco(cls: type[Learner]) -> type[Learner]:
        cls.method = name
        cls.config_type = config
        entries = REGISTRY.setdefault(name, {})
        named = dict(variants) if variants else {None: config()}
        for variant, cfg in named.items():
            if not isinstance(cfg, config):
                raise TypeError(f"variant {variant!r} of {name}: {cfg!r} is not a {config.__name__}")
            entries[variant] = Entry(name, variant, cls, cfg, tuple(scenarios))
        return cls

    return deco


PLUGINS_VARIABLE = "MYGO_PLUGINS"
_PLUGINS_SEEN: set[str] = set()


def load_plugins(paths: str | None = None) -> list[str]:
    """Import method files so that their ``@register`` runs; returns the module names loaded.

    ``paths``: file paths separated by ``os.pathsep`` (default: the ``MYGO_PLUGINS`` environment variable). Each
    file is imported once, as module ``mygo_plugin_<stem>``. A missing file, or one that fails to import, is a
    one-line `ConfigError` naming the file."""
    loaded = []
    for entry in filter(None, (os.environ.get(PLUGINS_VARIABLE, "") if paths is None else paths).split(os.pathsep)):
        path = Path(entry).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(f"method plugin {entry} not found ({PLUGINS_VARIABLE} or --plugin); give a .py file")
        name = f"mygo_plugin_{path.stem}"
        if name not in sys.modules:
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise ConfigError(f"method plugin {entry} cannot be imported; give a .py file")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except Exception as e:
                del sys.modules[name]
                why = str(e).splitlines()[0] if str(e) else ""
                raise ConfigError(f"method plugin {entry} failed to import: {type(e).__name__}: {why}") from None
        loaded.append(name)
    return loaded


def _plugins() -> None:
    """Load the files named in ``MYGO_PLUGINS`` (once for each value it takes) before the registry is read."""
    value = os.environ.get(PLUGINS_VARIABLE, "")
    if value and value not in _PLUGINS_SEEN:
        load_plugins(value)
        _PLUGINS_SEEN.add(value)


def methods() -> tuple[str, ...]:
    """Every registered method name, in registration order (plugins in ``MYGO_PLUGINS`` included)."""
    _plugins()
    return tuple(REGISTRY)


def entries() -> list[Entry]:
    """Every registered method and variant, in registration order (plugins in ``MYGO_PLUGINS`` included)."""
    return [e for m in methods() for e in REGISTRY[m].values()]


def variants(method: str) -> tuple[str, ...]:
    """The named variants of ``method`` (empty for a method without variants); the first is the default unless
    the plain method is registered too."""
    return tuple(v for v in REGISTRY[check_choice("method", method, methods())] if v is not None)


def check_method(method: str, variant: str | None = None, scenario: str = "task", config: Any = None) -> Entry:
    """Validate a method, its variant, the scenario and a config override (one-line `ConfigError` s) and return
    the registry entry (the method's default variant when ``variant`` is None)."""
    entries = REGISTRY.get(check_choice("method", method, methods()))
    assert entries is not None
    check_choice("scenario", scenario, SCENARIOS)
    names = variants(method)
    if variant is None and None in entries:
        entry = entries[None]
    elif names:
        entry = entries[check_choice("variant", variant or names[0], names)]
    elif variant:
        with_variants = [m for m in REGISTRY if variants(m)]
        raise ConfigError(f"method {method!r} has no variants; valid only for: {', '.join(with_variants)}")
    else:
        entry = entries[None]
    if config is not None and not isinstance(config, type(entry.config)):
        raise ConfigError(f"a {type(config).__name__} does not configure {entry.label}; it takes a "
                          f"{type(entry.config).__name__}")
    if scenario not in entry.scenarios:
        raise ConfigError(f"{entry.label} is not defined in the {scenario} scenario; it runs in: "
                          f"{', '.join(entry.scenarios)}")
    return entry


def make_learner(method: str, bench: Benchmark, ctx: RunContext, variant: str | None = None,
                 config: Any = None) -> Learner:
    """The learner for ``method`` (``variant``) in the scenario ``ctx.scenario``; ``config`` replaces the
    variant's (or the method's default) config."""
    entry = check_method(method, variant, ctx.scenario, config)
    return entry.learner(bench, ctx, config if config is not None else entry.config)


def config_dict(config: Any) -> dict[str, Any]:
    """A frozen config as a plain dict (what run records and checkpoint fingerprints store)."""
    return dataclasses.asdict(config)
