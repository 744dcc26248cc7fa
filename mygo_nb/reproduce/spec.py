"""Sweep specs: presets and spec files expanded into runs (`RunSpec`), each with a content hash."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from ..config import EVAL_SPLITS, PROFILES, TrainConfig, with_options
from ..data import benchmark_entry, benchmark_names, default_agnews_root, resolve_data_root
from ..data.registry import check_params, check_scenario
from ..errors import ConfigError, check_choice
from ..learners import check_method

__all__ = ["DEFAULT_NOTEBOOK", "GRID_KEYS", "MANIFEST", "SIDECAR", "RunSpec", "dedupe", "expand_spec", "load_spec",
           "notebook_digest", "packaged_notebook", "preset_names", "read_json", "resolve_notebook"]

GRID_KEYS = ("notebook", "benchmark", "method", "profile", "seed", "device", "data_root", "eval_on", "scenario",
             "deterministic", "options", "train_options", "tasks", "benchmark_options")
#: The notebook a grid block without ``notebook`` runs: shipped inside the package (``mygo_nb/reproduce/notebooks/``,
#: the book's appendix page too), so sweeps work from an installed wheel and from any folder.
DEFAULT_NOTEBOOK = "run_one.ipynb"
MANIFEST = "sweep-manifest.json"
SIDECAR = ".sweep.json"


# --------------------------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: a notebook and the parameters papermill injects into it."""

    notebook: str
    benchmark: str
    method: str
    variant: str | None
    profile: str
    seed: int
    eval_on: str
    device: str = "auto"
    data_root: str | None = None
    notebook_sha: str = ""
    scenario: str = "task"
    deterministic: bool = False
    #: fields of the method's config, and of the profile's `TrainConfig`, that this run sets (a tuning sweep):
    #: ``((name, value), ...)`` sorted by name, values JSON scalars
    options: tuple[tuple[str, Any], ...] = ()
    train_options: tuple[tuple[str, Any], ...] = ()
    #: the benchmark's number of tasks (None for its default)
    tasks: int | None = None
    #: the benchmark's own parameters as ``((name, value), ...)``, sorted by name (a list value as a tuple, e.g.
    #: split-agnews's ``order``)
    benchmark_options: tuple[tuple[str, Any], ...] = ()

    @property
    def name(self) -> str:
        """File stem from the parameters, e.g. ``split-mnist__mygo-reference__paper__eval-train__seed0``
        (task scenario) or ``split-mnist__ewc__paper__class__eval-test__seed0`` (another scenario)."""
        label = self.method + (f"-{self.variant}" if self.variant else "")
        stem = Path(self.notebook).stem
        prefix = "" if stem == "run_one" else f"{stem}__"
        scenario = "" if self.scenario == "task" else f"__{self.scenario}"
        det = "__deterministic" if self.deterministic else ""
        settings = "".join(f"__{k}-{v}" for k, v in (*self.options, *self.train_options))
        bench = self.benchmark + ("" if self.tasks is None else f"-{self.tasks}tasks")
        bench += "".join(f"-{k}-{'-'.join(map(str, v)) if isinstance(v, tuple) else v}"
                         for k, v in self.benchmark_options)
        return (f"{prefix}{bench}__{label}__{self.profile}{scenario}{settings}"
                f"__eval-{self.eval_on}__seed{self.seed}{det}")

    def parameters(self, result_path: str | None = None, checkpoint_dir: str | None = None) -> dict[str, Any]:
        """The values papermill injects (``progress`` off: executed notebooks stay small); ``scenario`` only
        when it is not ``task`` (the notebook's default), ``deterministic`` only when on, ``options`` and
        ``train_options`` only when set and ``checkpoint_dir`` only when given, so that runs keep their content
        hash (`key` hashes no paths)."""
        params = {"benchmark": self.benchmark, "method": self.method, "variant": self.variant,
                  "profile": self.profile, "seed": self.seed, "device": self.device, "data_root": self.data_root,
                  "eval_on": self.eval_on, "result_path": result_path, "progress": False}
        if self.scenario != "task":
            params["scenario"] = self.scenario
        if self.deterministic:
            params["deterministic"] = True
        if self.options:
            params["options"] = dict(self.options)
        if self.train_options:
            params["train_options"] = dict(self.train_options)
        if self.tasks is not None:
            params["tasks"] = self.tasks
        if self.benchmark_options:
            params["benchmark_options"] = {k: list(v) if isinstance(v, tuple) else v
                                           for k, v in self.benchmark_options}
        if checkpoint_dir is not None:
            params["checkpoint_dir"] = checkpoint_dir
        return params

    @property
    def key(self) -> str:
        """Content hash of the notebook's cells and the parameters; equal keys = the same run."""
        payload = json.dumps({"notebook": self.notebook_sha, "parameters": self.parameters()}, sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()


def notebook_digest(path: str | os.PathLike[str]) -> str:
    """sha256 of a notebook's cell types and sources (outputs and metadata do not change a run)."""
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
        cells = [[c["cell_type"], "".join(c["source"]) if isinstance(c["source"], list) else c["source"]]
                 for c in nb["cells"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"cannot read notebook {path} ({e}); give a valid .ipynb file") from None
    return hashlib.sha256(json.dumps(cells).encode()).hexdigest()


def packaged_notebook(name: str = DEFAULT_NOTEBOOK) -> Path:
    """A notebook shipped with the package (``mygo_nb/reproduce/notebooks/NAME``), e.g. ``run_one.ipynb``."""
    return Path(str(resources.files("mygo_nb.reproduce") / "notebooks" / name))


def preset_names() -> list[str]:
    """Names of the committed presets (``mygo_nb/reproduce/presets/*.json``)."""
    folder = resources.files("mygo_nb.reproduce") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".json"))


