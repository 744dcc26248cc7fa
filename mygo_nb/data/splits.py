"""Cutting a labelled data set into the tasks of a stream (chapter 1): class splits, from tensors or datasets."""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import ConfigError, DataError, check_int, short_repr
from .types import Benchmark, DerivedImages, Inputs, InputTransform, Task, TaskData, subset

__all__ = ["VALIDATION_FRACTION", "benchmark_from_dataset", "benchmark_from_tensors", "build_tasks", "class_index",
           "class_order_split", "derived_tasks", "first_tasks", "image_caps", "images_to_tensor", "least",
           "validate_class_split", "validation_split"]

#: Pixel normalisation of the reference code, ToTensor() then Normalize((0.5,), (0.5,)) -> [-1, 1].
PIXEL_MEAN, PIXEL_STD = 0.5, 0.5


def validate_class_split(split: Sequence[Sequence[int]], n_classes: int) -> tuple[tuple[int, ...], ...]:
    """Check a class split (non-empty tasks, labels in range, no class in two tasks) and freeze it."""
    shape = "a list of tasks, each a list of class indices, e.g. [[0, 1], [2, 3]]"
    if isinstance(split, (str, bytes)) or not isinstance(split, Iterable):
        raise ConfigError(f"class split must be {shape}; got {short_repr(split)}")
    split = list(split)
    if len(split) == 0:
        raise ConfigError("class split is empty; give at least one task, e.g. [[0, 1], [2, 3]]")
    seen: dict[int, int] = {}
    out = []
    for i, task in enumerate(split):
        if isinstance(task, (str, bytes)) or not isinstance(task, Iterable):
            raise ConfigError(f"class split: task {i + 1} is {short_repr(task)}, not a list of class indices; "
                              f"give {shape}")
        task = tuple(task)
        for c in task:
            if isinstance(c, bool) or not isinstance(c, numbers.Integral):
                raise ConfigError(f"class split: task {i + 1} holds {short_repr(c)}, not a class index (an integer)")
        task = tuple(int(c) for c in task)
        if not task:
            raise ConfigError(f"class split: task {i + 1} has no classes")
        for c in task:
            if not 0 <= c < n_classes:
                raise ConfigError(f"class split: class {c} in task {i + 1} is out of range 0..{n_classes - 1}")
            if c in seen:
                where = "twice in task" if seen[c] == i else f"in tasks {seen[c] + 1} and"
                raise ConfigError(f"class split: class {c} appears {where} {i + 1}; tasks must not overlap")
            seen[c] = i
        out.append(task)
    return tuple(out)


def class_order_split(order: Sequence[int], n_classes: int, per_task: int) -> tuple[tuple[int, ...], ...]:
    """The class split that takes the classes in ``order``, ``per_task`` at a time: ``[2, 3, 0, 1]`` with two per
    task is ``((2, 3), (0, 1))``. ``order`` must hold every class index once."""
    if isinstance(order, (str, bytes)) or not isinstance(order, Iterable):
        raise ConfigError(f"class order must be a list of class indices, e.g. {list(range(n_classes))[::-1]}; "
                          f"got {short_repr(order)}")
    order = list(order)
    if sorted(order) != list(range(n_classes)) or any(isinstance(c, bool) for c in order):
        raise ConfigError(f"class order must hold each of the classes 0..{n_classes - 1} once; got {short_repr(order)}")
    return validate_class_split([order[i:i + per_task] for i in range(0, n_classes, per_task)], n_classes)


def first_tasks(split: Sequence[Sequence[int]], n_tasks: int | None, name: str) -> Sequence[Sequence[int]]:
    """The first ``n_tasks`` tasks of a class split (None: all of them)."""
    if n_tasks is None:
        return split
    if n_tasks > len(split):
        raise ConfigError(f"{name} cuts its classes into {len(split)} tasks; got tasks={n_tasks}")
    return split[:n_tasks]


