"""Benchmarks as device-resident tensors: Split-MNIST and Split-AG News (introduced in notebook 01).

A *benchmark* is a sequence of *tasks*; each task owns a few classes, relabelled locally ``0..k-1``,
with a train and a test part. Presenting the tasks one after another is the *stream*. Everything a
training loop touches is a tensor on the run's device, and a batch is an index slice: no per-sample
Python, no PIL, no DataLoader.

Data root resolution: explicit argument > ``MYGO_DATA`` > a per-user cache directory. An existing
root is only read (it may be read-only); missing files are downloaded with torchvision's download
utilities and md5 checks.
"""

from __future__ import annotations

import csv
import hashlib
import numbers
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import platformdirs
import torch
from torch import Tensor

__all__ = [
    "AGNEWS_CLASSES",
    "AGNEWS_FILES",
    "AGNEWS_TASKS",
    "MNIST_TASKS",
    "Benchmark",
    "DataError",
    "Task",
    "TaskData",
    "TokenBags",
    "Vocabulary",
    "benchmark_from_dataset",
    "benchmark_from_tensors",
    "concat_inputs",
    "file_md5",
    "load_benchmark",
    "read_agnews_csv",
    "read_idx",
    "resolve_data_root",
    "split_agnews",
    "split_mnist",
    "validate_class_split",
]

MNIST_TASKS: tuple[tuple[int, ...], ...] = ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9))
AGNEWS_CLASSES: tuple[str, ...] = ("World", "Sports", "Business", "Sci/Tech")
AGNEWS_TASKS: tuple[tuple[int, ...], ...] = ((0, 1), (2, 3))
#: The canonical AG News CSVs (the files torchtext downloaded), as name -> (url, md5, rows).
AGNEWS_FILES: dict[str, tuple[str, str, int]] = {
    "train.csv": (
        "https://raw.githubusercontent.com/mhjabreel/CharCnn_Keras/master/data/ag_news_csv/train.csv",
        "b1a00f826fdfbd249f79597b59e1dc12",
        120_000,
    ),
    "test.csv": (
        "https://raw.githubusercontent.com/mhjabreel/CharCnn_Keras/master/data/ag_news_csv/test.csv",
        "d52ea96a97a2d943681189a97654912d",
        7_600,
    ),
}
#: Pixel normalisation of the reference code, ToTensor() then Normalize((0.5,), (0.5,)) -> [-1, 1].
PIXEL_MEAN, PIXEL_STD = 0.5, 0.5


class DataError(RuntimeError):
    """Data missing, corrupt or inconsistent; the message names the file and the fix."""


def resolve_data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """Explicit ``root`` > the ``MYGO_DATA`` environment variable > the per-user cache directory."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("MYGO_DATA")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("mygo-nb")) / "data"


def file_md5(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """The md5 hex digest of a file, read in chunks."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


# --------------------------------------------------------------------------------------------------
# Containers
# --------------------------------------------------------------------------------------------------
@dataclass
class TokenBags:
    """Variable-length token-id documents in one flat tensor (CSR layout), sliceable by index.

    ``take(idx)`` returns ``(tokens, offsets)`` ready for :class:`torch.nn.EmbeddingBag`, built with
    tensor ops only.
    """

    tokens: Tensor  # (total,) int64
    starts: Tensor  # (n_docs,) int64
    lengths: Tensor  # (n_docs,) int64

    def __len__(self) -> int:
        return int(self.lengths.numel())

    @property
    def device(self) -> torch.device:
        return self.tokens.device

    def to(self, device: torch.device | str) -> TokenBags:
        return TokenBags(self.tokens.to(device), self.starts.to(device), self.lengths.to(device))

    def take(self, idx: Tensor) -> tuple[Tensor, Tensor]:
        lens = self.lengths[idx]
        offsets = torch.cumsum(lens, 0) - lens
        total = int(lens.sum())
        pos = torch.arange(total, device=lens.device)
        pos += torch.repeat_interleave(self.starts[idx] - offsets, lens, output_size=total)
        return self.tokens[pos], offsets

    def subset(self, idx: Tensor) -> TokenBags:
        tokens, offsets = self.take(idx)
        return TokenBags(tokens, offsets, self.lengths[idx].clone())

    @classmethod
    def from_lists(cls, docs: Sequence[Sequence[int]]) -> TokenBags:
        """Build from Python lists of ids (for tests and small examples)."""
        lengths = torch.tensor([len(d) for d in docs], dtype=torch.int64)
        starts = torch.cumsum(lengths, 0) - lengths
        flat = [t for d in docs for t in d]
        return cls(torch.tensor(flat, dtype=torch.int64), starts, lengths)