def load_spec(source: str) -> tuple[dict[str, Any], Path | None]:
    """A preset name or a spec file path -> (spec dict, the file's folder or None for presets)."""
    path = Path(source)
    if path.suffix.lower() in (".json", ".yaml", ".yml") or path.exists():
        if not path.is_file():
            raise ConfigError(f"spec file {source} not found")
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() in (".yaml", ".yml"):
            try:
                import yaml
            except ImportError:
                raise ConfigError(f"{source}: YAML specs need PyYAML (pip install pyyaml); "
                                  "or write the spec as JSON") from None
            try:
                spec = yaml.safe_load(text)
            except yaml.YAMLError as e:
                raise ConfigError(f"spec file {source} is not valid YAML: {' '.join(str(e).split())}") from None
        else:
            try:
                spec = json.loads(text)
            except ValueError as e:
                raise ConfigError(f"spec file {source} is not valid JSON: {e}") from None
        base: Path | None = path.resolve().parent
    else:
        names = preset_names()
        if source not in names:
            raise ConfigError(f"unknown preset {source!r} (and no such spec file); presets: {', '.join(names)}")
        spec = json.loads((resources.files("mygo_nb.reproduce") / "presets" / f"{source}.json").read_text("utf-8"))
        base = None
    if not isinstance(spec, dict) or not isinstance(spec.get("grid"), list) or not spec["grid"]:
        raise ConfigError(f"sweep {source}: expected a mapping with a non-empty 'grid' list of blocks")
    return spec, base