def class_index(y: Tensor, classes: Sequence[int],
                max_per_class: int | None) -> tuple[Tensor, Tensor]:
    """Indices of the samples of ``classes`` in file order (optionally only the first
    ``max_per_class`` of each class) and their task-local labels ``0, 1, ...``."""
    parts, local = [], []
    for j, c in enumerate(classes):
        idx = torch.nonzero(y == c).flatten()[:max_per_class]
        parts.append(idx)
        local.append(torch.full_like(idx, j))
    idx, loc = torch.cat(parts), torch.cat(local)
    order = torch.argsort(idx)  # keep the file order across classes
    return idx[order], loc[order]


def build_tasks(xtr: Inputs, ytr: Tensor, xte: Inputs, yte: Tensor,
                split: Sequence[Sequence[int]], class_names: Sequence[str],
                max_train_per_class: int | None) -> list[Task]:
    """One `Task` per entry of the class ``split``, with its train and test subsets."""
    tasks = []
    for i, classes in enumerate(split):
        itr, ltr = class_index(ytr, classes, max_train_per_class)
        ite, lte = class_index(yte, classes, None)
        if len(itr) == 0 or len(ite) == 0:
            empty = "train" if len(itr) == 0 else "test"
            what = f"task {i + 1} (classes {list(classes)})"
            raise DataError(f"{what} has no {empty} samples")
        names = tuple(class_names[c] for c in classes)
        train, test = TaskData(subset(xtr, itr), ltr), TaskData(subset(xte, ite), lte)
        tasks.append(Task(i, tuple(classes), names, train, test))
    return tasks


def least(a: int | None, b: int | None) -> int | None:
    """The smaller of two caps, None meaning no cap."""
    return b if a is None else a if b is None else min(a, b)


def image_caps(train_per_class: int | None, test_per_class: int | None) -> dict[str, int]:
    """A derived stream's caps on images per class, checked, as its parameters record them (unset ones left
    out, so an uncapped stream records no caps)."""
    caps = {"train_per_class": train_per_class, "test_per_class": test_per_class}
    for k, v in caps.items():
        check_int(k, v, minimum=1, optional=True)
    return {k: v for k, v in caps.items() if v is not None}


def derived_tasks(xtr: Tensor, ytr: Tensor, xte: Tensor, yte: Tensor, transforms: Sequence[InputTransform],
                  class_names: Sequence[str], max_train_per_class: int | None,
                  max_test_per_class: int | None = None) -> list[Task]:
    """One task per transform, each over every class of the data set: the same training images (the first
    ``max_train_per_class`` of each class, in file order) and test images (the first ``max_test_per_class``),
    shared, seen through the task's transform (`DerivedImages`): a stream of derived tasks stores one copy of
    the images."""
    classes = tuple(range(len(class_names)))
    itr, ltr = class_index(ytr, classes, max_train_per_class)
    ite, lte = class_index(yte, classes, max_test_per_class)
    rows_tr = None if max_train_per_class is None else itr
    rows_te = None if max_test_per_class is None else ite
    return [Task(i, classes, tuple(class_names), TaskData(DerivedImages(xtr, f, rows_tr), ltr),
                 TaskData(DerivedImages(xte, f, rows_te), lte)) for i, f in enumerate(transforms)]


def benchmark_from_tensors(xtr: Tensor, ytr: Tensor, xte: Tensor, yte: Tensor,
                           split: Sequence[Sequence[int]], *, name: str = "custom",
                           class_names: Sequence[str] | None = None,
                           max_train_per_class: int | None = None,
                           device: torch.device | str = "cpu",
                           provenance: dict[str, Any] | None = None) -> Benchmark:
    """A split benchmark from plain tensors. Images are ``(N, 1, 28, 28)`` floats (already normalised)."""
    n_classes = int(max(ytr.max(), yte.max())) + 1
    split = validate_class_split(split, n_classes)
    if xtr.ndim != 4 or tuple(xtr.shape[1:]) != (1, 28, 28) or tuple(xte.shape[1:]) != (1, 28, 28):
        raise DataError(f"images must have shape (N, 1, 28, 28); got {tuple(xtr.shape)} and {tuple(xte.shape)}")
    if len(xtr) != len(ytr) or len(xte) != len(yte):
        raise DataError("inputs and labels differ in length")
    names = tuple(class_names) if class_names else tuple(str(c) for c in range(n_classes))
    ytr, yte = ytr.long(), yte.long()
    tasks = build_tasks(xtr.float(), ytr, xte.float(), yte, split, names, max_train_per_class)
    bench = Benchmark(name, "image", tasks, names, provenance=provenance or {"source": "tensors"})
    return bench.to(device)


