"""Every figure of the notebooks (each function names the notebook that introduces it).

All functions return a matplotlib `Figure` and never call ``plt.show()``; the notebooks do. Images are
drawn from the ``[-1, 1]`` pixel range the data and the image dreams use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from ..core.memories import GenerativeMemory
from ..data import Benchmark
from ..running.records import RunResult

__all__ = [
    "accuracy_heatmap",
    "accuracy_heatmaps",
    "average_accuracy_curves",
    "class_counts",
    "dream_grid",
    "drift_bars",
    "embedding_projection",
    "image_grid",
    "method_bars",
    "scenario_bars",
    "sleep_loss_traces",
    "storage_bars",
    "task_samples",
    "wake_curves",
]

#: one colour per method label, so a method looks the same in every figure
COLORS: dict[str, str] = {
    "mygo/reference": "#1f77b4", "mygo/paper": "#d62728", "mygo/reference, no sleep": "#17becf",
    "finetune": "#7f7f7f", "finetune-multihead": "#ff7f0e", "joint": "#2ca02c",
    "mygo/consolidate": "#9467bd", "mygo/consolidate-vae": "#8c564b", "mygo/consolidate-real": "#e377c2",
    "ewc": "#bcbd22", "lwf": "#aec7e8", "replay": "#98df8a", "dgr": "#ff9896",
}


def _color(label: str, i: int) -> str:
    return COLORS.get(label, f"C{i % 10}")


def _to_img(x: torch.Tensor) -> np.ndarray:
    return ((x.detach().float().cpu().reshape(28, 28).numpy() + 1) / 2).clip(0, 1)


def image_grid(images: torch.Tensor, row_labels: Sequence[str], title: str = "") -> Figure:
    """Images of shape ``(rows, cols, 1, 28, 28)`` in a grid, one labelled row each (notebook 01)."""
    rows, cols = images.shape[:2]
    fig, axes = plt.subplots(rows, cols, figsize=(0.6 * cols + 0.8, 0.6 * rows + 0.5), squeeze=False)
    for r in range(rows):
        for c in range(cols):
            ax = axes[r][c]
            ax.imshow(_to_img(images[r, c]), cmap="gray_r", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r][0].set_ylabel(row_labels[r], rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(pad=0.3, rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight() if title else 1))
    return fig


def task_samples(bench: Benchmark, per_class: int = 8, split: str = "train", seed: int = 0) -> Figure:
    """A few random training images of every class, one row per class, grouped by task (notebook 01)."""
    if bench.modality != "image":
        raise ValueError("task_samples draws images; use a Split-MNIST benchmark")
    g = torch.Generator().manual_seed(seed)
    rows, labels = [], []
    for t in bench.tasks:
        data = t.split(split)
        y = data.y.cpu()
        for local, name in enumerate(t.class_names):
            idx = torch.nonzero(y == local).flatten()
            pick = idx[torch.randperm(len(idx), generator=g)[:per_class]]
            rows.append(data.x.cpu()[pick])
            labels.append(f"task {t.index + 1}: {name}")
    return image_grid(torch.stack(rows), labels, f"{bench.name}: {per_class} random {split} images per class")


def class_counts(bench: Benchmark) -> Figure:
    """Train and test examples per class, coloured by task (notebook 01)."""
    names, train, test, task_of = [], [], [], []
    for t in bench.tasks:
        for local, name in enumerate(t.class_names):
            names.append(name)
            train.append(int((t.train.y == local).sum()))
            test.append(int((t.test.y == local).sum()))
            task_of.append(t.index)
    x = np.arange(len(names))
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.0))
    for ax, counts, split in zip(axes, (train, test), ("train", "test"), strict=True):
        ax.bar(x, counts, color=[f"C{k}" for k in task_of])
        ax.set_xticks(x, names, rotation=30 if bench.modality == "text" else 0)
        ax.set_title(f"{split} examples per class")
        ax.set_ylabel("examples")
    handles = [plt.Rectangle((0, 0), 1, 1, color=f"C{t.index}") for t in bench.tasks]
    fig.legend(handles, [f"task {t.index + 1}" for t in bench.tasks], loc="upper right", fontsize=8,
               ncol=len(bench.tasks))
    fig.suptitle(bench.name, x=0.02, ha="left", fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig


def dream_grid(memories: Sequence[GenerativeMemory], class_names: Sequence[Sequence[str]], per_class: int = 8,
               seed: int = 0, title: str = "dreams") -> Figure:
    """``per_class`` image dreams of every class of every memory, one row per class (notebook 03)."""
    rows, labels = [], []
    for mem, names in zip(memories, class_names, strict=True):
        device = next(mem.generator.parameters()).device
        g = torch.Generator(device=device).manual_seed(seed)
        for c, name in enumerate(names):
            x, _ = mem.dream(per_class, g, torch.full((per_class,), c, device=device, dtype=torch.long))
            rows.append(x.cpu())
            labels.append(f"memory {mem.task + 1}: {name}")
    return image_grid(torch.stack(rows), labels, title)


def embedding_projection(real: torch.Tensor, real_y: torch.Tensor, dreams: torch.Tensor, dream_y: torch.Tensor,
                         class_names: Sequence[str], title: str = "") -> Figure:
    """Real embeddings and dreamed embeddings in the same 2-D PCA plane (fitted on the real ones) (notebook 03)."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2).fit(real.detach().cpu().numpy())
    r2 = pca.transform(real.detach().cpu().numpy())
    d2 = pca.transform(dreams.detach().cpu().numpy())
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), sharex=True, sharey=True)
    for ax, pts, ys, what in ((axes[0], r2, real_y, "real embeddings"), (axes[1], d2, dream_y, "dreams")):
        ys = ys.cpu().numpy()
        for c, name in enumerate(class_names):
            m = ys == c
            ax.scatter(pts[m, 0], pts[m, 1], s=6, alpha=0.5, color=f"C{c}", label=name)
        ax.set_title(what)
        ax.set_xlabel(f"PC1 ({100 * pca.explained_variance_ratio_[0]:.0f}% var.)")
    axes[0].set_ylabel(f"PC2 ({100 * pca.explained_variance_ratio_[1]:.0f}% var.)")
    axes[0].legend(fontsize=8, markerscale=2)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def wake_curves(wake_logs: Sequence[Mapping[str, Sequence[float]]], task_names: Sequence[str] | None = None) -> Figure:
    """Per-epoch head loss and cGAN losses (D, G) of one or more wake phases (notebook 04)."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3))
    for i, log in enumerate(wake_logs):
        name = task_names[i] if task_names else f"task {i + 1}"
        ep = np.arange(1, len(log["head_loss"]) + 1)
        axes[0].plot(ep, log["head_loss"], "o-", color=f"C{i}", label=name)
        axes[1].plot(ep, log["d_loss"], "o-", color=f"C{i}", label=f"{name}: D")
        axes[1].plot(ep, log["g_loss"], "s--", color=f"C{i}", label=f"{name}: G")
    axes[0].set_title("new head: cross-entropy")
    axes[1].set_title("cGAN: discriminator (D) and generator (G) loss")
    for ax in axes:
        ax.set_xlabel("wake epoch")
        ax.legend(fontsize=7, ncol=2 if len(wake_logs) > 2 else 1)
        ax.xaxis.get_major_locator().set_params(integer=True)
    axes[0].set_ylabel("mean loss per epoch")
    fig.tight_layout()
    return fig


def sleep_loss_traces(results: Mapping[str, RunResult], log_scale: bool = False) -> Figure:
    """The per-step distillation loss of every sleep, tasks one after another, one panel per run (notebook 05)."""
    fig, axes = plt.subplots(1, len(results), figsize=(4.6 * len(results), 3), squeeze=False)
    for i, (label, r) in enumerate(results.items()):
        ax = axes[0][i]
        start = 0
        for t, losses in enumerate(r.traces["sleep_loss"]):
            steps = np.arange(start, start + len(losses))
            ax.plot(steps, losses, lw=0.8, color=f"C{t}", label=f"sleep after task {t + 1}")
            start += len(losses)
            ax.axvline(start, color="k", lw=0.4, alpha=0.3)
        if log_scale and max(max(x, default=0.0) for x in r.traces["sleep_loss"]) > 0:
            ax.set_yscale("symlog", linthresh=1e-4)
        ax.set_title(label)
        ax.set_xlabel("sleep step (all tasks)")
        ax.set_ylabel("MSE(student, teacher logits)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def drift_bars(results: Mapping[str, RunResult]) -> Figure:
    """L2 distance of the extractor from its initial weights after each task, grouped by run (notebook 05)."""
    fig, ax = plt.subplots(figsize=(6.5, 3))
    k = len(results)
    width = 0.8 / k
    for i, (label, r) in enumerate(results.items()):
        d = r.traces["extractor_drift"]
        x = np.arange(len(d)) + (i - (k - 1) / 2) * width
        bars = ax.bar(x, d, width, color=_color(label, i), label=label)
        ax.bar_label(bars, fmt="%.2g", fontsize=7)
    n = max(len(r.traces["extractor_drift"]) for r in results.values())
    ax.set_xticks(np.arange(n), [f"after task {t + 1}" for t in range(n)])
    ax.set_ylabel("‖θ − θ₀‖₂ of the extractor")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def accuracy_heatmap(ax: Axes, matrix: np.ndarray, title: str) -> AxesImage:
    """Draw one accuracy matrix (row = after training stage i, column = task j; NaN = not yet seen) on ``ax``,
    each cell labelled with its value; returns the image for a colour bar (notebook 06, sweep figures)."""
    im = ax.imshow(matrix, vmin=0, vmax=100, cmap="viridis")
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            if not np.isnan(matrix[i, j]):
                ax.text(j, i, f"{matrix[i, j]:.0f}", ha="center", va="center", fontsize=8,
                        color="white" if matrix[i, j] < 60 else "black")
    ax.set_xticks(range(matrix.shape[1]), [f"T{j + 1}" for j in range(matrix.shape[1])])
    rows = ["all" if matrix.shape[0] == 1 else f"T{i + 1}" for i in range(matrix.shape[0])]
    ax.set_yticks(range(matrix.shape[0]), rows)
    ax.set_xlabel("evaluated on task")
    ax.set_title(title, fontsize=9)
    return im


def accuracy_heatmaps(results: Mapping[str, RunResult]) -> Figure:
    """One accuracy matrix per run: row = after training task i, column = task j (notebook 06)."""
    fig, axes = plt.subplots(1, len(results), figsize=(3.2 * len(results) + 1.2, 3.3), squeeze=False,
                             layout="constrained")
    for k, (ax, (label, r)) in enumerate(zip(axes[0], results.items(), strict=True)):
        R = np.array([[np.nan if a is None else a for a in row] for row in r.accuracy_matrix], dtype=float)
        im = accuracy_heatmap(ax, R, f"{label} ({r.eval_on})")
        if k == 0:
            ax.set_ylabel("after training")
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="accuracy (%)")
    return fig


def average_accuracy_curves(curves: Mapping[str, Sequence[Sequence[float]]],
                            paper: Mapping[str, Sequence[float]] | None = None) -> Figure:
    """Average accuracy over seen tasks after each task: our runs (mean and range over seeds) and the
    paper's Table 2 rows as dashed lines (notebook 06)."""
    fig, ax = plt.subplots(figsize=(6, 3.4))
    for i, (label, runs) in enumerate(curves.items()):
        a = np.array(runs, dtype=float)
        x = np.arange(1, a.shape[1] + 1)
        ax.plot(x, a.mean(0), "o-", color=_color(label, i), label=f"{label} (ours, n={len(a)})")
        if len(a) > 1:
            ax.fill_between(x, a.min(0), a.max(0), color=_color(label, i), alpha=0.2)
    for i, (label, vals) in enumerate((paper or {}).items()):
        color = {"MyGO": COLORS["mygo/reference"], "Fine-tuning": COLORS["finetune"]}.get(label, f"C{(i + 4) % 10}")
        ax.plot(np.arange(1, len(vals) + 1), vals, "x--", color=color, alpha=0.7, label=f"{label} (paper)")
    ax.set_xlabel("tasks learned")
    ax.set_ylabel("average accuracy on seen tasks (%)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def method_bars(table: Mapping[str, Sequence[float]], ylabel: str = "average accuracy (%)",
                title: str = "") -> Figure:
    """One bar per method: mean over seeds with the seeds as dots (notebook 08)."""
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    for i, (label, vals) in enumerate(table.items()):
        v = np.asarray(vals, dtype=float)
        ax.bar(i, v.mean(), color=_color(label, i), alpha=0.85)
        ax.scatter(np.full(len(v), i), v, color="k", s=10, zorder=3)
        ax.text(i, v.max() + 2.5, f"{v.mean():.1f}", ha="center", fontsize=8)
    ax.set_xticks(range(len(table)), list(table), rotation=20, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 110)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def scenario_bars(table: Mapping[str, Mapping[str, Sequence[float]]],
                  scenarios: Sequence[str] = ("task", "domain", "class"), title: str = "") -> Figure:
    """Methods × scenarios: per method a group of bars (one per scenario it ran in), mean over seeds with
    the seeds as dots; ``table[method][scenario]`` holds the per-seed average accuracies (notebook 09)."""
    colors = {"task": "#1f77b4", "domain": "#ff7f0e", "class": "#2ca02c"}
    fig, ax = plt.subplots(figsize=(max(7.5, 0.9 * len(table) + 2), 3.6))
    width = 0.8 / len(scenarios)
    shown: set[str] = set()
    for i, by_scn in enumerate(table.values()):
        for j, scenario in enumerate(scenarios):
            vals = by_scn.get(scenario)
            if not vals:
                continue
            v = np.asarray(vals, dtype=float)
            x = i + (j - (len(scenarios) - 1) / 2) * width
            ax.bar(x, v.mean(), width, color=colors.get(scenario, f"C{j}"), alpha=0.85,
                   label=None if scenario in shown else scenario)
            shown.add(scenario)
            ax.scatter(np.full(len(v), x), v, color="k", s=6, zorder=3)
    ax.set_xticks(range(len(table)), list(table), rotation=25, ha="right")
    ax.set_ylabel("average accuracy (%)")
    ax.set_ylim(0, 105)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(title="scenario", fontsize=8, loc="lower left")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def storage_bars(storage: Mapping[str, Mapping[str, float]], title: str = "") -> Figure:
    """Bytes stored per task (log scale) by each method: generator, replay buffer, and the task's raw data
    for reference; ``storage[method][kind]`` in bytes, kinds ``generator``, ``replay buffer``, ``raw data``
    (notebook 09)."""
    kinds = ("generator", "replay buffer", "raw data")
    colors = {"generator": "#9467bd", "replay buffer": "#8c564b", "raw data": "#bbbbbb"}
    fig, ax = plt.subplots(figsize=(max(7.0, 0.9 * len(storage) + 2), 3.4))
    width = 0.8 / len(kinds)
    for i, by_kind in enumerate(storage.values()):
        for j, kind in enumerate(kinds):
            v = by_kind.get(kind, 0.0)
            if v > 0:
                x = i + (j - 1) * width
                ax.bar(x, v / 1e6, width, color=colors[kind], label=kind if i == 0 or kind != "raw data" else None)
    handles, labels = ax.get_legend_handles_labels()
    keep = dict(zip(labels, handles, strict=True))
    ax.legend(keep.values(), keep.keys(), fontsize=8)
    ax.set_yscale("log")
    ax.set_ylabel("MB stored per task")
    ax.set_xticks(range(len(storage)), list(storage), rotation=25, ha="right")
    ax.grid(axis="y", alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig
