"""The data containers every layer uses (chapter 1): tasks of a stream as device-resident tensors.

A *benchmark* is a sequence of *tasks*; each task owns a few classes, relabelled locally ``0..k-1``, with a
train and a test part. Images are float tensors; text is `TokenBags` (a CSR layout for EmbeddingBag). A
batch is an index slice (`take`): no per-sample Python, no DataLoader. A task derived from another data set
(a pixel permutation, a rotation) holds `DerivedImages`: rows of one shared image tensor and an
`InputTransform` applied to each batch on the device, so that fifty permuted copies of MNIST cost the memory
of one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch
from torch import Tensor

__all__ = ["Benchmark", "DerivedImages", "InputStack", "InputTransform", "Inputs", "Task", "TaskData", "TokenBags",
           "TokenMatrix", "concat_inputs", "is_tokens", "stored", "subset", "take"]


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

    def doc_nbytes(self, idx: Tensor) -> Tensor:
        """Raw bytes of each document ``idx``: its int32 ids and one int32 length."""
        return 4 * (self.lengths[idx] + 1)

    def raw_bytes(self) -> int:
        """Raw bytes of all documents: one int32 per token id plus one int32 length per document."""
        return 4 * (int(self.tokens.numel()) + len(self))

    @classmethod
    def from_lists(cls, docs: Sequence[Sequence[int]]) -> TokenBags:
        """Build from Python lists of ids (for tests and small examples)."""
        lengths = torch.tensor([len(d) for d in docs], dtype=torch.int64)
        starts = torch.cumsum(lengths, 0) - lengths
        flat = [t for d in docs for t in d]
        return cls(torch.tensor(flat, dtype=torch.int64), starts, lengths)


@dataclass
class TokenMatrix:
    """Documents as rows of token ids (``ids``, ``N x L``, padded) and their ``lengths``; the attention mask
    is derived (``arange(L) < lengths``), so only ids and lengths are stored.

    The token ids of a pretrained encoder's own tokenizer (`mygo_nb.data.pretrained_text.tokenize_texts`
    makes them); duck-types `TokenBags`: ``len``, ``device``, ``to``, ``take``, ``subset``, ``concat``.
    """

    ids: Tensor  # (N, L) int32 or int64; positions at or past a row's length hold the pad id
    lengths: Tensor  # (N,) int64, each in 1..L

    def __len__(self) -> int:
        return int(self.lengths.numel())

    @property
    def device(self) -> torch.device:
        return self.ids.device

    def to(self, device: torch.device | str) -> TokenMatrix:
        return TokenMatrix(self.ids.to(device), self.lengths.to(device))

    def take(self, idx: Tensor) -> tuple[Tensor, Tensor]:
        """The encoder's batch for documents ``idx``: ``(ids, mask)``, int64 ids and a bool mask, both
        ``len(idx) x longest``, where ``longest`` is the longest of these documents."""
        lens = self.lengths[idx]
        longest = int(lens.max()) if lens.numel() else 0
        ids = self.ids[idx, :longest].long()
        mask = torch.arange(longest, device=lens.device) < lens[:, None]
        return ids, mask

    def subset(self, idx: Tensor) -> TokenMatrix:
        """Documents ``idx`` as a matrix of their own (as wide as the longest of them)."""
        lens = self.lengths[idx]
        longest = int(lens.max()) if lens.numel() else 0
        return TokenMatrix(self.ids[idx, :longest].clone(), lens.clone())

    @classmethod
    def concat(cls, parts: Sequence[TokenMatrix]) -> TokenMatrix:
        """Several matrices as one, padded to the widest (with the first one's pad id)."""
        if not parts:
            raise ValueError("TokenMatrix.concat needs at least one matrix")
        width = max(p.ids.shape[1] for p in parts)
        pad = _pad_id(parts[0])
        rows = [torch.nn.functional.pad(p.ids, (0, width - p.ids.shape[1]), value=pad) for p in parts]
        return cls(torch.cat(rows), torch.cat([p.lengths for p in parts]))

    def doc_nbytes(self, idx: Tensor) -> Tensor:
        """Raw bytes of each document ``idx``: its int32 ids and one int32 length (as `TokenBags` counts)."""
        return 4 * (self.lengths[idx] + 1)

    def raw_bytes(self) -> int:
        """Raw bytes of all documents: the int32 ids each uses plus one int32 length per document."""
        return int(4 * (self.lengths.sum() + len(self)))


def _pad_id(m: TokenMatrix) -> int:
    """The id that fills a matrix's padded positions (0 where no row is padded)."""
    padded = torch.arange(m.ids.shape[1], device=m.device) >= m.lengths[:, None]
    return int(m.ids[padded][0]) if bool(padded.any()) else 0


class InputTransform(Protocol):
    """A deterministic map of a batch of images to a batch of images of the same shape, on the batch's device
    (`~mygo_nb.data.permuted.PixelPermutation`, `~mygo_nb.data.rotated.Rotation`). ``describe`` is what a
    record and a checkpoint keep of it; ``to`` moves its tensors."""

    def __call__(self, x: Tensor) -> Tensor: ...

    def describe(self) -> dict[str, Any]: ...

    def to(self, device: torch.device | str) -> InputTransform: ...


@dataclass
class DerivedImages:
    """Images made per batch: the rows ``rows`` (None: all) of a ``base`` tensor ``(N, C, H, W)`` that several
    tasks share, passed through ``transform``. Index it like a tensor (``x[idx]``, `take`); `subset` keeps it
    lazy; `stored` makes a real tensor (what a replay buffer keeps)."""

    base: Tensor
    transform: InputTransform
    rows: Tensor | None = None

    def __len__(self) -> int:
        return len(self.base) if self.rows is None else int(self.rows.numel())

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self), *self.base.shape[1:]))

    @property
    def ndim(self) -> int:
        return self.base.ndim

    @property
    def dtype(self) -> torch.dtype:
        return self.base.dtype

    @property
    def device(self) -> torch.device:
        return self.base.device

    def numel(self) -> int:
        return math.prod(self.shape)

    def take(self, idx: Tensor) -> Tensor:
        return self.transform(self.base[idx if self.rows is None else self.rows[idx]])

    __getitem__ = take

    def subset(self, idx: Tensor) -> DerivedImages:
        return DerivedImages(self.base, self.transform, idx.clone() if self.rows is None else self.rows[idx])

    def to(self, device: torch.device | str, shared: dict[int, Tensor] | None = None) -> DerivedImages:
        """On ``device``; tasks moved together (``shared``: one dict for them all) keep sharing one base."""
        shared = {} if shared is None else shared
        base = shared.setdefault(id(self.base), self.base.to(device))
        rows = None if self.rows is None else self.rows.to(device)
        return DerivedImages(base, self.transform.to(device), rows)


