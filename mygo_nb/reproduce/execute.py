"""Executing a sweep's runs with papermill: locally (worker processes) or on Dask, nothing lost, nothing redone."""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import ConfigError, check_choice
from ..running.records import atomic_write_text
from .spec import MANIFEST, SIDECAR, RunSpec, read_json

__all__ = ["SweepReport", "completed_record", "execute_run", "run_sweep"]


def _relative_paths(params: dict[str, Any], cwd: Path) -> dict[str, Any]:
    """``params`` with ``data_root`` and ``result_path`` relative to the kernel's folder ``cwd``, so executed
    notebooks name no machine-specific absolute path (run keys still hash the absolute values)."""
    return {k: os.path.relpath(v, cwd) if k in ("data_root", "result_path") and v is not None else v
            for k, v in params.items()}


def completed_record(out: Path, spec: RunSpec) -> dict[str, Any] | None:
    """The run's sidecar record when it finished successfully with the same key, else None."""
    rec = read_json(out / f"{spec.name}{SIDECAR}")
    if rec and rec.get("status") == "done" and rec.get("key") == spec.key and (out / f"{spec.name}.json").is_file():
        return rec
    return None


def _update_manifest(out: Path, records: Sequence[Mapping[str, Any]]) -> None:
    """Merge run records into the folder's manifest under a file lock (safe with concurrent sweeps)."""
    from filelock import FileLock

    (out / ".locks").mkdir(parents=True, exist_ok=True)
    with FileLock(str(out / ".locks" / f"{MANIFEST}.lock")):
        manifest = read_json(out / MANIFEST) or {"runs": {}}
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
