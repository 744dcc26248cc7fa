"""Shared fixtures: a tiny synthetic benchmark for fast unit tests, and real-data roots from MYGO_DATA.

``MYGO_TEST_DEVICE=cuda`` puts the synthetic benchmarks (and so every run made on them) on the GPU; the
default is the CPU. ``MYGO_TEST_DETERMINISTIC=1`` also turns on ``torch.use_deterministic_algorithms`` (on a
GPU with ``CUBLAS_WORKSPACE_CONFIG=:4096:8``). benchmarks/gpu_check.sh runs the unit tests that way.
"""

from __future__ import annotations

import multiprocessing.process
import os
import subprocess
from pathlib import Path

import matplotlib.font_manager  # noqa: F401  (its first import on a machine runs fc-list: here, no test's)
import pytest
import torch

from mygo_nb.config import Profile, TrainConfig
from mygo_nb.data import Benchmark, Task, TaskData, TokenBags, benchmark_from_tensors

TINY = Profile("tiny", TrainConfig(batch_size=32, wake_epochs=4, sleep_steps=20))
TEST_DEVICE = os.environ.get("MYGO_TEST_DEVICE", "cpu")


#: fixtures that read the real data: a test that uses one is an integration test (marked so automatically)
REAL_DATA_FIXTURES = {"data_root", "agnews_root"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if REAL_DATA_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


#: the test being set up, run or torn down, and the processes each test started (module fixtures count for the
#: test whose set-up started them): a test that starts a process (a CLI run, a notebook kernel, a browser, a
#: cluster worker) must be marked ``slow``, so that ``pytest -m "not slow"`` stays the fast loop
_CURRENT: list[str] = []
_STARTED: dict[str, list[str]] = {}
_PATCHED: list[tuple[object, str, object]] = []


def _record(what: object) -> None:
    if _CURRENT:
        text = " ".join(map(str, what)) if isinstance(what, list | tuple) else str(what)
        _STARTED.setdefault(_CURRENT[0], []).append(text[:80])


def _watch_process_starts() -> None:
    popen_init, process_start = subprocess.Popen.__init__, multiprocessing.process.BaseProcess.start

    def popen(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        _record(args[0] if args else kwargs.get("args"))
        popen_init(self, *args, **kwargs)

    def start(self):  # type: ignore[no-untyped-def]
        _record(f"multiprocessing {self.name}")
        process_start(self)

    _PATCHED[:] = [(subprocess.Popen, "__init__", popen_init),
                   (multiprocessing.process.BaseProcess, "start", process_start)]
    subprocess.Popen.__init__ = popen  # type: ignore[method-assign]
    multiprocessing.process.BaseProcess.start = start  # type: ignore[method-assign]


def pytest_unconfigure(config: pytest.Config) -> None:
    for owner, name, original in _PATCHED:
        setattr(owner, name, original)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _CURRENT[:] = [item.nodeid]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    started = _STARTED.get(item.nodeid)
    if call.when == "teardown" and started and not item.get_closest_marker("slow") and report.outcome == "passed":
        report.outcome = "failed"
        report.longrepr = f"{item.nodeid} starts processes but is not marked slow: {started[:3]}"


def pytest_configure(config: pytest.Config) -> None:
    _watch_process_starts()
    if TEST_DEVICE != "cpu" and not (TEST_DEVICE.startswith("cuda") and torch.cuda.is_available()):
        raise pytest.UsageError(f"MYGO_TEST_DEVICE={TEST_DEVICE!r} needs a CUDA GPU (or leave it unset for the CPU)")
    if os.environ.get("MYGO_TEST_DETERMINISTIC") == "1":
        torch.use_deterministic_algorithms(True)


def _synthetic(n_per_class: int, n_classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    templates = torch.rand(n_classes, 1, 28, 28, generator=torch.Generator().manual_seed(123)) * 2 - 1
    y = torch.arange(n_classes).repeat_interleave(n_per_class)
    x = (templates[y] + 0.3 * torch.randn(len(y), 1, 28, 28, generator=g)).clamp(-1, 1)
    return x, y


@pytest.fixture(scope="session", autouse=True)
def _no_records_from_the_network():
    """Tests never fetch published run records from the network (``MYGO_RECORDS_URL=off``); the tests of that
    fetch serve their own records on 127.0.0.1 and set the variable themselves."""
    before = os.environ.get("MYGO_RECORDS_URL")
    os.environ["MYGO_RECORDS_URL"] = "off"
    yield
    if before is None:
        os.environ.pop("MYGO_RECORDS_URL", None)
    else:
        os.environ["MYGO_RECORDS_URL"] = before


@pytest.fixture(scope="session", autouse=True)
def _one_intra_op_thread():
    """One intra-op thread for every test, and (``OMP_NUM_THREADS=1`` unless it is set) for the processes tests
    start: CLI runs, notebook kernels, sweep workers. The tests' runs are small, and on a busy 2-core machine
    torch's spinning worker threads make them several times slower. Both are restored afterwards."""
    before, env_before = torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    yield
    torch.set_num_threads(before)
    if env_before is None:
        os.environ.pop("OMP_NUM_THREADS", None)
    else:
        os.environ["OMP_NUM_THREADS"] = env_before


@pytest.fixture(scope="session")
def tiny_bench() -> Benchmark:
    """Four learnable synthetic classes in two tasks: 48 train and 16 test images per class."""
    xtr, ytr = _synthetic(48, 4, 0)
    xte, yte = _synthetic(16, 4, 1)
    return benchmark_from_tensors(xtr, ytr, xte, yte, [[0, 1], [2, 3]], name="tiny", device=TEST_DEVICE)


@pytest.fixture(scope="session")
def image3() -> Benchmark:
    """Six synthetic classes in three tasks: 40 train and 12 test images per class."""
    xtr, ytr = _synthetic(40, 6, 0)
    xte, yte = _synthetic(12, 6, 1)
    return benchmark_from_tensors(xtr, ytr, xte, yte, [[0, 1], [2, 3], [4, 5]], name="tiny3", device=TEST_DEVICE)


@pytest.fixture(scope="session")
def text2() -> Benchmark:
    """Two synthetic text tasks over a 50-word vocabulary; each class draws its words from its own ten."""
    g = torch.Generator().manual_seed(0)

    def docs(n: int, cls: int) -> list[list[int]]:
        return [(torch.randint(0, 10, (int(torch.randint(1, 8, (1,), generator=g)),), generator=g) + 10 * cls).tolist()
                for _ in range(n)]

    tasks = []
    for i, (a, b) in enumerate([(0, 1), (2, 3)]):
        parts = {}
        for split, n in (("train", 40), ("test", 10)):
            parts[split] = TaskData(TokenBags.from_lists(docs(n, a) + docs(n, b)), torch.tensor([0] * n + [1] * n))
        tasks.append(Task(i, (a, b), (str(a), str(b)), parts["train"], parts["test"]))
    return Benchmark("tinytext", "text", tasks, ("0", "1", "2", "3"), vocab_size=50).to(TEST_DEVICE)


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The real offline data (MNIST raw files); tests using it are skipped without MYGO_DATA."""
    root = os.environ.get("MYGO_DATA")
    if not root or not (Path(root) / "MNIST" / "raw").is_dir():
        pytest.skip("MYGO_DATA is not set to a folder with MNIST/raw (e.g. MYGO_DATA=../shared/data)")
    return Path(root)


@pytest.fixture(scope="session")
def agnews_root(data_root: Path) -> Path:
    """A folder with ag_news_csv/{train,test}.csv: the canonical one if present, else the agnews_dev stand-in."""
    for cand in (data_root, data_root / "agnews_dev"):
        if (cand / "ag_news_csv" / "train.csv").is_file() and (cand / "ag_news_csv" / "test.csv").is_file():
            return cand
    pytest.skip("no ag_news_csv/train.csv under MYGO_DATA or MYGO_DATA/agnews_dev")
