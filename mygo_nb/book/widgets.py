"""Interactive views for a live kernel, each with a kernel-free twin for the static book (notebooks 03 and 05).

- `dream_explorer` (notebook 03): pick a memory, a class and a seed and see a grid of dreams.
  Twin: `dream_animation`, the same grids over a few seeds as a JavaScript animation.
- `sleep_replay` (notebook 05): a Play button and a step slider replay a run's sleeps: the loss so far
  and how often each memory has dreamed. Twin: `sleep_animation`.

The twins return `IPython.display.HTML` made with matplotlib's ``to_jshtml`` (few frames, low dpi), so
the book shows them without a kernel.
"""

from __future__ import annotations

import io
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
from .plotting import image_grid

__all__ = ["dream_animation", "dream_explorer", "sleep_animation", "sleep_replay", "sleep_state_figure"]


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
    task = W.Dropdown(options=[(f"memory {m.task + 1}", i) for i, m in enumerate(memories)], value=0,
                      description="memory")
    cls = W.Dropdown(options=[(name, c) for c, name in enumerate(class_names[0])], value=0, description="class")
    seed = W.IntSlider(value=0, min=0, max=9, description="seed")
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
    anim = animation.FuncAnimation(fig, update, frames=frames, interval=interval, blit=False)
    html = anim.to_jshtml(default_mode="once")
    plt.close(fig)
    return HTML(html)


def dream_animation(memories: Sequence[GenerativeMemory], class_names: Sequence[Sequence[str]],
                    seeds: Sequence[int] = (0, 1, 2, 3), per_class: int = 6, dpi: int = 60) -> HTML:
    """Kernel-free twin of `dream_explorer`: every class of every memory, one frame per seed."""
    rows = [(i, c, f"m{m.task + 1}: {name}") for i, m in enumerate(memories) for c, name in enumerate(class_names[i])]
    fig, axes = plt.subplots(len(rows), per_class, figsize=(0.6 * per_class + 0.9, 0.6 * len(rows) + 0.3),
                             squeeze=False, dpi=dpi)
    ims = []
    for r, (_, _, label) in enumerate(rows):
        for c in range(per_class):
            ax = axes[r][c]
            ims.append(ax.imshow(np.zeros((28, 28)), cmap="gray_r", vmin=0, vmax=1))
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r][0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=7)
    title = fig.suptitle("", fontsize=8)
    fig.tight_layout(pad=0.2, rect=(0, 0, 1, 0.96))

    def update(frame: int) -> None:
        s = seeds[frame]
        for r, (i, c, _) in enumerate(rows):
            x = _class_dreams(memories[i], c, per_class, s)
            for k in range(per_class):
                ims[r * per_class + k].set_data(((x[k].reshape(28, 28).numpy() + 1) / 2).clip(0, 1))
        title.set_text(f"dreams, seed {s}")

    return _jshtml(fig, update, len(seeds), 900)


def _concat_trace(result: RunResult) -> tuple[np.ndarray, np.ndarray, list[int]]:
    loss = np.concatenate([np.asarray(x, dtype=float) for x in result.traces["sleep_loss"]])
    task = np.concatenate([np.asarray(x, dtype=int) for x in result.traces["sleep_dream_task"]])
    bounds = list(np.cumsum([len(x) for x in result.traces["sleep_loss"]]))
    return loss, task, bounds


def sleep_state_figure(result: RunResult, step: int, dpi: int = 80) -> Figure:
    """The sleeps of ``result`` up to global sleep ``step``: loss so far, and dreams per memory so far."""
    loss, task, bounds = _concat_trace(result)
    fig, axes = plt.subplots(1, 2, figsize=(8, 2.8), dpi=dpi)
    _draw_sleep_state(axes, loss, task, bounds, step, result.label)
    fig.tight_layout()
    return fig


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
    axes[0].set_title(f"{label}: sleep loss, step {step} (sleep after task {stage})", fontsize=9)
    axes[0].set_xlabel("sleep step (all tasks)")
    counts = np.bincount(task[:step], minlength=n_mem)
    axes[1].bar(np.arange(n_mem), counts, color=[f"C{i}" for i in range(n_mem)])
    axes[1].set_xticks(np.arange(n_mem), [f"memory {i + 1}" for i in range(n_mem)], fontsize=8)
    axes[1].set_ylim(0, max(1, int(np.bincount(task, minlength=n_mem).max())))
    axes[1].set_title(f"which memory dreamed (last: memory {task[step - 1] + 1})", fontsize=9)
    axes[1].set_ylabel("dream batches so far")


def sleep_replay(result: RunResult, frames: int = 50) -> W.VBox:
    """A Play button linked to a step slider that replays ``result``'s sleep phases."""
    loss, _, _ = _concat_trace(result)
    step_size = max(1, len(loss) // frames)
    slider = W.IntSlider(value=step_size, min=step_size, max=len(loss), step=step_size, description="sleep step",
                         continuous_update=False, layout=W.Layout(width="60%"))
    play = W.Play(value=step_size, min=step_size, max=len(loss), step=step_size, interval=300, description="replay")
    W.jslink((play, "value"), (slider, "value"))
    out = W.Image(format="png")

    def draw(*_: object) -> None:
        out.value = _png(sleep_state_figure(result, slider.value))

    slider.observe(draw, names="value")
    draw()
    return W.VBox([W.HBox([play, slider]), out])


def sleep_animation(result: RunResult, frames: int = 10, dpi: int = 60) -> HTML:
    """Kernel-free twin of `sleep_replay`: ``frames`` evenly spaced steps as a JavaScript animation."""
    loss, task, bounds = _concat_trace(result)
    steps = np.linspace(len(loss) / frames, len(loss), frames).round().astype(int)
    fig, axes = plt.subplots(1, 2, figsize=(8, 2.8), dpi=dpi)

    def update(frame: int) -> None:
        _draw_sleep_state(axes, loss, task, bounds, int(steps[frame]), result.label)
        fig.tight_layout()

    return _jshtml(fig, update, frames, 700)