Inputs = Tensor | TokenBags


def take(x: Inputs, idx: Tensor) -> Tensor | tuple[Tensor, Tensor]:
    """A batch of inputs: an index slice of an image tensor, or ``(tokens, offsets)`` for text."""
    return x.take(idx) if isinstance(x, TokenBags) else x[idx]


def subset(x: Inputs, idx: Tensor) -> Inputs:
    return x.subset(idx) if isinstance(x, TokenBags) else x[idx]


@dataclass
class TaskData:
    """One split of one task: inputs ``x`` and *local* labels ``y`` in ``0..k-1``."""

    x: Inputs
    y: Tensor

    def __len__(self) -> int:
        return int(self.y.numel())

    def batch(self, idx: Tensor) -> tuple[Any, Tensor]:
        return take(self.x, idx), self.y[idx]

    def to(self, device: torch.device | str) -> TaskData:
        return TaskData(self.x.to(device), self.y.to(device))


@dataclass
class Task:
    """A task of the stream: its global ``classes`` (local label i is ``classes[i]``) and its data."""

    index: int
    classes: tuple[int, ...]
    class_names: tuple[str, ...]
    train: TaskData
    test: TaskData

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def split(self, name: str) -> TaskData:
        if name not in ("train", "test"):
            raise ValueError(f"unknown split {name!r}; valid choices: train, test")
        return self.train if name == "train" else self.test

    def to(self, device: torch.device | str) -> Task:
        return Task(self.index, self.classes, self.class_names, self.train.to(device),
                    self.test.to(device))


@dataclass
class Benchmark:
    """A named sequence of tasks over one modality (``image`` or ``text``), plus data provenance."""

    name: str
    modality: str
    tasks: list[Task]
    class_names: tuple[str, ...]
    vocab_size: int | None = None
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def n_tasks(self) -> int:
        return len(self.tasks)

    @property
    def device(self) -> torch.device:
        return self.tasks[0].train.y.device

    def to(self, device: torch.device | str) -> Benchmark:
        return Benchmark(self.name, self.modality, [t.to(device) for t in self.tasks],
                         self.class_names, self.vocab_size, self.provenance)

    def summary(self) -> str:
        rows = [f"{self.name}: {self.n_tasks} tasks, {self.modality}"]
        for t in self.tasks:
            names = ", ".join(t.class_names)
            rows.append(f"  task {t.index + 1}: {names:<24} train {len(t.train):>6}  test {len(t.test):>5}")
        return "\n".join(rows)


# --------------------------------------------------------------------------------------------------
# Class splits
# --------------------------------------------------------------------------------------------------
def validate_class_split(split: Sequence[Sequence[int]], n_classes: int) -> tuple[tuple[int, ...], ...]:
    """Check a class split (non-empty tasks, labels in range, no class in two tasks) and freeze it."""
    from .config import ConfigError, _show

    shape = "a list of tasks, each a list of class indices, e.g. [[0, 1], [2, 3]]"
    if isinstance(split, (str, bytes)) or not isinstance(split, Iterable):
        raise ConfigError(f"class split must be {shape}; got {_show(split)}")
    split = list(split)
    if len(split) == 0:
        raise ConfigError("class split is empty; give at least one task, e.g. [[0, 1], [2, 3]]")
    seen: dict[int, int] = {}
    out = []
    for i, task in enumerate(split):
        if isinstance(task, (str, bytes)) or not isinstance(task, Iterable):
            raise ConfigError(f"class split: task {i + 1} is {_show(task)}, not a list of class indices; "
                              f"give {shape}")
        task = tuple(task)
        for c in task:
            if isinstance(c, bool) or not isinstance(c, numbers.Integral):
                raise ConfigError(f"class split: task {i + 1} holds {_show(c)}, not a class index (an integer)")
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


def _class_index(y: Tensor, classes: Sequence[int], max_per_class: int | None) -> tuple[Tensor, Tensor]:
    """Indices of the samples of ``classes`` (file order, optionally the first N per class) and local labels."""
    parts, local = [], []
    for j, c in enumerate(classes):
        idx = torch.nonzero(y == c).flatten()
        if max_per_class is not None:
            idx = idx[:max_per_class]
        parts.append(idx)
        local.append(torch.full_like(idx, j))
    idx, loc = torch.cat(parts), torch.cat(local)
    order = torch.argsort(idx)  # keep file order across classes
    return idx[order], loc[order]


def _build_tasks(xtr: Inputs, ytr: Tensor, xte: Inputs, yte: Tensor, split: Sequence[Sequence[int]],
                 class_names: Sequence[str], max_train_per_class: int | None) -> list[Task]:
    tasks = []
    for i, classes in enumerate(split):
        itr, ltr = _class_index(ytr, classes, max_train_per_class)
        ite, lte = _class_index(yte, classes, None)
        if len(itr) == 0 or len(ite) == 0:
            raise DataError(f"task {i + 1} (classes {list(classes)}) has no samples in the "
                            f"{'train' if len(itr) == 0 else 'test'} split")
        tasks.append(Task(i, tuple(classes), tuple(class_names[c] for c in classes),
                          TaskData(subset(xtr, itr), ltr), TaskData(subset(xte, ite), lte)))
    return tasks


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
    tasks = _build_tasks(xtr.float(), ytr, xte.float(), yte, split, names, max_train_per_class)
    bench = Benchmark(name, "image", tasks, names, provenance=provenance or {"source": "tensors"})
    return bench.to(device)


def _images_to_tensor(data: Tensor) -> Tensor:
    """uint8 ``(N, 28, 28)`` -> float ``(N, 1, 28, 28)`` in [-1, 1], as ToTensor()+Normalize(0.5, 0.5)."""
    return data.unsqueeze(1).float().div_(255.0).sub_(PIXEL_MEAN).div_(PIXEL_STD)


def _dataset_arrays(ds: Any) -> tuple[Tensor, Tensor]:
    """Images and labels of a torchvision-style dataset, read once (fast path via ``.data``/``.targets``)."""
    data, targets = getattr(ds, "data", None), getattr(ds, "targets", None)
    plain = getattr(ds, "transform", None) is None
    if isinstance(data, Tensor) and data.dtype == torch.uint8 and data.ndim == 3 and plain:
        return _images_to_tensor(data), torch.as_tensor(targets).long()
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


# --------------------------------------------------------------------------------------------------
# Split-MNIST
# --------------------------------------------------------------------------------------------------
#: IDX element types, as type code -> big-endian numpy dtype.
IDX_DTYPES: dict[int, str] = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


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


def split_mnist(root: str | os.PathLike[str] | None = None, split: Sequence[Sequence[int]] = MNIST_TASKS, *,
                max_train_per_class: int | None = None, device: torch.device | str = "cpu",
                download: bool = True) -> Benchmark:
    """Split-MNIST: the MNIST digits cut into tasks by ``split`` (default five tasks of two digits)."""
    root = resolve_data_root(root)
    split = validate_class_split(split, 10)
    tr, te = _mnist(root, True, download), _mnist(root, False, download)
    raw = Path(tr.raw_folder)
    files = {}
    for f in sorted(raw.glob("*-ubyte")):
        files[f.name] = {"md5": file_md5(f), "bytes": f.stat().st_size}
    provenance = {"source": "MNIST", "root": str(root), "files": files,
                  "rows": {"train": len(tr.targets), "test": len(te.targets)}}
    xtr, xte = _images_to_tensor(tr.data), _images_to_tensor(te.data)
    names = tuple(str(c) for c in range(10))
    tasks = _build_tasks(xtr, tr.targets.long(), xte, te.targets.long(), split, names, max_train_per_class)
    return Benchmark("split-mnist", "image", tasks, names, provenance=provenance).to(device)


