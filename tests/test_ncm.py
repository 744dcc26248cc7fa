"""The nearest-class-mean baseline (`mygo_nb.learners.ncm`): the rule, no training, its state."""

from __future__ import annotations

import torch

from mygo_nb.config import Profile, TrainConfig
from mygo_nb.core.context import RunContext
from mygo_nb.core.loops import encode
from mygo_nb.core.net import extractor_parameters
from mygo_nb.data import Benchmark
from mygo_nb.data.splits import benchmark_from_tensors
from mygo_nb.learners import make_learner
from mygo_nb.running.experiment import run, seed_everything

from .conftest import TEST_DEVICE

TINY = Profile("tiny", TrainConfig(batch_size=32, wake_epochs=1, sleep_steps=5))


def _clusters(n_per_class: int, seed: int, noise: float = 0.02, scale: float = 1.0
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Six classes of images, each a fixed random pattern (times ``scale``) plus noise: with the defaults,
    separable by any extractor."""
    patterns = (torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1) * scale
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(6).repeat_interleave(n_per_class)
    x = (patterns[y] + noise * torch.randn(len(y), 1, 28, 28, generator=g)).clamp(-1, 1)
    return x, y


def _bench() -> Benchmark:
    xtr, ytr = _clusters(20, 1)
    xte, yte = _clusters(8, 2)
    return benchmark_from_tensors(xtr, ytr, xte, yte, [[0, 1], [2, 3], [4, 5]], name="clusters",
                                  device=TEST_DEVICE)


def test_separable_classes_score_100_in_the_task_and_class_scenarios() -> None:
    bench = _bench()
    for scenario in ("task", "class"):
        r = run(bench, "ncm", profile=TINY, seed=0, progress=False, scenario=scenario)
        assert r.accuracy_matrix[-1] == [100.0, 100.0, 100.0], scenario


def test_predictions_are_the_nearest_class_mean_of_the_frozen_features() -> None:
    """Class scenario: the heads' argmax is the nearest (Euclidean) mean among every seen class's, computed
    here from the features directly; the extractor never changes."""
    xtr, ytr = _clusters(20, 1, noise=0.5, scale=0.02)  # overlapping classes: the rule decides, not separability
    xte, yte = _clusters(8, 2, noise=0.5, scale=0.02)
    bench = benchmark_from_tensors(xtr, ytr, xte, yte, [[0, 1], [2, 3], [4, 5]], name="noisy", device=TEST_DEVICE)
    rng, host = seed_everything(0, bench.device)
    learner = make_learner("ncm", bench, RunContext(TINY.train, rng, host, False, bench.n_tasks, "class"))
    before = [p.detach().clone() for p in extractor_parameters(learner.net)]
    for task in bench.tasks[:2]:
        log = learner.learn(task)
        assert log["extractor_drift"] == 0.0
    assert all(torch.equal(p, b) for p, b in zip(extractor_parameters(learner.net), before, strict=True))
    net = learner.net.eval()
    with torch.no_grad():
        train = [encode(net.features, t.train.x) for t in bench.tasks[:2]]
        means = torch.stack([f[t.train.y == c].mean(0) for f, t in zip(train, bench.tasks, strict=False)
                             for c in range(2)])
        test = encode(net.features, bench.tasks[1].test.x)
        nearest = torch.cdist(test, means).argmin(1)
        logits = learner.scenario.logits(net, test, 1, 1)
    assert logits.shape[1] == 4
    assert torch.equal(logits.argmax(1), nearest)
    assert 0 < float((nearest == bench.tasks[1].test.y + 2).float().mean()) < 1  # the noise makes it a test


def test_domain_means_pool_each_local_label_over_the_tasks() -> None:
    bench = _bench()
    rng, host = seed_everything(0, bench.device)
    learner = make_learner("ncm", bench, RunContext(TINY.train, rng, host, False, bench.n_tasks, "domain"))
    for task in bench.tasks:
        learner.learn(task)
    net = learner.net.eval()
    with torch.no_grad():
        feats = torch.cat([encode(net.features, t.train.x) for t in bench.tasks])
        local = torch.cat([t.train.y for t in bench.tasks])
        means = torch.stack([feats[local == j].mean(0) for j in range(2)])
    assert len(net.heads) == 1
    torch.testing.assert_close(net.heads[0].weight, means)
    torch.testing.assert_close(net.heads[0].bias, -0.5 * means.pow(2).sum(1))


def test_its_state_restores_the_means() -> None:
    bench = _bench()
    ctx = RunContext(TINY.train, *seed_everything(0, bench.device), False, bench.n_tasks, "class")
    learner = make_learner("ncm", bench, ctx)
    learner.learn(bench.tasks[0])
    tensors, meta = learner.state()
    fresh = make_learner("ncm", bench, RunContext(TINY.train, *seed_everything(0, bench.device), False,
                                                  bench.n_tasks, "class"))
    fresh.load_state(tensors, meta)
    for a, b in zip(learner.sums + learner.counts, fresh.sums + fresh.counts, strict=True):
        assert torch.equal(a, b)
    learner.learn(bench.tasks[1])
    fresh.learn(bench.tasks[1])
    assert all(torch.equal(a, b) for a, b in zip(learner.net.state_dict().values(),
                                                 fresh.net.state_dict().values(), strict=True))
