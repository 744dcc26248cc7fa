"""Batch reproduction: papermill sweeps of notebooks × a parameter grid × seeds, locally or on Dask.

``python -m mygo_nb reproduce paper --out results/paper`` (or the console script ``mygo-reproduce``)
expands a sweep — a named preset (``quick``, ``paper``, ``beyond``: JSON files in
``mygo_nb/sweep_presets/``) or a spec file of the same shape (JSON, or YAML) — into runs, executes each
run's notebook (by default ``notebooks/run_one.ipynb``) with papermill, and writes, per run, named from its
parameters::

    split-mnist__mygo-reference__paper__eval-train__seed0.ipynb       the executed notebook
    split-mnist__mygo-reference__paper__eval-train__seed0.json        its RunResult
    split-mnist__mygo-reference__paper__eval-train__seed0.sweep.json  status, content hash, error, timing

plus ``sweep-manifest.json`` (every run of every sweep into that folder, updated under a file lock),
``summary.md`` / ``summary.csv`` (mean ± std over seeds beside the paper's numbers) and ``figures/*.png``.

Scenarios: a grid block's ``scenario`` (``task`` — the default and the paper's —, ``domain`` or ``class``;
`mygo_nb.scenarios`) is injected into the notebook and appears in the run's name, after the profile, only
when it is not ``task``: ``split-mnist__ewc__paper__class__eval-test__seed0``. Task-scenario runs keep the
names and parameters they had before scenarios existed (``scenario`` is not among them), so their content
hash changes only with the notebook's cells.
A method in a scenario it does not support (`mygo_nb.methods.scenarios_for`) is a spec error. When any
result is in another scenario or carries a storage account, ``summary.md`` ends with a section
"Methods × scenarios": average accuracy per method (rows) and scenario (columns), and the storage per task.

Nothing lost, nothing redone: a run is complete when its ``.sweep.json`` says ``done`` with the same
content hash (notebook cells + parameters) and its result JSON exists; a rerun skips it. Every file is
written atomically, each run holds a per-run file lock while it executes (two sweeps into one folder
never execute the same run twice, nor lose each other's records), a failed run is recorded with its
error and executed notebook while the others go on, and the command exits 1 when any run failed.

Executors: ``--executor local --workers N`` (N worker processes, default 1) or ``--executor dask``:
each run is one Dask task; a run whose device is ``cuda`` claims the worker resource ``GPU: 1``. With
no ``--scheduler`` a ``LocalCluster`` bound to 127.0.0.1 is started (each worker gets one ``GPU``
slot). On a SLURM or PBS cluster start a scheduler and GPU workers with dask-jobqueue, e.g. in a script::

    from dask_jobqueue import SLURMCluster          # PBSCluster for PBS

    if __name__ == "__main__":                      # process-based workers re-import the script
        cluster = SLURMCluster(cores=4, memory="16GB", walltime="02:00:00",
                               job_extra_directives=["--gres=gpu:1"],
                               worker_extra_args=["--resources", "GPU=1"])
        cluster.scale(jobs=4)
        print(cluster.scheduler_address)            # pass it as --scheduler tcp://HOST:PORT
        input("press Enter to stop the cluster")

then ``mygo-reproduce paper --out /shared/results --executor dask --device cuda --scheduler tcp://HOST:PORT``
(workers and the driver need the same environment and a shared file system for the output folder).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import io
import itertools
import json
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

from .config import BENCHMARKS, EVAL_SPLITS, PROFILES, ConfigError, check_choice, method_label
from .paper import PAPER_METHODS, PAPER_TABLE1, PAPER_TABLE2, mean_std
from .results import RunResult, atomic_write_text

__all__ = [
    "RunSpec",
    "add_arguments",
    "aggregate",
    "collect_results",
    "execute_run",
    "expand_spec",
    "load_spec",
    "main",
    "notebook_digest",
    "preset_names",
    "run_sweep",
    "scenarios_markdown",
]

GRID_KEYS = ("notebook", "benchmark", "method", "profile", "seed", "device", "data_root", "eval_on", "scenario")
DEFAULT_NOTEBOOK = "notebooks/run_one.ipynb"
MANIFEST = "sweep-manifest.json"
SIDECAR = ".sweep.json"
REPO_ROOT = Path(__file__).resolve().parent.parent


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

    @property
    def name(self) -> str:
        """File stem from the parameters, e.g. ``split-mnist__mygo-reference__paper__eval-train__seed0``
        (task scenario) or ``split-mnist__ewc__paper__class__eval-test__seed0`` (another scenario)."""
        label = self.method + (f"-{self.variant}" if self.variant else "")
        stem = Path(self.notebook).stem
        prefix = "" if stem == "run_one" else f"{stem}__"
        scenario = "" if self.scenario == "task" else f"__{self.scenario}"
        return f"{prefix}{self.benchmark}__{label}__{self.profile}{scenario}__eval-{self.eval_on}__seed{self.seed}"

    def parameters(self, result_path: str | None = None) -> dict[str, Any]:
        """The values papermill injects (``progress`` off: executed notebooks stay small); ``scenario`` only
        when it is not ``task`` (the notebook's default), so task runs keep their content hash."""
        params = {"benchmark": self.benchmark, "method": self.method, "variant": self.variant,
                  "profile": self.profile, "seed": self.seed, "device": self.device, "data_root": self.data_root,
                  "eval_on": self.eval_on, "result_path": result_path, "progress": False}
        if self.scenario != "task":
            params["scenario"] = self.scenario
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


def preset_names() -> list[str]:
    """Names of the committed presets (``mygo_nb/sweep_presets/*.json``)."""
    folder = resources.files("mygo_nb") / "sweep_presets"
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
        spec = json.loads((resources.files("mygo_nb") / "sweep_presets" / f"{source}.json").read_text("utf-8"))
        base = None
    if not isinstance(spec, dict) or not isinstance(spec.get("grid"), list) or not spec["grid"]:
        raise ConfigError(f"sweep {source}: expected a mapping with a non-empty 'grid' list of blocks")
    return spec, base


def _listify(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _resolve_notebook(name: str, base: Path | None) -> str:
    candidates = [Path(name)] if Path(name).is_absolute() else [
        *([base / name] if base else []), Path.cwd() / name, REPO_ROOT / name]
    for c in candidates:
        if c.is_file():
            return str(c.resolve())
    raise ConfigError(f"notebook {name} not found (looked in: {', '.join(str(c.parent) for c in candidates)}); "
                      "run from the repository root or give an absolute path")


def _resolve_root(root: str | None) -> Path:
    """The data root a run will use (argument > ``MYGO_DATA`` > user cache), absolute, so it enters the hash."""
    from .data import resolve_data_root

    return resolve_data_root(root).resolve()


def _agnews_root(root: str | None) -> str:
    """AG News: the given root when it holds train.csv, else its ``agnews_dev`` stand-in when present."""
    r = _resolve_root(root)
    if not (r / "ag_news_csv" / "train.csv").is_file() and (r / "agnews_dev" / "ag_news_csv" / "train.csv").is_file():
        r = r / "agnews_dev"
    return str(r.resolve())


def expand_spec(spec: Mapping[str, Any], base: Path | None = None, *, device: str | None = None,
                data_roots: Mapping[str | None, str] | None = None, benchmarks: Sequence[str] | None = None,
                seeds: Sequence[int] | None = None, eval_on: Sequence[str] | None = None,
                notebook: str | None = None, source: str = "sweep") -> list[RunSpec]:
    """Expand every grid block (the cartesian product of its lists) into `RunSpec` s.

    ``device``, ``data_roots`` (``{benchmark or None: path}``), ``seeds`` and ``notebook`` override the
    spec; ``benchmarks`` and ``eval_on`` keep only those benchmarks / eval splits. Relative data roots
    are taken from the working folder.
    """
    from .methods import check_method

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
        merged.setdefault("notebook", DEFAULT_NOTEBOOK)
        merged.setdefault("profile", "quick")
        merged.setdefault("seed", 0)
        merged.setdefault("device", "auto")
        merged.setdefault("data_root", None)
        merged.setdefault("eval_on", "test")
        merged.setdefault("scenario", "task")
        if notebook:
            merged["notebook"] = notebook
        if device:
            merged["device"] = device
        if seeds is not None:
            merged["seed"] = list(seeds)
        values = {k: _listify(merged[k]) for k in GRID_KEYS}
        for combo in itertools.product(*values.values()):
            p = dict(zip(values, combo, strict=True))
            bench = check_choice("benchmark", str(p["benchmark"]), BENCHMARKS)
            if (benchmarks and bench not in benchmarks) or (eval_on and p["eval_on"] not in eval_on):
                continue
            method, _, variant = str(p["method"]).partition("/")
            scenario = str(p["scenario"])
            try:
                variant = check_method(method, variant or None, scenario)
            except ConfigError as e:
                raise ConfigError(f"{where}: {e}") from None
            if isinstance(p["seed"], bool) or not isinstance(p["seed"], int) or p["seed"] < 0:
                raise ConfigError(f"{where}: seeds must be integers >= 0, got {p['seed']!r}")
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
            root = _agnews_root(root) if bench == "split-agnews" else str(_resolve_root(root))
            nb = _resolve_notebook(str(p["notebook"]), base)
            if nb not in digests:
                digests[nb] = notebook_digest(nb)
            runs.append(RunSpec(
                notebook=nb, benchmark=bench, method=method, variant=variant or None,
                profile=check_choice("profile", str(p["profile"]), tuple(PROFILES)), seed=int(p["seed"]),
                eval_on=check_choice("eval split", str(p["eval_on"]), EVAL_SPLITS), device=dev,
                data_root=root, notebook_sha=digests[nb], scenario=scenario))
    return _dedupe(runs)


def _dedupe(runs: Iterable[RunSpec]) -> list[RunSpec]:
    seen: dict[str, RunSpec] = {}
    for r in runs:
        if r.name in seen and seen[r.name].key != r.key:
            raise ConfigError(f"two runs are both named {r.name} but differ ({seen[r.name]} vs {r}); "
                              "split them into separate output folders")
        seen.setdefault(r.name, r)
    return list(seen.values())


# ------------------------------------------------------------------------------------------ execution


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def completed_record(out: Path, spec: RunSpec) -> dict[str, Any] | None:
    """The run's sidecar record when it finished successfully with the same key, else None."""
    rec = _read_json(out / f"{spec.name}{SIDECAR}")
    if rec and rec.get("status") == "done" and rec.get("key") == spec.key and (out / f"{spec.name}.json").is_file():
        return rec
    return None


def _update_manifest(out: Path, records: Sequence[Mapping[str, Any]]) -> None:
    """Merge run records into the folder's manifest under a file lock (safe with concurrent sweeps)."""
    from filelock import FileLock

    (out / ".locks").mkdir(parents=True, exist_ok=True)
    with FileLock(str(out / ".locks" / f"{MANIFEST}.lock")):
        manifest = _read_json(out / MANIFEST) or {"runs": {}}
        for rec in records:
            manifest["runs"][rec["name"]] = dict(rec)
        atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))


