"""Benchmarks as device-resident tensors (introduced in chapter 1): a registry of them, one file each.

`types` holds the containers every layer uses (`Benchmark` -> `Task` -> `TaskData`, `TokenBags`,
`DerivedImages`); `splits` cuts a labelled data set into tasks; `registry` holds the benchmarks by name and
`load_benchmark` builds one. Registered: `mnist` (``split-mnist``), `agnews` (``split-agnews``), `permuted`
(``permuted-mnist``) and `rotated` (``rotated-mnist``); `files` finds the data root, checks checksums and
downloads.
"""

from __future__ import annotations

from ..errors import DataError
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
from .mnist import IDX_DTYPES, MNIST_TASKS, mnist_arrays, read_idx, split_mnist, vandeven_split
from .permuted import PERMUTED_TASKS, PixelPermutation, permutations, permuted_mnist
from .registry import (
    BenchmarkEntry,
    benchmark_entry,
    benchmark_names,
    check_scenario,
    load_benchmark,
    register_benchmark,
)
from .rotated import ROTATED_TASKS, Rotation, rotated_mnist
from .splits import (
    VALIDATION_FRACTION,
    benchmark_from_dataset,
    benchmark_from_tensors,
    class_order_split,
    derived_tasks,
    validate_class_split,
    validation_split,
)
from .types import (
    Benchmark,
    DerivedImages,
    Inputs,
    InputStack,
    InputTransform,
    Task,
    TaskData,
    TokenBags,
    TokenMatrix,
    concat_inputs,
    stored,
    subset,
    take,
)

__all__ = [
    "AGNEWS_CLASSES",
    "AGNEWS_FILES",
    "AGNEWS_TASKS",
    "IDX_DTYPES",
    "MNIST_TASKS",
    "PERMUTED_TASKS",
    "ROTATED_TASKS",
    "VALIDATION_FRACTION",
    "Benchmark",
    "BenchmarkEntry",
    "DataError",
    "DerivedImages",
    "InputStack",
    "InputTransform",
    "Inputs",
    "PixelPermutation",
    "Rotation",
    "Task",
    "TaskData",
    "TokenBags",
    "TokenMatrix",
    "Vocabulary",
    "benchmark_entry",
    "benchmark_from_dataset",
    "benchmark_from_tensors",
    "benchmark_names",
    "check_scenario",
    "class_order_split",
    "concat_inputs",
    "default_agnews_root",
    "derived_tasks",
    "file_md5",
    "load_benchmark",
    "mnist_arrays",
    "permutations",
    "permuted_mnist",
    "read_agnews_csv",
    "read_idx",
    "register_benchmark",
    "resolve_data_root",
    "rotated_mnist",
    "split_agnews",
    "split_mnist",
    "stored",
    "subset",
    "take",
    "validate_class_split",
    "validation_split",
    "vandeven_split",
]

