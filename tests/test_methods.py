import copy
import importlib.metadata
import json

import pytest
import torch

import mygo_nb.learners.mygo as mygo_mod
from mygo_nb.config import TrainConfig
from mygo_nb.core.context import RunContext
from mygo_nb.core.loops import FeatureCache
from mygo_nb.core.memories import memory_trainer
from mygo_nb.core.net import adam, extractor_parameters, extractor_snapshot, make_net, set_extractor_trainable
from mygo_nb.errors import ConfigError
from mygo_nb.learners.finetune import Finetune, FinetuneMultihead
from mygo_nb.learners.mygo import MyGO, MyGOConfig, wake
from mygo_nb.running.experiment import run, seed_everything
from mygo_nb.running.loop import evaluate
from mygo_nb.running.records import RunResult

from .conftest import TINY


def _ctx(bench, profile=TINY, seed=0):
    rng, host = seed_everything(seed, bench.device)
    return RunContext(profile.train, rng, host, progress=False, n_tasks=bench.n_tasks)


def test_reference_sleep_loss_is_exactly_zero_and_extractor_never_moves(tiny_bench):
    r = run(tiny_bench, "mygo", "reference", TINY, progress=False)
    losses = [x for task in r.traces["sleep_loss"] for x in task]
    assert len(losses) == tiny_bench.n_tasks * TINY.train.sleep_steps
    assert all(x == 0.0 for x in losses)
    assert r.traces["extractor_drift"] == [0.0] * tiny_bench.n_tasks
    assert r.metrics["average_accuracy"] > 75  # the heads learn the synthetic classes


def test_reference_sleep_leaves_every_weight_unchanged(tiny_bench, monkeypatch):
    learner = MyGO(tiny_bench, _ctx(tiny_bench), MyGOConfig(hippocampal_head=False))
    before = {}

    original_sleep = mygo_mod.sleep

    def spy(student, teacher, *args, **kwargs):
        before.update({k: v.clone() for k, v in student.state_dict().items()})
        return original_sleep(student, teacher, *args, **kwargs)

    monkeypatch.setattr(mygo_mod, "sleep", spy)
    learner.learn(tiny_bench.tasks[0])
    after = learner.net.state_dict()
    assert before and all(torch.equal(before[k], after[k]) for k in before)


