"""Figures and widgets of the notebooks, on the tiny synthetic benchmark and synthetic run records (fast, no
training, no real data). What the records of real runs hold is tested in test_methods.py."""

from __future__ import annotations

import base64
import io
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.text import Text
from PIL import Image

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


def test_dream_grids_set_kinds_side_by_side_with_the_same_dreams_as_dream_grid(
        memories: list[GenerativeMemory]) -> None:
    names = [("a", "b"), ("c", "d")]
    fig = plotting.dream_grids({"one": memories, "two": memories}, names, per_class=3, seed=3)
    axes = [ax for ax in fig.get_axes() if ax.images]
    assert len(axes) == 2 * 4 * 3
    single = [np.asarray(ax.images[0].get_array()) for ax in _images(plotting.dream_grid(memories, names,
                                                                                           per_class=3, seed=3))]
    assert all(np.array_equal(a, np.asarray(ax.images[0].get_array())) for a, ax in zip(single, axes, strict=False))
    labelled = [ax.get_ylabel() for ax in axes if ax.get_ylabel()]
    assert labelled == ["memory 1: a", "memory 1: b", "memory 2: c", "memory 2: d"]  # once, on the left panel
    plt.close("all")


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


def test_paired_dots_draw_every_seed_of_both_sides_and_their_means() -> None:
    fig = plotting.paired_dots({"joint": [(97.8, 97.6), (97.7, 98.2)], "dgr": [(89.2, 91.4)]}, ("ours", "theirs"))
    ax = fig.axes[0]
    from matplotlib.collections import LineCollection, PathCollection

    dots = np.concatenate([c.get_offsets() for c in ax.collections if isinstance(c, PathCollection)])
    assert sorted(dots[:, 1].round(1).tolist()) == sorted([97.8, 97.6, 97.7, 98.2, 89.2, 91.4])
    lines = [c for c in ax.collections if isinstance(c, LineCollection)]
    means = sorted(float(seg[0][1]) for c in lines for seg in c.get_segments())
    np.testing.assert_allclose(means, sorted([97.75, 97.9, 89.2, 91.4]))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["joint", "dgr"]
    plt.close(fig)


def test_scaling_curves_draw_the_seeds_mean_and_standard_deviation_at_each_number_of_tasks() -> None:
    fig = plotting.scaling_curves({"accuracy": {"a": {5: [80.0, 84.0], 50: [50.0, 60.0]}, "b": {10: [70.0]}},
                                   "seconds": {"a": {5: [1.0, 3.0], 50: [10.0, 30.0]}}}, log_y=("seconds",))
    acc, sec = fig.axes
    line = acc.containers[0].lines[0]  # method a's errorbar: its line of means, caps and bars
    assert list(line.get_xdata()) == [5, 50] and list(line.get_ydata()) == [82.0, 55.0]
    bars = acc.collections[0].get_segments()  # one vertical segment per point: mean -+ one sample std
    sd = (8**0.5, 50**0.5)  # sample std of (80, 84) and of (50, 60)
    assert np.allclose([s[:, 1] for s in bars], [(82 - sd[0], 82 + sd[0]), (55 - sd[1], 55 + sd[1])])
    assert list(acc.containers[1].lines[0].get_ydata()) == [70.0]  # method b, one seed: a bar of length 0
    assert acc.get_xscale() == "log" and acc.get_yscale() == "linear" and sec.get_yscale() == "log"
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["a", "b"]


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


# --- legible at the page's width (issue 12) -------------------------------------------------------------------


def _drawn_texts(fig: Figure) -> list[Text]:
    """Every text the figure draws: titles, axis and tick labels, annotations, legends, figure texts."""
    fig.canvas.draw()
    out: list[Text] = list(fig.texts)
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        out += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label, *ax.texts]  # + annotations
        if ax.axison:
            out += [*_tick_labels(ax.xaxis), *_tick_labels(ax.yaxis)]
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    for leg in legends:
        out += [*leg.get_texts(), leg.get_title()]
    return [t for t in out if t.get_visible() and t.get_text().strip()]


