"""Property-based tests (hypothesis): the CSV and IDX readers, TokenBags.take and configuration checks.

Invalid input must always give the package's own one-line error (`DataError` / `ConfigError`), never
another exception.
"""

from __future__ import annotations

import csv
import io
import math
import string
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mygo_nb.config import TrainConfig
from mygo_nb.data import IDX_DTYPES, DataError, TokenBags, read_agnews_csv, read_idx, validate_class_split
from mygo_nb.errors import ConfigError
from mygo_nb.learners.consolidate import ConsolidateConfig
from mygo_nb.learners.ewc import EWCConfig
from mygo_nb.learners.lwf import LwFConfig
from mygo_nb.learners.replay import ReplayConfig

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _one_line(e: Exception) -> None:
    msg = str(e)
    assert msg and "\n" not in msg and "\r" not in msg


# --------------------------------------------------------------------------------------------------
# AG News CSV
# --------------------------------------------------------------------------------------------------
_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
_rows = st.lists(st.tuples(st.integers(1, 4), _text, _text), min_size=1, max_size=20)


def _write_csv(path: Path, rows: list[tuple[int, str, str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f, quoting=csv.QUOTE_ALL).writerows(rows)


@SETTINGS
@given(rows=_rows)
def test_valid_csv_rows_round_trip(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("csv") / "train.csv"
    _write_csv(path, rows)
    texts, labels = read_agnews_csv(path)
    assert texts == [f"{title} {body}" for _, title, body in rows]
    assert labels.tolist() == [label - 1 for label, _, _ in rows]


def _read_or_error(path: Path) -> None:
    try:
        texts, labels = read_agnews_csv(path)
    except DataError as e:
        _one_line(e)
        assert path.name in str(e)
    else:  # whatever parses must be a consistent result
        assert len(texts) == len(labels) > 0 and set(labels.tolist()) <= {0, 1, 2, 3}


@SETTINGS
@given(rows=_rows, data=st.data())
def test_truncated_or_mutated_csv_is_a_data_error(tmp_path_factory, rows, data):
    buf = io.StringIO(newline="")
    csv.writer(buf, quoting=csv.QUOTE_ALL).writerows(rows)
    raw = buf.getvalue().encode("utf-8")
    cut = data.draw(st.integers(0, len(raw)))
    junk = data.draw(st.binary(max_size=8))
    at = data.draw(st.integers(0, cut))
    path = tmp_path_factory.mktemp("csv") / "test.csv"
    path.write_bytes(raw[:at] + junk + raw[at:cut])
    _read_or_error(path)


@SETTINGS
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes_never_raise_anything_but_data_error(tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("csv") / "any.csv"
    path.write_bytes(raw)
    _read_or_error(path)


@SETTINGS
@given(rows=st.lists(st.lists(_text, min_size=0, max_size=5), min_size=1, max_size=6))
def test_rows_with_wrong_field_counts_or_labels_are_data_errors(tmp_path_factory, rows):
    valid = all(len(r) == 3 and r[0] in ("1", "2", "3", "4") for r in rows)
    assume(not valid)
    path = tmp_path_factory.mktemp("csv") / "bad.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f, quoting=csv.QUOTE_ALL).writerows(rows)
    try:
        read_agnews_csv(path)
    except DataError as e:
        _one_line(e)
    else:  # only possible when csv drops rows that are empty lists (a bare newline) -- then all kept rows are valid
        kept = [r for r in rows if r]
        assert kept and all(len(r) == 3 and r[0] in ("1", "2", "3", "4") for r in kept)


# --------------------------------------------------------------------------------------------------
# IDX (MNIST) files
# --------------------------------------------------------------------------------------------------
@st.composite
def _idx_arrays(draw: st.DrawFn) -> np.ndarray:
    code = draw(st.sampled_from(sorted(IDX_DTYPES)))
    dtype = np.dtype(IDX_DTYPES[code])
    shape = tuple(draw(st.lists(st.integers(0, 5), min_size=1, max_size=4)))
    n = math.prod(shape)
    raw = draw(st.binary(min_size=n * dtype.itemsize, max_size=n * dtype.itemsize))
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def _idx_bytes(arr: np.ndarray) -> bytes:
    code = next(c for c, d in IDX_DTYPES.items() if np.dtype(d) == arr.dtype)
    header = bytes([0, 0, code, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return header + arr.tobytes()


@SETTINGS
@given(arr=_idx_arrays())
def test_valid_idx_files_load(tmp_path_factory, arr):
    path = tmp_path_factory.mktemp("idx") / "x-idx"
    path.write_bytes(_idx_bytes(arr))
    got = read_idx(path)
    want = torch.from_numpy(arr.astype(arr.dtype.newbyteorder("=")))
    assert tuple(got.shape) == arr.shape and got.dtype == want.dtype
    assert torch.equal(got, want) or (got.is_floating_point() and torch.equal(got.isnan(), want.isnan())
                                      and torch.equal(got.nan_to_num(), want.nan_to_num()))


@SETTINGS
@given(arr=_idx_arrays(), data=st.data())
def test_truncated_or_padded_idx_files_are_data_errors(tmp_path_factory, arr, data):
    raw = _idx_bytes(arr)
    if data.draw(st.booleans()):
        bad = raw[: data.draw(st.integers(0, len(raw) - 1))]
    else:
        bad = raw + data.draw(st.binary(min_size=1, max_size=9))
    path = tmp_path_factory.mktemp("idx") / "x-idx"
    path.write_bytes(bad)
    try:
        read_idx(path)
    except DataError as e:
        _one_line(e)
    else:
        raise AssertionError("a truncated or padded IDX file was accepted")


@SETTINGS
@given(raw=st.binary(max_size=64))
def test_arbitrary_bytes_as_idx_never_raise_anything_but_data_error(tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("idx") / "x-idx"
    path.write_bytes(raw)
    try:
        read_idx(path)
    except DataError as e:
        _one_line(e)


# --------------------------------------------------------------------------------------------------
# TokenBags.take
# --------------------------------------------------------------------------------------------------
@settings(max_examples=100, deadline=None)
@given(docs=st.lists(st.lists(st.integers(0, 1000), max_size=6), min_size=1, max_size=12), data=st.data())
def test_token_bags_take_equals_per_document_slices(docs, data):
    bags = TokenBags.from_lists(docs)
    idx = data.draw(st.lists(st.integers(0, len(docs) - 1), max_size=20))
    tokens, offsets = bags.take(torch.tensor(idx, dtype=torch.int64))
    assert tokens.tolist() == [t for i in idx for t in docs[i]]
    lengths = [len(docs[i]) for i in idx]
    assert offsets.tolist() == [sum(lengths[:k]) for k in range(len(idx))]
    sub = bags.subset(torch.tensor(idx, dtype=torch.int64))
    assert [sub.tokens[s:s + n].tolist() for s, n in zip(sub.starts.tolist(), sub.lengths.tolist(), strict=True)] \
        == [docs[i] for i in idx]


# --------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------
_any = st.one_of(st.none(), st.booleans(), st.integers(-5, 300), st.floats(allow_nan=True), st.text(max_size=5),
                 st.lists(st.integers(), max_size=2))
_INTS = {"batch_size": 1, "wake_epochs": 1, "sleep_steps": 0, "z_dim": 1, "gan_hidden": 1}  # name -> minimum


def _valid_train_config(kw: dict[str, object]) -> bool:
    for name, low in _INTS.items():
        v = kw.get(name, low)
        if isinstance(v, bool) or not isinstance(v, int) or v < low:
            return False
    for name in ("lr_fast", "lr_slow"):
        v = kw.get(name, 1e-3)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            return False
    return isinstance(kw.get("stream_optimizer", False), bool)


@settings(max_examples=300, deadline=None)
@given(kw=st.dictionaries(st.sampled_from([*_INTS, "lr_fast", "lr_slow", "stream_optimizer"]), _any, max_size=3))
def test_train_config_accepts_exactly_the_valid_values(kw):
    if _valid_train_config(kw):
        cfg = TrainConfig(**kw)
        assert all(getattr(cfg, k) == v for k, v in kw.items())
    else:
        try:
            TrainConfig(**kw)
        except ConfigError as e:
            _one_line(e)
            assert any(name in str(e) for name in kw)
        else:
            raise AssertionError(f"TrainConfig accepted {kw}")


def _number(v: object) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)


def _integer(v: object) -> bool:
    return not isinstance(v, bool) and isinstance(v, int)


# config class -> field -> (predicate a valid value satisfies, a valid default for the other fields)
_METHOD_CONFIGS = {
    EWCConfig: {"lam": lambda v: _number(v) and v >= 0,
                "fisher_samples": lambda v: v is None or (_integer(v) and v >= 1),
                "fisher_labels": lambda v: isinstance(v, str) and v in ("sample", "all"),
                "offline": lambda v: isinstance(v, bool)},
    LwFConfig: {"alpha": lambda v: _number(v) and v >= 0, "temperature": lambda v: _number(v) and v > 0},
    ReplayConfig: {"bytes_per_task": lambda v: v is None or (_integer(v) and v >= 1)},
    ConsolidateConfig: {
        "feature_weight": lambda v: _number(v) and v >= 0,
        "patience": lambda v: v is None or (_integer(v) and v >= 1),
        "window": lambda v: _integer(v) and v >= 1,
        "min_improvement": lambda v: _number(v) and 0 <= v < 1,
        "real_fraction": lambda v: _number(v) and 0 <= v < 1,
    },
}


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_method_configs_accept_exactly_the_valid_values(data):
    cls = data.draw(st.sampled_from(list(_METHOD_CONFIGS)))
    fields = _METHOD_CONFIGS[cls]
    kw = data.draw(st.dictionaries(st.sampled_from(list(fields)), _any, max_size=2))
    if all(fields[k](v) for k, v in kw.items()):
        cfg = cls(**kw)
        assert all(getattr(cfg, k) == v for k, v in kw.items())
    else:
        with pytest.raises(ConfigError) as e:
            cls(**kw)
        _one_line(e.value)
        assert any(k in str(e.value) and not fields[k](v) for k, v in kw.items())


_class = st.one_of(st.integers(-3, 12), st.floats(-1, 12), st.booleans(), st.text(string.digits, max_size=2))
_split = st.one_of(st.lists(st.one_of(st.lists(_class, max_size=4), _class), max_size=5), _class, st.none())


@settings(max_examples=300, deadline=None)
@given(split=_split, n_classes=st.integers(1, 10))
def test_class_split_accepts_exactly_the_valid_splits(split, n_classes):
    def valid() -> bool:
        if not isinstance(split, list) or not split:
            return False
        flat = []
        for task in split:
            if not isinstance(task, list) or not task:
                return False
            for c in task:
                if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < n_classes:
                    return False
                flat.append(c)
        return len(flat) == len(set(flat))

    if valid():
        assert validate_class_split(split, n_classes) == tuple(tuple(t) for t in split)  # type: ignore[union-attr]
    else:
        try:
            validate_class_split(split, n_classes)  # type: ignore[arg-type]
        except ConfigError as e:
            _one_line(e)
            assert "class split" in str(e)
        else:
            raise AssertionError(f"accepted {split!r}")
