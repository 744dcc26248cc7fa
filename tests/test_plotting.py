"""Figures and widgets of the notebooks, on the tiny synthetic benchmark and synthetic run records (fast, no
training, no real data). What the records of real runs hold is tested in test_methods.py."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from mygo_nb.book import plotting
from mygo_nb.core.memories import GenerativeMemory, make_gan
from mygo_nb.core.metrics import summarize
from mygo_nb.data import Benchmark
from mygo_nb.running.records import RunResult
from tests.conftest import TINY


def _record(variant: str, seed: int, n_tasks: int = 2, steps: int = TINY.train.sleep_steps) -> RunResult:
    """A synthetic record shaped like a ``mygo`` run's: the reference code's sleeps have an exactly-zero loss and a
    still extractor; the paper's have a positive, falling loss, dream of every seen task and move the extractor."""
    g = np.random.default_rng(seed)
    R: list[list[float | None]] = [[float(g.uniform(60, 100)) if j <= i else None for j in range(n_tasks)]
                                   for i in range(n_tasks)]
    paper = variant == "paper"
    sleep_loss = [(g.uniform(0.1, 1.0) * np.exp(-np.arange(steps) / steps) if paper else np.zeros(steps)).tolist()
                  for _ in range(n_tasks)]
    dream_task = [g.integers(0, t + 1, steps).tolist() for t in range(n_tasks)]
    drift = np.cumsum(g.uniform(0.1, 1.0, n_tasks)).tolist() if paper else [0.0] * n_tasks
    return RunResult(benchmark="tiny", method="mygo", variant=variant, scenario="task", profile="tiny",
                     config=TINY.to_dict(), seed=seed, device="cpu", eval_on="test", accuracy_matrix=R,
                     metrics=summarize(R), timings={"total_seconds": 1.0}, data={"source": "synthetic"},
                     traces={"sleep_loss": sleep_loss, "sleep_dream_task": dream_task, "extractor_drift": drift})


@pytest.fixture(scope="module")
def runs() -> dict[str, RunResult]:
    out = (_record(v, seed) for seed, v in enumerate(("reference", "paper")))
    return {r.label: r for r in out}


@pytest.fixture(scope="module")
def memories(tiny_bench: Benchmark) -> list[GenerativeMemory]:
    torch.manual_seed(0)
    return [GenerativeMemory(t.index, make_gan((1, 28, 28), t.n_classes, 8)[0].eval()) for t in tiny_bench.tasks]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _images(fig: Figure) -> list:
    return [ax for ax in fig.axes if ax.images]


def test_task_samples_one_row_per_class(tiny_bench: Benchmark) -> None:
    fig = plotting.task_samples(tiny_bench, per_class=3)
    assert len(_images(fig)) == 4 * 3
    labels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert labels == [f"task {t.index + 1}: {n}" for t in tiny_bench.tasks for n in t.class_names]
    shown = fig.axes[0].images[0].get_array()
    assert shown.shape == (28, 28) and shown.min() >= 0 and shown.max() <= 1


def test_class_counts_bars_match_data(tiny_bench: Benchmark) -> None:
    fig = plotting.class_counts(tiny_bench)
    train_heights = [p.get_height() for p in fig.axes[0].patches]
    test_heights = [p.get_height() for p in fig.axes[1].patches]
    assert train_heights == [48] * 4 and test_heights == [16] * 4


def test_dream_grid_shape_and_determinism(memories: list[GenerativeMemory]) -> None:
    names = [("a", "b"), ("c", "d")]
    a = plotting.dream_grid(memories, names, per_class=5, seed=3)
    b = plotting.dream_grid(memories, names, per_class=5, seed=3)
    c = plotting.dream_grid(memories, names, per_class=5, seed=4)
    assert len(_images(a)) == 4 * 5
    first = [np.asarray(ax.images[0].get_array()) for ax in _images(a)]
    assert all(np.array_equal(x, np.asarray(ax.images[0].get_array())) for x, ax in zip(first, _images(b), strict=True))
    assert not np.array_equal(first[0], np.asarray(_images(c)[0].images[0].get_array()))


def test_embedding_projection_plots_every_point() -> None:
    g = torch.Generator().manual_seed(0)
    real, dreams = torch.randn(40, 16, generator=g), torch.randn(30, 16, generator=g)
    y_real, y_dream = torch.arange(40) % 2, torch.arange(30) % 2
    fig = plotting.embedding_projection(real, y_real, dreams, y_dream, ["x", "y"])
    counts = [sum(len(c.get_offsets()) for c in ax.collections) for ax in fig.axes]
    assert counts == [40, 30]


def test_wake_curves_one_line_per_task_and_loss() -> None:
    logs = [{"head_loss": [1.0, 0.5], "d_loss": [0.7, 0.6], "g_loss": [0.8, 0.9]}] * 3
    fig = plotting.wake_curves(logs)
    assert len(fig.axes[0].lines) == 3 and len(fig.axes[1].lines) == 6
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), [1.0, 0.5])