def _tick_labels(axis: Axis) -> list[Text]:
    """The tick labels the axis draws (its ticks inside the view limits; a tick list also holds others)."""
    lo, hi = sorted(axis.get_view_interval())
    eps = 1e-9 * max(abs(lo), abs(hi), 1e-300)
    ticks = [*axis.get_major_ticks(), *axis.get_minor_ticks()]
    return [label for t in ticks if lo - eps <= t.get_loc() <= hi + eps for label in (t.label1, t.label2)
            if label.get_visible()]


def _page_scale(fig: Figure) -> float:
    """How much the notebook's PNG (tight bounding box, 0.1 inch padding) is scaled down onto the page."""
    fig.canvas.draw()
    width_px = (fig.get_tightbbox().width + 0.2) * fig.dpi
    return min(1.0, plotting.PAGE_PX / width_px)


def _smallest_text_px(fig: Figure) -> float:
    scale = _page_scale(fig)
    return min(t.get_fontsize() for t in _drawn_texts(fig)) * fig.dpi / 72 * scale


def _overlaps(texts: list[Text], pad: float = 1.0) -> list[tuple[str, str]]:
    """Pairs of upright texts whose boxes (shrunk by ``pad`` px) overlap."""
    boxes = [(t.get_text(), t.get_window_extent().padded(-pad)) for t in texts if t.get_rotation() in (0, 90)]
    return [(a, b) for i, (a, ba) in enumerate(boxes) for b, bb in boxes[i + 1:] if ba.overlaps(bb)]


def _figures(tiny_bench: Benchmark, memories: list[GenerativeMemory], runs: dict[str, RunResult]) -> dict:
    widgets = pytest.importorskip("mygo_nb.book.widgets")
    five = {f"method {k}": _record("paper", k, n_tasks=5) for k in range(5)}
    logs = [{"head_loss": [1.0, 0.5, 0.3], "d_loss": [0.7, 0.6, 0.6], "g_loss": [0.8, 0.9, 1.0]}] * 5
    g = torch.Generator().manual_seed(0)
    names = [f"method-with-a-long-name-{k}" for k in range(10)]
    return {
        "task_samples": lambda: plotting.task_samples(tiny_bench, per_class=8),
        "class_counts": lambda: plotting.class_counts(tiny_bench),
        "dream_grid": lambda: plotting.dream_grid(memories, [("a", "b"), ("c", "d")], per_class=12),
        "dream_grids": lambda: plotting.dream_grids({"a": memories, "b": memories, "c": memories},
                                                    [("a", "b"), ("c", "d")], per_class=4),
        "embedding_projection": lambda: plotting.embedding_projection(
            torch.randn(40, 16, generator=g), torch.arange(40) % 2, torch.randn(30, 16, generator=g),
            torch.arange(30) % 2, ["World", "Sports"], "real vs dreamed embeddings"),
        "wake_curves": lambda: plotting.wake_curves(logs),
        "sleep_loss_traces": lambda: plotting.sleep_loss_traces(runs),
        "drift_bars": lambda: plotting.drift_bars(runs),
        "accuracy_heatmaps": lambda: plotting.accuracy_heatmaps(five),
        "average_accuracy_curves": lambda: plotting.average_accuracy_curves(
            {"mygo/reference": [[100, 97, 96, 97, 97]] * 2}, {"MyGO": [100.0, 97.0, 96.0, 97.0, 97.2]}),
        "method_bars": lambda: plotting.method_bars({k: [90.0, 95.0] for k in names[:6]}, title="methods"),
        "scenario_bars": lambda: plotting.scenario_bars({k: {"task": [99.0], "domain": [80.0], "class": [40.0]}
                                                         for k in names}, title="average accuracy"),
        "storage_bars": lambda: plotting.storage_bars({k: {"generator": 4e5, "raw data": 9e6} for k in names[:8]},
                                                      title="bytes"),
        "system_diagram": lambda: plotting.system_diagram(),
        "scaling_curves": lambda: plotting.scaling_curves(
            {"average accuracy (%)": {k: {5: [80.0, 84.0], 10: [70.0, 72.0], 50: [50.0, 58.0]} for k in names[:7]},
             "seconds per task": {k: {5: [1.0, 1.2], 10: [2.0, 2.2], 50: [9.0, 11.0]} for k in names[:7]},
             "memory kept for old tasks (MB)": {k: {5: [2.2], 10: [4.4], 50: [22.0]} for k in names[:3]}},
            log_y=("seconds per task",)),
        "sleep_state_figure": lambda: widgets.sleep_state_figure(runs["mygo/paper"], 30),
        "dream_state_figure": lambda: widgets.dream_state_figure(memories, [("0", "1"), ("2", "3")], per_class=8),
    }


