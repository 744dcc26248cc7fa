import numpy as np
import pytest
import torch

from mygo_nb.data import (
    AGNEWS_CLASSES,
    DataError,
    TokenBags,
    Vocabulary,
    benchmark_from_tensors,
    class_order_split,
    load_benchmark,
    read_agnews_csv,
    resolve_data_root,
    split_agnews,
    split_mnist,
    validate_class_split,
)
from mygo_nb.errors import ConfigError


@pytest.mark.parametrize(
    ("split", "message"),
    [
        ([], "class split is empty"),
        ([[0, 1], []], "task 2 has no classes"),
        ([[0, 1], [1, 2]], "appears in tasks 1 and 2"),
        ([[0, 0]], "appears twice in task 1"),
        ([[0, 10]], "out of range 0..9"),
        ([[-1, 2]], "out of range 0..9"),
    ],
)
def test_class_split_validation(split, message):
    with pytest.raises(ConfigError, match=message):
        validate_class_split(split, 10)


def test_a_class_order_cuts_its_classes_into_tasks_in_that_order():
    assert class_order_split([2, 3, 0, 1], 4, 2) == ((2, 3), (0, 1))
    assert class_order_split((0, 2, 1, 3), 4, 2) == ((0, 2), (1, 3))
    for bad in ([0, 1, 2], [0, 1, 2, 2], [0, 1, 2, 4], "2301", [True, 0, 2, 3]):
        with pytest.raises(ConfigError, match="class order"):
            class_order_split(bad, 4, 2)


def test_any_valid_split_is_accepted():
    assert validate_class_split([[9, 3, 1], [0]], 10) == ((9, 3, 1), (0,))


def test_benchmark_from_tensors_relabels_locally():
    x = torch.randn(12, 1, 28, 28)
    y = torch.tensor([0, 1, 2, 3, 4, 5] * 2)
    b = benchmark_from_tensors(x, y, x, y, [[5, 2], [0]], max_train_per_class=1)
    t0, t1 = b.tasks
    assert t0.classes == (5, 2) and t1.classes == (0,)
    assert t0.train.y.tolist() == [1, 0]  # file order: class 2 (local 1) comes before class 5 (local 0)
    assert torch.equal(t0.train.x[0], x[2]) and torch.equal(t0.train.x[1], x[5])
    assert len(t0.test) == 4  # the cap applies to training data only
    with pytest.raises(DataError, match=r"shape \(N, 1, 28, 28\)"):
        benchmark_from_tensors(torch.randn(4, 28, 28), y[:4], x, y, [[0]])


def test_token_bags_take_matches_per_document_slices():
    docs = [[1, 2, 3], [], [4], [5, 6, 7, 8], [9, 9]]
    bags = TokenBags.from_lists(docs)
    idx = torch.tensor([3, 1, 0, 4])
    tokens, offsets = bags.take(idx)
    assert tokens.tolist() == [5, 6, 7, 8, 1, 2, 3, 9, 9]
    assert offsets.tolist() == [0, 4, 4, 7]
    sub = bags.subset(idx)
    got = [sub.tokens[s : s + n].tolist() for s, n in zip(sub.starts, sub.lengths, strict=True)]
    assert got == [docs[i] for i in idx]


def test_vocabulary_matches_token_by_token_lookup():
    texts = ["The cat sat on the mat, the cat!", "Stocks fell; stocks rose.", "the and of", "zebra quantum cat"]
    vocab = Vocabulary(max_features=3).fit(texts)
    analyzer = vocab.vectorizer.build_analyzer()
    ids = vocab.vectorizer.vocabulary_
    bags = vocab.encode(texts)
    assert len(vocab) == 4 and vocab.unk_id == 3
    for i, text in enumerate(texts):
        expected = sorted(ids.get(tok, vocab.unk_id) for tok in analyzer(text))
        start, n = int(bags.starts[i]), int(bags.lengths[i])
        assert sorted(bags.tokens[start : start + n].tolist()) == expected


def test_read_agnews_csv(tmp_path):
    p = tmp_path / "train.csv"
    p.write_text('"3","Wall St.","Stocks, ""up"" today"\n"1","A","b"\n', encoding="utf-8")
    texts, labels = read_agnews_csv(p)
    assert texts == ['Wall St. Stocks, "up" today', "A b"]
    assert labels.tolist() == [2, 0] and labels.dtype == np.int64
    p.write_text('"5","x","y"\n', encoding="utf-8")
    with pytest.raises(DataError, match="row 1: label '5'"):
        read_agnews_csv(p)
    p.write_text('"1","only two"\n', encoding="utf-8")
    with pytest.raises(DataError, match="expected 3 fields"):
        read_agnews_csv(p)