def images_to_tensor(data: Tensor) -> Tensor:
    """uint8 ``(N, 28, 28)`` -> float ``(N, 1, 28, 28)`` in [-1, 1], the reference
    code's ``ToTensor()`` then ``Normalize((0.5,), (0.5,))``."""
    return data.unsqueeze(1).float().div_(255.0).sub_(PIXEL_MEAN).div_(PIXEL_STD)


def _dataset_arrays(ds: Any) -> tuple[Tensor, Tensor]:
    """Images and labels of a torchvision-style dataset, read once (fast path via ``.data``/``.targets``)."""
    data, targets = getattr(ds, "data", None), getattr(ds, "targets", None)
    plain = getattr(ds, "transform", None) is None
    if isinstance(data, Tensor) and data.dtype == torch.uint8 and data.ndim == 3 and plain:
        return images_to_tensor(data), torch.as_tensor(targets).long()
    xs, ys = [], []
    for i in range(len(ds)):  # one pass at load time; training never touches samples one by one
        x, y = ds[i]
        x = torch.as_tensor(np.asarray(x)) if not isinstance(x, Tensor) else x
        if x.dtype == torch.uint8:
            x = x.float().div(255.0).sub(PIXEL_MEAN).div(PIXEL_STD)
        xs.append(x.reshape(1, 28, 28).float())
        ys.append(int(y))
    return torch.stack(xs), torch.tensor(ys, dtype=torch.int64)


def benchmark_from_dataset(train: Any, test: Any, split: Sequence[Sequence[int]], *, name: str = "custom",
                           class_names: Sequence[str] | None = None, max_train_per_class: int | None = None,
                           device: torch.device | str = "cpu") -> Benchmark:
    """A split benchmark from any torchvision-style 1x28x28 classification dataset (e.g. FashionMNIST)."""
    xtr, ytr = _dataset_arrays(train)
    xte, yte = _dataset_arrays(test)
    names = class_names or getattr(train, "classes", None)
    return benchmark_from_tensors(xtr, ytr, xte, yte, split, name=name, class_names=names,
                                  max_train_per_class=max_train_per_class, device=device,
                                  provenance={"source": type(train).__name__})




#: The share of each class's training samples `validation_split` holds out (MNIST: about 600 digits a class).
VALIDATION_FRACTION = 0.1


def validation_split(bench: Benchmark,
                     fraction: float = VALIDATION_FRACTION) -> Benchmark:
    """``bench`` with each task's test part replaced by a validation part cut from
    its training data: the last ``fraction`` of every class's training samples, in
    file order (the same for every seed). The stream trains on the rest and is
    scored on them; hyper-parameters are chosen here, never on the test split."""
    if bench.provenance.get("validation"):
        raise ConfigError(f"{bench.name} is already a validation split")
    if not 0 < fraction < 1:
        raise ConfigError(f"validation fraction must lie strictly between 0 and 1, "
                          f"got {fraction!r}")
    tasks = []
    for t in bench.tasks:
        keep, held = [], []
        for j in range(t.n_classes):
            idx = torch.nonzero(t.train.y == j).flatten()
            n_val = round(fraction * len(idx))
            if not 1 <= n_val < len(idx):
                raise DataError(f"task {t.index + 1}, class {t.class_names[j]!r}: "
                                f"{len(idx)} training samples are too few to hold "
                                f"out {fraction:.0%} for validation")
            keep.append(idx[:-n_val])
            held.append(idx[-n_val:])
        itr = torch.cat(keep).sort().values
        iva = torch.cat(held).sort().values
        train = TaskData(subset(t.train.x, itr), t.train.y[itr])
        val = TaskData(subset(t.train.x, iva), t.train.y[iva])
        tasks.append(Task(t.index, t.classes, t.class_names, train, val))
    cut = {"fraction": fraction, "cut_from": "train",
           "held_out": "the last samples of each class, in file order"}
    return Benchmark(bench.name, bench.modality, tasks, bench.class_names,
                     bench.vocab_size, {**bench.provenance, "validation": cut})