FIGURES = ["task_samples", "class_counts", "dream_grid", "dream_grids", "embedding_projection", "wake_curves",
           "sleep_loss_traces",
           "drift_bars", "accuracy_heatmaps", "average_accuracy_curves", "method_bars", "scenario_bars",
           "storage_bars", "system_diagram", "scaling_curves", "sleep_state_figure", "dream_state_figure"]


@pytest.mark.parametrize("name", FIGURES)
def test_every_figure_is_legible_at_the_page_width(name: str, tiny_bench: Benchmark,
                                                    memories: list[GenerativeMemory],
                                                    runs: dict[str, RunResult]) -> None:
    """At the notebooks' 100 dpi, scaled down to the page's narrowest column, no text is under 10 px and no two
    upright texts overlap."""
    fig = _figures(tiny_bench, memories, runs)[name]()
    assert fig.dpi == 100
    assert fig.get_figwidth() <= plotting.PAGE_WIDTH_IN + 1e-9
    assert _smallest_text_px(fig) >= 10, f"{name}: smallest text {_smallest_text_px(fig):.1f} px on the page"
    assert _overlaps(_drawn_texts(fig)) == []


def test_frames_of_the_animations_keep_their_text_inside(memories: list[GenerativeMemory],
                                                         runs: dict[str, RunResult]) -> None:
    """An animation's frames are saved as they are (no tight box), so every text must lie inside the figure, and
    at the page column's width (the frame is shown at 100% of it) be at least 11 px high."""
    widgets = pytest.importorskip("mygo_nb.book.widgets")
    for fig in (widgets.sleep_state_figure(runs["mygo/paper"], 30),
                widgets.dream_state_figure(memories, [("0", "1"), ("2", "3")], per_class=8)):
        assert fig.get_figwidth() == pytest.approx(plotting.PAGE_WIDTH_IN)
        inside = fig.bbox.padded(1)
        for t in _drawn_texts(fig):
            box = t.get_window_extent()
            assert inside.contains(box.x0, box.y0) and inside.contains(box.x1, box.y1), t.get_text()
        scale = plotting.PAGE_PX / (fig.get_figwidth() * fig.dpi)
        assert min(t.get_fontsize() for t in _drawn_texts(fig)) * fig.dpi / 72 * scale >= 11


def test_animations_fill_the_page_column(memories: list[GenerativeMemory], runs: dict[str, RunResult]) -> None:
    widgets = pytest.importorskip("mygo_nb.book.widgets")
    for html in (widgets.sleep_animation(runs["mygo/paper"], frames=2).data,
                 widgets.dream_animation(memories, [("0", "1"), ("2", "3")], seeds=[0, 1], per_class=8).data):
        box = re.search(r'<div id="(mygo-anim-\w+)"', html)
        assert box, "the player is not wrapped in its own box"
        assert re.search(rf"#{box.group(1)} \.animation img \{{width: 100%;", html)
        frame = re.search(r'frames\[0\] = "data:image/png;base64,([^"]+)"', html)
        assert frame
        width, height = Image.open(io.BytesIO(base64.b64decode(frame.group(1)))).size
        assert width == round(plotting.PAGE_WIDTH_IN * 100) and height > 100


def test_sleep_state_numbers_the_memories_without_running_together(runs: dict[str, RunResult]) -> None:
    widgets = pytest.importorskip("mygo_nb.book.widgets")
    rec = _record("paper", 3, n_tasks=5)
    fig = widgets.sleep_state_figure(rec, sum(len(x) for x in rec.traces["sleep_loss"]))
    bars = fig.axes[1]
    labels = _tick_labels(bars.xaxis)
    assert [t.get_text() for t in labels] == ["1", "2", "3", "4", "5"]
    assert "memory" in bars.get_xlabel()
    assert _overlaps(labels, pad=-4) == []  # at least 4 px apart
    counts = np.bincount(np.concatenate(rec.traces["sleep_dream_task"]), minlength=5)
    np.testing.assert_array_equal([p.get_height() for p in bars.patches], counts)