def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("MYGO_DATA", str(tmp_path / "env"))
    assert resolve_data_root(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_root() == tmp_path / "env"
    monkeypatch.delenv("MYGO_DATA")
    assert "mygo-nb" in str(resolve_data_root())


def test_missing_mnist_without_download_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="MNIST not found"):
        split_mnist(tmp_path, download=False)


@pytest.mark.integration
def test_split_mnist_real(data_root):
    b = split_mnist(data_root, download=False)
    assert b.n_tasks == 5 and b.modality == "image"
    assert [len(t.train) for t in b.tasks] == [5923 + 6742, 5958 + 6131, 5842 + 5421, 5918 + 6265, 5851 + 5949]
    assert sum(len(t.test) for t in b.tasks) == 10_000
    x = b.tasks[0].train.x
    assert x.shape[1:] == (1, 28, 28) and x.min() == -1 and x.max() == 1
    assert b.provenance["files"]["train-images-idx3-ubyte"]["md5"] == "6bbc9ace898e44ae57da46a324031adb"
    capped = split_mnist(data_root, [[7], [1, 4]], max_train_per_class=10, download=False)
    assert [len(t.train) for t in capped.tasks] == [10, 20]
    assert capped.tasks[1].classes == (1, 4)


@pytest.mark.integration
def test_split_agnews_real(agnews_root):
    b = split_agnews(agnews_root, download=False)
    assert b.n_tasks == 2 and b.modality == "text"
    assert b.tasks[0].class_names == AGNEWS_CLASSES[:2] and b.tasks[1].class_names == AGNEWS_CLASSES[2:]
    files = b.provenance["files"]
    assert files["train.csv"]["rows"] == sum(len(t.train) for t in b.tasks)
    assert files["test.csv"]["rows"] == sum(len(t.test) for t in b.tasks)
    assert b.vocab_size == b.provenance["vocab_size"] <= 10_001
    assert int(b.tasks[0].train.x.tokens.max()) < b.vocab_size


@pytest.mark.integration
def test_split_agnews_in_another_class_order_is_a_second_stream_of_the_same_files(agnews_root):
    """The parameter ``order`` cuts the same files into other tasks and is recorded (so its runs' identity
    differs); the paper's order, given or not, records nothing (old records keep their identity)."""
    paper = load_benchmark("split-agnews", agnews_root, max_train_per_class=50)
    other = load_benchmark("split-agnews", agnews_root, max_train_per_class=50, params={"order": [2, 3, 0, 1]})
    assert [t.class_names for t in other.tasks] == [AGNEWS_CLASSES[2:], AGNEWS_CLASSES[:2]]
    assert other.provenance["params"] == {"order": [2, 3, 0, 1]} and paper.provenance["params"] == {}
    assert torch.equal(other.tasks[1].test.x.tokens, paper.tasks[0].test.x.tokens)
    assert torch.equal(other.tasks[0].train.y, paper.tasks[1].train.y)
    same = load_benchmark("split-agnews", agnews_root, max_train_per_class=50, params={"order": [0, 1, 2, 3]})
    assert same.provenance["params"] == {}
    one = load_benchmark("split-agnews", agnews_root, tasks=1, max_train_per_class=50, params={"order": "[1, 3, 0, 2]"})
    assert [t.class_names for t in one.tasks] == [(AGNEWS_CLASSES[1], AGNEWS_CLASSES[3])]
    with pytest.raises(ConfigError, match="not both"):
        load_benchmark("split-agnews", agnews_root, split=[[0, 1]], params={"order": [2, 3, 0, 1]})


class _ListDataset:
    """A torchvision-style dataset without .data: PIL-like uint8 arrays through __getitem__."""

    classes = ("a", "b", "c")

    def __init__(self, n: int) -> None:
        g = torch.Generator().manual_seed(n)
        self.images = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=g)
        self.labels = [i % 3 for i in range(n)]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        return self.images[i].numpy(), self.labels[i]


def test_benchmark_from_any_torchvision_style_dataset():
    from mygo_nb.data import benchmark_from_dataset

    train, test = _ListDataset(30), _ListDataset(9)
    b = benchmark_from_dataset(train, test, [[2], [0, 1]])
    assert b.class_names == ("a", "b", "c") and b.tasks[0].class_names == ("c",)
    assert [len(t.train) for t in b.tasks] == [10, 20] and [len(t.test) for t in b.tasks] == [3, 6]
    x = b.tasks[0].train.x[0]
    assert torch.allclose(x, train.images[2].float().div(255).sub(0.5).div(0.5).unsqueeze(0))
