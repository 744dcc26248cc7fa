"""Baselines of notebook 09: EWC, LwF, storage-fair experience replay and deep generative replay."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mygo_nb.book.nbutil import find_record
from mygo_nb.config import Profile, TrainConfig
from mygo_nb.core.context import RunContext
from mygo_nb.core.memories import dream_score, fit_memory, memory_nbytes
from mygo_nb.core.net import extractor_drift, extractor_snapshot
from mygo_nb.learners.consolidate import ConsolidateConfig
from mygo_nb.learners.dgr import DGR
from mygo_nb.learners.ewc import EWC, EWCConfig
from mygo_nb.learners.lwf import LwF
from mygo_nb.learners.replay import ExperienceReplay, sample_nbytes
from mygo_nb.running.experiment import run, seed_everything
from mygo_nb.running.records import RunResult

SMALL = Profile("small", TrainConfig(batch_size=32, wake_epochs=2, sleep_steps=20))


def _ctx(bench, scenario: str = "task", cfg: TrainConfig = SMALL.train) -> RunContext:
    rng, host = seed_everything(0, bench.device)
    return RunContext(cfg, rng, host, progress=False, n_tasks=bench.n_tasks, scenario=scenario)


def test_ewc_fisher_and_penalty(image3):
    learner = EWC(image3, _ctx(image3))
    learner.learn(image3.tasks[0])
    assert float(learner.fisher["trunk.0.weight"].sum()) > 0 and float(learner.fisher["heads.0.bias"].min()) > 0
    feats = learner.net.features(image3.tasks[1].train.x[:4])
    assert float(learner.extra_loss(image3.tasks[1], None, feats).detach()) == 0.0  # at the anchor
    with torch.no_grad():
        learner.net.trunk[0].weight.add_(0.1)
    assert float(learner.extra_loss(image3.tasks[1], None, feats).detach()) > 0


def test_a_strong_ewc_penalty_holds_the_extractor_in_place(image3):
    drifts = {}
    for lam in (0.0, 1e7):
        learner = EWC(image3, _ctx(image3), EWCConfig(lam=lam))
        learner.learn(image3.tasks[0])
        snap = extractor_snapshot(learner.net)
        learner.learn(image3.tasks[1])
        drifts[lam] = extractor_drift(learner.net, snap)
    assert drifts[1e7] < 0.5 * drifts[0.0]


def test_lwf_distillation_is_zero_before_the_student_moves(image3):
    learner = LwF(image3, _ctx(image3))
    learner.learn(image3.tasks[0])
    learner.before_task(image3.tasks[1])
    learner.scenario.ensure_heads(learner.net, 1)
    x = image3.tasks[1].train.x[:8]
    assert abs(float(learner.extra_loss(image3.tasks[1], x, learner.net.features(x)).detach())) < 1e-6
    with torch.no_grad():
        learner.net.heads[0].bias.add_(torch.tensor([2.0, -2.0], device=image3.device))
    assert float(learner.extra_loss(image3.tasks[1], x, learner.net.features(x)).detach()) > 0.01


@pytest.mark.parametrize("bench_name", ["image3", "text2"])
def test_replay_buffer_is_storage_fair_and_class_balanced(bench_name, request):
    bench = request.getfixturevalue(bench_name)
    cfg = TrainConfig(batch_size=32, wake_epochs=1, sleep_steps=0, z_dim=8, gan_hidden=4)
    learner = ExperienceReplay(bench, _ctx(bench, "class", cfg))
    learner.learn(bench.tasks[0])
    budget = learner.budget(bench.tasks[0])
    dream_shape = (1, 28, 28) if bench.modality == "image" else (128,)  # images, or EmbeddingBag outputs
    assert budget == memory_nbytes(dream_shape, 2, 8, 4)
    _, x, y = learner.buffer[0]
    spent = learner.stored_bytes()[0]
    first = torch.tensor([0], device=bench.device)
    one = int(sample_nbytes(bench.tasks[0].train.x, first).max()) if bench.modality == "image" else 4 * 8
    everything = len(y) == len(bench.tasks[0].train)
    assert 0 < spent <= budget and (everything or budget - spent < one + 1)  # as many samples as fit
    assert abs(int((y == 0).sum()) - int((y == 1).sum())) <= 1
    assert spent == int(sample_nbytes(x, torch.arange(len(y), device=y.device)).sum())


def test_replay_storage_is_recorded_and_matches_a_mygo_memory(image3):
    r = run(image3, "replay", None, SMALL, progress=False, scenario="class")
    m = run(image3, "mygo", "consolidate", SMALL, progress=False, scenario="class")
    for a, b in zip(r.storage["per_task"], m.storage["per_task"], strict=True):
        budget = b["generator_bytes"]  # a MyGO memory of the same configuration
        assert budget > 0 and a["replay_buffer_bytes"] == min(a["raw_data_bytes"], budget // 784 * 784)
    assert r.storage["per_task"][-1]["replay_buffer_bytes"] > 0  # the last task's sample is kept too
    assert all(t["generator_bytes"] == 0 for t in r.storage["per_task"])
    assert r.traces["method_config"] == {"bytes_per_task": None}


def test_dgr_replays_labelled_samples_of_earlier_tasks(image3):
    learner = DGR(image3, _ctx(image3, "class"))
    learner.learn(image3.tasks[0])
    learner.learn(image3.tasks[1])
    learner.before_task(image3.tasks[2])
    x, tasks, y = learner._replay_batch(64, 2)
    assert x.shape == (64, 1, 28, 28) and set(tasks.tolist()) <= {0, 1}
    glob = learner.scenario.logits(learner.prev_net, learner.prev_net.trunk(x), 1, 1).argmax(1)
    assert torch.equal(learner.scenario.target(tasks, y), glob)


def test_dgr_stores_one_generator_for_the_stream(image3):
    r = run(image3, "dgr", None, SMALL, progress=False)
    gens = [t["generator_bytes"] for t in r.storage["per_task"]]
    assert gens[:-1] == [0, 0] and gens[-1] == memory_nbytes((1, 28, 28), 1, SMALL.train.z_dim,
                                                            SMALL.train.gan_hidden)


class _Replay:
    """A 'memory' that dreams real training images of the asked class (a perfect generator), or noise."""

    def __init__(self, task, noise: bool = False) -> None:
        self.task, self.n_classes, self.data, self.noise = task.index, task.n_classes, task.train, noise

    def dream(self, n, rng, labels):
        if self.noise:
            return torch.rand(n, 1, 28, 28, generator=rng, device=rng.device) * 2 - 1, labels
        picks = [torch.nonzero(self.data.y == c)[:, 0] for c in labels.tolist()]
        idx = torch.stack([p[torch.randint(len(p), (1,), generator=rng, device=rng.device)][0] for p in picks])
        return self.data.x[idx], labels


def test_dream_score_separates_perfect_memories_from_noise(image3):
    cfg = TrainConfig(batch_size=30)
    good = dream_score([_Replay(t) for t in image3.tasks], image3.tasks, cfg,
                       torch.Generator(image3.device).manual_seed(0), steps=60)
    bad = dream_score([_Replay(t, noise=True) for t in image3.tasks], image3.tasks, cfg,
                      torch.Generator(image3.device).manual_seed(0), steps=60)
    assert min(good) > 90 and sum(bad) / 3 < 50


def test_fit_memory_dreams_images_of_the_task(image3):
    cfg = TrainConfig(batch_size=32, wake_epochs=1, z_dim=8, gan_hidden=16)
    for kind in ("gan", "vae"):
        m = fit_memory(image3.tasks[1], kind, cfg, torch.Generator(image3.device).manual_seed(0))
        x, y = m.dream(6, torch.Generator(image3.device).manual_seed(1))
        assert m.task == 1 and m.kind == kind and x.shape == (6, 1, 28, 28) and y.tolist() == [0, 1] * 3
    with pytest.raises(ValueError, match="unknown memory kind 'flow'"):
        fit_memory(image3.tasks[0], "flow", cfg, torch.Generator())


def test_saved_records_are_matched_on_their_scenario(image3, tmp_path):
    r = run(image3, "replay", None, SMALL, progress=False, scenario="class")
    r.save(tmp_path / "r.json")
    assert find_record(tmp_path, image3, "replay", None, SMALL, 0, "test") is None
    found = find_record(tmp_path, image3, "replay", None, SMALL, 0, "test", "class")
    assert found is not None and found.accuracy_matrix == r.accuracy_matrix


def test_records_are_not_looked_for_in_a_sweeps_in_flight_state(image3, tmp_path, monkeypatch):
    """A sweep running beside a notebook keeps checkpoints in hidden folders, and removes them as it goes."""
    r = run(image3, "replay", None, SMALL, progress=False)
    hidden = tmp_path / ".checkpoints" / "run"
    hidden.mkdir(parents=True)
    r.save(hidden / "stage-001.json")
    assert find_record(tmp_path, image3, "replay", None, SMALL, 0, "test") is None
    r.save(tmp_path / "r.json")
    (tmp_path / "a-gone.json").write_text("{}")
    real_load = RunResult.load

    def load(path):
        if Path(path).name == "a-gone.json":
            raise FileNotFoundError(path)  # removed between the listing and the read
        return real_load(path)

    monkeypatch.setattr(RunResult, "load", staticmethod(load))
    found = find_record(tmp_path, image3, "replay", None, SMALL, 0, "test")
    assert found is not None and found.accuracy_matrix == r.accuracy_matrix


def test_a_given_consolidate_config_matches_the_config_a_record_ran_with(image3, tmp_path):
    r = run(image3, "mygo", "consolidate-vae", SMALL, progress=False, scenario="class")
    r.save(tmp_path / "r.json")
    args = (tmp_path, image3, "mygo", "consolidate", SMALL, 0, "test", "class")
    found = find_record(*args, config=ConsolidateConfig(memory="vae"))
    assert found is not None and found.accuracy_matrix == r.accuracy_matrix
    assert find_record(*args, config=ConsolidateConfig(memory="vae", feature_weight=1.0)) is None
    assert find_record(*args) is None  # without a config, the variant's name must match
