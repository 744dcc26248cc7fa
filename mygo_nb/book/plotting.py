"""Every figure of the notebooks (each function names the notebook that introduces it).

All functions return a matplotlib `Figure` and never call ``plt.show()``; the notebooks do. Images are
drawn from the ``[-1, 1]`` pixel range the data and the image dreams use.

Legibility: the book's content column is about 690-790 px wide and a wider figure is scaled down to it, so
every figure is at most `PAGE_WIDTH_IN` inches wide (100 px an inch in the notebooks) and no text is smaller
than `SMALL` points (at least 10 px on the page).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from ..core.memories import GenerativeMemory
from ..data import Benchmark
from ..running.records import RunResult

__all__ = [
    "PAGE_PX",
    "PAGE_WIDTH_IN",
    "SMALL",
    "accuracy_heatmap",
    "accuracy_heatmaps",
    "average_accuracy_curves",
    "class_counts",
    "dream_grid",
    "dream_grids",
    "drift_bars",
    "embedding_projection",
    "image_grid",
    "method_bars",
    "paired_dots",
    "scaling_curves",
    "scenario_bars",
    "sleep_loss_traces",
    "storage_bars",
    "system_diagram",
    "task_samples",
    "wake_curves",
]

#: the narrowest content column of a book page (px, in a 1280-px wide window)
PAGE_PX = 688
#: the widest figure (inches); at the notebooks' 100 dpi it is scaled by at most 0.9 onto the page
PAGE_WIDTH_IN = 7.6
#: the smallest font (points) of legends, annotations and tick labels; 9 pt x 100/72 x 0.9 ≈ 11 px on the page
SMALL = 9

#: one colour per method label, so a method looks the same in every figure
COLORS: dict[str, str] = {
    "mygo/reference": "#1f77b4", "mygo/paper": "#d62728", "mygo/reference, no sleep": "#17becf",
    "finetune": "#7f7f7f", "finetune-multihead": "#ff7f0e", "joint": "#2ca02c",
    "mygo/consolidate": "#9467bd", "mygo/consolidate-vae": "#8c564b", "mygo/consolidate-real": "#e377c2",
    "ewc": "#bcbd22", "lwf": "#aec7e8", "replay": "#98df8a", "dgr": "#ff9896",
    "mygo/internal": "#393b79", "agem": "#c5b0d5", "mygo/paper-proj": "#843c39",
}


def _color(label: str, i: int) -> str:
    return COLORS.get(label, f"C{i % 10}")


def _to_img(x: torch.Tensor) -> np.ndarray:
    return ((x.detach().float().cpu().reshape(28, 28).numpy() + 1) / 2).clip(0, 1)


def image_grid(images: torch.Tensor, row_labels: Sequence[str], title: str = "") -> Figure:
    """Images of shape ``(rows, cols, 1, 28, 28)`` in a grid, one labelled row each (chapter 1)."""
    rows, cols = images.shape[:2]
    cell = min(0.6, (PAGE_WIDTH_IN - 1.0) / cols)  # no wider than the page
    fig, axes = plt.subplots(rows, cols, figsize=(cell * cols + 1.0, cell * rows + 0.5), squeeze=False)
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
    """A few random training images of every class, one row per class, grouped by task (chapter 1)."""
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
    """Train and test examples per class, coloured by task (chapter 1)."""
    names, train, test, task_of = [], [], [], []
    for t in bench.tasks:
        for local, name in enumerate(t.class_names):
            names.append(name)
            train.append(int((t.train.y == local).sum()))
            test.append(int((t.test.y == local).sum()))
            task_of.append(t.index)
    x = np.arange(len(names))
    fig, axes = plt.subplots(1, 2, figsize=(PAGE_WIDTH_IN, 3.2), layout="constrained")
    text = bench.modality == "text"
    for ax, counts, split in zip(axes, (train, test), ("train", "test"), strict=True):
        ax.bar(x, counts, color=[f"C{k}" for k in task_of])
        ax.set_xticks(x, names, rotation=35 if text else 0, ha="right" if text else "center",
                      rotation_mode="anchor" if text else "default")
        ax.set_title(f"{split} examples per class", fontsize=10)
        ax.set_ylabel("examples")
    handles = [plt.Rectangle((0, 0), 1, 1, color=f"C{t.index}") for t in bench.tasks]
    fig.legend(handles, [f"task {t.index + 1}" for t in bench.tasks], loc="outside upper right", fontsize=SMALL,
               ncol=len(bench.tasks), frameon=False)
    fig.suptitle(bench.name, x=0.02, ha="left", fontsize=11)
    return fig


def dream_grid(memories: Sequence[GenerativeMemory], class_names: Sequence[Sequence[str]], per_class: int = 8,
               seed: int = 0, title: str = "dreams") -> Figure:
    """``per_class`` image dreams of every class of every memory, one row per class (chapter 3)."""
    rows = _class_rows(memories, class_names, per_class, seed)
    return image_grid(torch.stack([x for _, x in rows]), [label for label, _ in rows], title)


def _class_rows(memories: Sequence[GenerativeMemory], class_names: Sequence[Sequence[str]], per_class: int,
                seed: int) -> list[tuple[str, torch.Tensor]]:
    """(``"memory t: class"``, ``per_class`` dreams on the CPU) for every class of every memory, each memory's
    dreams drawn from its own generator seeded with ``seed``."""
    rows = []
    for mem, names in zip(memories, class_names, strict=True):
        device = next(mem.generator.parameters()).device
        g = torch.Generator(device=device).manual_seed(seed)
        for c, name in enumerate(names):
            x, _ = mem.dream(per_class, g, torch.full((per_class,), c, device=device, dtype=torch.long))
            rows.append((f"memory {mem.task + 1}: {name}", x.cpu()))
    return rows


def dream_grids(memories: Mapping[str, Sequence[GenerativeMemory]], class_names: Sequence[Sequence[str]],
                per_class: int = 4, seed: int = 0) -> Figure:
    """Several memory kinds side by side: per kind a panel of ``per_class`` dreams of every class of every
    memory, one row per class, the rows labelled once on the left (chapter 10)."""
    kinds = list(memories)
    rows = sum(len(names) for names in class_names)
    cell = (PAGE_WIDTH_IN - 1.1) / (len(kinds) * per_class + 0.3 * (len(kinds) - 1))
    fig = plt.figure(figsize=(PAGE_WIDTH_IN, cell * rows + 0.45), layout="constrained")
    panels = fig.subfigures(1, len(kinds), wspace=0.02)
    for k, (kind, panel) in enumerate(zip(kinds, np.atleast_1d(panels), strict=True)):
        axes = panel.subplots(rows, per_class, squeeze=False, gridspec_kw={"wspace": 0.05, "hspace": 0.05})
        for r, (label, x) in enumerate(_class_rows(memories[kind], class_names, per_class, seed)):
            for j in range(per_class):
                axes[r][j].imshow(_to_img(x[j]), cmap="gray_r", vmin=0, vmax=1)
                axes[r][j].set_xticks([])
                axes[r][j].set_yticks([])
            if k == 0:
                axes[r][0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=SMALL)
        panel.suptitle(kind, fontsize=10)
    return fig


def embedding_projection(real: torch.Tensor, real_y: torch.Tensor, dreams: torch.Tensor, dream_y: torch.Tensor,
                         class_names: Sequence[str], title: str = "") -> Figure:
    """Real embeddings and dreamed embeddings in the same 2-D PCA plane (fitted on the real ones) (chapter 3)."""
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2).fit(real.detach().cpu().numpy())
    r2 = pca.transform(real.detach().cpu().numpy())
    d2 = pca.transform(dreams.detach().cpu().numpy())
    fig, axes = plt.subplots(1, 2, figsize=(PAGE_WIDTH_IN, 3.6), sharex=True, sharey=True, layout="constrained")
    for ax, pts, ys, what in ((axes[0], r2, real_y, "real embeddings"), (axes[1], d2, dream_y, "dreams")):
        ys = ys.cpu().numpy()
        for c, name in enumerate(class_names):
            m = ys == c
            ax.scatter(pts[m, 0], pts[m, 1], s=6, alpha=0.5, color=f"C{c}", label=name)
        ax.set_title(what, fontsize=11)
        ax.set_xlabel(f"PC1 ({100 * pca.explained_variance_ratio_[0]:.0f}% var.)")
    axes[0].set_ylabel(f"PC2 ({100 * pca.explained_variance_ratio_[1]:.0f}% var.)")
    axes[0].legend(fontsize=SMALL, markerscale=2)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def wake_curves(wake_logs: Sequence[Mapping[str, Sequence[float]]], task_names: Sequence[str] | None = None) -> Figure:
    """Per-epoch head loss and cGAN losses (D, G) of one or more wake phases (chapter 4)."""
    from matplotlib.lines import Line2D

    fig, axes = plt.subplots(1, 2, figsize=(PAGE_WIDTH_IN, 3.2), layout="constrained")
    for i, log in enumerate(wake_logs):
        name = task_names[i] if task_names else f"task {i + 1}"
        ep = np.arange(1, len(log["head_loss"]) + 1)
        axes[0].plot(ep, log["head_loss"], "o-", color=f"C{i}", label=name)
        axes[1].plot(ep, log["d_loss"], "o-", color=f"C{i}", label=f"{name}: D")
        axes[1].plot(ep, log["g_loss"], "s--", color=f"C{i}", label=f"{name}: G")
    axes[0].set_title("new head: cross-entropy", fontsize=10)
    axes[1].set_title("cGAN: discriminator and generator loss", fontsize=10)
    for ax in axes:
        ax.set_xlabel("wake epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
    # colours name the tasks (left legend), line styles the two networks (right legend)
    axes[0].legend(fontsize=SMALL, ncol=2 if len(wake_logs) > 3 else 1)
    styles = [Line2D([], [], color="k", marker="o", ls="-"), Line2D([], [], color="k", marker="s", ls="--")]
    axes[1].legend(styles, ["discriminator (D)", "generator (G)"], fontsize=SMALL)
    axes[0].set_ylabel("mean loss per epoch")
    return fig


def sleep_loss_traces(results: Mapping[str, RunResult], log_scale: bool = False) -> Figure:
    """The per-step distillation loss of every sleep, tasks one after another, one panel per run (chapter 5)."""
    cols = min(2, len(results))
    rows = -(-len(results) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(PAGE_WIDTH_IN, 2.7 * rows + 0.5), squeeze=False,
                             layout="constrained")
    most: list = []
    for i, (label, r) in enumerate(results.items()):
        ax = axes[i // cols][i % cols]
        start = 0
        for t, losses in enumerate(r.traces["sleep_loss"]):
            steps = np.arange(start, start + len(losses))
            ax.plot(steps, losses, lw=0.8, color=f"C{t}", label=f"sleep after task {t + 1}")
            start += len(losses)
            ax.axvline(start, color="k", lw=0.4, alpha=0.3)
        if log_scale and max(max(x, default=0.0) for x in r.traces["sleep_loss"]) > 0:
            ax.set_yscale("symlog", linthresh=1e-4)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("sleep step (all tasks)")
        if i % cols == 0:
            ax.set_ylabel("MSE(student, teacher logits)", fontsize=SMALL)
        most = max(most, ax.lines[::2], key=len)  # the loss lines (every other line is a task boundary)
    for ax in axes.flat[len(results):]:
        fig.delaxes(ax)
    # one legend for all panels, above them: the colour of each task's sleep
    fig.legend(most, [f"after task {t + 1}" for t in range(len(most))], title="sleep", loc="outside upper center",
               ncol=len(most), fontsize=SMALL, title_fontsize=SMALL, frameon=False)
    return fig


def drift_bars(results: Mapping[str, RunResult]) -> Figure:
    """L2 distance of the extractor from its initial weights after each task, grouped by run (chapter 5)."""
    fig, ax = plt.subplots(figsize=(7.0, 3.2), layout="constrained")
    k = len(results)
    width = 0.8 / k
    for i, (label, r) in enumerate(results.items()):
        d = r.traces["extractor_drift"]
        x = np.arange(len(d)) + (i - (k - 1) / 2) * width
        bars = ax.bar(x, d, width, color=_color(label, i), label=label)
        ax.bar_label(bars, fmt="%.2g", fontsize=SMALL, padding=1)
    n = max(len(r.traces["extractor_drift"]) for r in results.values())
    ax.set_xticks(np.arange(n), [f"after task {t + 1}" for t in range(n)])
    ax.set_ylabel("‖θ − θ₀‖₂ of the extractor")
    ax.margins(y=0.15)  # room for the bar labels
    ax.legend(fontsize=SMALL, loc="lower right", bbox_to_anchor=(1, 1), ncol=k, frameon=False, borderaxespad=0.2)
    return fig


def accuracy_heatmap(ax: Axes, matrix: np.ndarray, title: str, fontsize: float = 10) -> AxesImage:
    """Draw one accuracy matrix (row = after training stage i, column = task j; NaN = not yet seen) on ``ax``,
    each cell labelled with its value in ``fontsize`` points; returns the image for a colour bar (chapter 6,
    sweep figures)."""
    im = ax.imshow(matrix, vmin=0, vmax=100, cmap="viridis")
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            if not np.isnan(matrix[i, j]):
                ax.text(j, i, f"{matrix[i, j]:.0f}", ha="center", va="center", fontsize=fontsize,
                        color="white" if matrix[i, j] < 60 else "black")
    ax.set_xticks(range(matrix.shape[1]), [f"T{j + 1}" for j in range(matrix.shape[1])])
    rows = ["all" if matrix.shape[0] == 1 else f"T{i + 1}" for i in range(matrix.shape[0])]
    ax.set_yticks(range(matrix.shape[0]), rows)
    ax.tick_params(labelsize=SMALL)
    ax.set_xlabel("evaluated on task", fontsize=SMALL)
    ax.set_title(title, fontsize=10)
    return im


def accuracy_heatmaps(results: Mapping[str, RunResult], ncols: int | None = None) -> Figure:
    """One accuracy matrix per run: row = after training task i, column = task j (chapter 6).

    The matrices fill a grid of ``ncols`` columns (default: 2 for up to 4 runs, else 3), the page's width."""
    n = len(results)
    cols = max(1, min(n, ncols or (2 if n <= 4 else 3)))
    rows = -(-n // cols)
    panel = (PAGE_WIDTH_IN - 1.0) / cols
    fig, axes = plt.subplots(rows, cols, figsize=(PAGE_WIDTH_IN if cols > 1 else 4.2, rows * (panel + 0.6)),
                             squeeze=False, layout="constrained")
    im = None
    for k, (label, r) in enumerate(results.items()):
        ax = axes[k // cols][k % cols]
        R = np.array([[np.nan if a is None else a for a in row] for row in r.accuracy_matrix], dtype=float)
        title = f"{label} ({r.eval_on})"
        if len(title) > 12 * panel:  # about what fits above a panel at 10 pt
            title = f"{label}\n({r.eval_on})"
        im = accuracy_heatmap(ax, R, title, fontsize=10 if R.shape[1] <= 6 else SMALL)
        if k % cols == 0:
            ax.set_ylabel("after training", fontsize=SMALL)
    spare = list(axes.flat[n:])
    for ax in spare[1:]:
        fig.delaxes(ax)
    if im is not None:
        if spare:  # the colour bar goes into the grid's first empty cell
            spare[0].set_axis_off()
            cbar = fig.colorbar(im, cax=spare[0].inset_axes((0.1, 0.1, 0.07, 0.8)))
        else:
            cbar = fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.8 if rows == 1 else 0.6, aspect=20 * rows)
        cbar.set_label("accuracy (%)", fontsize=SMALL)
        cbar.ax.tick_params(labelsize=SMALL)
    return fig


def average_accuracy_curves(curves: Mapping[str, Sequence[Sequence[float]]],
                            paper: Mapping[str, Sequence[float]] | None = None) -> Figure:
    """Average accuracy over seen tasks after each task: our runs (mean and range over seeds) and the
    paper's Table 2 rows as dashed lines (chapter 6)."""
    fig, ax = plt.subplots(figsize=(6.8, 3.6), layout="constrained")
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
    ax.legend(fontsize=SMALL)
    ax.grid(alpha=0.3)
    return fig


def method_bars(table: Mapping[str, Sequence[float]], ylabel: str = "average accuracy (%)",
                title: str = "") -> Figure:
    """One bar per method: mean over seeds with the seeds as dots (chapter 8)."""
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, 3.6), layout="constrained")
    for i, (label, vals) in enumerate(table.items()):
        v = np.asarray(vals, dtype=float)
        ax.bar(i, v.mean(), color=_color(label, i), alpha=0.85)
        ax.scatter(np.full(len(v), i), v, color="k", s=10, zorder=3)
        ax.text(i, v.max() + 2.5, f"{v.mean():.1f}", ha="center", fontsize=SMALL)
    ax.set_xticks(range(len(table)), list(table), rotation=20, ha="right", rotation_mode="anchor")
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 112)
    if title:
        ax.set_title(title, fontsize=11)
    return fig


