"""The benchmark registry and the derived streams (Permuted- and Rotated-MNIST): tasks that share one copy of
their images and transform each batch on its device."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch

from mygo_nb.cli import main
from mygo_nb.config import Profile, TrainConfig
from mygo_nb.core.scenarios import SCENARIOS
from mygo_nb.data import (
    Benchmark,
    DerivedImages,
    InputStack,
    PixelPermutation,
    Rotation,
    benchmark_entry,
    benchmark_names,
    check_scenario,
    concat_inputs,
    derived_tasks,
    load_benchmark,
    permutations,
    register_benchmark,
    stored,
    take,
    validation_split,
)
from mygo_nb.data.registry import _SCENARIOS
from mygo_nb.errors import ConfigError
from mygo_nb.learners import entries
from mygo_nb.running.checkpoint import run_fingerprint
from mygo_nb.running.experiment import benchmark_params, run

from .conftest import TEST_DEVICE, _synthetic
from .test_reliability import _interrupted_then_resumed, _same_run

TINY = Profile("tiny", TrainConfig(batch_size=32, wake_epochs=2, sleep_steps=20))


def _perm_stream(n_tasks: int = 3, seed: int = 5, per_class: int | None = 24) -> Benchmark:
    """Four synthetic classes, ``n_tasks`` permutations of them (one stored copy of the images)."""
    xtr, ytr = _synthetic(30, 4, 0)
    xte, yte = _synthetic(10, 4, 1)
    dev = torch.device(TEST_DEVICE)
    orders = permutations(n_tasks, seed).to(dev)
    fs = [PixelPermutation(orders[k], seed, k) for k in range(n_tasks)]
    tasks = derived_tasks(xtr.to(dev), ytr.to(dev), xte.to(dev), yte.to(dev), fs, tuple("abcd"), per_class)
    return Benchmark("tinyperm", "image", tasks, tuple("abcd"), provenance={"params": {"seed": seed}})


# ------------------------------------------------------------------------------------------------ registry


def test_the_registry_holds_the_four_benchmarks_with_their_metadata():
    assert {"split-mnist", "split-agnews", "permuted-mnist", "rotated-mnist"} <= set(benchmark_names())
    perm = benchmark_entry("permuted-mnist")
    assert (perm.modality, perm.tasks, perm.default_scenario, perm.split) == ("image", 10, "domain", False)
    assert dict(perm.params) == {"seed": None, "first_unpermuted": True, "pad": 0, "train_per_class": None,
                                 "test_per_class": None}
    assert benchmark_entry("split-mnist").default_scenario == "task"
    assert benchmark_entry("split-agnews").modality == "text"


def test_unknown_benchmarks_and_parameters_are_one_line_errors():
    with pytest.raises(ConfigError, match="permuted-mnist") as e:
        benchmark_entry("permuted-mnst")
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match="did you mean 'seed'"):
        load_benchmark("permuted-mnist", params={"sead": 1})
    with pytest.raises(ConfigError, match="takes no class split"):
        load_benchmark("permuted-mnist", split=[[0, 1]])
    with pytest.raises(ConfigError, match="at most 5 tasks"):
        load_benchmark("split-mnist", tasks=6)
    with pytest.raises(ConfigError, match="registered twice"):
        register_benchmark("split-mnist", modality="image", summary="x", tasks=1)(lambda *a, **k: None)


def test_a_run_seed_fills_an_unset_permutation_seed_and_cli_strings_are_read_as_json():
    assert benchmark_params("permuted-mnist", 4)["seed"] == 4
    assert benchmark_params("permuted-mnist", 4, {"seed": 9})["seed"] == 9
    assert benchmark_params("split-mnist", 4) == {}


# ------------------------------------------------------------------------------------------------ transforms


def test_permutations_are_fixed_by_their_seed_and_the_first_task_is_unpermuted():
    a, b = permutations(5, 3), permutations(5, 3)
    assert torch.equal(a, b) and not torch.equal(a, permutations(5, 4))
    assert torch.equal(a[0], torch.arange(784))
    assert all(torch.equal(torch.sort(r).values, torch.arange(784)) for r in a)  # each row a permutation
    assert len({tuple(r.tolist()) for r in a}) == 5
    assert not torch.equal(permutations(2, 3, first_unpermuted=False)[0], torch.arange(784))


def test_a_pixel_permutation_moves_every_pixel_where_its_order_says():
    order = permutations(2, 1)[1]
    x = torch.randn(3, 1, 28, 28)
    y = PixelPermutation(order, 1, 1)(x)
    assert y.shape == x.shape
    assert torch.equal(y.flatten(1), x.flatten(1)[:, order])
    inverse = torch.argsort(order)
    assert torch.equal(y.flatten(1)[:, inverse], x.flatten(1))


def test_a_rotation_by_ninety_degrees_is_rot90_and_fills_corners_with_the_background():
    x = torch.rand(2, 1, 28, 28) * 2 - 1
    assert torch.equal(Rotation(0.0, 0)(x), x)
    turned = Rotation(90.0, 1)(x)
    assert torch.allclose(turned, torch.rot90(x, 1, (2, 3)), atol=1e-5)
    diag = Rotation(45.0, 1)(torch.ones(1, 1, 28, 28))
    assert diag[0, 0, 0, 0] == -1.0 and diag[0, 0, 14, 14] == 1.0


# ------------------------------------------------------------------------------------------------ derived data


def test_derived_tasks_share_one_copy_of_the_images_and_transform_each_batch():
    bench = _perm_stream(4)
    bases = {t.split(s).x.base.data_ptr() for t in bench.tasks for s in ("train", "test")}
    assert len(bases) == 2  # one training and one test tensor for all four tasks
    moved = bench.to(TEST_DEVICE)
    assert len({t.train.x.base.data_ptr() for t in moved.tasks}) == 1
    idx = torch.tensor([0, 5, 7], device=bench.device)
    t1 = bench.tasks[1].train
    rows = t1.x.rows[idx]
    assert torch.equal(take(t1.x, idx), t1.x.base[rows].flatten(1)[:, t1.x.transform.order].view(3, 1, 28, 28))
    assert len(t1) == 4 * 24 and t1.x.shape == (96, 1, 28, 28) and t1.x.numel() == 96 * 784
    assert not torch.equal(take(bench.tasks[0].train.x, idx), take(t1.x, idx))


def test_stored_samples_are_real_tensors_and_stacks_index_across_tasks():
    bench = _perm_stream(3)
    x0, x2 = bench.tasks[0].train.x, bench.tasks[2].train.x
    idx = torch.tensor([1, 2], device=bench.device)
    kept = stored(x2, idx)
    assert isinstance(kept, torch.Tensor) and torch.equal(kept, take(x2, idx))
    both = concat_inputs([x0, x2])
    assert isinstance(both, InputStack) and len(both) == len(x0) + len(x2)
    pick = torch.tensor([len(x0) + 1, 0, len(x0) + 2, 3], device=bench.device)
    expected = torch.cat([take(x2, idx[:1]), take(x0, torch.tensor([0], device=bench.device)),
                          take(x2, idx[1:]), take(x0, torch.tensor([3], device=bench.device))])
    assert torch.equal(take(both, pick), expected)


def test_a_validation_split_of_a_derived_stream_stays_derived():
    val = validation_split(_perm_stream(3))
    for t in val.tasks:
        assert isinstance(t.train.x, DerivedImages) and isinstance(t.test.x, DerivedImages)
        assert len(t.train) + len(t.test) == 4 * 24
        assert t.train.x.base.data_ptr() == val.tasks[0].train.x.base.data_ptr()


def test_two_permutation_seeds_are_two_runs_for_checkpoints():
    a, b = _perm_stream(seed=5), _perm_stream(seed=6)
    fa = run_fingerprint(a, "finetune", None, TINY.to_dict(), 0, "test", "domain")
    fb = run_fingerprint(b, "finetune", None, TINY.to_dict(), 0, "test", "domain")
    assert fa["params"] == {"seed": 5} and fa != fb


# ------------------------------------------------------------------------------------------------ every method


#: each registered method and variant once, in its first scenario (domain where it runs there)
DERIVED_RUNS = [(e.method, e.variant, "domain" if "domain" in e.scenarios else e.scenarios[0]) for e in entries()]
_FIRST_OF = {e.method: (e.method, e.variant) for e in reversed(entries())}
DERIVED_PARAMS = [pytest.param(*r, marks=() if r[:2] in _FIRST_OF.values() else pytest.mark.slow)
                  for r in DERIVED_RUNS]


@pytest.mark.parametrize(("method", "variant", "scenario"), DERIVED_PARAMS)
def test_every_method_resumes_bit_identically_on_a_derived_stream(method, variant, scenario, tmp_path,
                                                                   monkeypatch):
    bench = _perm_stream(3)
    ref = run(bench, method, variant, TINY, seed=3, progress=False, scenario=scenario)
    assert all(a is not None and 0 <= a <= 100 for a in ref.accuracy_matrix[-1])
    stop = 2 if len(ref.accuracy_matrix) >= 3 else 1
    _same_run(ref, _interrupted_then_resumed(bench, method, variant, tmp_path / "ck", stop, monkeypatch, scenario))
    assert ref.data["params"] == {"seed": 5}


def test_a_run_takes_its_registered_benchmarks_default_scenario():
    bench = _perm_stream(2)
    assert run(bench, "finetune", None, TINY, progress=False).scenario == "task"  # not registered: task
    bench.name = "permuted-mnist"
    assert run(bench, "finetune", None, TINY, progress=False).scenario == "domain"


# ------------------------------------------------------------------------------------------------ real MNIST


def test_fifty_permuted_mnist_tasks_store_one_copy_of_mnist(data_root: Path):
    bench = load_benchmark("permuted-mnist", data_root, tasks=50, params={"seed": 1})
    assert bench.n_tasks == 50 and bench.provenance["params"] == {"seed": 1, "first_unpermuted": True}
    storages = {id(t.split(s).x.base) for t in bench.tasks for s in ("train", "test")}
    assert len(storages) == 2
    data_bytes = sum(t.split(s).x.base.nbytes for t in bench.tasks[:1] for s in ("train", "test"))
    assert data_bytes == 70_000 * 784 * 4  # one float copy of MNIST, whatever the number of tasks
    x = take(bench.tasks[7].train.x, torch.arange(4))
    assert math.isclose(float(x.sum()), float(take(bench.tasks[0].train.x, torch.arange(4)).sum()), rel_tol=1e-5)


def test_caps_on_images_per_class_are_parameters_of_the_derived_stream(data_root: Path):
    bench = load_benchmark("rotated-mnist", data_root, tasks=3, params={"train_per_class": 20, "test_per_class": 5})
    assert [len(t.train) for t in bench.tasks] == [200] * 3 and [len(t.test) for t in bench.tasks] == [50] * 3
    assert bench.provenance["params"] == {"max_angle": 180.0, "train_per_class": 20, "test_per_class": 5}
    assert torch.equal(torch.bincount(bench.tasks[2].test.y), torch.full((10,), 5))
    with pytest.raises(ConfigError, match="test_per_class"):
        load_benchmark("rotated-mnist", data_root, params={"test_per_class": 0})


def test_cli_runs_permuted_and_rotated_mnist_with_a_task_count(data_root: Path, tmp_path: Path, capsys):
    for name in ("permuted-mnist", "rotated-mnist"):
        out = tmp_path / f"{name}.json"
        rc = main(["run", "--benchmark", name, "--tasks", "2", "--method", "finetune", "--profile", "quick",
                   "--data-root", str(data_root), "--train", "wake_epochs=1", "--no-progress", "--no-checkpoint",
                   "--out", str(out), "--bench", "seed=2" if name == "permuted-mnist" else "max_angle=90"])
        assert rc == 0, capsys.readouterr().err
        text = capsys.readouterr().out
        assert f"{name} finetune scenario=domain" in text
        assert out.is_file()
    rc = main(["run", "--benchmark", "rotated-mnist", "--method", "finetune", "--bench", "angle=3",
               "--data-root", str(data_root)])
    assert rc == 2 and "did you mean 'max_angle'" in capsys.readouterr().err


def test_lookups_tables_and_checkpoints_share_one_run_identity():
    from mygo_nb.book.remote import record_fields, record_key, run_key
    from mygo_nb.running.records import bench_data, run_identity

    bench = _perm_stream(2)
    r = run(bench, "finetune", None, TINY, seed=1, progress=False, scenario="domain")
    ident = run_identity(bench.name, "finetune", None, "domain", 1, "test", TINY.to_dict(), bench_data(bench))
    assert r.identity() == ident and ident["params"] == {"seed": 5}
    assert run_key(bench, "finetune", None, TINY, 1, "test", "domain") == tuple(ident.values())
    assert record_key(record_fields(r), False) == tuple(ident.values())
    fp = run_fingerprint(bench, "finetune", None, TINY.to_dict(), 1, "test", "domain")
    assert {k: fp[k] for k in ident} == ident
    other = run(_perm_stream(2, seed=6), "finetune", None, TINY, seed=1, progress=False, scenario="domain")
    assert other.identity() != ident  # another permutation seed is another run


def test_check_scenario_defaults_validates_and_names_the_benchmarks_scenarios():
    assert _SCENARIOS == SCENARIOS
    split = benchmark_entry("split-mnist")
    assert check_scenario(split, None) == "task"
    assert check_scenario(benchmark_entry("permuted-mnist"), None) == "domain"
    assert check_scenario(split, "class") == "class"
    with pytest.raises(ConfigError, match="unknown scenario 'online'"):
        check_scenario(split, "online")
    narrow = dataclasses.replace(split, scenarios=("task",))
    with pytest.raises(ConfigError, match="split-mnist runs in the scenarios task; got 'class'"):
        check_scenario(narrow, "class")
