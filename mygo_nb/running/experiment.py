"""One call from options to a `RunResult`: what the CLI, the notebooks and the sweeps use (chapter 6)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from ..config import EVAL_SPLITS, PROFILES, Profile, with_options
from ..core.context import RunContext
from ..core.metrics import summarize
from ..data import (
    Benchmark,
    Task,
    benchmark_entry,
    benchmark_names,
    check_scenario,
    load_benchmark,
    validation_split,
    vandeven_split,
)
from ..data.types import is_tokens
from ..errors import ConfigError, check_choice
from ..learners import Learner, check_method
from ..learners.base import config_dict
from .checkpoint import Checkpointer, run_fingerprint
from .loop import StreamRun, run_stream
from .records import RunResult

__all__ = [
    "benchmark_params",
    "default_scenario",
    "determinism",
    "eval_part",
    "load_for_profile",
    "profile_split",
    "raw_data_bytes",
    "resolve_device",
    "run",
    "run_experiment",
    "seed_everything",
    "storage_record",
    "with_train_options",
]

#: cuBLAS's fixed workspace, needed for deterministic GPU matrix products (read when CUDA starts)
CUBLAS_WORKSPACE = ":4096:8"


@contextlib.contextmanager
def determinism(enabled: bool) -> Iterator[None]:
    """While inside, when ``enabled``: torch's deterministic algorithms, and ``CUBLAS_WORKSPACE_CONFIG`` for cuBLAS
    (set it before CUDA starts: the CLI's ``--deterministic`` and a sweep's fresh kernels do). Two deterministic
    runs of one seed on one GPU model then give the same numbers; on a CPU every run is deterministic anyway."""
    if not enabled:
        yield
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


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


def profile_split(prof: Profile, benchmark: str, seed: int) -> tuple[tuple[int, ...], ...] | None:
    """The task split ``prof`` asks for on ``benchmark`` at ``seed`` (None: the benchmark's default)."""
    if prof.task_split == "default":
        return None
    if benchmark != "split-mnist":
        raise ConfigError(f"profile {prof.name!r} is a Split-MNIST protocol; it has no task split for {benchmark}")
    return vandeven_split(seed)


def benchmark_params(benchmark: str, seed: int, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The parameters ``benchmark`` is built with for a run of ``seed``: ``params`` over the registry's defaults,
    a ``seed`` parameter left at None set to the run's seed (Permuted-MNIST's permutations, as in van de Ven et
    al.'s code, differ from seed to seed)."""
    full = {**benchmark_entry(benchmark).params, **(params or {})}
    if "seed" in full and full["seed"] is None:
        full["seed"] = seed
    return full


def default_scenario(benchmark: str) -> str:
    """The scenario a run of ``benchmark`` has when none is given (the registry's: Split-MNIST's is ``task``,
    the paper's; Permuted-MNIST's ``domain``)."""
    return check_scenario(benchmark_entry(benchmark), None)


def load_for_profile(benchmark: str, data_root: str | os.PathLike[str] | None, prof: Profile, seed: int,
                     device: torch.device | str = "cpu", eval_on: str = "test", *, tasks: int | None = None,
                     params: Mapping[str, Any] | None = None) -> Benchmark:
    """``benchmark`` loaded as ``prof`` says: its cap on samples per class and its task split at ``seed``;
    for ``eval_on="val"``, with a validation part held out of its training data (`validation_split`).
    ``tasks`` and ``params``: the number of tasks and the benchmark's own parameters (`benchmark_params`). With
    the net ``minilm``, a text benchmark's ``tokenizer`` left at None becomes ``"minilm"`` (the installed
    MiniLM's tokenizer; a ``tokenizer`` given in ``params`` names another model)."""
    full = benchmark_params(benchmark, seed, params)
    if prof.train.net == "minilm" and "tokenizer" in full and full["tokenizer"] is None:
        full["tokenizer"] = "minilm"  # the pretrained net reads its own tokenizer's ids
    bench = load_benchmark(benchmark, data_root, tasks=tasks, max_train_per_class=prof.max_train_per_class,
                           device=device, split=profile_split(prof, benchmark, seed), params=full)
    return validation_split(bench) if check_choice("eval split", eval_on, EVAL_SPLITS) == "val" else bench


def eval_part(bench: Benchmark, eval_on: str) -> str:
    """The part of each task (``train`` or ``test``) that ``eval_on`` evaluates on ``bench``: a validation
    benchmark (`validation_split`) holds its validation part where the test part was, and takes no other."""
    check_choice("eval split", eval_on, EVAL_SPLITS)
    held_out = bool(bench.provenance.get("validation"))
    if (eval_on == "val") != held_out:
        raise ConfigError("eval_on='val' needs a benchmark with a validation split (load_for_profile(..., "
                          "eval_on='val') or mygo_nb.data.validation_split), and a validation split is only "
                          f"evaluated with eval_on='val'; got eval_on={eval_on!r}")
    return "test" if eval_on == "val" else eval_on


def with_train_options(prof: Profile, options: Mapping[str, Any] | None) -> Profile:
    """``prof`` with fields of its `TrainConfig` replaced (the name stays: records keep the whole config)."""
    return dataclasses.replace(prof, train=with_options(prof.train, options)) if options else prof


def run(bench: Benchmark, method: str, variant: str | None = None, profile: str | Profile = "paper", *,
        seed: int = 0, eval_on: str = "test", progress: bool = True,
        checkpoint_dir: str | os.PathLike[str] | None = None, resume: bool = False,
        scenario: str | None = None, config: Any = None, deterministic: bool = False) -> RunResult:
    """Run ``method`` on an already-loaded benchmark in ``scenario`` (`mygo_nb.core.scenarios`) and return its record.

    With ``checkpoint_dir``, the run's state is saved there after every task (`mygo_nb.running.checkpoint`);
    ``resume=True`` continues from the newest checkpoint there, if any. ``config`` (the method's frozen config
    class, e.g. `~mygo_nb.learners.ewc.EWCConfig`) replaces the variant's or the method's default one; the
    record's ``traces["method_config"]`` always says which config ran. ``deterministic``: see `determinism`; the
    record's ``resources`` say whether the run was, and its peak GPU memory. ``scenario`` None: the benchmark's
    default (`default_scenario`; a benchmark built outside the registry: ``task``).
    """
    if bench.name in benchmark_names():
        scenario = check_scenario(benchmark_entry(bench.name), scenario)
    elif scenario is None:  # a benchmark built outside the registry
        scenario = "task"
    entry = check_method(method, variant, scenario, config)
    prof = profile if isinstance(profile, Profile) else PROFILES[check_choice("profile", profile, tuple(PROFILES))]
    part = eval_part(bench, eval_on)
    split = profile_split(prof, bench.name, seed)
    if split is not None and tuple(t.classes for t in bench.tasks) != split:
        raise ConfigError(f"profile {prof.name!r} cuts {bench.name} into the tasks {split} for seed {seed}; "
                          "load the benchmark with load_for_profile")
    t0 = time.perf_counter()
    rng, host = seed_everything(seed, bench.device)
    ctx = RunContext(prof.train, rng, host, progress, bench.n_tasks, scenario)
    learner = entry.learner(bench, ctx, config if config is not None else entry.config)
    ckpt = None
    if checkpoint_dir is not None:
        fingerprint = run_fingerprint(bench, method, entry.variant, prof.to_dict(), seed, eval_on, scenario,
                                      None if config is None else config_dict(config))
        ckpt = Checkpointer(checkpoint_dir, fingerprint, resume=resume)
    elif resume:
        raise ConfigError("resume=True needs a checkpoint_dir (CLI: --resume needs --out or --checkpoint-dir)")
    cuda = bench.device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(bench.device)
    with determinism(deterministic):
        out = run_stream(learner, bench, part, ckpt)
    result = _record(bench, method, entry.variant, scenario, prof, seed, eval_on, out, time.perf_counter() - t0)
    result.resources = {"deterministic": deterministic, "threads": torch.get_num_threads(),
                        "peak_device_bytes": torch.cuda.max_memory_allocated(bench.device) if cuda else None,
                        "visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
                        "resumed_after_stage": ckpt.resumed_from if ckpt else 0}
    return result


def _record(bench: Benchmark, method: str, variant: str | None, scenario: str, prof: Profile, seed: int,
            eval_on: str, out: StreamRun, seconds: float) -> RunResult:
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
    # every key of the stage logs but "phases" is a trace: one value per stage
    traces: dict[str, Any] = {k: [st[k] for st in out.stages] for k in out.stages[0] if k != "phases"}
    learner = out.learner
    assert learner is not None
    method_config = config_dict(learner.config)
    if method_config:
        traces["method_config"] = method_config
    data = {**bench.provenance, "tasks": [list(t.classes) for t in bench.tasks],
            "train_sizes": [len(t.train) for t in bench.tasks], "test_sizes": [len(t.test) for t in bench.tasks]}
    return RunResult(
        benchmark=bench.name, method=method, variant=variant, scenario=scenario, profile=prof.name,
        config=prof.to_dict(), seed=seed, device=str(bench.device), eval_on=eval_on,
        accuracy_matrix=out.accuracy, metrics=summarize(out.accuracy), timings=timings, data=data, traces=traces,
        storage=storage_record(bench, learner),
    )


#: How `raw_data_bytes` counts a task's raw training inputs (labels are not counted).
RAW_DTYPES = {"image": "uint8 pixels (1 B each; MNIST: 784 B per image, 1,024 B padded to 32 x 32)",
              "text": "int32 token ids (4 B each) plus one int32 length per document"}


def raw_data_bytes(task: Task) -> int:
    """Bytes to store ``task``'s raw training inputs as compact tensors (see `RAW_DTYPES`)."""
    x = task.train.x
    if is_tokens(x):
        return x.raw_bytes()  # type: ignore[union-attr]
    return int(x.numel())


def storage_record(bench: Benchmark, learner: Learner) -> dict[str, Any]:
    """Per task: bytes of the generative memory stored for it (float32 parameters; 0 for methods
    without memories; ``dgr``'s single generator is counted once, at the last task), of its raw training
    data, and of its replay buffer (raw samples kept by ``replay``; None for methods without one)."""
    memories = {m.task: m.nbytes() for m in learner.memories}
    buffers = learner.stored_bytes()
    per_task = [{"task": t.index, "generator_bytes": memories.get(t.index, 0), "raw_data_bytes": raw_data_bytes(t),
                 "train_samples": len(t.train),
                 "replay_buffer_bytes": None if buffers is None else buffers.get(t.index, 0)} for t in bench.tasks]
    return {"generator_dtype": "float32", "raw_data_dtype": RAW_DTYPES[bench.modality], "per_task": per_task}


def run_experiment(benchmark: str = "split-mnist", method: str = "mygo", variant: str | None = None,
                   profile: str = "paper", *, seed: int = 0, device: str = "auto",
                   data_root: str | os.PathLike[str] | None = None, eval_on: str = "test",
                   progress: bool = True, out: str | os.PathLike[str] | None = None,
                   checkpoint_dir: str | os.PathLike[str] | None = None, resume: bool = False,
                   scenario: str | None = None, config: Any = None, deterministic: bool = False,
                   options: Mapping[str, Any] | None = None,
                   train_options: Mapping[str, Any] | None = None, tasks: int | None = None,
                   benchmark_options: Mapping[str, Any] | None = None) -> RunResult:
    """Load the benchmark, run the method, optionally save the JSON record to ``out``.

    ``checkpoint_dir`` / ``resume``: checkpoint after every task and continue an interrupted run (see `run`).
    ``options`` set fields of the method's config (``config``, else the variant's), ``train_options`` fields of
    the profile's `TrainConfig` (e.g. ``{"lr_slow": 3e-4}``): how a tuning sweep varies one method.
    ``tasks`` and ``benchmark_options``: the benchmark's number of tasks and its own parameters (e.g.
    ``{"seed": 7}`` for Permuted-MNIST's permutations); ``scenario`` None: the benchmark's default.
    """
    entry_b = benchmark_entry(benchmark)
    scenario = check_scenario(entry_b, scenario)
    entry = check_method(method, variant, scenario, config)  # fail before loading any data
    if options:
        config = with_options(config if config is not None else entry.config, options)
    check_choice("eval split", eval_on, EVAL_SPLITS)
    prof = with_train_options(PROFILES[check_choice("profile", profile, tuple(PROFILES))], train_options)
    if deterministic:  # before CUDA starts
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    dev = resolve_device(device)
    bench = load_for_profile(benchmark, data_root, prof, seed, dev, eval_on, tasks=tasks, params=benchmark_options)
    result = run(bench, method, variant, prof, seed=seed, eval_on=eval_on, progress=progress,
                 checkpoint_dir=checkpoint_dir, resume=resume, scenario=scenario, config=config,
                 deterministic=deterministic)
    if out is not None:
        result.save(Path(out))
    return result