def paired_dots(rows: Mapping[str, Sequence[tuple[float, float]]], sides: tuple[str, str] = ("ours", "theirs"),
                ylabel: str = "average accuracy (%)", title: str = "") -> Figure:
    """Two implementations of each method, seed by seed: per row one dot per seed and side (side by side), joined
    by a grey line within a seed, and each side's mean as a bar (chapter 13: ours beside their public code)."""
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, 3.8), layout="constrained")
    colors = ("#1f77b4", "#ff7f0e")
    for i, pairs in enumerate(rows.values()):
        v = np.asarray(pairs, dtype=float).reshape(-1, 2)
        xs = (i - 0.15, i + 0.15)
        for a, b in v:
            ax.plot(xs, (a, b), color="0.75", lw=0.8, zorder=1)
        for j in (0, 1):
            ax.scatter(np.full(len(v), xs[j]), v[:, j], color=colors[j], s=16, zorder=3,
                       label=f"{sides[j]} (one dot a seed)" if i == 0 else None)
            ax.hlines(v[:, j].mean(), xs[j] - 0.1, xs[j] + 0.1, color=colors[j], lw=2, zorder=2)
    ax.set_xticks(range(len(rows)), list(rows), rotation=20, ha="right", rotation_mode="anchor")
    ax.tick_params(labelsize=SMALL)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=SMALL, loc="best")
    if title:
        ax.set_title(title, fontsize=11)
    return fig


