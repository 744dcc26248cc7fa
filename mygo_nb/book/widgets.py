"""Interactive views for a live kernel, each with a kernel-free twin for the static book (chapters 3 and 5).

- `dream_explorer` (chapter 3): pick a memory, a class and a seed and see a grid of dreams.
  Twin: `dream_animation`, the same grids over a few seeds as a JavaScript animation.
- `sleep_replay` (chapter 5): a Play button and a step slider replay a run's sleeps: the loss so far
  and how often each memory has dreamed. Twin: `sleep_animation`.

The twins return `IPython.display.HTML` made with matplotlib's ``to_jshtml`` (few frames), so the book shows
them without a kernel. Their frames are drawn `PAGE_WIDTH_IN` wide at 100 dpi and shown at the full width of the
page's column, so no label is smaller than about 11 px there.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Sequence

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import HTML
from matplotlib import animation
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..core.memories import GenerativeMemory
from ..running.records import RunResult
from .plotting import PAGE_WIDTH_IN, SMALL, image_grid

__all__ = ["dream_animation", "dream_explorer", "dream_state_figure", "sleep_animation", "sleep_replay",
           "sleep_state_figure"]


def _png(fig: Figure) -> bytes:
    """The figure as PNG bytes (then closed): widget images carry their pixels in the widget state."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _class_dreams(mem: GenerativeMemory, cls: int, n: int, seed: int) -> torch.Tensor:
    device = next(mem.generator.parameters()).device
    g = torch.Generator(device=device).manual_seed(seed)
    x, _ = mem.dream(n, g, torch.full((n,), cls, device=device, dtype=torch.long))
    return x.cpu()


def dream_explorer(memories: Sequence[GenerativeMemory], class_names: Sequence[Sequence[str]],
                   n: int = 16) -> W.VBox:
    """Dropdowns for the memory (task) and class, a seed slider, and the grid of ``n`` dreams they give."""
    label = {"style": {"description_width": "initial"}}  # a description is shown whole, never cut short
    task = W.Dropdown(options=[(f"memory {m.task + 1}", i) for i, m in enumerate(memories)], value=0,
                      description="memory", **label)
    cls = W.Dropdown(options=[(name, c) for c, name in enumerate(class_names[0])], value=0, description="class",
                     **label)
    seed = W.IntSlider(value=0, min=0, max=9, description="seed", **label)
    out = W.Image(format="png")
    cols = 8

    def on_task(change: dict) -> None:
        cls.options = [(name, c) for c, name in enumerate(class_names[change["new"]])]
        cls.value = 0

    def draw(*_: object) -> None:
        mem = memories[task.value]
        x = _class_dreams(mem, cls.value, n, seed.value)
        rows = max(1, n // cols)
        fig = image_grid(x[: rows * cols].reshape(rows, cols, *x.shape[1:]), [""] * rows,
                         f"memory {mem.task + 1}, class {class_names[task.value][cls.value]}, seed {seed.value}")
        out.value = _png(fig)

    task.observe(on_task, names="value")
    for w in (task, cls, seed):
        w.observe(draw, names="value")
    draw()
    return W.VBox([W.HBox([task, cls, seed]), out])


def _jshtml(fig: Figure, update: Callable[[int], None], frames: int, interval: int) -> HTML:
    """The animation as matplotlib's JavaScript player, its frames shown at the full width of the page's column
    (matplotlib's player shows them at their pixel size, in an inline block)."""
    anim = animation.FuncAnimation(fig, update, frames=frames, interval=interval, blit=False)
    html = anim.to_jshtml(default_mode="once")
    plt.close(fig)
    box = f"mygo-anim-{uuid.uuid4().hex[:12]}"
    style = (f"<style>#{box} .animation {{display: block; width: 100%;}} "
             f"#{box} .animation img {{width: 100%; height: auto;}} "
             f"#{box} input.anim-slider {{width: 60%;}}</style>")
    return HTML(f'{style}<div id="{box}" class="mygo-animation" style="width: 100%;">{html}</div>')


def dream_animation(memories: Sequence[GenerativeMemory], class_names: Sequence[Sequence[str]],
                    seeds: Sequence[int] = (0, 1, 2, 3), per_class: int = 6, dpi: int = 100) -> HTML:
    """Kernel-free twin of `dream_explorer`: every class of every memory, one frame (`dream_state_figure`) per
    seed, shown at the page column's width."""
    fig, show = _dream_frames(memories, class_names, per_class, dpi)
    return _jshtml(fig, lambda frame: show(seeds[frame]), len(seeds), 900)


def dream_state_figure(memories: Sequence[GenerativeMemory], class_names: Sequence[Sequence[str]], seed: int = 0,
                       per_class: int = 6, dpi: int = 100) -> Figure:
    """One frame of `dream_animation`: ``per_class`` dreams of every class of every memory for ``seed``, one
    labelled row per class, `PAGE_WIDTH_IN` wide (each dream at most 0.9 inch)."""
    fig, show = _dream_frames(memories, class_names, per_class, dpi)
    show(seed)
    return fig


def _dream_frames(memories: Sequence[GenerativeMemory], class_names: Sequence[Sequence[str]], per_class: int,
                  dpi: int) -> tuple[Figure, Callable[[int], None]]:
    """The figure of `dream_animation` and the function that shows one seed's dreams in it."""
    rows = [(i, c, f"memory {m.task + 1}: {name}") for i, m in enumerate(memories)
            for c, name in enumerate(class_names[i])]
    label_in, margin_in, title_in = 1.6, 0.1, 0.45
    cell = min(0.9, (PAGE_WIDTH_IN - label_in - margin_in) / per_class)
    fig = plt.figure(figsize=(PAGE_WIDTH_IN, cell * len(rows) + title_in), dpi=dpi)
    left = label_in / PAGE_WIDTH_IN
    grid = fig.add_gridspec(len(rows), per_class, left=left, right=left + cell * per_class / PAGE_WIDTH_IN,
                            bottom=0.02, top=1 - title_in / fig.get_figheight(), wspace=0.06, hspace=0.06)
    ims = []
    for r, (_, _, label) in enumerate(rows):
        for c in range(per_class):
            ax = fig.add_subplot(grid[r, c])
            ims.append(ax.imshow(np.zeros((28, 28)), cmap="gray_r", vmin=0, vmax=1))
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=11)
    title = fig.suptitle("", x=left, ha="left", y=1 - 0.08 / fig.get_figheight(), va="top", fontsize=12)

    def show(seed: int) -> None:
        for r, (i, c, _) in enumerate(rows):
            x = _class_dreams(memories[i], c, per_class, seed)
            for k in range(per_class):
                ims[r * per_class + k].set_data(((x[k].reshape(28, 28).numpy() + 1) / 2).clip(0, 1))
        title.set_text(f"dreams, seed {seed}")

    return fig, show


