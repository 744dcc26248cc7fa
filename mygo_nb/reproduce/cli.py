"""The ``reproduce`` command (``python -m mygo_nb reproduce`` and ``mygo-reproduce``)."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..config import EVAL_SPLITS
from ..data import benchmark_names
from ..errors import ConfigError, DataError
from ..learners import PLUGINS_VARIABLE, load_plugins
from .execute import completed_record, rekey, reuse_runs, run_sweep
from .spec import SIDECAR, RunSpec, dedupe, expand_spec, load_spec, preset_names, read_json, resolve_notebook
from .summary import aggregate

__all__ = ["add_arguments", "main", "preload_plugins", "run_cli"]


def preload_plugins(argv: Sequence[str] | None) -> None:
    """Load the ``--plugin PATH`` method files named in ``argv`` before the parser lists the methods, and add them
    to ``MYGO_PLUGINS`` so that every notebook kernel and Dask worker started from here loads them too."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--plugin", action="append", default=[])
    paths = [str(Path(p).expanduser().resolve()) for p in pre.parse_known_args(argv)[0].plugin]
    if paths:
        before = [p for p in os.environ.get(PLUGINS_VARIABLE, "").split(os.pathsep) if p]
        os.environ[PLUGINS_VARIABLE] = os.pathsep.join(dict.fromkeys([*before, *paths]))
        load_plugins(os.pathsep.join(paths))


def add_plugin_argument(p: argparse.ArgumentParser) -> None:
    """``--plugin PATH``: a method file to load (see `preload_plugins`)."""
    p.add_argument("--plugin", action="append", default=[], metavar="PATH",
                   help="a .py file that registers a method of your own (repeatable; also: MYGO_PLUGINS)")


def _data_roots(values: Sequence[str]) -> dict[str | None, str]:
    out: dict[str | None, str] = {}
    for v in values:
        bench, sep, path = v.partition("=")
        if sep and bench in benchmark_names():
            out[bench] = path
        elif sep and not Path(v).exists():
            raise ConfigError(f"--data-root {v}: unknown benchmark {bench!r}; valid: {', '.join(benchmark_names())}")
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
    p.add_argument("--benchmark", action="append", choices=benchmark_names(), default=None,
                   help="keep only these benchmarks (repeatable)")
    p.add_argument("--eval-on", action="append", choices=EVAL_SPLITS, default=None,
                   help="keep only runs evaluated on this split (repeatable; train: the training subsets, the "
                        "reference code's protocol)")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="override the seeds of every grid block")
    p.add_argument("--notebook", default=None,
                   help="execute this notebook instead of the spec's (default: the packaged run_one.ipynb)")
    p.add_argument("--kernel", default=None, help="Jupyter kernel name (default: the notebook's)")
    p.add_argument("--timeout", type=float, default=None, help="per-cell execution timeout in seconds")
    p.add_argument("--dry-run", action="store_true", help="list the runs and whether each is done; run nothing")
    p.add_argument("--aggregate-only", action="store_true", help="only rebuild the tables and figures of --out")
    p.add_argument("--no-figures", action="store_true", help="tables only")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--runs-per-gpu", type=int, default=None, metavar="N",
                   help="runs sharing one GPU at once (default: as many as fit the measured peak memory, at most 8)")
    p.add_argument("--deterministic", action="store_true",
                   help="deterministic algorithms in every run (GPU runs of one seed then give equal numbers)")
    p.add_argument("--rekey", default=None, metavar="NOTEBOOK",
                   help="migrate --out after a change to NOTEBOOK (a path, or run_one.ipynb: the packaged one) that "
                        "does not change what runs compute: its done runs get their new content hash and are reused")
    p.add_argument("--reuse", action="append", default=[], metavar="FOLDER",
                   help="before running, copy from FOLDER (repeatable) every run --out lacks that FOLDER holds done "
                        "with the same content hash (e.g. a tuned sweep's runs at the default settings)")
    add_plugin_argument(p)


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
    if args.rekey:
        if not out.is_dir():
            raise ConfigError(f"--out {out} is not a folder of results")
        notebook = resolve_notebook(args.rekey)
        print(f"rekeyed {rekey(out, notebook)} completed runs of {Path(notebook).name} in {out}")
        return 0
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
                            seeds=args.seeds, eval_on=args.eval_on, notebook=args.notebook,
                            deterministic=args.deterministic, source=source)
    runs = dedupe(runs)
    if not runs:
        raise ConfigError("the sweep has no runs after filtering (check --benchmark)")
    if args.reuse and not args.dry_run:
        for folder in args.reuse:
            if not Path(folder).is_dir():
                raise ConfigError(f"--reuse {folder} is not a folder of results")
        print(f"reused {len(reuse_runs(runs, out, args.reuse))} done runs from {', '.join(args.reuse)}")
    if args.dry_run:
        for r in runs:
            rec = read_json(out / f"{r.name}{SIDECAR}") or {}
            state = "done" if completed_record(out, r) else ("failed" if rec.get("status") == "failed" else "to run")
            print(f"{state:7s} {r.name}")
        print(f"{len(runs)} runs")
        return 0
    with _sigterm_exits():
        report = run_sweep(runs, out, executor=args.executor, workers=args.workers, scheduler=args.scheduler,
                           kernel_name=args.kernel, timeout=args.timeout, progress=not args.no_progress,
                           runs_per_gpu=args.runs_per_gpu)
    print(report.summary())
    groups = aggregate(out, figures=not args.no_figures)
    print(f"tables: {out / 'summary.md'}, {out / 'summary.csv'} ({sum(len(g.runs) for g in groups)} results)")
    return 1 if report.failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Console script ``mygo-reproduce``."""
    p = argparse.ArgumentParser(prog="mygo-reproduce", description="Batch reproduction: papermill sweeps of "
                                "notebooks x a parameter grid x seeds, locally or on Dask.")
    try:
        preload_plugins(argv if argv is not None else sys.argv[1:])
        add_arguments(p)  # lists the methods: loads the plugins of MYGO_PLUGINS
    except ConfigError as e:
        print(f"mygo-reproduce: error: {e}", file=sys.stderr)
        return 2
    args = p.parse_args(argv)
    try:
        return run_cli(args)
    except (ConfigError, DataError) as e:
        print(f"mygo-reproduce: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