# --------------------------------------------------------------------------------------------------
# Split-AG News
# --------------------------------------------------------------------------------------------------
def read_agnews_csv(path: str | os.PathLike[str]) -> tuple[list[str], np.ndarray]:
    """Read an AG News CSV (``"label","title","description"``, label 1..4): texts and 0-based labels."""
    path = Path(path)
    texts: list[str] = []
    labels: list[int] = []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            for lineno, row in enumerate(csv.reader(f), start=1):
                if len(row) != 3:
                    raise DataError(f"{path}, row {lineno}: expected 3 fields (label, title, description), "
                                    f"got {len(row)}; the file is truncated or not an AG News CSV")
                if row[0] not in ("1", "2", "3", "4"):
                    raise DataError(f"{path}, row {lineno}: label {row[0][:20]!r} is not one of 1, 2, 3, 4")
                labels.append(int(row[0]) - 1)
                texts.append(row[1] + " " + row[2])
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start}); the file is corrupt") from None
    except csv.Error as e:
        raise DataError(f"{path} is not valid CSV ({e}); the file is truncated or corrupt") from None
    if not texts:
        raise DataError(f"{path} is empty")
    return texts, np.asarray(labels, dtype=np.int64)


def fetch_agnews(root: Path, download: bool) -> dict[str, Path]:
    """Paths of ``root/ag_news_csv/{train,test}.csv``, downloading the canonical files if missing."""
    folder = root / "ag_news_csv"
    paths = {}
    for name, (url, md5, _rows) in AGNEWS_FILES.items():
        path = folder / name
        if not path.exists():
            if not download:
                raise DataError(f"{path} is missing and download is off; pass download=True (needs network) "
                                "or point MYGO_DATA / --data-root at a folder holding ag_news_csv/")
            _download(url, folder, name, md5)
        paths[name] = path
    return paths


def _download(url: str, folder: Path, name: str, md5: str) -> None:
    from torchvision.datasets.utils import check_integrity, download_url

    try:
        folder.mkdir(parents=True, exist_ok=True)
        download_url(url, str(folder), name, md5=None)
    except OSError as e:
        raise DataError(f"could not download {name} into {folder} ({e}); check the network, or copy the file "
                        f"there by hand (md5 {md5})") from None
    if not check_integrity(str(folder / name), md5):
        got = file_md5(folder / name)
        (folder / name).unlink(missing_ok=True)
        raise DataError(f"checksum mismatch for downloaded {name}: md5 {got}, expected {md5}; "
                        "the bad file was removed, try again")


class Vocabulary:
    """The reference vocabulary: ``CountVectorizer(max_features=10000, stop_words='english')`` fitted on
    the training texts, plus one ``<unk>`` id (= ``len(vocabulary)``) for known-analyser tokens outside it.

    `encode` turns texts into :class:`TokenBags` with sparse-matrix ops, not a Python loop over ids.
    """

    def __init__(self, max_features: int = 10_000, stop_words: str | None = "english") -> None:
        from sklearn.feature_extraction.text import CountVectorizer

        self.vectorizer = CountVectorizer(max_features=max_features, stop_words=stop_words)
        self._fitted = False

    def fit(self, texts: Sequence[str]) -> Vocabulary:
        self.vectorizer.fit(texts)
        self._fitted = True
        return self

    @property
    def unk_id(self) -> int:
        return len(self.vectorizer.vocabulary_)

    def __len__(self) -> int:
        """Number of ids including ``<unk>``."""
        return self.unk_id + 1

    def encode(self, texts: Sequence[str]) -> TokenBags:
        """Each text as its bag of ids: in-vocabulary tokens (with multiplicity) then ``<unk>`` ids.

        Order inside a bag does not matter for a mean-mode EmbeddingBag, so this equals id-by-id
        lookup of the analyser's tokens.
        """
        if not self._fitted:
            raise RuntimeError("Vocabulary.encode called before fit")
        counts = self.vectorizer.transform(texts).tocsr()
        counts.sort_indices()
        analyzer = self.vectorizer.build_analyzer()
        n_tokens = np.fromiter(map(len, map(analyzer, texts)), dtype=np.int64, count=len(texts))
        in_len = np.asarray(counts.sum(axis=1)).ravel().astype(np.int64)
        starts = np.cumsum(n_tokens) - n_tokens
        flat = np.full(int(n_tokens.sum()), self.unk_id, dtype=np.int64)
        ids = np.repeat(counts.indices.astype(np.int64), counts.data.astype(np.int64))
        first = np.cumsum(in_len) - in_len
        pos = np.repeat(starts - first, in_len) + np.arange(ids.size, dtype=np.int64)
        flat[pos] = ids
        return TokenBags(torch.from_numpy(flat), torch.from_numpy(starts), torch.from_numpy(n_tokens))