def scaling_curves(panels: Mapping[str, Mapping[str, Mapping[int, Sequence[float]]]],
                   log_y: Sequence[str] = (), ncols: int = 2) -> Figure:
    """Metrics against the number of tasks: one panel per ``panels`` key (its y label), one line per method
    (``panels[ylabel][method][n_tasks]`` holds one value per seed), at the mean with error bars of one sample
    standard deviation; x on a log scale, y too for the panels named in ``log_y``; one legend above the
    panels (chapter 15)."""
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(PAGE_WIDTH_IN, 3.0 * nrows + 0.9), layout="constrained",
                             squeeze=False)
    handles: dict[str, object] = {}
    for ax, (ylabel, series) in zip(axes.flat, panels.items(), strict=False):
        for i, (label, by_n) in enumerate(series.items()):
            ns = sorted(by_n)
            vals = [np.asarray(by_n[n], dtype=float) for n in ns]
            mean = np.array([v.mean() for v in vals])
            sd = np.array([v.std(ddof=1) if len(v) > 1 else 0.0 for v in vals])
            h = ax.errorbar(ns, mean, yerr=sd, fmt="o-", ms=4, capsize=3, lw=1.4, color=_color(label, i),
                            label=label)
            handles.setdefault(label, h)
        ax.set_xscale("log")
        ns_all = sorted({n for by_n in series.values() for n in by_n})
        ax.set_xticks(ns_all, [str(n) for n in ns_all])
        ax.xaxis.set_minor_locator(plt.NullLocator())
        if ylabel in log_y:
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("number of tasks")
        ax.set_ylabel(ylabel, fontsize=SMALL + 1)
        ax.tick_params(labelsize=SMALL)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    fig.legend(list(handles.values()), list(handles), loc="outside upper center", ncol=3, fontsize=SMALL,
               frameon=False)
    return fig


