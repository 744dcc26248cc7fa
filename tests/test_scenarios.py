"""Scenarios (notebook 09): head layout, targets, active classes, and how evaluation uses them."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mygo_nb.config import Profile, TrainConfig
from mygo_nb.core.net import make_net
from mygo_nb.core.scenarios import Scenario
from mygo_nb.errors import ConfigError
from mygo_nb.learners import check_method
from mygo_nb.learners.consolidate import hippocampal_wake
from mygo_nb.running.experiment import run, seed_everything
from mygo_nb.running.loop import evaluate

SMALL = Profile("small", TrainConfig(batch_size=32, wake_epochs=3, sleep_steps=20))


def test_layout_and_targets():
    task, dom, cls = (Scenario(n, (2, 3, 2)) for n in ("task", "domain", "class"))
    assert cls.offsets == (0, 2, 5)
    assert (task.n_heads, dom.n_heads, cls.n_heads) == (3, 1, 1)
    assert [task.head_size(i) for i in range(3)] == [2, 3, 2]
    assert dom.head_size(0) == 3 and cls.head_size(0) == 7
    assert [cls.n_active(0, s) for s in range(3)] == [2, 5, 7]
    assert task.n_active(1, 2) == 3 and dom.n_active(0, 2) == 3
    y = torch.tensor([0, 1, 1])
    assert cls.target(2, y).tolist() == [5, 6, 6]
    assert cls.target(torch.tensor([0, 1, 2]), y).tolist() == [0, 3, 6]
    assert task.target(2, y).tolist() == dom.target(2, y).tolist() == [0, 1, 1]
    with pytest.raises(ConfigError, match="unknown scenario 'classes'"):
        Scenario("classes", (2, 2))


def test_mixed_batch_cross_entropy_in_the_task_scenario_uses_each_tasks_head():
    torch.manual_seed(0)
    net = make_net("image")
    scn = Scenario("task", (2, 2))
    for t in range(2):
        scn.ensure_heads(net, t)
    feats = torch.randn(6, 256)
    tasks = torch.tensor([0, 1, 1, 0, 1, 0])
    y = torch.tensor([1, 0, 1, 0, 0, 1])
    by_hand = torch.stack([F.cross_entropy(net.heads[int(t)](f[None]), yy[None])
                           for f, t, yy in zip(feats, tasks, y, strict=True)])
    assert torch.allclose(scn.cross_entropy(net, feats, tasks, y, 1), by_hand.mean())


def test_class_scenario_evaluation_sees_only_the_classes_seen_so_far(image3):
    net = make_net("image").to(image3.device)
    scn = Scenario.of("class", image3)
    scn.ensure_heads(net, 0)
    head = net.heads[0]
    with torch.no_grad():
        head.weight.zero_()
        head.bias.copy_(torch.tensor([0.0, 1.0, 0.0, 0.0, 0.0, 10.0]))  # always "5", unless masked out
    after_first = evaluate(net, image3.tasks[:1], scn, "test", stage=0)
    assert after_first == [50.0]  # predicts class 1 for every sample; half of task 1 is class 1
    after_last = evaluate(net, image3.tasks, scn, "test", stage=2)
    assert after_last == [0.0, 0.0, 50.0]


def test_class_incremental_finetuning_forgets_and_joint_does_not(image3):
    ft = run(image3, "finetune", None, SMALL, progress=False, scenario="class")
    joint = run(image3, "joint", None, SMALL, progress=False, scenario="class")
    assert ft.scenario == "class" and ft.accuracy_matrix[0][0] > 90
    assert max(ft.accuracy_matrix[-1][:2]) < 10  # only the newest classes are ever predicted
    assert joint.average_accuracy > 90


def test_finetune_task_and_domain_are_the_same_computation(image3):
    a = run(image3, "finetune", None, SMALL, progress=False, scenario="task")
    b = run(image3, "finetune", None, SMALL, progress=False, scenario="domain")
    assert a.accuracy_matrix == b.accuracy_matrix and a.scenario == "task" and b.scenario == "domain"


def test_methods_refuse_scenarios_they_are_not_defined_in():
    assert check_method("mygo", "reference").scenarios == ("task",)
    assert check_method("mygo", "consolidate").scenarios == ("task", "domain", "class")
    assert check_method("replay").scenarios == ("task", "domain", "class")
    with pytest.raises(ConfigError, match="finetune-multihead is not defined in the domain scenario; it runs in: task"):
        check_method("finetune-multihead", None, "domain")
    with pytest.raises(ConfigError, match="unknown scenario 'clas'"):
        check_method("ewc", None, "clas")


def test_hippocampal_copy_learns_only_its_own_classes_in_the_class_head(image3):
    scn = Scenario.of("class", image3)
    assert scn.own_columns(1) == slice(2, 4) and Scenario.of("task", image3).own_columns(1) == slice(0, 2)
    net = make_net("image").to(image3.device)
    scn.ensure_heads(net, 0)
    before = net.heads[0].weight.detach().clone()
    rng, _ = seed_everything(0, image3.device)
    hpc, _, _ = hippocampal_wake(net, image3.tasks[1], "vae", SMALL.train, rng, scenario=scn, progress=False)
    after = hpc.heads[0].weight.detach()
    assert torch.equal(after[[0, 1, 4, 5]], before[[0, 1, 4, 5]])  # other classes' rows untouched
    assert not torch.equal(after[2:4], before[2:4])
    assert torch.equal(net.heads[0].weight, before)  # the net itself is not changed


def test_consolidation_remembers_old_classes_in_the_class_scenario(image3):
    ft = run(image3, "finetune", None, SMALL, progress=False, scenario="class")
    cons = run(image3, "mygo", "consolidate-vae", SMALL, progress=False, scenario="class")
    assert cons.scenario == "class"
    assert sum(cons.accuracy_matrix[-1][:2]) > sum(ft.accuracy_matrix[-1][:2]) + 20