def split_agnews(root: str | os.PathLike[str] | None = None, split: Sequence[Sequence[int]] = AGNEWS_TASKS, *,
                 max_train_per_class: int | None = None, device: torch.device | str = "cpu",
                 download: bool = True, max_features: int = 10_000) -> Benchmark:
    """Split-AG News from ``root/ag_news_csv/{train,test}.csv`` (default two tasks of two classes).

    The vocabulary is fitted on the (possibly capped) training texts, as in the reference code.
    """
    root = resolve_data_root(root)
    split = validate_class_split(split, len(AGNEWS_CLASSES))
    paths = fetch_agnews(root, download)
    provenance: dict[str, Any] = {"source": "AG News", "root": str(root), "files": {}}
    loaded = {}
    for name, path in paths.items():
        texts, labels = read_agnews_csv(path)
        md5 = file_md5(path)
        canonical = AGNEWS_FILES[name][1]
        provenance["files"][name] = {"md5": md5, "rows": len(texts), "canonical": md5 == canonical}
        loaded[name] = (texts, torch.from_numpy(labels))
    provenance["canonical"] = all(f["canonical"] for f in provenance["files"].values())
    (tr_texts, ytr), (te_texts, yte) = loaded["train.csv"], loaded["test.csv"]
    if max_train_per_class is not None:
        keep, _ = _class_index(ytr, [c for task in split for c in task], max_train_per_class)
        tr_texts, ytr = [tr_texts[i] for i in keep.tolist()], ytr[keep]
    vocab = Vocabulary(max_features=max_features).fit(tr_texts)
    xtr, xte = vocab.encode(tr_texts), vocab.encode(te_texts)
    provenance["vocab_size"] = len(vocab)
    tasks = _build_tasks(xtr, ytr, xte, yte, split, AGNEWS_CLASSES, max_train_per_class)
    return Benchmark("split-agnews", "text", tasks, AGNEWS_CLASSES, vocab_size=len(vocab),
                     provenance=provenance).to(device)


def load_benchmark(name: str, root: str | os.PathLike[str] | None = None, *,
                   max_train_per_class: int | None = None, device: torch.device | str = "cpu",
                   download: bool = True) -> Benchmark:
    """A benchmark by name (``split-mnist`` or ``split-agnews``) with its default task split."""
    from .config import BENCHMARKS, check_choice

    check_choice("benchmark", name, BENCHMARKS)
    loader = split_mnist if name == "split-mnist" else split_agnews
    return loader(root, max_train_per_class=max_train_per_class, device=device, download=download)


def concat_inputs(xs: list[Inputs]) -> Inputs:
    """Several inputs of one kind (image tensors or `TokenBags`) as one (notebook 06: joint training)."""
    if isinstance(xs[0], TokenBags):
        lengths = torch.cat([x.lengths for x in xs])
        tokens = torch.cat([x.tokens[torch.repeat_interleave(x.starts, x.lengths) + _ranks(x.lengths)] for x in xs])
        return TokenBags(tokens, torch.cumsum(lengths, 0) - lengths, lengths)
    return torch.cat(xs)  # type: ignore[arg-type]


def _ranks(lengths: torch.Tensor) -> torch.Tensor:
    """0, 1, ..., len-1 for every bag, concatenated."""
    total = int(lengths.sum())
    starts = torch.cumsum(lengths, 0) - lengths
    return torch.arange(total, device=lengths.device) - torch.repeat_interleave(starts, lengths, output_size=total)
