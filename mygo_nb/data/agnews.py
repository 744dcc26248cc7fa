"""Split-AG News (chapter 1): the canonical CSVs (checked downloads), the vocabulary, token bags, tasks.

With the benchmark parameter ``tokenizer`` (a model folder, a hub name, or ``"minilm"`` for the installed
all-MiniLM-L6-v2), the texts are the model's own token ids instead (`~mygo_nb.data.types.TokenMatrix`,
tokenised once and cached by the model's checksum): the inputs of a net on that pretrained encoder
(``--net minilm``).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError, DataError
from .files import download as download_file
from .files import file_md5, resolve_data_root
from .models import model_label, resolve_model
from .registry import register_benchmark
from .splits import build_tasks, class_index, class_order_split, first_tasks, validate_class_split
from .types import Benchmark, TokenBags

__all__ = ["AGNEWS_CLASSES", "AGNEWS_FILES", "AGNEWS_MAX_TOKENS", "AGNEWS_TASKS", "Vocabulary",
           "default_agnews_root", "fetch_agnews", "read_agnews_csv", "split_agnews"]

AGNEWS_CLASSES: tuple[str, ...] = ("World", "Sports", "Business", "Sci/Tech")
AGNEWS_TASKS: tuple[tuple[int, ...], ...] = ((0, 1), (2, 3))
#: a pretrained model's token ids are cut after this many per text (special tokens included)
AGNEWS_MAX_TOKENS = 64
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
            download_file(url, folder, name, md5)
        paths[name] = path
    return paths


class Vocabulary:
    """The reference vocabulary: ``CountVectorizer(max_features=10000, stop_words='english')`` fitted on
    the training texts, plus one ``<unk>`` id (= ``len(vocabulary)``) for known-analyser tokens outside it.

    `encode` turns texts into `~mygo_nb.data.types.TokenBags` with sparse-matrix ops, not a Python loop over ids.
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
                 download: bool = True, max_features: int = 10_000, tokenizer: str | None = None,
                 token_cache: str | os.PathLike[str] | None = None) -> Benchmark:
    """Split-AG News from ``root/ag_news_csv/{train,test}.csv`` (default two tasks of two classes).

    ``tokenizer`` None: the vocabulary is fitted on the (possibly capped) training texts, as in the reference
    code, and the texts are `TokenBags`. Otherwise the model it names (`~mygo_nb.data.models.resolve_model`:
    a folder, a hub name, ``"minilm"``) tokenises them (`AGNEWS_MAX_TOKENS` at most) into token matrices,
    cached in ``token_cache`` (default: the user cache); ``provenance["params"]`` records the ``tokenizer``.
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
        keep, _ = class_index(ytr, [c for task in split for c in task], max_train_per_class)
        tr_texts, ytr = [tr_texts[i] for i in keep.tolist()], ytr[keep]
    if tokenizer is not None:
        # imported here only: transformers (about 2 s to import) is an optional extra, not needed otherwise
        from .pretrained_text import model_checksum, tokenize_texts

        folder = resolve_model(tokenizer)
        xtr_m = tokenize_texts(tr_texts, folder, AGNEWS_MAX_TOKENS, token_cache)
        xte_m = tokenize_texts(te_texts, folder, AGNEWS_MAX_TOKENS, token_cache)
        provenance["tokens"] = {"model": model_label(tokenizer), "checksum": model_checksum(folder),
                                "max_length": AGNEWS_MAX_TOKENS}
        tasks = build_tasks(xtr_m, ytr, xte_m, yte, split, AGNEWS_CLASSES, max_train_per_class)  # type: ignore[arg-type]
        return Benchmark("split-agnews", "text", tasks, AGNEWS_CLASSES,
                         provenance={**provenance, "params": {"tokenizer": tokenizer}}).to(device)
    vocab = Vocabulary(max_features=max_features).fit(tr_texts)
    xtr, xte = vocab.encode(tr_texts), vocab.encode(te_texts)
    provenance["vocab_size"] = len(vocab)
    tasks = build_tasks(xtr, ytr, xte, yte, split, AGNEWS_CLASSES, max_train_per_class)
    return Benchmark("split-agnews", "text", tasks, AGNEWS_CLASSES, vocab_size=len(vocab),
                     provenance={**provenance, "params": {}}).to(device)


@register_benchmark("split-agnews", modality="text", tasks=2, max_tasks=2,
                    summary="AG News's four topics in two tasks of two (the paper's text benchmark)",
                    params={"tokenizer": None, "order": None})
def _split_agnews_entry(root: str | os.PathLike[str] | None, *, n_tasks: int | None,
                        split: Sequence[Sequence[int]] | None, order: Sequence[int] | None = None,
                        **kw: Any) -> Benchmark:
    """``order``: the four topics in the order the tasks take them, two a task (None: 0, 1, 2, 3, the paper's;
    ``[2, 3, 0, 1]`` is the same files as a second stream, Business and Sci/Tech first). A non-default order is
    recorded among the benchmark's parameters, so its runs are told apart from the paper's order."""
    if order is not None:
        if split is not None:
            raise ConfigError("split-agnews takes a class split or the parameter order, not both")
        split = class_order_split(order, len(AGNEWS_CLASSES), 2)
        order = None if split == AGNEWS_TASKS else [c for task in split for c in task]
    bench = split_agnews(root, first_tasks(AGNEWS_TASKS if split is None else split, n_tasks, "split-agnews"), **kw)
    if order is not None:
        bench.provenance["params"] = {**bench.provenance["params"], "order": order}
    return bench




def default_agnews_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The AG News root to use: the data root when it holds the canonical ``train.csv``, else its ``agnews_dev``
    stand-in folder when that has one (a small split cut from the canonical test set)."""
    r = resolve_data_root(root)
    if not (r / "ag_news_csv" / "train.csv").is_file() and (r / "agnews_dev" / "ag_news_csv" / "train.csv").is_file():
        return r / "agnews_dev"
    return r
