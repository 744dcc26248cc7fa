"""Split-MNIST (chapter 1): the IDX files, checked, read through torchvision, cut into tasks; registered as
``split-mnist``. `mnist_arrays` is what the derived MNIST streams (`permuted`, `rotated`) start from."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..errors import DataError
from .files import file_md5, resolve_data_root
from .registry import register_benchmark
from .splits import build_tasks, derived_tasks, first_tasks, image_caps, images_to_tensor, least, validate_class_split
from .types import Benchmark, InputTransform

__all__ = ["IDX_DTYPES", "MNIST_TASKS", "derived_mnist", "mnist_arrays", "read_idx", "split_mnist", "vandeven_split"]

MNIST_TASKS: tuple[tuple[int, ...], ...] = ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9))
#: IDX element types, as type code -> big-endian numpy dtype.
IDX_DTYPES: dict[int, str] = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def vandeven_split(seed: int) -> tuple[tuple[int, ...], ...]:
    """The Split-MNIST tasks of van de Ven et al.'s public code for ``seed``.

    Seed 0 keeps the digits in order (`MNIST_TASKS`); any other seed relabels digit
    ``d`` as ``p[d]``, ``p`` the permutation of numpy's legacy generator seeded with
    ``seed``, and task ``k`` holds the digits relabelled ``2k`` and ``2k + 1``.
    """
    if seed == 0:
        return MNIST_TASKS
    order = np.argsort(np.random.RandomState(seed).permutation(10))
    return tuple((int(order[2 * k]), int(order[2 * k + 1])) for k in range(5))


def _idx_header(path: Path, head: bytes, size: int) -> tuple[np.dtype, tuple[int, ...], int]:
    """Element type, shape and header length of an IDX file, checked against the file's ``size``."""
    fix = "the file is truncated or corrupt; delete it and download again"
    if len(head) < 4 or head[0] != 0 or head[1] != 0 or head[2] not in IDX_DTYPES or not 1 <= head[3] <= 4:
        raise DataError(f"{path} is not an IDX file (bad magic number {head[:4].hex() or 'none'}); {fix}")
    nd = head[3]
    offset = 4 + 4 * nd
    if len(head) < offset:
        raise DataError(f"{path}: IDX header cut short ({len(head)} of {offset} bytes); {fix}")
    shape = tuple(int.from_bytes(head[4 + 4 * i: 8 + 4 * i], "big") for i in range(nd))
    dtype = np.dtype(IDX_DTYPES[head[2]])
    expected = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if size != expected:
        raise DataError(f"{path} holds {size} bytes but its IDX header {list(shape)} needs {expected}; {fix}")
    return dtype, shape, offset


def read_idx(path: str | os.PathLike[str]) -> Tensor:
    """Read an IDX file (the MNIST format: big-endian magic, dims, then the array) into a tensor.

    Any inconsistency (bad magic, short header, a size that does not match the header) is a `DataError`.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read {path} ({e.strerror or e})") from None
    dtype, shape, offset = _idx_header(path, raw[:20], len(raw))
    arr = np.frombuffer(raw, dtype=dtype, offset=offset).reshape(shape)
    return torch.from_numpy(arr.astype(dtype.newbyteorder("="), copy=True))


def _check_mnist_raw(raw: Path, train: bool) -> None:
    """Check the headers and sizes of one MNIST split's IDX files (when present) before torchvision reads them."""
    prefix = "train" if train else "t10k"
    images, labels = raw / f"{prefix}-images-idx3-ubyte", raw / f"{prefix}-labels-idx1-ubyte"
    if not (images.is_file() and labels.is_file()):
        return
    shapes = []
    for f in (images, labels):
        with open(f, "rb") as fh:
            dtype, shape, _ = _idx_header(f, fh.read(20), f.stat().st_size)
        if dtype != np.uint8:
            raise DataError(f"{f} holds {dtype} elements, not MNIST's unsigned bytes; the file is corrupt")
        shapes.append(shape)
    if len(shapes[0]) != 3 or shapes[0][1:] != (28, 28) or shapes[1] != shapes[0][:1]:
        raise DataError(f"{images} {list(shapes[0])} and {labels.name} {list(shapes[1])} are not MNIST's "
                        "(N, 28, 28) images with N labels; the files are corrupt or mismatched")


