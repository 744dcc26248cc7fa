"""Internal replay (notebook 09): factor memories of frozen lower-layer features, and the ``mygo/internal`` learner."""

from __future__ import annotations

import copy
import math
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from mygo_nb.config import PROFILES, Profile, TrainConfig
from mygo_nb.core.context import RunContext
from mygo_nb.core.memories import (
    FactorMemory,
    FactorTrainer,
    factor_rank,
    memory_from_meta,
    memory_meta,
    memory_nbytes,
    memory_trainer,
)
from mygo_nb.core.net import make_net
from mygo_nb.core.store import load_memory, save_memory
from mygo_nb.errors import ConfigError
from mygo_nb.learners import check_method
from mygo_nb.learners.internal import (
    Internal,
    InternalConfig,
    internal_sleep,
    lower_cut,
    lower_features,
    upper_view,
)
from mygo_nb.running.experiment import run, seed_everything

SMALL = Profile("small", TrainConfig(batch_size=32, wake_epochs=2, sleep_steps=40))


def _gaussian_classes(n: int = 4000, dim: int = 6, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, list]:
    """Two classes, each a Gaussian with its own mean and a known covariance of rank 2 plus 0.01 I."""
    g = torch.Generator().manual_seed(seed)
    truth, xs, ys = [], [], []
    for c in range(2):
        mean = torch.randn(dim, generator=g) * 3
        w = torch.randn(dim, 2, generator=g)
        cov = w @ w.T + 0.01 * torch.eye(dim)
        x = mean + torch.randn(n, 2, generator=g) @ w.T + 0.1 * torch.randn(n, dim, generator=g)
        truth.append((mean, cov))
        xs.append(x)
        ys.append(torch.full((n,), c))
    return torch.cat(xs), torch.cat(ys), truth


def test_factor_memory_keeps_each_class_mean_and_covariance():
    x, y, truth = _gaussian_classes()
    trainer = FactorTrainer((6,), 2, TrainConfig(z_dim=2), "cpu")
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(1))
    for i in range(0, len(y), 128):  # batch by batch, as a wake feeds it
        trainer.step(x[perm[i:i + 128]], y[perm[i:i + 128]], torch.Generator())
    g = trainer.memory(0).generator
    for c, (_mean, cov) in enumerate(truth):
        sample = x[y == c]
        assert torch.allclose(g.mean[c], sample.mean(0), atol=1e-5)
        empirical = torch.cov(sample.T, correction=0)
        model = g.factors[c] @ g.factors[c].T + torch.diag(g.noise[c] ** 2)
        assert torch.allclose(model.diagonal(), empirical.diagonal(), atol=1e-4)  # the variance per dimension
        assert (model - empirical).abs().max() < 0.02  # rank 2 + diagonal explains a rank-2 + 0.01 I covariance
        assert (model - cov).abs().max() < 0.3
    dreams, labels = trainer.memory(0).dream(20000, torch.Generator().manual_seed(2))
    for c in range(2):
        assert torch.allclose(dreams[labels == c].mean(0), x[y == c].mean(0), atol=0.1)
    assert dreams.min() >= x.min() and dreams.max() <= x.max()  # clipped to the range the data spanned


def test_factor_memory_needs_every_class_and_fits_its_budget():
    trainer = FactorTrainer((5,), 2, TrainConfig(z_dim=3), "cpu")
    trainer.step(torch.randn(8, 5), torch.zeros(8, dtype=torch.long), torch.Generator())
    with pytest.raises(ValueError, match="every class"):
        trainer.memory(0)
    budget = memory_nbytes((1, 28, 28), 2, 64, 128)  # the paper's cGAN memory of a Split-MNIST task
    rank = factor_rank((1568,), 2, budget)
    assert rank == 32
    for r, fits in ((rank, True), (rank + 1, False)):
        g = FactorTrainer((1568,), 2, TrainConfig(z_dim=r), "cpu")
        g.step(torch.rand(4, 1568), torch.tensor([0, 1, 0, 1]), torch.Generator())
        assert (g.memory(0).nbytes() <= budget) is fits
    assert factor_rank((3,), 2, 10_000) == 3  # never more factors than dimensions
    with pytest.raises(ValueError, match="cannot hold"):
        factor_rank((1568,), 2, 1000)


def test_factor_memory_saves_and_loads(tmp_path):
    x, y, _ = _gaussian_classes(200, dim=4)
    trainer = memory_trainer("factor", (4,), 2, TrainConfig(z_dim=2), "cpu")
    trainer.step(x, y, torch.Generator())
    memory = trainer.memory(3)
    assert isinstance(memory, FactorMemory) and memory.kind == "factor" and memory.generator.z_dim == 2 + 4
    state = memory.generator.state_dict()
    for again in (memory_from_meta(memory_meta(memory), state), load_memory(save_memory(memory, tmp_path / "m"))):
        assert isinstance(again, FactorMemory) and again.task == 3
        for seed in (0, 1):
            a, _ = memory.dream(50, torch.Generator().manual_seed(seed))
            b, _ = again.dream(50, torch.Generator().manual_seed(seed))
            assert torch.equal(a, b)