@dataclass
class InputStack:
    """Image inputs of several parts (tensors or `DerivedImages`) indexed as one, without copying them (joint
    training on derived tasks)."""

    parts: list[Tensor | DerivedImages]

    def __post_init__(self) -> None:
        sizes = torch.tensor([len(p) for p in self.parts])
        self.starts = torch.cumsum(sizes, 0) - sizes

    def __len__(self) -> int:
        return sum(len(p) for p in self.parts)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self), *self.parts[0].shape[1:]))

    @property
    def ndim(self) -> int:
        return self.parts[0].ndim

    @property
    def device(self) -> torch.device:
        return self.parts[0].device

    def numel(self) -> int:
        return math.prod(self.shape)

    def take(self, idx: Tensor) -> Tensor:
        starts = self.starts.to(idx.device)
        which = torch.bucketize(idx, starts, right=True) - 1
        out: Tensor | None = None
        for b in torch.unique(which).tolist():
            m = which == b
            xb = self.parts[b][idx[m] - starts[b]]
            if out is None:
                out = xb.new_empty((len(idx), *xb.shape[1:]))
            out[m] = xb
        assert out is not None, "an empty index"
        return out

    __getitem__ = take


Inputs = Tensor | TokenBags | DerivedImages | InputStack


def take(x: Inputs, idx: Tensor) -> Tensor | tuple[Tensor, Tensor]:
    """A batch of inputs: an index slice of an image tensor (derived images: transformed), or ``(tokens,
    offsets)`` for text."""
    return x[idx] if isinstance(x, Tensor) else x.take(idx)