def _listify(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _settings(value: Any, config: Any, key: str, where: str) -> tuple[tuple[str, Any], ...]:
    """A grid block's ``options`` / ``train_options`` mapping, checked against ``config`` (the method's or
    the `TrainConfig`: unknown names and invalid values fail here, before anything runs)."""
    if value is None:
        return ()
    if not isinstance(value, Mapping) or not all(isinstance(v, (bool, int, float, str)) or v is None
                                                 for v in value.values()):
        raise ConfigError(f"{where}: {key} must be a mapping of names to numbers, strings, booleans or null "
                          f"(or a list of them), got {value!r}")
    try:
        with_options(config, value)
    except ConfigError as e:
        raise ConfigError(f"{where}: {key}: {e}") from None
    return tuple(sorted(value.items()))


def resolve_notebook(name: str | os.PathLike[str], base: Path | None = None) -> str:
    """The absolute path of notebook ``name``: as given when absolute, else in ``base`` (a spec file's folder),
    in the working folder, or shipped with the package by its file name (``run_one.ipynb``, also reached as
    ``notebooks/run_one.ipynb``, its place before it moved into the package)."""
    path = Path(name).expanduser()
    candidates = [path] if path.is_absolute() else [
        *([base / path] if base else []), Path.cwd() / path, packaged_notebook(path.name)]
    for c in candidates:
        if c.is_file():
            return str(c.resolve())
    raise ConfigError(f"notebook {name} not found (looked in: {', '.join(str(c.parent) for c in candidates)}); "
                      "give a path to an .ipynb file")


def _resolve_root(root: str | None) -> Path:
    """The data root a run will use (argument > ``MYGO_DATA`` > user cache), absolute, so it enters the hash."""
    return resolve_data_root(root).resolve()




def expand_spec(spec: Mapping[str, Any], base: Path | None = None, *, device: str | None = None,
                data_roots: Mapping[str | None, str] | None = None, benchmarks: Sequence[str] | None = None,
                seeds: Sequence[int] | None = None, eval_on: Sequence[str] | None = None,
                notebook: str | None = None, deterministic: bool = False, source: str = "sweep") -> list[RunSpec]:
    """Expand every grid block (the cartesian product of its lists) into `RunSpec` s.

    ``device``, ``data_roots`` (``{benchmark or None: path}``), ``seeds``, ``notebook`` and ``deterministic``
    (when True) override the spec; ``benchmarks`` and ``eval_on`` keep only those benchmarks / eval splits.
    Relative data roots are taken from the working folder.
    """
    defaults = dict(spec.get("defaults") or {})
    data_roots = dict(data_roots or {})
    runs: list[RunSpec] = []
    digests: dict[str, str] = {}
    for i, block in enumerate(spec["grid"], 1):
        where = f"{source}, grid block {i}"
        if not isinstance(block, dict):
            raise ConfigError(f"{where}: expected a mapping of {', '.join(GRID_KEYS)}")
        merged = {**defaults, **block}
        for k in merged:
            if k not in GRID_KEYS:
                raise ConfigError(f"{where}: unknown key {k!r}; valid keys: {', '.join(GRID_KEYS)}")
        if "benchmark" not in merged or "method" not in merged:
            raise ConfigError(f"{where}: 'benchmark' and 'method' are required")
        merged.setdefault("notebook", str(packaged_notebook()))
        merged.setdefault("profile", "quick")
        merged.setdefault("seed", 0)
        merged.setdefault("device", "auto")
        merged.setdefault("data_root", None)
        merged.setdefault("eval_on", "test")
        merged.setdefault("deterministic", False)
        if deterministic:
            merged["deterministic"] = True
        merged.setdefault("scenario", None)
        merged.setdefault("options", None)
        merged.setdefault("train_options", None)
        merged.setdefault("tasks", None)
        merged.setdefault("benchmark_options", None)
        if notebook:
            merged["notebook"] = notebook
        if device:
            merged["device"] = device
        if seeds is not None:
            merged["seed"] = list(seeds)
        values = {k: _listify(merged[k]) for k in GRID_KEYS}
        for combo in itertools.product(*values.values()):
            p = dict(zip(values, combo, strict=True))
            bench = check_choice("benchmark", str(p["benchmark"]), benchmark_names())
            if (benchmarks and bench not in benchmarks) or (eval_on and p["eval_on"] not in eval_on):
                continue
            method, _, variant = str(p["method"]).partition("/")
            bentry = benchmark_entry(bench)
            try:
                scenario = check_scenario(bentry, None if p["scenario"] is None else str(p["scenario"]))
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from None
            tasks = p["tasks"]
            if tasks is not None and (isinstance(tasks, bool) or not isinstance(tasks, int) or tasks < 1):
                raise ConfigError(f"{where}: tasks must be an integer >= 1, got {tasks!r}")
            if bentry.max_tasks is not None and tasks is not None and tasks > bentry.max_tasks:
                raise ConfigError(f"{where}: {bench} has at most {bentry.max_tasks} tasks; got tasks={tasks}")
            bopts = p["benchmark_options"] or {}
            if not isinstance(bopts, Mapping):
                raise ConfigError(f"{where}: benchmark_options must be a mapping, got {bopts!r}")
            try:
                check_params(bentry, bopts)
            except ConfigError as e:
                raise ConfigError(f"{where}: {e}") from None
            try:
                entry = check_method(method, variant or None, scenario)
            except ConfigError as e:
                raise ConfigError(f"{where}: {e}") from None
            variant = entry.variant
            if scenario not in bentry.scenarios:
                raise ConfigError(f"{where}: {bench} runs in the scenarios {', '.join(bentry.scenarios)}; "
                                  f"got {scenario!r}")
            options = _settings(p["options"], entry.config, "options", where)
            train_options = _settings(p["train_options"], TrainConfig(), "train_options", where)
            if isinstance(p["seed"], bool) or not isinstance(p["seed"], int) or p["seed"] < 0:
                raise ConfigError(f"{where}: seeds must be integers >= 0, got {p['seed']!r}")
            if not isinstance(p["deterministic"], bool):
                raise ConfigError(f"{where}: deterministic must be true or false, got {p['deterministic']!r}")
            dev = str(p["device"])
            if dev != "auto" and dev.split(":")[0] not in ("cpu", "cuda"):
                raise ConfigError(f"{where}: unknown device {dev!r}; valid choices: auto, cpu, cuda")
            root = data_roots.get(bench, data_roots.get(None, p["data_root"]))
            if root is not None:
                root = os.path.expandvars(str(root))
                if "$" in root:
                    raise ConfigError(f"{where}: data_root {p['data_root']!r} needs an unset environment variable; "
                                      f"set it or pass --data-root {bench}=PATH")
                root = str(Path(root).expanduser().resolve())
            root = str((default_agnews_root(root) if bench == "split-agnews" else _resolve_root(root)).resolve())
            nb = resolve_notebook(str(p["notebook"]), base)
            if nb not in digests:
                digests[nb] = notebook_digest(nb)
            runs.append(RunSpec(
                notebook=nb, benchmark=bench, method=method, variant=variant or None,
                profile=check_choice("profile", str(p["profile"]), tuple(PROFILES)), seed=int(p["seed"]),
                eval_on=check_choice("eval split", str(p["eval_on"]), EVAL_SPLITS), device=dev,
                data_root=root, notebook_sha=digests[nb], scenario=scenario, deterministic=p["deterministic"],
                options=options, train_options=train_options, tasks=tasks,
                benchmark_options=tuple(sorted((k, tuple(v) if isinstance(v, list) else v)
                                               for k, v in bopts.items()))))
    return dedupe(runs)


def dedupe(runs: Iterable[RunSpec]) -> list[RunSpec]:
    seen: dict[str, RunSpec] = {}
    for r in runs:
        if r.name in seen and seen[r.name].key != r.key:
            raise ConfigError(f"two runs are both named {r.name} but differ ({seen[r.name]} vs {r}); "
                              "split them into separate output folders")
        seen.setdefault(r.name, r)
    return list(seen.values())


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file's content, or None when it is missing or not valid JSON."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
