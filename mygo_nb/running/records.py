"""Run records: a JSON-serialisable result of one run (introduced in chapter 6).

A `RunResult` holds the configuration, data provenance, seed, device, per-phase timings, the accuracy
matrix and its metrics, the sleep-loss traces, how far the extractor moved, library versions, and
a per-task storage account (chapter 11): bytes of generators vs raw task data vs replay buffer.
Records written before that field existed load with an empty ``storage``.
Results are written atomically (a temporary file then a rename), so a killed run never leaves half a file.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from ..config import TrainConfig, method_label
from ..data import Benchmark

__all__ = ["RunResult", "atomic_write_text", "bench_data", "complete_profile", "library_versions", "record_data",
           "run_identity"]


def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("mygo-nb", "torch", "torchvision", "numpy", "scikit-learn", "safetensors"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def complete_profile(config: dict[str, Any]) -> dict[str, Any]:
    """A record's profile (``Profile.to_dict()``) with every field added since the record was written, at the
    value it ran with: the field's default (each new field's default keeps the behaviour from before it)."""
    if "train" not in config:
        return config
    return {**config, "train": {**TrainConfig().to_dict(), **config["train"]},
            "task_split": config.get("task_split", "default")}


def run_identity(benchmark: str, method: str, variant: Any, scenario: str, seed: int, eval_on: str,
                 profile: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """What a run is: the one answer behind the record lookups (`mygo_nb.book.remote.run_key`), the tables
    and the checkpoint fingerprints (`mygo_nb.running.checkpoint.run_fingerprint`).

    The benchmark, the method, its variant's name (or the method config it ran with), the scenario, the seed,
    the evaluated split, the profile (completed with the fields added since, `complete_profile`), and of the
    data (`bench_data`, `record_data`): the files' checksums, the benchmark's own parameters (None for a split
    benchmark) and the tasks' sizes.
    """
    return {"benchmark": benchmark, "method": method, "variant": variant, "scenario": scenario, "seed": seed,
            "eval_on": eval_on, "profile": complete_profile(profile), "files": data.get("files"),
            "params": data.get("params") or None, "train_sizes": data.get("train_sizes"),
            "test_sizes": data.get("test_sizes")}


def bench_data(bench: Benchmark) -> dict[str, Any]:
    """The data fields `run_identity` takes, of a loaded benchmark."""
    return {"files": bench.provenance.get("files"), "params": bench.provenance.get("params"),
            "train_sizes": [len(t.train) for t in bench.tasks], "test_sizes": [len(t.test) for t in bench.tasks]}


def record_data(data: dict[str, Any]) -> dict[str, Any]:
    """The data fields `run_identity` takes, of a record's ``data``."""
    return {k: data.get(k) for k in ("files", "params", "train_sizes", "test_sizes")}


@dataclass
class RunResult:
    """Everything one run produced that a table, a figure or a reader needs."""

    benchmark: str
    method: str
    variant: str | None
    scenario: str
    profile: str
    config: dict[str, Any]
    seed: int
    device: str
    eval_on: str
    accuracy_matrix: list[list[float | None]]
    metrics: dict[str, Any]
    timings: dict[str, Any]
    data: dict[str, Any]
    traces: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=library_versions)
    storage: dict[str, Any] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return method_label(self.method, self.variant)

    @property
    def average_accuracy(self) -> float:
        return float(self.metrics["average_accuracy"])

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def identity(self, by_config: bool = False) -> dict[str, Any]:
        """This record's `run_identity` (``by_config``: its method config in place of its variant's name)."""
        variant = self.traces.get("method_config") if by_config else self.variant
        return run_identity(self.benchmark, self.method, variant, self.scenario, self.seed, self.eval_on,
                            self.config, record_data(self.data))

    def save(self, path: str | os.PathLike[str]) -> Path:
        return atomic_write_text(path, self.to_json())

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunResult:
        return cls(**{**d, "config": complete_profile(d.get("config", {}))})

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RunResult:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def summary(self) -> str:
        """One line: what ran, the final per-task accuracies, the average and the wall time."""
        accs = " ".join(f"{a:.2f}" for a in self.metrics["final_accuracies"])
        scenario = "" if self.scenario == "task" else f" scenario={self.scenario}"
        return (f"{self.benchmark} {self.label}{scenario} seed={self.seed} eval={self.eval_on}: "
                f"avg {self.average_accuracy:.2f}% [{accs}] in {self.timings['total_seconds']:.1f}s on {self.device}")