def test_accuracy_heatmaps_wrap_into_a_grid(runs: dict[str, RunResult]) -> None:
    five = {f"method {k}": _record("paper", k, n_tasks=5) for k in range(5)}
    fig = plotting.accuracy_heatmaps(five)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 5
    columns = sorted({round(ax.get_position().x0, 3) for ax in shown})
    rows = sorted({round(ax.get_position().y0, 3) for ax in shown})
    assert len(columns) == 3 and len(rows) == 2
    texts = [t for t in shown[4].texts]
    R = five["method 4"].accuracy_matrix
    assert [t.get_text() for t in texts] == [f"{a:.0f}" for row in R for a in row if a is not None]
    assert min(t.get_fontsize() for t in texts) >= 10
    assert len({round(ax.get_position().y0, 3) for ax in plotting.accuracy_heatmaps(five, ncols=5).axes
                if ax.images}) == 1


@pytest.mark.parametrize("kind", ["scenario", "storage", "drift"])
def test_legends_cover_no_bar_and_no_dot(kind: str, runs: dict[str, RunResult]) -> None:
    """Chapter 11's accuracy figure once had its legend over dgr's bars; no legend covers a bar or a dot."""
    g = np.random.default_rng(0)
    methods = ["dgr", "ewc", "finetune", "joint", "lwf", "mygo/consolidate-vae", "replay"]
    if kind == "scenario":
        fig = plotting.scenario_bars({m: {s: list(g.uniform(5, 100, 3)) for s in ("task", "domain", "class")}
                                      for m in methods}, title="split-mnist: average accuracy after the last task")
    elif kind == "storage":
        fig = plotting.storage_bars({m: {"generator": 4e5, "replay buffer": 4e5, "raw data": 9e6} for m in methods},
                                    title="bytes stored per task")
    else:
        fig = plotting.drift_bars({**runs, "third": _record("paper", 7)})
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent()
    bars = [p.get_window_extent() for p in ax.patches if p.get_height() > 0]
    assert bars and not [b for b in bars if b.overlaps(legend)]
    dots = np.concatenate([c.get_offset_transform().transform(c.get_offsets()) for c in ax.collections]
                          or [np.empty((0, 2))])
    assert not [d for d in dots if legend.contains(*d)]
    texts = [*ax.texts, *_tick_labels(ax.xaxis), ax.title, *fig.texts]  # nor a bar label, a tick label or the title
    assert not [t.get_text() for t in texts if t.get_text() and t.get_window_extent().overlaps(legend)]


def test_system_diagram_names_the_parts_and_keeps_text_in_its_boxes() -> None:
    from matplotlib.patches import FancyBboxPatch

    fig = plotting.system_diagram()
    texts = _drawn_texts(fig)
    words = " ".join(t.get_text() for t in texts)
    for word in ("task", "head", "memor", "dream", "Wake", "Sleep", "teacher", "student", "extractor", "embed",
                 "trunk", "cGAN", "$G_1", "$h_t$", "MSE", "logits", "LR_FAST", "LR_SLOW", "real data", "frozen"):
        assert word in words, word
    assert _overlaps(texts) == []
    inside = fig.bbox
    for t in texts:
        box = t.get_window_extent()
        assert inside.contains(box.x0, box.y0) and inside.contains(box.x1, box.y1), t.get_text()
    boxes = [p.get_window_extent() for p in fig.axes[0].patches if isinstance(p, FancyBboxPatch)
             and p.get_facecolor()[3] > 0 and p.get_width() < 3]  # the filled boxes, not the sections
    assert len(boxes) >= 15
    for t in texts:  # a text centred in a box fits in it
        box = t.get_window_extent()
        cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
        for b in boxes:
            if b.contains(cx, cy):
                assert b.contains(box.x0, box.y0) and b.contains(box.x1, box.y1), t.get_text()