def scenario_bars(table: Mapping[str, Mapping[str, Sequence[float]]],
                  scenarios: Sequence[str] = ("task", "domain", "class"), title: str = "") -> Figure:
    """Methods × scenarios: per method a group of bars (one per scenario it ran in), mean over seeds with
    the seeds as dots; ``table[method][scenario]`` holds the per-seed average accuracies (chapter 11)."""
    colors = {"task": "#1f77b4", "domain": "#ff7f0e", "class": "#2ca02c"}
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, 4.0), layout="constrained")
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
    ax.set_xticks(range(len(table)), list(table), rotation=30, ha="right", rotation_mode="anchor", fontsize=SMALL)
    ax.set_xlim(-0.6, len(table) - 0.4)
    ax.set_ylabel("average accuracy (%)")
    ax.set_ylim(0, 105)
    ax.grid(axis="y", alpha=0.3)
    _legend_above(ax, title="scenario")
    if title:
        fig.suptitle(title, x=0.01, ha="left", fontsize=11)
    return fig


def _legend_above(ax: Axes, **kwargs: object) -> None:
    """The axes' legend in one row above its top right corner, where it covers no bar (chapters 9 and 11)."""
    handles, labels = ax.get_legend_handles_labels()
    keep = dict(zip(labels, handles, strict=True))  # one entry per label
    ax.legend(keep.values(), keep.keys(), loc="lower right", bbox_to_anchor=(1, 1), ncol=len(keep), frameon=False,
              fontsize=SMALL, title_fontsize=SMALL, borderaxespad=0.2, **kwargs)


