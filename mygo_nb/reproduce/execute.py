"""Executing a sweep's runs with papermill: locally (worker processes) or on Dask, nothing lost, nothing redone."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
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

from ..book.nbutil import show_path
from ..errors import ConfigError, check_choice
from ..running.records import atomic_write_text
from .spec import MANIFEST, SIDECAR, RunSpec, notebook_digest, read_json

__all__ = ["FAKE_GPUS", "SweepReport", "completed_record", "default_runs_per_gpu", "execute_run", "gpu_slots",
           "project_root", "rekey", "reuse_runs", "run_sweep", "shown_path", "visible_gpus"]

#: Pretend this many GPUs are visible (tests of the scheduling and pinning on machines without one).
FAKE_GPUS = "MYGO_FAKE_GPUS"
#: Assumed peak GPU memory of a run when no record in the output folder has measured one.
DEFAULT_PEAK_BYTES = 2 << 30


def _relative_paths(params: dict[str, Any], out: Path) -> dict[str, Any]:
    """``params`` with ``data_root``, ``result_path`` and ``checkpoint_dir`` relative to the sweep's output folder
    ``out``, where the kernel runs: the run's own files by their names in the folder (``NAME.json``,
    ``.checkpoints/NAME``), the data by the way there from the folder (``../../../../shared/data`` in a project with
    ``../shared`` beside it). Executed notebooks thus name no machine-specific path, wherever the sweep was started
    from (run keys hash the spec's own values)."""
    base = out.resolve()
    return {k: os.path.relpath(Path(v).resolve(), base)
            if k in ("data_root", "result_path", "checkpoint_dir") and v is not None else v
            for k, v in params.items()}


def project_root(folder: Path) -> Path:
    """The project a sweep folder lies in: its nearest ancestor with a ``pyproject.toml`` or a ``.git``, else the
    working directory."""
    folder = folder.resolve()
    for d in (folder, *folder.parents):
        if (d / "pyproject.toml").is_file() or (d / ".git").exists():
            return d
    return Path.cwd().resolve()


def shown_path(path: Path, root: Path) -> str:
    """``path`` as an executed notebook's metadata shows it: relative to the project ``root``, or for a notebook
    of the package relative to the folder that holds the package (``mygo_nb/reproduce/notebooks/run_one.ipynb``),
    else shortened by `mygo_nb.book.nbutil.show_path` (never a machine's absolute path)."""
    p = path.resolve()
    for base in (root, Path(__file__).resolve().parents[2]):
        if p.is_relative_to(base):
            return p.relative_to(base).as_posix()
    return show_path(p, root)


def _show_paths(notebook: Path, spec_notebook: Path, final: Path, root: Path) -> None:
    """Write the papermill metadata of an executed ``notebook`` with project paths: its input ``spec_notebook``
    and its output ``final`` (`shown_path`)."""
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    meta = nb.get("metadata", {}).get("papermill")
    if isinstance(meta, dict):
        meta["input_path"], meta["output_path"] = shown_path(spec_notebook, root), shown_path(final, root)
        atomic_write_text(notebook, json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


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


def rekey(folder: str | os.PathLike[str], notebook: str | os.PathLike[str]) -> int:
    """Migrate a sweep folder after a change to ``notebook`` that does not change what its runs compute (e.g. a
    new optional parameter): every completed run of that notebook gets the key the same parameters have now, so
    it is reused instead of run again. Returns how many records changed. Use with care: a change that does
    change the results needs the runs again, not new keys."""
    out, name, sha = Path(folder), Path(notebook).name, notebook_digest(notebook)
    changed = []
    for side in sorted(out.glob(f"*{SIDECAR}")):
        rec = read_json(side)
        if not rec or rec.get("status") != "done" or Path(rec.get("source_notebook", "")).name != name:
            continue
        key = hashlib.sha256(json.dumps({"notebook": sha, "parameters": rec["parameters"]},
                                        sort_keys=True).encode()).hexdigest()
        if key != rec.get("key"):
            rec["key"] = key
            atomic_write_text(side, json.dumps(rec, indent=1))
            changed.append(rec)
    if changed:
        _update_manifest(out, changed)
    return len(changed)


def reuse_runs(runs: Sequence[RunSpec], out: str | os.PathLike[str],
               folders: Sequence[str | os.PathLike[str]]) -> list[str]:
    """Copy into ``out`` every run of ``runs`` that ``out`` lacks and one of ``folders`` holds done with the same
    key (the same notebook and parameters: the same run), with its notebook and record; returns their names.
    The copied sidecar says where it came from (``reused_from``)."""
    dest = Path(out)
    copied = []
    for spec in runs:
        if completed_record(dest, spec):
            continue
        for folder in map(Path, folders):
            rec = completed_record(folder, spec)
            if rec is None or folder.resolve() == dest.resolve():
                continue
            dest.mkdir(parents=True, exist_ok=True)
            for suffix in (".json", ".ipynb"):
                if (folder / f"{spec.name}{suffix}").is_file():
                    shutil.copyfile(folder / f"{spec.name}{suffix}", dest / f"{spec.name}{suffix}")
            _write_record(dest, {**rec, "reused_from": str(folder)})
            copied.append(spec.name)
            break
    return copied


def _attempt(out: Path, spec: RunSpec) -> int:
    """Count one more attempt at ``spec`` (a run retried after its worker died counts twice)."""
    path = out / ".attempts" / spec.name
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        n = int(path.read_text()) + 1
    except (OSError, ValueError):
        n = 1
    atomic_write_text(path, str(n))
    return n


def _record(spec: RunSpec, status: str, seconds: float, error: str | None, notebook: str | None,
            attempts: int = 1) -> dict[str, Any]:
    return {"name": spec.name, "key": spec.key, "status": status, "error": error, "attempts": attempts,
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
    done it), writes the executed notebook and the result, then the ``.sweep.json`` record. The notebook
    checkpoints after every task into ``.checkpoints/NAME``: a run whose worker died (a lost Dask worker is
    retried on another one) continues from there, and the record counts its ``attempts``. Returns the
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
        ckpt = out / ".checkpoints" / spec.name
        attempts = _attempt(out, spec)
        error: str | None = None
        t0 = time.perf_counter()
        try:
            import papermill as pm
            from papermill.exceptions import PapermillExecutionError

            try:
                pm.execute_notebook(os.path.relpath(spec.notebook), os.path.relpath(partial),
                                    parameters=_relative_paths(spec.parameters(str(res), str(ckpt)), out),
                                    kernel_name=kernel_name, progress_bar=False, log_output=False,
                                    cwd=str(out.resolve()), execution_timeout=timeout)
            except PapermillExecutionError as e:
                error = f"{e.ename}: {e.evalue}"
            if error is None and not res.is_file():
                error = "the notebook finished without writing its result JSON (is result_path used?)"
        except Exception as e:  # a kernel that died, a missing kernel, a bad notebook: record, go on
            error = f"{type(e).__name__}: {e}".strip() or traceback.format_exc(limit=1)
        notebook = None
        if partial.is_file():
            _show_paths(partial, Path(spec.notebook), nb_out, project_root(out))
            os.replace(partial, nb_out)
            notebook = nb_out.name
        rec = _record(spec, "failed" if error else "done", time.perf_counter() - t0, error, notebook, attempts)
        _write_record(out, rec)
        if error is None:
            shutil.rmtree(ckpt, ignore_errors=True)
            (out / ".attempts" / spec.name).unlink(missing_ok=True)
        return {**rec, "outcome": rec["status"]}


def _crashed(spec: RunSpec, out: Path, exc: BaseException) -> dict[str, Any]:
    """Record for a run whose worker itself died (the run's own handler never returned)."""
    nb = out / f"{spec.name}.ipynb"
    rec = _record(spec, "failed", 0.0, f"worker died: {type(exc).__name__}: {exc}", nb.name if nb.is_file() else None)
    _write_record(out, rec)
    return {**rec, "outcome": "failed"}


# --------------------------------------------------------------------------------------------------
# Devices: which GPUs, how many runs on each, how many CPU threads per run
# --------------------------------------------------------------------------------------------------
def visible_gpus() -> list[str]:
    """The GPUs runs may be pinned to, as ``CUDA_VISIBLE_DEVICES`` entries (``MYGO_FAKE_GPUS=N`` pretends N)."""
    fake = os.environ.get(FAKE_GPUS)
    if fake:
        return [str(i) for i in range(int(fake))]
    import torch

    n = torch.cuda.device_count()
    listed = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    return listed[:n] if listed else [str(i) for i in range(n)]


def default_runs_per_gpu(out: Path, gpu_bytes: int | None = None) -> int:
    """How many runs share one GPU: as many as fit in 80 % of its memory (``gpu_bytes``, default: the first
    GPU's, 80 GB when pretending) at 1.25 x the largest peak that a record in ``out`` measured
    (`RunResult.resources`), else at `DEFAULT_PEAK_BYTES`; between 1 and 8."""
    peaks = [p for f in out.glob("*.json") if not f.name.endswith(SIDECAR) and f.name != MANIFEST
             for p in [((read_json(f) or {}).get("resources") or {}).get("peak_device_bytes")] if p]
    if gpu_bytes is None:
        if os.environ.get(FAKE_GPUS):
            gpu_bytes = 80 * 10**9
        else:
            import torch

            gpu_bytes = torch.cuda.get_device_properties(0).total_memory
    peak = max(peaks, default=DEFAULT_PEAK_BYTES)
    return max(1, min(8, int(0.8 * gpu_bytes / (1.25 * peak))))


def gpu_slots(runs: Sequence[RunSpec], runs_per_gpu: int | None, out: Path) -> list[str]:
    """One entry per concurrent run, naming the GPU it is pinned to (every visible GPU ``runs_per_gpu`` times);
    empty when no run uses a GPU (``cuda``, or ``auto`` with a GPU visible) or none is visible."""
    gpus = visible_gpus()
    if not gpus or not any(r.device in ("cuda", "auto") for r in runs):
        return []
    n = runs_per_gpu or default_runs_per_gpu(out)
    return [g for g in gpus for _ in range(n)]


def _thread_env(n_concurrent: int) -> dict[str, str]:
    """CPU threads per run so that concurrent runs share the cores instead of fighting over them."""
    threads = str(max(1, (os.cpu_count() or 1) // max(1, n_concurrent)))
    return {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}


def _init_worker(parent: int, slots: Any, env: dict[str, str]) -> None:
    """Pool-worker initializer: pin this worker to the next GPU slot (``CUDA_VISIBLE_DEVICES``, before CUDA
    starts; the notebook kernels it launches inherit it), set its threads, and follow its parent."""
    os.environ.update(env)
    slot = slots.get() if slots is not None else None
    if slot is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = slot
    _exit_with_parent(parent)


def _exit_with_parent(parent: int) -> None:
    """End this worker as soon as its parent process is gone (killed, even by SIGKILL), so that no run starts
    or goes on without the sweep that asked for it."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="mygo-parent-watch", daemon=True).start()


def _run_local(runs: Sequence[RunSpec], out: Path, workers: int, kernel: str | None, timeout: float | None,
               done: Callable[[dict[str, Any]], None], slots: Sequence[str] = ()) -> None:
    """Run ``runs`` in ``workers`` processes (with GPU ``slots``: one process per slot, each pinned to its GPU)."""
    if workers == 1 and not slots:
        for spec in runs:
            done(execute_run(spec, str(out), kernel, timeout))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    mp = multiprocessing.get_context("spawn")
    queue = None
    if slots:
        workers, queue = len(slots), mp.Queue()
        for slot in slots:
            queue.put(slot)
    pool = ProcessPoolExecutor(workers, mp_context=mp, initializer=_init_worker,
                               initargs=(os.getpid(), queue, _thread_env(workers)))
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


def _local_cluster(workers: int, slots: Sequence[str]) -> Any:
    """A cluster on 127.0.0.1: ``workers`` CPU workers, or with GPU ``slots`` one single-threaded worker per slot,
    pinned to its GPU (papermill changes the process's working folder while it runs a notebook, so two runs must
    never share a worker process)."""
    from distributed import LocalCluster, Nanny, Scheduler, SpecCluster

    if not slots:
        return LocalCluster(host="127.0.0.1", n_workers=workers, threads_per_worker=1, processes=True,
                            dashboard_address=None, resources={"GPU": 1}, env=_thread_env(workers))
    specs = {f"gpu{g}-{i}": {"cls": Nanny, "options": {
        "host": "127.0.0.1", "nthreads": 1, "resources": {"GPU": 1},
        "env": {"CUDA_VISIBLE_DEVICES": g, **_thread_env(len(slots))}}} for i, g in enumerate(slots)}
    scheduler = {"cls": Scheduler, "options": {"host": "127.0.0.1", "dashboard": False}}
    return SpecCluster(workers=specs, scheduler=scheduler)


def _run_dask(runs: Sequence[RunSpec], out: Path, workers: int, scheduler: str | None, kernel: str | None,
              timeout: float | None, done: Callable[[dict[str, Any]], None], slots: Sequence[str] = (),
              runs_per_gpu: int | None = None) -> None:
    from dask.distributed import Client, as_completed

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
        cluster = _local_cluster(workers, slots)
        client = Client(cluster)
    share = 1 / (runs_per_gpu or (len(slots) // max(1, len(set(slots))) if slots else 1))
    try:
        futures = {}
        for spec in runs:
            res = {"GPU": share} if spec.device.startswith("cuda") or (slots and spec.device == "auto") else None
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

    @property
    def retried(self) -> list[dict[str, Any]]:
        """Runs that took more than one attempt (their worker died, e.g. a lost Dask worker)."""
        return [r for r in self.done + self.failed if r.get("attempts", 1) > 1]

    def summary(self) -> str:
        n = len(self.done) + len(self.skipped) + len(self.failed)
        lines = [f"sweep: {n} runs — {len(self.done)} done, {len(self.skipped)} skipped (already done), "
                 f"{len(self.failed)} failed in {self.seconds:.1f}s"]
        lines += [f"  RETRIED {r['name']}: {r['attempts']} attempts, {r['status']}" for r in self.retried]
        lines += [f"  FAILED {r['name']}: {r['error']} (notebook: {r['notebook'] or 'none'})" for r in self.failed]
        return "\n".join(lines)


def run_sweep(runs: Sequence[RunSpec], out_dir: str | os.PathLike[str], *, executor: str = "local", workers: int = 1,
              scheduler: str | None = None, kernel_name: str | None = None, timeout: float | None = None,
              progress: bool = True, runs_per_gpu: int | None = None) -> SweepReport:
    """Execute the runs not yet complete in ``out_dir``; return what happened (see the module docstring).

    With GPUs visible and runs on them, each GPU takes ``runs_per_gpu`` runs at once (default:
    `default_runs_per_gpu`), each run pinned to its GPU; the CPU threads are shared out among the runs.
    """
    from tqdm.auto import tqdm

    check_choice("executor", executor, ("local", "dask"))
    if workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {workers}")
    if runs_per_gpu is not None and runs_per_gpu < 1:
        raise ConfigError(f"--runs-per-gpu must be >= 1, got {runs_per_gpu}")
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
    slots = gpu_slots(todo, runs_per_gpu, out) if todo and not scheduler else []
    try:
        if todo and executor == "local":
            _run_local(todo, out, workers, kernel_name, timeout, done, slots)
        elif todo:
            _run_dask(todo, out, workers, scheduler, kernel_name, timeout, done, slots, runs_per_gpu)
    finally:
        bar.close()
    report.seconds = time.perf_counter() - t0
    return report