def subset(x: Inputs, idx: Tensor) -> Inputs:
    """The inputs ``idx`` of ``x``, of the same kind (derived images stay derived)."""
    return x[idx] if isinstance(x, Tensor) else x.subset(idx)  # type: ignore[union-attr]


def is_tokens(x: object) -> bool:
    """Whether ``x`` is text as token ids: `TokenBags` (the paper's EmbeddingBag net) or a `TokenMatrix` (a
    pretrained encoder's). For such inputs the dream space is the net's ``embed`` output, not the inputs
    themselves."""
    return isinstance(x, (TokenBags, TokenMatrix))


def stored(x: Inputs, idx: Tensor) -> Tensor | TokenBags:
    """The inputs ``idx`` of ``x`` as data to keep: a tensor of images (transforms applied), or token ids of
    the same kind (`is_tokens`)."""
    return x.subset(idx) if is_tokens(x) else take(x, idx)  # type: ignore[union-attr, return-value]


@dataclass
class TaskData:
    """One split of one task: inputs ``x`` and *local* labels ``y`` in ``0..k-1``."""

    x: Inputs
    y: Tensor

    def __len__(self) -> int:
        return int(self.y.numel())

    def to(self, device: torch.device | str, shared: dict[int, Tensor] | None = None) -> TaskData:
        x = self.x.to(device, shared) if isinstance(self.x, DerivedImages) else self.x.to(device)
        return TaskData(x, self.y.to(device))


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

    def to(self, device: torch.device | str, shared: dict[int, Tensor] | None = None) -> Task:
        shared = {} if shared is None else shared
        return Task(self.index, self.classes, self.class_names, self.train.to(device, shared),
                    self.test.to(device, shared))


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

    @property
    def tokenizer(self) -> str | None:
        """The pretrained model whose tokenizer made a text benchmark's token ids (its ``tokenizer``
        parameter: ``"minilm"``, a folder or a hub name), or None (the package's own vocabulary, or images):
        the model a net on these inputs must be built on."""
        return (self.provenance.get("params") or {}).get("tokenizer")

    def to(self, device: torch.device | str) -> Benchmark:
        shared: dict[int, Tensor] = {}  # derived tasks keep sharing their base images
        return Benchmark(self.name, self.modality, [t.to(device, shared) for t in self.tasks],
                         self.class_names, self.vocab_size, self.provenance)

    def summary(self) -> str:
        rows = [f"{self.name}: {self.n_tasks} tasks, {self.modality}"]
        for t in self.tasks:
            names = ", ".join(t.class_names)
            rows.append(f"  task {t.index + 1}: {names:<24} train {len(t.train):>6}  test {len(t.test):>5}")
        return "\n".join(rows)


def concat_inputs(xs: list[Inputs]) -> Inputs:
    """Several inputs of one kind (image tensors, `TokenBags` or token matrices) as one (chapter 6: joint
    training); derived images are stacked without copying (`InputStack`)."""
    if any(isinstance(x, (DerivedImages, InputStack)) for x in xs):
        return InputStack([p for x in xs for p in (x.parts if isinstance(x, InputStack) else [x])])
    if isinstance(xs[0], TokenBags):
        lengths = torch.cat([x.lengths for x in xs])
        tokens = torch.cat([x.tokens[torch.repeat_interleave(x.starts, x.lengths) + _ranks(x.lengths)] for x in xs])
        return TokenBags(tokens, torch.cumsum(lengths, 0) - lengths, lengths)
    if is_tokens(xs[0]):  # a TokenMatrix
        return type(xs[0]).concat(xs)  # type: ignore[attr-defined]
    return torch.cat(xs)  # type: ignore[arg-type]


def _ranks(lengths: torch.Tensor) -> torch.Tensor:
    """0, 1, ..., len-1 for every bag, concatenated."""
    total = int(lengths.sum())
    starts = torch.cumsum(lengths, 0) - lengths
    return torch.arange(total, device=lengths.device) - torch.repeat_interleave(starts, lengths, output_size=total)