def storage_bars(storage: Mapping[str, Mapping[str, float]], title: str = "") -> Figure:
    """Bytes stored per task (log scale) by each method: generator, replay buffer, and the task's raw data
    for reference; ``storage[method][kind]`` in bytes, kinds ``generator``, ``replay buffer``, ``raw data``
    (chapter 11)."""
    kinds = ("generator", "replay buffer", "raw data")
    colors = {"generator": "#9467bd", "replay buffer": "#8c564b", "raw data": "#bbbbbb"}
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH_IN, 3.8), layout="constrained")
    width = 0.8 / len(kinds)
    for i, by_kind in enumerate(storage.values()):
        for j, kind in enumerate(kinds):
            v = by_kind.get(kind, 0.0)
            if v > 0:
                x = i + (j - 1) * width
                ax.bar(x, v / 1e6, width, color=colors[kind], label=kind if i == 0 or kind != "raw data" else None)
    ax.set_yscale("log")
    heights = [p.get_height() for p in ax.patches]
    if heights:  # whole decades, so that the smallest bar shows and the ticks read 0.01, 0.1, 1, ...
        ax.set_ylim(10 ** np.floor(np.log10(min(heights))), 10 ** np.ceil(np.log10(max(heights) * 1.05)))
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.set_ylabel("MB stored per task")
    ax.set_xticks(range(len(storage)), list(storage), rotation=30, ha="right", rotation_mode="anchor",
                  fontsize=SMALL)
    ax.set_xlim(-0.6, len(storage) - 0.4)
    ax.grid(axis="y", alpha=0.3)
    _legend_above(ax)
    if title:
        fig.suptitle(title, x=0.01, ha="left", fontsize=11)
    return fig