def _concat_trace(result: RunResult) -> tuple[np.ndarray, np.ndarray, list[int]]:
    loss = np.concatenate([np.asarray(x, dtype=float) for x in result.traces["sleep_loss"]])
    task = np.concatenate([np.asarray(x, dtype=int) for x in result.traces["sleep_dream_task"]])
    bounds = list(np.cumsum([len(x) for x in result.traces["sleep_loss"]]))
    return loss, task, bounds


def sleep_state_figure(result: RunResult, step: int, dpi: int = 100) -> Figure:
    """The sleeps of ``result`` up to global sleep ``step``: loss so far, and dreams per memory so far."""
    loss, task, bounds = _concat_trace(result)
    fig, axes = _sleep_state_axes(dpi)
    _draw_sleep_state(axes, loss, task, bounds, step, result.label)
    return fig


def _sleep_state_axes(dpi: int) -> tuple[Figure, Sequence[Axes]]:
    fig, axes = plt.subplots(1, 2, figsize=(PAGE_WIDTH_IN, 3.1), dpi=dpi, width_ratios=(3, 2),
                             layout="constrained")
    return fig, axes


def _draw_sleep_state(axes: Sequence[Axes], loss: np.ndarray, task: np.ndarray, bounds: list[int], step: int,
                      label: str) -> None:
    n_mem = int(task.max()) + 1 if len(task) else 1
    step = int(np.clip(step, 1, len(loss)))
    stage = int(np.searchsorted(bounds, step, side="left")) + 1
    for ax in axes:
        ax.clear()
    axes[0].plot(np.arange(step), loss[:step], lw=0.7)
    axes[0].set_xlim(0, len(loss))
    top = float(loss.max()) if loss.size and loss.max() > 0 else 1.0
    axes[0].set_ylim(0, 1.05 * top)
    for b in bounds[:-1]:
        axes[0].axvline(b, color="k", lw=0.4, alpha=0.3)
    axes[0].set_title(f"{label}: sleep loss (sleep after task {stage})", fontsize=10)
    axes[0].set_xlabel(f"sleep step (all tasks): {step} of {len(loss)}", fontsize=10)
    axes[0].set_ylabel("MSE of the logits", fontsize=10)
    counts = np.bincount(task[:step], minlength=n_mem)
    last = int(task[step - 1])
    bars = axes[1].bar(np.arange(n_mem), counts, color=[f"C{i}" for i in range(n_mem)])
    bars[last].set(edgecolor="k", linewidth=2)  # the memory that dreamed the last batch
    # the memories by number under their bars, "memory" once as the axis label: the labels never run together
    axes[1].set_xticks(np.arange(n_mem), [str(i + 1) for i in range(n_mem)])
    axes[1].set_xlabel(f"memory (the last dream: {last + 1})", fontsize=10)
    axes[1].set_ylim(0, max(1, int(np.bincount(task, minlength=n_mem).max())))
    axes[1].set_title("which memory dreamed", fontsize=10)
    axes[1].set_ylabel("dream batches so far", fontsize=10)
    for ax in axes:
        ax.tick_params(labelsize=SMALL + 1)


def sleep_replay(result: RunResult, frames: int = 50) -> W.VBox:
    """A Play button linked to a step slider that replays ``result``'s sleep phases."""
    loss, _, _ = _concat_trace(result)
    step_size = max(1, len(loss) // frames)
    slider = W.IntSlider(value=step_size, min=step_size, max=len(loss), step=step_size, description="sleep step",
                         continuous_update=False, layout=W.Layout(width="60%"),
                         style={"description_width": "initial"})
    play = W.Play(value=step_size, min=step_size, max=len(loss), step=step_size, interval=300, description="replay")
    W.jslink((play, "value"), (slider, "value"))
    out = W.Image(format="png")

    def draw(*_: object) -> None:
        out.value = _png(sleep_state_figure(result, slider.value))

    slider.observe(draw, names="value")
    draw()
    return W.VBox([W.HBox([play, slider]), out])


def sleep_animation(result: RunResult, frames: int = 10, dpi: int = 100) -> HTML:
    """Kernel-free twin of `sleep_replay`: ``frames`` evenly spaced steps as a JavaScript animation."""
    loss, task, bounds = _concat_trace(result)
    steps = np.linspace(len(loss) / frames, len(loss), frames).round().astype(int)
    fig, axes = _sleep_state_axes(dpi)

    def update(frame: int) -> None:
        _draw_sleep_state(axes, loss, task, bounds, int(steps[frame]), result.label)

    return _jshtml(fig, update, frames, 700)