def test_upper_view_shares_weights_and_lower_features_feed_it(image3):
    net = make_net("image")
    net.add_head(6)
    cut = lower_cut(net)
    assert cut == 7  # conv, relu, pool, conv, relu, pool, flatten
    x = image3.tasks[0].test.x
    feats = lower_features(net, cut, x)
    assert feats.shape == (len(x), 32 * 7 * 7)
    view = upper_view(net, cut, tuple(feats.shape[1:]))
    assert view.heads is net.heads and view.trunk[0] is net.trunk[cut]
    with torch.no_grad():
        assert torch.allclose(view(feats, 0), net(x, 0), atol=1e-5)
    text = make_net("text", 50)
    assert lower_cut(text) == 0  # a text net's lower part is its embedding


def test_internal_runs_in_shared_head_scenarios_only():
    assert check_method("mygo", "internal", "class").learner is Internal
    assert check_method("mygo", "internal", "domain").config == InternalConfig()
    with pytest.raises(ConfigError, match="not defined in the task scenario"):
        check_method("mygo", "internal", "task")
    with pytest.raises(ConfigError, match="lower"):
        InternalConfig(lower="sometimes")


@pytest.mark.parametrize("lower", ["wake", "random"])
def test_lower_layers_freeze_and_memories_dream_their_features(image3, lower):
    torch.manual_seed(0)
    r = run(image3, "mygo", "internal", SMALL, seed=0, progress=False, scenario="class",
            config=InternalConfig(lower=lower))
    assert r.traces["memory_rank"] == [factor_rank((1568,), 2, memory_nbytes((1, 28, 28), 2, 64, 128))] * 3
    assert all(p["generator_bytes"] <= memory_nbytes((1, 28, 28), 2, 64, 128) for p in r.storage["per_task"])
    assert ("lower_wake" in r.timings["per_task"][0]) is (lower == "wake")
    # the same run by hand, to look at its lower layers after each task
    rng, host = seed_everything(0, image3.device)
    learner = Internal(image3, RunContext(SMALL.train, rng, host, False, image3.n_tasks, "class"),
                       InternalConfig(lower=lower))
    init = [p.detach().clone() for p in learner.net.trunk[:7].parameters()]
    lowers = []
    for task in image3.tasks:
        learner.learn(task)
        lowers.append([p.detach().clone() for p in learner.net.trunk[:7].parameters()])
        assert learner.memories[-1].generator.out_shape == (1568,)
    moved = any(not torch.equal(a, b) for a, b in zip(init, lowers[0], strict=True))
    assert moved is (lower == "wake")  # the first wake trains them, or nothing ever does
    for later in lowers[1:]:
        assert all(torch.equal(a, b) for a, b in zip(lowers[0], later, strict=True))
    assert learner.drift() > 0  # the upper layers learn


def test_sleep_keeps_old_classes_that_finetuning_forgets(image3):
    internal = run(image3, "mygo", "internal", SMALL, seed=0, progress=False, scenario="class")
    finetune = run(image3, "finetune", None, SMALL, seed=0, progress=False, scenario="class")
    old_internal = sum(internal.accuracy_matrix[-1][:2]) / 2
    old_finetune = sum(finetune.accuracy_matrix[-1][:2]) / 2
    assert old_finetune < 20 < 60 < old_internal, (old_finetune, old_internal)
    assert math.isclose(internal.average_accuracy, sum(internal.accuracy_matrix[-1]) / 3, rel_tol=1e-6)


def test_text_internal_replays_the_embedding(text2):
    r = run(text2, "mygo", "internal", SMALL, seed=0, progress=False, scenario="class")
    assert r.traces["memory_rank"][0] == factor_rank((128,), 2, memory_nbytes((128,), 2, 64, 128))
    assert len(r.accuracy_matrix) == 2


def test_the_sleep_is_cross_entropy_on_balanced_dreams_of_every_task(image3):
    rng, host = seed_everything(0, image3.device)
    learner = Internal(image3, RunContext(SMALL.train, rng, host, False, image3.n_tasks, "class"), InternalConfig())
    for task in image3.tasks[:2]:
        learner.learn(task)
    view = upper_view(learner.net, learner.cut, (1568,))
    student = copy.deepcopy(view)
    one = replace(SMALL.train, sleep_steps=1)
    state = learner.ctx.rng.get_state()
    log = internal_sleep(student, {}, {}, learner.memories, one, InternalConfig(), learner.scenario, 1,
                         learner.ctx.rng)
    learner.ctx.rng.set_state(state)
    counts = [16, 16]  # a batch of 32, half from each memory, each half class-balanced
    dreams, targets = [], []
    for m, n in zip(learner.memories, counts, strict=True):
        x, y = m.dream(n, learner.ctx.rng)
        dreams.append(x)
        targets.append(y + 2 * m.task)
    with torch.no_grad():
        expected = F.cross_entropy(view.heads[0](view.trunk(torch.cat(dreams)))[:, :4], torch.cat(targets))
    assert log.steps == 1 and log.samples == 32
    assert math.isclose(log.loss[0], float(expected), rel_tol=1e-5)
    with pytest.raises(ConfigError, match="distill"):
        InternalConfig(distill=-1.0)


def test_long_sleep_profile_is_the_paper_budget_with_three_times_the_sleep():
    assert PROFILES["long-sleep"].train == replace(PROFILES["paper"].train, sleep_steps=3000)
    assert PROFILES["long-sleep"].max_train_per_class is None and PROFILES["long-sleep"].task_split == "default"