# --- the system diagram (notebook 02) -------------------------------------------------------------------------
_NET = ("#555555", "#eeeeee")  # (edge, fill) of the net's parts
_WAKE = ("#d96400", "#fde7d1")
_SLEEP = ("#1f5fa8", "#dce8f7")


def _box(ax: Axes, x0: float, x1: float, yc: float, h: float, text: str, colors: tuple[str, str],
         fontsize: float = 10, **kwargs: object) -> None:
    """A rounded box from ``x0`` to ``x1`` (inches) centred on ``yc``, its text centred inside."""
    from matplotlib.patches import FancyBboxPatch

    pad = 0.06
    ax.add_patch(FancyBboxPatch((x0 + pad, yc - h / 2 + pad), x1 - x0 - 2 * pad, h - 2 * pad,
                                boxstyle=f"round,pad={pad}", edgecolor=colors[0], facecolor=colors[1], lw=1.4,
                                **kwargs))
    ax.text((x0 + x1) / 2, yc, text, ha="center", va="center", fontsize=fontsize, linespacing=1.25)


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], color: str, rad: float = 0.0,
           dashed: bool = False) -> None:
    """An arrow from ``start`` to ``end`` (inches); dashed for the sleep's flow, solid for the wake's."""
    arrow = ax.annotate("", xy=end, xytext=start, arrowprops={
        "arrowstyle": "-|>", "color": color, "lw": 1.6, "mutation_scale": 14, "shrinkA": 0, "shrinkB": 0,
        "connectionstyle": f"arc3,rad={rad}"})
    if dashed:
        arrow.arrow_patch.set_linestyle((0, (3, 2)))