def test_paper_variant_moves_the_extractor_and_distils(tiny_bench):
    r = run(tiny_bench, "mygo", "paper", TINY, progress=False)
    assert all(d > 0 for d in r.traces["extractor_drift"])
    assert r.traces["extractor_drift"][1] > r.traces["extractor_drift"][0]
    first = r.traces["sleep_loss"][0]
    assert first[0] > 0 and min(first[len(first) // 2:]) < first[0]  # the student moves towards the teacher
    # dreams of every seen task are replayed: task 2's sleep draws from both memories
    assert set(r.traces["sleep_dream_task"][1]) == {0, 1}


def test_wake_needs_frozen_extractor_and_trains_only_head_and_gan(tiny_bench):
    s = _ctx(tiny_bench)
    net = make_net("image").to(tiny_bench.device)
    head = net.add_head()
    with pytest.raises(RuntimeError, match="frozen extractor"):
        wake(net, tiny_bench.tasks[0], head, s.cfg, s.rng, progress=False)
    set_extractor_trainable(net, False)
    snap = extractor_snapshot(net)
    head0 = copy.deepcopy(head.state_dict())
    memory, log = wake(net, tiny_bench.tasks[0], head, s.cfg, s.rng, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(snap, extractor_parameters(net), strict=True))
    assert not torch.equal(head0["weight"], head.weight)
    assert len(log.head_loss) == s.cfg.wake_epochs and log.head_loss[-1] < log.head_loss[0]
    assert memory.dream(4, s.rng)[0].shape == (4, 1, 28, 28)


def test_feature_cache_is_invalidated_by_an_optimiser_step(tiny_bench):
    net = make_net("image").to(tiny_bench.device)
    net.add_head()
    cache = FeatureCache()
    x = tiny_bench.tasks[0].test.x
    f1 = cache.features(net, "k", x)
    assert cache.get(net, "k") is f1
    opt = adam(extractor_parameters(net), 1e-2)
    net.features(x[:8]).sum().backward()
    opt.step()
    assert cache.get(net, "k") is None
    assert not torch.equal(cache.features(net, "k", x), f1)
    # and evaluation with or without the cache agrees
    assert evaluate(net, tiny_bench.tasks, lambda t: 0, "test", cache) == evaluate(net, tiny_bench.tasks, lambda t: 0)


@pytest.mark.parametrize(("method", "variant"), [("mygo", "reference"), ("mygo", "paper"), ("finetune", None),
                                                 ("finetune-multihead", None), ("joint", None)])
def test_same_seed_same_accuracy_matrix(tiny_bench, method, variant):
    a = run(tiny_bench, method, variant, TINY, seed=3, progress=False)
    b = run(tiny_bench, method, variant, TINY, seed=3, progress=False)
    assert a.accuracy_matrix == b.accuracy_matrix
    assert a.traces.get("sleep_loss") == b.traces.get("sleep_loss")


def test_different_seeds_differ(tiny_bench):
    a = run(tiny_bench, "mygo", "paper", TINY, seed=0, progress=False)
    b = run(tiny_bench, "mygo", "paper", TINY, seed=1, progress=False)
    assert a.traces["sleep_loss"] != b.traces["sleep_loss"]


def test_matrix_shapes_per_method(tiny_bench):
    ft = run(tiny_bench, "finetune", None, TINY, progress=False)
    assert ft.accuracy_matrix[0][1] is None and len(ft.accuracy_matrix) == 2
    joint = run(tiny_bench, "joint", None, TINY, progress=False)
    assert len(joint.accuracy_matrix) == 1 and None not in joint.accuracy_matrix[0]
    assert joint.metrics["backward_transfer"] is None


def test_finetune_heads(tiny_bench):
    shared = Finetune(tiny_bench, _ctx(tiny_bench))
    multi = FinetuneMultihead(tiny_bench, _ctx(tiny_bench))
    for t in tiny_bench.tasks:
        shared.learn(t)
        multi.learn(t)
    assert len(shared.net.heads) == 1 and shared.scenario.head_for(1) == 0
    assert len(multi.net.heads) == 2 and multi.scenario.head_for(1) == 1


def test_run_validates_options(tiny_bench):
    with pytest.raises(ConfigError, match="valid choices: mygo, finetune"):
        run(tiny_bench, "si", progress=False)
    with pytest.raises(ConfigError, match="valid choices: reference, paper"):
        run(tiny_bench, "mygo", "dreamy", TINY, progress=False)
    with pytest.raises(ConfigError, match="has no variants"):
        run(tiny_bench, "joint", "paper", TINY, progress=False)
    with pytest.raises(ConfigError, match="valid choices: paper, quick"):
        run(tiny_bench, "mygo", profile="huge", progress=False)
    with pytest.raises(ConfigError, match="lr_slow must be a finite number > 0"):
        TrainConfig(lr_slow=0)


def test_result_record_round_trips_through_json(tiny_bench, tmp_path):
    r = run(tiny_bench, "mygo", "paper", TINY, seed=2, progress=False)
    path = r.save(tmp_path / "sub" / "r.json")
    d = json.loads(path.read_text())
    for key in ("config", "data", "seed", "device", "timings", "metrics", "versions", "accuracy_matrix"):
        assert key in d
    assert set(d["timings"]["phase_seconds"]) == {"wake", "sleep", "eval"}
    assert d["versions"]["torch"] == importlib.metadata.version("torch")
    back = RunResult.load(path)
    assert back == r
    assert "avg" in back.summary()


@pytest.mark.integration
def test_same_seed_same_matrix_on_real_mnist(data_root):
    from mygo_nb.data import split_mnist

    bench = split_mnist(data_root, [[0, 1], [2, 3]], max_train_per_class=200, download=False)
    a = run(bench, "mygo", "paper", TINY, seed=5, progress=False)
    b = run(bench, "mygo", "paper", TINY, seed=5, progress=False)
    assert a.accuracy_matrix == b.accuracy_matrix and a.traces["sleep_loss"] == b.traces["sleep_loss"]


def test_memory_recipe_variants_use_their_recipe(tiny_bench, monkeypatch):
    """mygo/paper-proj and mygo/consolidate-proj train gan-proj memories; the defaults keep the paper's gan."""
    kinds: list[str] = []
    original = memory_trainer

    def spy(kind, *args, **kwargs):
        kinds.append(kind)
        return original(kind, *args, **kwargs)

    monkeypatch.setattr(mygo_mod, "memory_trainer", spy)
    monkeypatch.setattr("mygo_nb.learners.consolidate.memory_trainer", spy)
    for variant, scenario in (("paper", "task"), ("paper-proj", "task"), ("consolidate-proj", "class")):
        kinds.clear()
        r = run(tiny_bench, "mygo", variant, TINY, progress=False, scenario=scenario)
        assert kinds == ["gan" if variant == "paper" else "gan-proj"] * tiny_bench.n_tasks
        assert r.traces["method_config"]["memory"] == kinds[0]
    with pytest.raises(ConfigError, match="memory"):
        MyGOConfig(memory="vae")
