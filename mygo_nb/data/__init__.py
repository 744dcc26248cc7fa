"""Benchmarks as device-resident tensors: Split-MNIST and Split-AG News (introduced in chapter 1).

`types` holds the containers every layer uses (`Benchmark` -> `Task` -> `TaskData`, `TokenBags`);
`splits` cuts a labelled data set into tasks; `mnist` and `agnews` read the two benchmarks' files
(`files`: data root, checksums, checked downloads). `load_benchmark` picks one by name.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch

from ..config import BENCHMARKS
from ..errors import DataError, check_choice
from .agnews import (
    AGNEWS_CLASSES,
    AGNEWS_FILES,
    AGNEWS_TASKS,
    Vocabulary,
    default_agnews_root,
    read_agnews_csv,
    split_agnews,
)
from .files import file_md5, resolve_data_root
from .mnist import IDX_DTYPES, MNIST_TASKS, read_idx, split_mnist, vandeven_split
from .splits import (
    VALIDATION_FRACTION,
    benchmark_from_dataset,
    benchmark_from_tensors,
    validate_class_split,
    validation_split,
)
from .types import Benchmark, Inputs, Task, TaskData, TokenBags, concat_inputs, subset, take

__all__ = [
    "AGNEWS_CLASSES",
    "AGNEWS_FILES",
    "AGNEWS_TASKS",
    "IDX_DTYPES",
    "MNIST_TASKS",
    "VALIDATION_FRACTION",
    "Benchmark",
    "DataError",
    "Inputs",
    "Task",
    "TaskData",
    "TokenBags",
    "Vocabulary",
    "benchmark_from_dataset",
    "benchmark_from_tensors",
    "concat_inputs",
    "default_agnews_root",
    "file_md5",
    "load_benchmark",
    "read_agnews_csv",
    "read_idx",
    "resolve_data_root",
    "split_agnews",
    "split_mnist",
    "subset",
    "take",
    "validate_class_split",
    "validation_split",
    "vandeven_split",
]


def load_benchmark(name: str, root: str | os.PathLike[str] | None = None, *,
                   max_train_per_class: int | None = None, device: torch.device | str = "cpu",
                   download: bool = True, split: Sequence[Sequence[int]] | None = None) -> Benchmark:
    """A benchmark by name (``split-mnist`` or ``split-agnews``), cut into tasks by ``split`` (a tuple of
    class tuples; None: the benchmark's default split)."""
    check_choice("benchmark", name, BENCHMARKS)
    loader = split_mnist if name == "split-mnist" else split_agnews
    extra = {} if split is None else {"split": split}
    return loader(root, max_train_per_class=max_train_per_class, device=device, download=download, **extra)
