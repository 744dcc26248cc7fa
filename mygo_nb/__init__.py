"""mygo-nb: MyGO (Memory Yielding Generative Offline-consolidation) rebuilt step by step.

The package behind the book's notebooks: data (`data`), the Neocortex Net (`models`), generative
memories (`memories`), the wake and sleep phases (`phases`), methods and their loop (`methods`),
metrics (`metrics`), run records (`results`), persistence (`persist`) and plots (`plotting`).
"""

from .config import PROFILES, ConfigError, Profile, TrainConfig
from .data import Benchmark, DataError, Task, load_benchmark, split_agnews, split_mnist
from .experiment import run, run_experiment
from .results import RunResult

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