def test_sleep_traces_and_drift_follow_the_records(runs: dict[str, RunResult]) -> None:
    fig = plotting.sleep_loss_traces(runs)
    assert len(fig.axes) == 2
    ref_lines = [line for line in fig.axes[0].lines if line.get_label().startswith("sleep")]
    assert len(ref_lines) == 2 and all(np.all(line.get_ydata() == 0) for line in ref_lines)
    assert len(ref_lines[0].get_ydata()) == TINY.train.sleep_steps
    assert np.any(fig.axes[1].lines[0].get_ydata() > 0)
    for ax, r in zip(fig.axes, runs.values(), strict=True):  # each sleep's losses, the sleeps one after another
        lines = [line for line in ax.lines if line.get_label().startswith("sleep")]
        assert [line.get_label() for line in lines] == ["sleep after task 1", "sleep after task 2"]
        for t, (line, losses) in enumerate(zip(lines, r.traces["sleep_loss"], strict=True)):
            np.testing.assert_allclose(line.get_ydata(), losses)
            np.testing.assert_array_equal(line.get_xdata(), np.arange(len(losses)) + t * TINY.train.sleep_steps)
    fig = plotting.drift_bars(runs)
    heights = [p.get_height() for p in fig.axes[0].patches]
    expected = runs["mygo/reference"].traces["extractor_drift"] + runs["mygo/paper"].traces["extractor_drift"]
    np.testing.assert_allclose(heights, expected)


def test_accuracy_heatmap_annotates_the_matrix(runs: dict[str, RunResult]) -> None:
    fig = plotting.accuracy_heatmaps(runs)
    R = runs["mygo/paper"].accuracy_matrix
    texts = [t.get_text() for t in fig.axes[1].texts]
    assert texts == [f"{a:.0f}" for row in R for a in row if a is not None]


def test_average_accuracy_curves_mean_over_seeds() -> None:
    fig = plotting.average_accuracy_curves({"finetune": [[100, 80], [90, 60]]}, {"Fine-tuning": [100.0, 78.0]})
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [95, 70])
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [100, 78])


def test_method_bars_heights_are_means() -> None:
    fig = plotting.method_bars({"joint": [98.0, 96.0], "finetune": [60.0]})
    np.testing.assert_allclose([p.get_height() for p in fig.axes[0].patches], [97.0, 60.0])


def test_task_samples_rejects_text() -> None:
    class Fake:
        modality = "text"

    with pytest.raises(ValueError, match="images"):
        plotting.task_samples(Fake())  # type: ignore[arg-type]


def test_widgets_and_their_static_twins(memories: list[GenerativeMemory], runs: dict[str, RunResult]) -> None:
    widgets = pytest.importorskip("mygo_nb.book.widgets")
    names = [("a", "b"), ("c", "d")]
    box = widgets.dream_explorer(memories, names, n=8)
    task, cls, seed = box.children[0].children
    image = box.children[1]
    assert image.value[:4] == b"\x89PNG"
    before = image.value
    seed.value = 5
    assert image.value != before
    task.value = 1
    assert [o[0] for o in cls.options] == ["c", "d"]
    html = widgets.dream_animation(memories, names, seeds=[0, 1], per_class=2).data
    assert "<script" in html and "frames[1]" in html and "frames[2]" not in html
    pap = runs["mygo/paper"]
    total = sum(len(x) for x in pap.traces["sleep_loss"])
    replay = widgets.sleep_replay(pap, frames=5)
    play, slider = replay.children[0].children
    assert slider.max == total == play.max
    before = replay.children[1].value
    slider.value = slider.max
    assert replay.children[1].value[:4] == b"\x89PNG" and replay.children[1].value != before
    html = widgets.sleep_animation(pap, frames=3).data
    assert "frames[2]" in html and "frames[3]" not in html


def test_scenario_and_storage_bars_draw_what_they_are_given():
    from mygo_nb.book.plotting import scenario_bars, storage_bars

    fig = scenario_bars({"replay": {"task": [99.0, 98.0], "class": [90.0]}, "mygo/reference": {"task": [97.0]}})
    ax = fig.axes[0]
    heights = sorted(round(p.get_height(), 2) for p in ax.patches)
    assert heights == [90.0, 97.0, 98.5]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["task", "class"]
    fig = storage_bars({"mygo": {"generator": 4.4e5, "raw data": 9e6}, "replay": {"replay buffer": 4.3e5,
                                                                                "raw data": 9e6}})
    ax = fig.axes[0]
    assert sorted(round(p.get_height(), 2) for p in ax.patches) == [0.43, 0.44, 9.0, 9.0]
    assert ax.get_yscale() == "log"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["generator", "raw data", "replay buffer"]
