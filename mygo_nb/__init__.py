"""mygo-nb: MyGO (Memory Yielding Generative Offline-consolidation) rebuilt step by step.

The package behind the book's notebooks, in layers that import only downwards (checked by import-linter,
``.importlinter``): `errors` and `config` -> `data` (benchmarks as tensors) -> `core` (the Neocortex Net,
generative memories, scenarios, metrics, the training loops) -> `learners` (one file per method, one
contract, one registry) -> `running` (the stream loop, checkpoints, run records) -> `book` (figures, widgets,
notebook helpers) -> `reproduce` (papermill sweeps) -> `cli`.
"""

from .config import PROFILES, Profile, TrainConfig
from .data import Benchmark, Task, load_benchmark, split_agnews, split_mnist
from .errors import ConfigError, DataError
from .running.experiment import run, run_experiment
from .running.records import RunResult

__version__ = "0.1.0"

__all__ = [
    "PROFILES",
    "Benchmark",
    "ConfigError",
    "DataError",
    "Profile",
    "RunResult",
    "Task",
    "TrainConfig",
    "load_benchmark",
    "run",
    "run_experiment",
    "split_agnews",
    "split_mnist",
]