def _mnist(root: Path, train: bool, download: bool) -> Any:
    from torchvision.datasets import MNIST

    _check_mnist_raw(root / "MNIST" / "raw", train)
    try:
        return MNIST(str(root), train=train, download=download)
    except RuntimeError as e:  # torchvision: "Dataset not found" / "File not found or corrupted"
        hint = "pass download=True (needs network)" if not download else "check the network or the folder's permissions"
        reason = " ".join(str(e).split())  # torchvision's message spans several lines
        raise DataError(f"MNIST not found under {root / 'MNIST' / 'raw'} ({reason}); {hint}, "
                        f"or point MYGO_DATA / --data-root at a folder holding MNIST/raw") from None
    except (ValueError, IndexError, OSError, AssertionError, KeyError) as e:
        raise DataError(f"MNIST files under {root / 'MNIST' / 'raw'} are truncated or corrupt ({e}); "
                        "delete them and download again") from None


def mnist_arrays(root: str | os.PathLike[str] | None = None, *,
                 download: bool = True) -> tuple[Tensor, Tensor, Tensor, Tensor, dict[str, Any]]:
    """MNIST's training and test images (float ``(N, 1, 28, 28)`` in [-1, 1]) and labels, with the files'
    provenance (root, checksums, rows): what every MNIST benchmark is built from."""
    root = resolve_data_root(root)
    tr, te = _mnist(root, True, download), _mnist(root, False, download)
    raw = Path(tr.raw_folder)
    files = {}
    for f in sorted(raw.glob("*-ubyte")):
        files[f.name] = {"md5": file_md5(f), "bytes": f.stat().st_size}
    provenance = {"source": "MNIST", "root": str(root), "files": files,
                  "rows": {"train": len(tr.targets), "test": len(te.targets)}}
    return images_to_tensor(tr.data), tr.targets.long(), images_to_tensor(te.data), te.targets.long(), provenance


def split_mnist(root: str | os.PathLike[str] | None = None, split: Sequence[Sequence[int]] = MNIST_TASKS, *,
                max_train_per_class: int | None = None, device: torch.device | str = "cpu",
                download: bool = True) -> Benchmark:
    """Split-MNIST: the MNIST digits cut into tasks by ``split`` (default five tasks of two digits)."""
    split = validate_class_split(split, 10)
    xtr, ytr, xte, yte, provenance = mnist_arrays(root, download=download)
    names = tuple(str(c) for c in range(10))
    tasks = build_tasks(xtr, ytr, xte, yte, split, names, max_train_per_class)
    return Benchmark("split-mnist", "image", tasks, names, provenance={**provenance, "params": {}}).to(device)


@register_benchmark("split-mnist", modality="image", tasks=5, max_tasks=5,
                    summary="MNIST's ten digits in five tasks of two (the paper's image benchmark)")
def _split_mnist_entry(root: str | os.PathLike[str] | None, *, n_tasks: int | None,
                       split: Sequence[Sequence[int]] | None, **kw: Any) -> Benchmark:
    return split_mnist(root, first_tasks(MNIST_TASKS if split is None else split, n_tasks, "split-mnist"), **kw)


def derived_mnist(name: str, transforms: Callable[[torch.device], Sequence[InputTransform]],
                  params: Mapping[str, Any], root: str | os.PathLike[str] | None = None, *,
                  max_train_per_class: int | None = None, device: torch.device | str = "cpu",
                  download: bool = True, train_per_class: int | None = None,
                  test_per_class: int | None = None, pad: int = 0) -> Benchmark:
    """A stream of MNIST seen through one transform per task (`derived_tasks`): the images are loaded once
    (padded once by ``pad`` pixels of background, -1, on every side) onto ``device``, ``transforms(device)``
    gives the tasks' transforms, and the benchmark records ``params`` with the caps on images per digit
    (``train_per_class``, ``test_per_class``; the profile's ``max_train_per_class`` caps the training images
    too). Permuted- and Rotated-MNIST are built by it."""
    xtr, ytr, xte, yte, provenance = mnist_arrays(root, download=download)
    if pad:
        xtr, xte = (torch.nn.functional.pad(x, (pad,) * 4, value=-1.0) for x in (xtr, xte))
    dev = torch.device(device)
    xtr, ytr, xte, yte = xtr.to(dev), ytr.to(dev), xte.to(dev), yte.to(dev)
    names = tuple(str(c) for c in range(10))
    caps = image_caps(train_per_class, test_per_class)
    tasks = derived_tasks(xtr, ytr, xte, yte, transforms(dev), names, least(max_train_per_class, train_per_class),
                          test_per_class)
    return Benchmark(name, "image", tasks, names, provenance={**provenance, "params": {**params, **caps}})
