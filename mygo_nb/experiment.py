"""One call from options to a `RunResult`: what the CLI, the notebooks and the sweeps use (notebook 06)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import torch

from .baselines import config_dict
from .checkpoint import Checkpointer, run_fingerprint
from .config import BENCHMARKS, EVAL_SPLITS, PROFILES, ConfigError, Profile, check_choice
from .consolidate import ConsolidateConfig
from .data import Benchmark, Task, TokenBags, load_benchmark
from .methods import MethodRun, Stream, check_method, make_learner, run_method
from .metrics import summarize
from .results import RunResult

__all__ = ["check_method", "raw_data_bytes", "resolve_device", "run", "run_experiment", "seed_everything",
           "storage_record"]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` -> cuda when available, else cpu; ``cuda`` without a GPU is a clear error."""
    name = str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("--device cuda was asked for but no CUDA GPU is available; use --device cpu or auto")
    if name.split(":")[0] not in ("cpu", "cuda"):
        raise ConfigError(f"unknown device {name!r}; valid choices: auto, cpu, cuda")
    return torch.device(name)


def seed_everything(seed: int, device: torch.device) -> tuple[torch.Generator, torch.Generator]:
    """Seed torch's global stream (weight init) and return (device rng, host rng) for the run."""
    torch.manual_seed(seed)
    rng = torch.Generator(device=device).manual_seed(seed)
    host = torch.Generator().manual_seed(seed + 1)
    return rng, host


def run(bench: Benchmark, method: str, variant: str | None = None, profile: str | Profile = "paper", *,
        seed: int = 0, eval_on: str = "test", progress: bool = True,
        checkpoint_dir: str | os.PathLike[str] | None = None, resume: bool = False,
        scenario: str = "task", config: ConsolidateConfig | None = None) -> RunResult:
    """Run ``method`` on an already-loaded benchmark in ``scenario`` (`mygo_nb.scenarios`) and return its record.

    With ``checkpoint_dir``, the run's state is saved there after every task (`mygo_nb.checkpoint`);
    ``resume=True`` continues from the newest checkpoint there, if any. ``config`` replaces the named config
    of a ``mygo/consolidate*`` variant (probes such as benchmarks/class_il_probes.py); the record's
    ``traces["method_config"]`` always says which config ran.
    """
    variant = check_method(method, variant, scenario, config)
    prof = profile if isinstance(profile, Profile) else PROFILES[check_choice("profile", profile, tuple(PROFILES))]
    check_choice("eval split", eval_on, EVAL_SPLITS)
    t0 = time.perf_counter()
    rng, host = seed_everything(seed, bench.device)
    stream = Stream(prof.train, rng, host, progress, bench.n_tasks, scenario)
    learner = make_learner(method, bench, stream, variant, config)
    ckpt = None
    if checkpoint_dir is not None:
        fingerprint = run_fingerprint(bench, method, variant, prof.to_dict(), seed, eval_on, scenario,
                                      None if config is None else config.to_dict())
        ckpt = Checkpointer(checkpoint_dir, fingerprint, resume=resume)
    elif resume:
        raise ConfigError("resume=True needs a checkpoint_dir (CLI: --resume needs --out or --checkpoint-dir)")
    out: MethodRun = run_method(learner, bench, stream, eval_on, ckpt)
    return _record(bench, method, variant, scenario, prof, seed, eval_on, out, time.perf_counter() - t0)