def system_diagram() -> Figure:
    """The whole MyGO system in one figure (chapter 2): the net (extractor = embed → trunk, one head per task),
    the per-task memories whose dreams enter at the trunk, and what flows in a wake and in a sleep."""
    from matplotlib.patches import FancyBboxPatch

    W, H = PAGE_WIDTH_IN, 6.1
    fig = plt.figure(figsize=(W, H))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, W)
    ax.set_ylim(0, H)
    ax.set_axis_off()

    def section(y0: float, y1: float, title: str, color: str, tint: str) -> None:
        ax.add_patch(FancyBboxPatch((0.08, y0), W - 0.16, y1 - y0, boxstyle="round,pad=0,rounding_size=0.08",
                                    facecolor=tint, edgecolor=color, lw=1.0, alpha=0.6))
        ax.text(0.2, y1 - 0.16, title, ha="left", va="center", fontsize=11, fontweight="bold", color=color)

    # 1. the net, and where dreams enter it
    section(4.45, 6.0, "The net: an extractor and one head per task", "#333333", "#fafafa")
    yc = 5.05
    _box(ax, 0.3, 1.3, yc, 0.5, "input", _NET)
    ax.add_patch(FancyBboxPatch((1.6, 4.76), 2.55, 0.58, boxstyle="round,pad=0.04", facecolor="none",
                                edgecolor="#333333", lw=1.2, ls="--"))
    ax.text(2.875, 5.5, "extractor", ha="center", va="center", fontsize=10, fontstyle="italic")
    _box(ax, 1.7, 2.7, yc, 0.5, "embed", _NET)
    _box(ax, 3.05, 4.05, yc, 0.5, "trunk", _NET)
    _arrow(ax, (1.3, yc), (1.7, yc), _NET[0])
    _arrow(ax, (2.7, yc), (3.05, yc), _NET[0])
    for y, name in ((5.42, "$h_1$"), (4.68, "$h_t$")):
        _box(ax, 4.75, 5.35, y, 0.36, name, _NET)
        _arrow(ax, (4.05, yc), (4.75, y), _NET[0])
    ax.text(5.05, 5.07, "⋮", ha="center", va="center", fontsize=12)
    ax.text(5.55, yc, "heads: one per task,\neach gives its task's\nlogits", ha="left", va="center", fontsize=10,
            linespacing=1.25)
    _arrow(ax, (3.55, 4.5), (3.55, 4.8), _SLEEP[0], dashed=True)
    ax.text(3.45, 4.6, "dreams (from the memories) enter here", ha="right", va="center", fontsize=9.5,
            color=_SLEEP[0])

    # 2. the wake: task t arrives
    section(2.45, 4.35, "Wake: task t arrives (learn it fast, remember it)", _WAKE[0], "#fffaf5")
    y_head, y_gan, y_data = 3.72, 2.88, 3.3
    _box(ax, 0.3, 1.5, y_data, 0.78, "real data\nof task t", _WAKE)
    _box(ax, 2.0, 3.7, y_head, 0.5, "extractor (frozen)", _NET)
    _box(ax, 4.2, 5.3, y_head, 0.5, "new head $h_t$", _WAKE)
    ax.text(5.45, y_head, "learns at LR_FAST\n(cross-entropy)", ha="left", va="center", fontsize=10,
            linespacing=1.25)
    _box(ax, 2.0, 3.7, y_gan, 0.5, "cGAN: $G_t$ vs $D_t$", _WAKE)
    _box(ax, 4.2, 5.3, y_gan, 0.5, "memory $G_t$", _WAKE)
    ax.text(5.45, y_gan, "kept ($D_t$ dropped):\ndreams of task t", ha="left", va="center", fontsize=10,
            linespacing=1.25)
    for y in (y_head, y_gan):
        _arrow(ax, (1.5, y_data), (2.0, y), _WAKE[0])
        _arrow(ax, (3.7, y), (4.2, y), _WAKE[0])

    # 3. the sleep: consolidate with dreams
    section(0.08, 2.35, "Sleep: after every wake (consolidate with dreams)", _SLEEP[0], "#f6f9fd")
    y_t, y_s, y_m = 1.55, 0.55, 1.05
    _box(ax, 0.3, 1.4, y_m, 0.78, "memories\n$G_1 \\dots G_t$", _SLEEP)
    _box(ax, 1.75, 3.45, y_m, 0.78, "dreams of a\nrandom memory $G_i$", _SLEEP)
    _arrow(ax, (1.4, y_m), (1.75, y_m), _SLEEP[0], dashed=True)
    _box(ax, 3.9, 5.35, y_t, 0.78, "teacher: frozen\ncopy, wake's $h_t$", _NET)
    _box(ax, 3.9, 5.35, y_s, 0.58, "student: the net", _NET)
    _arrow(ax, (3.45, y_m), (3.9, y_t), _SLEEP[0], dashed=True)
    _arrow(ax, (3.45, y_m), (3.9, y_s), _SLEEP[0], dashed=True)
    _box(ax, 5.8, 7.35, y_m, 0.78, "MSE of their\nlogits (head $h_i$)", _SLEEP)
    _arrow(ax, (5.35, y_t), (5.8, y_m + 0.15), _SLEEP[0], dashed=True)
    _arrow(ax, (5.35, y_s), (5.8, y_m - 0.15), _SLEEP[0], dashed=True)
    _arrow(ax, (5.95, y_m - 0.39), (5.35, y_s - 0.14), _SLEEP[0], rad=-0.3, dashed=True)
    ax.text(6.6, 0.33, "update the whole\nstudent at LR_SLOW", ha="center", va="center", fontsize=10,
            color=_SLEEP[0], linespacing=1.25)
    return fig