def _record(spec: RunSpec, status: str, seconds: float, error: str | None, notebook: str | None) -> dict[str, Any]:
    return {"name": spec.name, "key": spec.key, "status": status, "error": error,
            "notebook": notebook, "result": f"{spec.name}.json" if status == "done" else None,
            "parameters": spec.parameters(), "source_notebook": spec.notebook, "seconds": round(seconds, 3),
            "host": socket.gethostname(), "worker": _worker(),
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def _worker() -> str:
    """The Dask worker's address when running as a Dask task, else this process id."""
    if "distributed" in sys.modules:
        from distributed import get_worker

        try:
            return str(get_worker().address)
        except ValueError:
            pass
    return f"pid {os.getpid()}"


def _write_record(out: Path, rec: dict[str, Any]) -> None:
    atomic_write_text(out / f"{rec['name']}{SIDECAR}", json.dumps(rec, indent=1))
    _update_manifest(out, [rec])


def execute_run(spec: RunSpec, out_dir: str, kernel_name: str | None = None,
                timeout: float | None = None) -> dict[str, Any]:
    """Execute one run with papermill into ``out_dir`` (a Dask task or a local worker's job).

    Holds the run's file lock throughout, re-checks completion under it (another sweep may have just
    done it), writes the executed notebook and the result, then the ``.sweep.json`` record. Returns the
    record with ``outcome`` = ``done``, ``skipped`` or ``failed``; never raises for a failing notebook.
    """
    from filelock import FileLock

    out = Path(out_dir)
    (out / ".locks").mkdir(parents=True, exist_ok=True)
    with FileLock(str(out / ".locks" / f"{spec.name}.lock")):
        rec = completed_record(out, spec)
        if rec is not None:
            return {**rec, "outcome": "skipped"}
        nb_out, res = out / f"{spec.name}.ipynb", out / f"{spec.name}.json"
        partial = out / f".{spec.name}.partial.ipynb"
        res.unlink(missing_ok=True)  # a stale result of other parameters must not pass for this run's
        error: str | None = None
        t0 = time.perf_counter()
        try:
            import papermill as pm
            from papermill.exceptions import PapermillExecutionError

            try:
                pm.execute_notebook(os.path.relpath(spec.notebook), os.path.relpath(partial),
                                    parameters=_relative_paths(spec.parameters(str(res)), Path(spec.notebook).parent),
                                    kernel_name=kernel_name, progress_bar=False, log_output=False,
                                    cwd=str(Path(spec.notebook).parent), execution_timeout=timeout)
            except PapermillExecutionError as e:
                error = f"{e.ename}: {e.evalue}"
            if error is None and not res.is_file():
                error = "the notebook finished without writing its result JSON (is result_path used?)"
        except Exception as e:  # a kernel that died, a missing kernel, a bad notebook: record, go on
            error = f"{type(e).__name__}: {e}".strip() or traceback.format_exc(limit=1)
        notebook = None
        if partial.is_file():
            os.replace(partial, nb_out)
            notebook = nb_out.name
        rec = _record(spec, "failed" if error else "done", time.perf_counter() - t0, error, notebook)
        _write_record(out, rec)
        return {**rec, "outcome": rec["status"]}


def _crashed(spec: RunSpec, out: Path, exc: BaseException) -> dict[str, Any]:
    """Record for a run whose worker itself died (the run's own handler never returned)."""
    nb = out / f"{spec.name}.ipynb"
    rec = _record(spec, "failed", 0.0, f"worker died: {type(exc).__name__}: {exc}", nb.name if nb.is_file() else None)
    _write_record(out, rec)
    return {**rec, "outcome": "failed"}


def _exit_with_parent(parent: int) -> None:
    """Pool-worker initializer: end this worker as soon as its parent process is gone (killed, even by
    SIGKILL), so that no run starts or goes on without the sweep that asked for it."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="mygo-parent-watch", daemon=True).start()


def _run_local(runs: Sequence[RunSpec], out: Path, workers: int, kernel: str | None, timeout: float | None,
               done: Callable[[dict[str, Any]], None]) -> None:
    if workers == 1:
        for spec in runs:
            done(execute_run(spec, str(out), kernel, timeout))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_exit_with_parent, initargs=(os.getpid(),))
    try:
        futures = {pool.submit(execute_run, spec, str(out), kernel, timeout): spec for spec in runs}
        for f in as_completed(futures):
            try:
                done(f.result())
            except Exception as e:
                done(_crashed(futures[f], out, e))
    except BaseException:
        # Stopped (Ctrl-C, SIGTERM through run_cli, an error here): queued runs must not start and the running
        # ones end now; their kernels follow their worker (ipykernel watches its parent). The executor has no
        # public way to stop a running task, hence its private process table.
        workers_now = list((getattr(pool, "_processes", None) or {}).values())  # shutdown() forgets them
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in workers_now:
            proc.terminate()
        raise
    pool.shutdown()


def _run_dask(runs: Sequence[RunSpec], out: Path, workers: int, scheduler: str | None, kernel: str | None,
              timeout: float | None, done: Callable[[dict[str, Any]], None]) -> None:
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout="30s")
        except OSError as e:
            raise ConfigError(f"cannot reach the Dask scheduler {scheduler} ({e})") from None
        if any(r.device.startswith("cuda") for r in runs):
            info = client.scheduler_info().get("workers", {})
            if not any(w.get("resources", {}).get("GPU") for w in info.values()):
                print("mygo-reproduce: warning: no Dask worker advertises a GPU resource yet; cuda runs wait "
                      "for workers started with --resources GPU=1", file=sys.stderr)
    else:
        cluster = LocalCluster(host="127.0.0.1", n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, resources={"GPU": 1})
        client = Client(cluster)
    try:
        futures = {}
        for spec in runs:
            res = {"GPU": 1} if spec.device.startswith("cuda") else None
            f = client.submit(execute_run, spec, str(out), kernel, timeout, pure=False, resources=res,
                              key=f"mygo-run-{spec.name}-{os.urandom(4).hex()}")
            futures[f] = spec
        for f in as_completed(list(futures)):
            try:
                done(f.result())
            except Exception as e:
                done(_crashed(futures[f], out, e))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


@dataclass
class SweepReport:
    """What a sweep did: records per outcome and the wall time."""

    done: list[dict[str, Any]]
    skipped: list[dict[str, Any]]
    failed: list[dict[str, Any]]
    seconds: float

    def summary(self) -> str:
        n = len(self.done) + len(self.skipped) + len(self.failed)
        lines = [f"sweep: {n} runs — {len(self.done)} done, {len(self.skipped)} skipped (already done), "
                 f"{len(self.failed)} failed in {self.seconds:.1f}s"]
        lines += [f"  FAILED {r['name']}: {r['error']} (notebook: {r['notebook'] or 'none'})" for r in self.failed]
        return "\n".join(lines)


def run_sweep(runs: Sequence[RunSpec], out_dir: str | os.PathLike[str], *, executor: str = "local", workers: int = 1,
              scheduler: str | None = None, kernel_name: str | None = None, timeout: float | None = None,
              progress: bool = True) -> SweepReport:
    """Execute the runs not yet complete in ``out_dir``; return what happened (see the module docstring)."""
    from tqdm.auto import tqdm

    check_choice("executor", executor, ("local", "dask"))
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    out = Path(out_dir).resolve()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"cannot create the output folder {out} ({e.strerror or e})") from None
    t0 = time.perf_counter()
    report = SweepReport([], [], [], 0.0)
    bar = tqdm(total=len(runs), desc="runs", unit="run", disable=not progress, file=sys.stderr)

    def done(rec: dict[str, Any]) -> None:
        getattr(report, rec["outcome"]).append(rec)
        bar.update()
        bar.set_postfix(done=len(report.done), skipped=len(report.skipped), failed=len(report.failed))
        if rec["outcome"] == "failed":
            bar.write(f"FAILED {rec['name']}: {rec['error']}", file=sys.stderr)
        elif not progress:  # a log line per run instead of the bar
            n = len(report.done) + len(report.skipped) + len(report.failed)
            print(f"[{n}/{len(runs)}] {rec['outcome']} {rec['name']} ({rec['seconds']:.1f}s)", file=sys.stderr,
                  flush=True)

    todo = []
    for spec in runs:
        rec = completed_record(out, spec)
        if rec is not None:
            done({**rec, "outcome": "skipped"})
        else:
            todo.append(spec)
    try:
        if todo and executor == "local":
            _run_local(todo, out, workers, kernel_name, timeout, done)
        elif todo:
            _run_dask(todo, out, workers, scheduler, kernel_name, timeout, done)
    finally:
        bar.close()
    report.seconds = time.perf_counter() - t0
    return report


# ---------------------------------------------------------------------------------------- aggregation


def collect_results(folder: str | os.PathLike[str]) -> list[RunResult]:
    """Every RunResult JSON in ``folder`` (sweep records, the manifest and other JSON files are ignored)."""
    results = []
    for p in sorted(Path(folder).glob("*.json")):
        if p.name.endswith(SIDECAR) or p.name == MANIFEST:
            continue
        d = _read_json(p)
        if isinstance(d, dict) and "accuracy_matrix" in d and "metrics" in d:
            try:
                results.append(RunResult.from_dict(d))
            except TypeError:
                continue
    return results


def data_label(r: RunResult) -> str:
    """``canonical`` unless the data provenance says otherwise (the AG News stand-in)."""
    if r.data.get("canonical", True) is False:
        root = r.data.get("root")
        return f"stand-in ({Path(root).name})" if root else "stand-in (non-canonical)"
    return "canonical"


def _paper_name(method: str, variant: str | None) -> str | None:
    for name, mv in PAPER_METHODS.items():
        if mv == (method, variant):
            return name
    return None


@dataclass
class Group:
    """Runs sharing everything but the seed."""

    benchmark: str
    data: str
    method: str
    variant: str | None
    scenario: str
    profile: str
    eval_on: str
    runs: list[RunResult]

    @property
    def method_label(self) -> str:
        """``method`` or ``method/variant``."""
        return method_label(self.method, self.variant)

    @property
    def label(self) -> str:
        """`method_label`, followed by `` [scenario]`` outside the task scenario."""
        return self.method_label + ("" if self.scenario == "task" else f" [{self.scenario}]")

    @property
    def paper(self) -> str | None:
        """The paper's name for this method, in the task scenario only (the paper's protocol), else None."""
        return _paper_name(self.method, self.variant) if self.scenario == "task" else None

    def stats(self) -> list[tuple[str, int | None, float, float, float | None]]:
        """(metric, 1-based index or None, mean, std, the paper's value or None) rows."""
        paper = self.paper
        t1 = PAPER_TABLE1.get((self.benchmark, paper)) if paper else None
        t2 = PAPER_TABLE2.get(paper) if paper and self.benchmark == "split-mnist" else None
        out: list[tuple[str, int | None, float, float, float | None]] = []
        for j, col in enumerate(zip(*(r.metrics["final_accuracies"] for r in self.runs), strict=True)):
            pv = t1["tasks"][j] if t1 and j < len(t1["tasks"]) else None  # type: ignore[index,arg-type]
            out.append(("final_accuracy", j + 1, *mean_std(col), pv))
        out.append(("average_accuracy", None, *mean_std(r.average_accuracy for r in self.runs),
                    t1["average"] if t1 else None))  # type: ignore[arg-type]
        for j, col in enumerate(zip(*(r.metrics["average_accuracy_curve"] for r in self.runs), strict=True)):
            out.append(("average_accuracy_curve", j + 1, *mean_std(col), t2[j] if t2 and j < len(t2) else None))
        for m in ("backward_transfer", "forgetting"):
            vals = [r.metrics.get(m) for r in self.runs]
            if vals and all(v is not None for v in vals):
                out.append((m, None, *mean_std(vals), None))  # type: ignore[arg-type]
        return out


def group_results(results: Iterable[RunResult]) -> list[Group]:
    """Group by benchmark / data / method / variant / scenario / profile / eval split (seeds pooled); sorted in
    that order, scenarios as task, domain, class."""
    groups: dict[tuple[Any, ...], Group] = {}
    for r in results:
        k = (r.benchmark, data_label(r), r.method, r.variant or "", r.scenario, r.profile, r.eval_on)
        groups.setdefault(k, Group(r.benchmark, data_label(r), r.method, r.variant, r.scenario, r.profile,
                                   r.eval_on, [])).runs.append(r)
    for g in groups.values():
        g.runs.sort(key=lambda r: r.seed)
    from .scenarios import SCENARIOS

    order = {sc: i for i, sc in enumerate(SCENARIOS)}  # task, domain, class; then any other name
    return [groups[k] for k in sorted(groups, key=lambda k: (*k[:4], order.get(k[4], len(order)), *k[4:]))]


def _fmt(m: float, s: float, n: int) -> str:
    return f"{m:.2f} ± {s:.2f}" if n > 1 else f"{m:.2f}"


def results_csv(groups: Sequence[Group]) -> str:
    """Long format: one row per group and metric (index = task or stage), mean, sample std, paper."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["benchmark", "data", "method", "variant", "scenario", "profile", "eval_on", "n", "seeds",
                "metric", "index", "mean", "std", "paper"])
    for g in groups:
        seeds = " ".join(str(r.seed) for r in g.runs)
        for metric, idx, m, s, pv in g.stats():
            w.writerow([g.benchmark, g.data, g.method, g.variant or "", g.scenario, g.profile, g.eval_on,
                        len(g.runs), seeds, metric, "" if idx is None else idx, f"{m:.4f}", f"{s:.4f}",
                        "" if pv is None else f"{pv:.2f}"])
    return buf.getvalue()


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|",
            *("| " + " | ".join(r) + " |" for r in rows)]


def results_markdown(groups: Sequence[Group]) -> str:
    """Per benchmark and data: Table 1 (final accuracy per task, average, BWT) and Table 2 (average
    accuracy after each task), ours as mean ± std over seeds, the paper's numbers in rows beside them.
    A section with a run outside the task scenario gets a ``Scenario`` column after the model."""
    lines = ["# Sweep results", "",
             "Ours: mean ± sample std over seeds (n = number of seeds). Paper rows: the MyGO paper's Tables 1-2, "
             "measured on the training subsets (eval = train, the reference code's protocol).", ""]
    by_bench: dict[tuple[str, str], list[Group]] = {}
    for g in groups:
        by_bench.setdefault((g.benchmark, g.data), []).append(g)
    for (bench, data), gs in by_bench.items():
        lines += [f"## {bench} — data: {data}", ""]
        if data != "canonical":
            lines += [f"**{data[0].upper() + data[1:]} data, NOT the paper's benchmark** (the provenance says the "
                      "files are not the canonical ones): the paper's numbers below are on the canonical data and "
                      "are not directly comparable.", ""]
        paper_tasks = [len(t1["tasks"]) for g in gs  # type: ignore[arg-type]
                       if (t1 := PAPER_TABLE1.get((bench, _paper_name(g.method, g.variant) or "")))]
        T = max([len(g.runs[0].metrics["final_accuracies"]) for g in gs] + paper_tasks)
        show = any(g.scenario != "task" for g in gs)  # the Scenario column, only where it tells something
        lead = 5 if show else 4

        def head(name: str, scenario: str, *rest: str, show: bool = show) -> list[str]:
            return [name, scenario, *rest] if show else [name, *rest]

        rows, curves, shown = [], [], set()
        for g in gs:
            paper = g.paper
            t1 = PAPER_TABLE1.get((bench, paper)) if paper else None
            if t1 and paper not in shown:
                shown.add(paper)
                tasks = [f"{a:.2f}" for a in t1["tasks"]]  # type: ignore[union-attr]
                rows.append([*head(f"{paper} (paper)", "task", "train", "", ""), *tasks, f"{t1['average']:.2f}", ""])
                if bench == "split-mnist" and paper in PAPER_TABLE2:
                    curves.append([*head(f"{paper} (paper)", "task", "train", "", ""),
                                   *(f"{a:.2f}" for a in PAPER_TABLE2[paper])])
            st = g.stats()
            n = len(g.runs)
            fin = [_fmt(m, s, n) for k, _, m, s, _ in st if k == "final_accuracy"]
            avg = next(_fmt(m, s, n) for k, _, m, s, _ in st if k == "average_accuracy")
            bwt = next((_fmt(m, s, n) for k, _, m, s, _ in st if k == "backward_transfer"), "")
            name = f"{g.method_label} (ours{', ' + paper if paper else ''})"
            rows.append([*head(name, g.scenario, g.eval_on, g.profile, str(n)), *fin, *[""] * (T - len(fin)), avg,
                         bwt])
            curves.append([*head(name, g.scenario, g.eval_on, g.profile, str(n)),
                           *(_fmt(m, s, n) for k, _, m, s, _ in st if k == "average_accuracy_curve")])
        lines += ["Table 1 — final accuracy per task (%)", ""]
        lines += _md_table([*head("Model", "Scenario", "Eval", "Profile", "n"), *(f"T{i + 1}" for i in range(T)),
                            "Average", "BWT"], rows)
        lines += ["", "Table 2 — average accuracy on the tasks seen so far, after each task (%)", ""]
        width = max(len(c) for c in curves) - lead
        lines += _md_table([*head("Model", "Scenario", "Eval", "Profile", "n"),
                            *(f"After T{i + 1}" for i in range(width))],
                           [c + [""] * (width + lead - len(c)) for c in curves])
        lines.append("")
    return "\n".join(lines)


def _storage_per_task(runs: Sequence[RunResult], key: str) -> float | None:
    """Mean over runs of the mean over tasks of ``storage.per_task[*][key]`` bytes (None counts as 0);
    None when no run accounts for it (no storage record, or only None values)."""
    per_run = []
    for r in runs:
        tasks = (r.storage or {}).get("per_task") or []
        vals = [t.get(key) for t in tasks]
        if any(v is not None for v in vals):
            per_run.append(sum(v or 0 for v in vals) / len(vals))
    return sum(per_run) / len(per_run) if per_run else None


def _storage_cells(runs: Sequence[RunResult]) -> list[str]:
    """Generator, replay buffer and raw data MB per task (``—`` where not accounted for)."""
    vals = [_storage_per_task(runs, k) for k in ("generator_bytes", "replay_buffer_bytes", "raw_data_bytes")]
    return ["—" if v is None else f"{v / 1e6:.2f}" for v in vals]


def scenarios_markdown(groups: Sequence[Group]) -> str:
    """The "Methods × scenarios" section: per benchmark, data, eval split and profile, the average accuracy
    (after the last task, over all tasks) as ``mean ± std (n=N)`` per method (rows) and scenario (columns,
    ``—`` where not run), then the storage per task of every method and scenario whose runs account for it."""
    from .scenarios import SCENARIOS

    lines = ["## Methods × scenarios", "",
             "Average accuracy over all tasks after the last one (%), mean ± sample std over seeds (n = number of "
             "seeds); — : not run. Scenarios (mygo_nb.scenarios): task = task-incremental (the task is given at "
             "test time, the paper's), domain = domain-incremental (one shared head, no task identity), class = "
             "class-incremental (one head over every class seen so far, no task identity).", ""]
    sections: dict[tuple[str, str, str, str], list[Group]] = {}
    for g in groups:
        sections.setdefault((g.benchmark, g.data, g.eval_on, g.profile), []).append(g)
    for (bench, data, eval_on, profile), gs in sections.items():
        lines += [f"### {bench} — data: {data} — eval {eval_on} — profile {profile}", ""]
        if data != "canonical":
            lines += [f"{data[0].upper() + data[1:]} data, NOT the paper's benchmark.", ""]
        cells: dict[str, dict[str, str]] = {}
        for g in gs:
            m, s = mean_std(r.average_accuracy for r in g.runs)
            cells.setdefault(g.method_label, {})[g.scenario] = f"{_fmt(m, s, len(g.runs))} (n={len(g.runs)})"
        lines += _md_table(["Method", *SCENARIOS],
                           [[label, *(row.get(sc, "—") for sc in SCENARIOS)] for label, row in sorted(cells.items())])
        storage = []
        by_method: dict[str, list[Group]] = {}
        for g in sorted(gs, key=lambda g: (g.method_label, SCENARIOS.index(g.scenario))):
            by_method.setdefault(g.method_label, []).append(g)
        for label, mgs in by_method.items():
            cells_of = {g.scenario: _storage_cells(g.runs) for g in mgs}
            kept = [g for g in mgs if any(c != "—" for c in cells_of[g.scenario])]
            if len(kept) > 1 and len({tuple(cells_of[g.scenario]) for g in kept}) == 1:  # the same in every scenario
                pooled = [r for g in kept for r in g.runs]
                storage.append([label, ", ".join(g.scenario for g in kept), str(len(pooled)), *_storage_cells(pooled)])
            else:
                storage += [[label, g.scenario, str(len(g.runs)), *cells_of[g.scenario]] for g in kept]
        if storage:
            lines += ["", "Storage per task (MB = 10^6 bytes; mean over tasks and seeds; — : not kept; one row for "
                      "the scenarios where it is the same): generative memories (float32 parameters), replay "
                      "buffer, and the task's raw training data for scale.", ""]
            lines += _md_table(["Method", "Scenario", "n", "Generator MB/task", "Replay buffer MB/task",
                                "Raw data MB/task"], storage)
        lines.append("")
    return "\n".join(lines)


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in text).strip("-")


def _save_fig(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)


def save_figures(groups: Sequence[Group], folder: Path) -> list[Path]:
    """Average accuracy after each task (per benchmark, data and scenario), mean accuracy-matrix heatmaps (per
    group) and, where a benchmark has runs outside the task scenario, the methods × scenarios bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    by_bench: dict[tuple[str, str, str], list[Group]] = {}
    for g in groups:
        by_bench.setdefault((g.benchmark, g.data, g.scenario), []).append(g)
    for (bench, data, scenario), gs in by_bench.items():
        fig, ax = plt.subplots(figsize=(6.5, 3.6))
        for i, g in enumerate(gs):
            a = np.array([r.metrics["average_accuracy_curve"] for r in g.runs], dtype=float)
            x = np.arange(1, a.shape[1] + 1)
            ax.plot(x, a.mean(0), "o-", color=f"C{i}", label=f"{g.label}, eval {g.eval_on} (n={len(a)})")
            if len(a) > 1:
                sd = a.std(0, ddof=1)
                ax.fill_between(x, a.mean(0) - sd, a.mean(0) + sd, color=f"C{i}", alpha=0.2)
        if bench == "split-mnist" and scenario == "task":
            for name, vals in PAPER_TABLE2.items():
                ax.plot(np.arange(1, len(vals) + 1), vals, "x--", color="gray" if name == "Fine-tuning" else "k",
                        label=f"{name} (paper, eval train)")
        ax.set_xlabel("tasks learned")
        ax.set_ylabel("average accuracy on seen tasks (%)")
        ax.set_title(f"{bench} ({data}), {scenario} scenario: mean ± std over seeds", fontsize=10)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        sc = "" if scenario == "task" else f"__{scenario}"
        path = folder / f"{_slug(bench)}__{_slug(data)}{sc}__average-accuracy.png"
        _save_fig(fig, path)
        written.append(path)
    for g in groups:
        R = np.array([[[np.nan if v is None else v for v in row] for row in r.accuracy_matrix] for r in g.runs],
                     dtype=float)
        seen = (~np.isnan(R)).sum(0)
        M = np.where(seen > 0, np.nansum(R, axis=0) / np.maximum(seen, 1), np.nan)  # None (not yet seen) stays blank
        fig, ax = plt.subplots(figsize=(3.8, 3.4))
        im = ax.imshow(M, vmin=0, vmax=100, cmap="viridis")
        for i in range(M.shape[0]):
            for j in range(M.shape[1]):
                if not np.isnan(M[i, j]):
                    ax.text(j, i, f"{M[i, j]:.0f}", ha="center", va="center", fontsize=8,
                            color="white" if M[i, j] < 60 else "black")
        ax.set_xticks(range(M.shape[1]), [f"T{j + 1}" for j in range(M.shape[1])])
        ax.set_yticks(range(M.shape[0]), [f"T{i + 1}" for i in range(M.shape[0])])
        ax.set_xlabel("evaluated on task")
        ax.set_ylabel("after training")
        ax.set_title(f"{g.benchmark} {g.label}\neval {g.eval_on}, {g.data}, mean of n={len(g.runs)}", fontsize=8)
        fig.colorbar(im, ax=ax, shrink=0.8, label="accuracy (%)")
        fig.tight_layout()
        sc = "" if g.scenario == "task" else f"__{g.scenario}"
        path = folder / (f"{_slug(g.benchmark)}__{_slug(g.data)}__{_slug(g.method_label)}__{g.profile}{sc}"
                         f"__eval-{g.eval_on}__accuracy-matrix.png")
        _save_fig(fig, path)
        written.append(path)
    from .plotting import scenario_bars

    sections: dict[tuple[str, str, str, str], list[Group]] = {}
    for g in groups:
        sections.setdefault((g.benchmark, g.data, g.profile, g.eval_on), []).append(g)
    for (bench, data, profile, eval_on), gs in sections.items():
        if all(g.scenario == "task" for g in gs):
            continue
        table: dict[str, dict[str, list[float]]] = {}
        for g in gs:
            table.setdefault(g.method_label, {})[g.scenario] = [r.average_accuracy for r in g.runs]
        fig = scenario_bars(dict(sorted(table.items())),
                            title=f"{bench} ({data}), {profile} profile, eval {eval_on}: average accuracy")
        path = folder / f"{_slug(bench)}__{_slug(data)}__{profile}__eval-{eval_on}__methods-x-scenarios.png"
        _save_fig(fig, path)
        written.append(path)
    return written


def aggregate(folder: str | os.PathLike[str], *, figures: bool = True) -> list[Group]:
    """Write ``summary.md``, ``summary.csv`` (and ``figures/``) from every RunResult in ``folder``."""
    from filelock import FileLock

    folder = Path(folder)
    (folder / ".locks").mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder / ".locks" / "summary.lock")):
        groups = group_results(collect_results(folder))
        md = results_markdown(groups)
        if any(g.scenario != "task" or any(r.storage for r in g.runs) for g in groups):
            md += "\n" + scenarios_markdown(groups)
        atomic_write_text(folder / "summary.md", md)
        atomic_write_text(folder / "summary.csv", results_csv(groups))
        if figures and groups:
            save_figures(groups, folder / "figures")
    return groups


# ------------------------------------------------------------------------------------------------ CLI


def _relative_paths(params: dict[str, Any], cwd: Path) -> dict[str, Any]:
    """``params`` with ``data_root`` and ``result_path`` relative to the kernel's folder ``cwd``, so executed
    notebooks name no machine-specific absolute path (run keys still hash the absolute values)."""
    return {k: os.path.relpath(v, cwd) if k in ("data_root", "result_path") and v is not None else v
            for k, v in params.items()}


def _data_roots(values: Sequence[str]) -> dict[str | None, str]:
    out: dict[str | None, str] = {}
    for v in values:
        bench, sep, path = v.partition("=")
        if sep and bench in BENCHMARKS:
            out[bench] = path
        elif sep and not Path(v).exists():
            raise ConfigError(f"--data-root {v}: unknown benchmark {bench!r}; valid: {', '.join(BENCHMARKS)}")
        else:
            out[None] = v
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``reproduce`` options (shared by ``python -m mygo_nb reproduce`` and ``mygo-reproduce``)."""
    p.add_argument("sweeps", nargs="*", metavar="SWEEP",
                   help="preset names (quick, paper, beyond) and/or spec files (.json, .yaml)")
    p.add_argument("--out", required=True, help="output folder (one notebook + one JSON per run, tables, figures)")
    p.add_argument("--executor", choices=("local", "dask"), default="local")
    p.add_argument("--workers", type=int, default=1, help="worker processes (local) or LocalCluster workers (dask)")
    p.add_argument("--scheduler", default=None, help="dask only: tcp://HOST:PORT of a running scheduler")
    p.add_argument("--device", default=None, help="override every run's device: auto, cpu or cuda")
    p.add_argument("--data-root", action="append", default=[], metavar="[BENCHMARK=]PATH",
                   help="data folder for all runs, or for one benchmark (repeatable)")
    p.add_argument("--benchmark", action="append", choices=BENCHMARKS, default=None,
                   help="keep only these benchmarks (repeatable)")
    p.add_argument("--eval-on", action="append", choices=EVAL_SPLITS, default=None,
                   help="keep only runs evaluated on this split (repeatable)")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="override the seeds of every grid block")
    p.add_argument("--notebook", default=None, help="execute this notebook instead of the spec's")
    p.add_argument("--kernel", default=None, help="Jupyter kernel name (default: the notebook's)")
    p.add_argument("--timeout", type=float, default=None, help="per-cell execution timeout in seconds")
    p.add_argument("--dry-run", action="store_true", help="list the runs and whether each is done; run nothing")
    p.add_argument("--aggregate-only", action="store_true", help="only rebuild the tables and figures of --out")
    p.add_argument("--no-figures", action="store_true", help="tables only")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


@contextlib.contextmanager
def _sigterm_exits() -> Iterator[None]:
    """While inside, SIGTERM (``kill PID``, a batch system's stop) raises SystemExit(143) in the main thread, so
    the executors stop their workers as on Ctrl-C instead of leaving them to start the queued runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    before = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def run_cli(args: argparse.Namespace) -> int:
    """Run ``reproduce``; 0 when every run is done or skipped, 1 when any failed (`ConfigError` for bad input)."""
    out = Path(args.out)
    if args.aggregate_only:
        if not out.is_dir():
            raise ConfigError(f"--out {out} is not a folder of results")
        groups = aggregate(out, figures=not args.no_figures)
        print(f"aggregated {sum(len(g.runs) for g in groups)} results into {out / 'summary.md'}")
        return 0
    if not args.sweeps:
        raise ConfigError(f"give at least one sweep: a preset ({', '.join(preset_names())}) or a spec file")
    runs: list[RunSpec] = []
    roots = _data_roots(args.data_root)
    for source in args.sweeps:
        spec, base = load_spec(source)
        runs += expand_spec(spec, base, device=args.device, data_roots=roots, benchmarks=args.benchmark,
                            seeds=args.seeds, eval_on=args.eval_on, notebook=args.notebook, source=source)
    runs = _dedupe(runs)
    if not runs:
        raise ConfigError("the sweep has no runs after filtering (check --benchmark)")
    if args.dry_run:
        for r in runs:
            rec = _read_json(out / f"{r.name}{SIDECAR}") or {}
            state = "done" if completed_record(out, r) else ("failed" if rec.get("status") == "failed" else "to run")
            print(f"{state:7s} {r.name}")
        print(f"{len(runs)} runs")
        return 0
    with _sigterm_exits():
        report = run_sweep(runs, out, executor=args.executor, workers=args.workers, scheduler=args.scheduler,
                           kernel_name=args.kernel, timeout=args.timeout, progress=not args.no_progress)
    print(report.summary())
    groups = aggregate(out, figures=not args.no_figures)
    print(f"tables: {out / 'summary.md'}, {out / 'summary.csv'} ({sum(len(g.runs) for g in groups)} results)")
    return 1 if report.failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console script ``mygo-reproduce``."""
    from .data import DataError

    p = argparse.ArgumentParser(prog="mygo-reproduce", description=__doc__.split("\n\n")[0])
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        return run_cli(args)
    except (ConfigError, DataError) as e:
        print(f"mygo-reproduce: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
