"""Learning from dreams alone (``dreams``): a net that sees only its memories' dreams learns the classes when
the memories draw them, the storage account holds the memories, and text benchmarks are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mygo_nb.config import Profile, TrainConfig
from mygo_nb.core.memories import memory_nbytes
from mygo_nb.data import TokenBags, benchmark_from_tensors
from mygo_nb.data.types import Benchmark, Task, TaskData
from mygo_nb.errors import ConfigError
from mygo_nb.learners import variants
from mygo_nb.learners.dreams import DREAM_RECIPES
from mygo_nb.reproduce.spec import expand_spec, load_spec
from mygo_nb.running.experiment import run

TINY = Profile("tiny", TrainConfig(wake_epochs=5, sleep_steps=100, batch_size=32))


def _quadrants(n: int = 60) -> Benchmark:
    """Four classes, each a bright quadrant on a dark noisy image; tasks [0, 1] and [2, 3]."""
    g = torch.Generator().manual_seed(0)
    y = torch.arange(4 * n) % 4
    x = torch.full((4 * n, 1, 28, 28), -1.0)
    for c in range(4):
        r, k = divmod(c, 2)
        x[y == c, :, r * 14:(r + 1) * 14, k * 14:(k + 1) * 14] = 1.0
    x = (x + 0.3 * torch.randn(x.shape, generator=g)).clamp(-1, 1)
    return benchmark_from_tensors(x, y, x[:80], y[:80], [[0, 1], [2, 3]])


def test_a_net_learns_every_class_from_vae_dreams_alone() -> None:
    r = run(_quadrants(), "dreams", "vae", TINY, scenario="class", progress=False)
    assert len(r.accuracy_matrix) == 1  # one stage: the memories learn the stream, then the net learns from them
    assert min(r.metrics["final_accuracies"]) >= 90.0  # chance among the four classes: 25 %
    per_task = r.storage["per_task"]
    assert [p["generator_bytes"] for p in per_task] == [memory_nbytes((1, 28, 28), 2, 64, 128)] * 2
    assert all(p["replay_buffer_bytes"] is None for p in per_task)
    assert r.timings["phase_seconds"]["wake"] > 0 and r.timings["phase_seconds"]["sleep"] > 0


def test_dreams_variants_and_text_is_refused() -> None:
    assert variants("dreams") == DREAM_RECIPES
    docs = TokenBags.from_lists([[1, 2], [3]] * 4)
    data = TaskData(docs, torch.tensor([0, 1] * 4))
    text = Benchmark("text", "text", [Task(0, (0, 1), ("a", "b"), data, data)], ("a", "b"), vocab_size=5)
    with pytest.raises(ConfigError, match="dreams works on image benchmarks"):
        run(text, "dreams", "vae", TINY, scenario="class", progress=False)


def test_the_dreams_preset_runs_every_recipe_of_the_table(tmp_path: Path) -> None:
    spec, _ = load_spec("dreams")
    runs = expand_spec(spec, data_roots={None: str(tmp_path)})
    assert sorted({r.variant for r in runs}) == ["gan", "gan-dcgan", "gan-proj", "vae"]
    assert len(runs) == 20 and {(r.scenario, r.profile, r.eval_on) for r in runs} == {("class", "paper", "test")}