def _record(bench: Benchmark, method: str, variant: str | None, scenario: str, prof: Profile, seed: int,
            eval_on: str, out: MethodRun, seconds: float) -> RunResult:
    phases: dict[str, float] = {}
    samples: dict[str, int] = {}
    for st in out.stages:
        for name, ph in st["phases"].items():
            phases[name] = phases.get(name, 0.0) + ph["seconds"]
            samples[name] = samples.get(name, 0) + ph["samples"]
    timings = {
        "total_seconds": seconds,
        "phase_seconds": {**phases, "eval": out.eval_seconds},
        "samples_per_second": {k: samples[k] / phases[k] for k in phases if phases[k] > 0},
        "per_task": [{k: v["seconds"] for k, v in st["phases"].items()} for st in out.stages],
    }
    traces: dict[str, Any] = {"extractor_drift": [st["extractor_drift"] for st in out.stages]}
    for key in ("sleep_loss", "sleep_dream_task", "sleep_budget", "wake", "train_loss"):
        if key in out.stages[0]:
            traces[key] = [st[key] for st in out.stages]
    method_config = config_dict(out.learner)
    if method_config is not None:
        traces["method_config"] = method_config
    data = {**bench.provenance, "tasks": [list(t.classes) for t in bench.tasks],
            "train_sizes": [len(t.train) for t in bench.tasks], "test_sizes": [len(t.test) for t in bench.tasks]}
    return RunResult(
        benchmark=bench.name, method=method, variant=variant, scenario=scenario, profile=prof.name,
        config=prof.to_dict(), seed=seed, device=str(bench.device), eval_on=eval_on,
        accuracy_matrix=out.R, metrics=summarize(out.R), timings=timings, data=data, traces=traces,
        storage=storage_record(bench, out.learner),
    )


#: How `raw_data_bytes` counts a task's raw training inputs (labels are not counted).
RAW_DTYPES = {"image": "uint8 pixels (1 B each; MNIST: 784 B per image)",
              "text": "int32 token ids (4 B each) plus one int32 length per document"}


def raw_data_bytes(task: Task) -> int:
    """Bytes to store ``task``'s raw training inputs as compact tensors (see `RAW_DTYPES`)."""
    x = task.train.x
    if isinstance(x, TokenBags):
        return 4 * (int(x.tokens.numel()) + len(x))
    return int(x.numel())


def storage_record(bench: Benchmark, learner: Any) -> dict[str, Any]:
    """Per task: bytes of the generative memory stored for it (float32 parameters; 0 for methods
    without memories; ``dgr``'s single generator is counted once, at the last task), of its raw training
    data, and of its replay buffer (raw samples kept by ``replay``; None for methods without one)."""
    memories = {m.task: m.nbytes() for m in getattr(learner, "memories", [])}
    buffers = getattr(learner, "buffer_bytes", None)
    per_task = [{"task": t.index, "generator_bytes": memories.get(t.index, 0), "raw_data_bytes": raw_data_bytes(t),
                 "train_samples": len(t.train),
                 "replay_buffer_bytes": None if buffers is None else buffers.get(t.index, 0)} for t in bench.tasks]
    return {"generator_dtype": "float32", "raw_data_dtype": RAW_DTYPES[bench.modality], "per_task": per_task}


def run_experiment(benchmark: str = "split-mnist", method: str = "mygo", variant: str | None = None,
                   profile: str = "paper", *, seed: int = 0, device: str = "auto",
                   data_root: str | os.PathLike[str] | None = None, eval_on: str = "test",
                   progress: bool = True, out: str | os.PathLike[str] | None = None,
                   checkpoint_dir: str | os.PathLike[str] | None = None, resume: bool = False,
                   scenario: str = "task") -> RunResult:
    """Load the benchmark, run the method, optionally save the JSON record to ``out``.

    ``checkpoint_dir`` / ``resume``: checkpoint after every task and continue an interrupted run (see `run`).
    """
    check_choice("benchmark", benchmark, BENCHMARKS)
    check_method(method, variant, scenario)  # fail before loading any data
    check_choice("eval split", eval_on, EVAL_SPLITS)
    prof = PROFILES[check_choice("profile", profile, tuple(PROFILES))]
    dev = resolve_device(device)
    bench = load_benchmark(benchmark, data_root, max_train_per_class=prof.max_train_per_class, device=dev)
    result = run(bench, method, variant, prof, seed=seed, eval_on=eval_on, progress=progress,
                 checkpoint_dir=checkpoint_dir, resume=resume, scenario=scenario)
    if out is not None:
        result.save(Path(out))
    return result
