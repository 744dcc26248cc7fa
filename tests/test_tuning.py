"""Tuning on a validation split: the split itself, runs evaluated on it with options set, sweep specs that vary
options, grouping by settings, reuse of identical runs, the choice of candidates, and the committed ``tuned``
preset against the committed search that chose it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from mygo_nb.config import Profile, TrainConfig
from mygo_nb.core.metrics import summarize
from mygo_nb.data import DataError, benchmark_from_tensors, validation_split
from mygo_nb.errors import ConfigError
from mygo_nb.learners.ewc import EWCConfig
from mygo_nb.reproduce.aggregate import collect_results, final_accuracy_markdown, group_results, settings_label
from mygo_nb.reproduce.cli import main
from mygo_nb.reproduce.execute import reuse_runs
from mygo_nb.reproduce.spec import expand_spec, load_spec
from mygo_nb.reproduce.tuning import choose, search_markdown, tuned_grid, tuned_markdown
from mygo_nb.running.experiment import eval_part, run, with_train_options
from mygo_nb.running.records import RunResult

REPO = Path(__file__).resolve().parent.parent
STUB = Path(__file__).resolve().parent / "sweep_stub.ipynb"
SEARCH = REPO / "results" / "beyond" / "tune" / "search"


def _bench(per_class: int = 20) -> tuple:
    """Four classes in two tasks, ``per_class`` training images each, interleaved in file order; the pixel
    value of image i is i (so a test can tell which images went where)."""
    n = 4 * per_class
    y = torch.arange(n) % 4
    x = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, 28, 28).contiguous()
    return x, y, benchmark_from_tensors(x, y, x[:8], y[:8], [[0, 1], [2, 3]])


def test_validation_split_holds_out_the_last_tenth_of_each_class_in_file_order() -> None:
    _, y, bench = _bench()
    val = validation_split(bench)
    for t, full in zip(val.tasks, bench.tasks, strict=True):
        ids_train = t.train.x[:, 0, 0, 0].long().tolist()
        ids_val = t.test.x[:, 0, 0, 0].long().tolist()
        assert not set(ids_train) & set(ids_val)
        assert sorted(ids_train + ids_val) == sorted(full.train.x[:, 0, 0, 0].long().tolist())
        for j, c in enumerate(t.classes):
            mine = [i for i in range(len(y)) if int(y[i]) == c]
            assert [i for i in ids_val if int(y[i]) == c] == mine[-2:]  # 10% of 20: the last 2, in file order
            assert t.test.y[[k for k, i in enumerate(ids_val) if int(y[i]) == c]].tolist() == [j, j]
        assert ids_train == sorted(ids_train)  # training data keep their file order
    assert val.provenance["validation"]["fraction"] == 0.1
    assert [len(t.train) for t in val.tasks] == [36, 36] and [len(t.test) for t in val.tasks] == [4, 4]
    with pytest.raises(ConfigError, match="already a validation split"):
        validation_split(val)
    with pytest.raises(ConfigError, match="strictly between 0 and 1"):
        validation_split(bench, 1.0)
    with pytest.raises(DataError, match="too few to hold out"):
        validation_split(_bench(per_class=3)[2])


def test_a_run_on_the_validation_split_with_options_and_train_options() -> None:
    _, _, bench = _bench()
    prof = with_train_options(Profile("tiny", TrainConfig(wake_epochs=1, sleep_steps=2, batch_size=8)),
                              {"lr_fast": 3e-3})
    assert prof.name == "tiny" and prof.train.lr_fast == 3e-3 and prof.train.wake_epochs == 1
    with pytest.raises(ConfigError, match="needs a benchmark with a validation split"):
        run(bench, "ewc", profile=prof, eval_on="val", progress=False)
    val = validation_split(bench)
    with pytest.raises(ConfigError, match="only evaluated with eval_on='val'"):
        run(val, "ewc", profile=prof, eval_on="test", progress=False)
    assert eval_part(val, "val") == "test" and eval_part(bench, "train") == "train"
    r = run(val, "ewc", profile=prof, eval_on="val", progress=False, config=EWCConfig(lam=5.0), scenario="class")
    assert r.eval_on == "val" and r.data["validation"]["fraction"] == 0.1
    assert r.data["train_sizes"] == [36, 36] and r.data["test_sizes"] == [4, 4]
    assert r.config["train"]["lr_fast"] == 3e-3 and r.traces["method_config"]["lam"] == 5.0


def test_specs_vary_options_and_train_options(tmp_path: Path) -> None:
    spec = {"grid": [{"benchmark": "split-mnist", "method": "ewc", "scenario": "class", "eval_on": "val",
                      "options": [{"lam": 1e6}, {"lam": 1e4}]},
                     {"benchmark": "split-mnist", "method": "mygo/internal", "scenario": "class",
                      "train_options": {"lr_slow": 3e-4}},
                     {"benchmark": "split-mnist", "method": "ewc", "scenario": "class"}]}
    runs = {r.name: r for r in expand_spec(spec, data_roots={None: str(tmp_path)})}
    assert sorted(runs) == ["split-mnist__ewc__quick__class__eval-test__seed0",
                            "split-mnist__ewc__quick__class__lam-10000.0__eval-val__seed0",
                            "split-mnist__ewc__quick__class__lam-1000000.0__eval-val__seed0",
                            "split-mnist__mygo-internal__quick__class__lr_slow-0.0003__eval-test__seed0"]
    plain = runs["split-mnist__ewc__quick__class__eval-test__seed0"]
    tuned = runs["split-mnist__mygo-internal__quick__class__lr_slow-0.0003__eval-test__seed0"]
    assert "options" not in plain.parameters() and "train_options" not in plain.parameters()
    assert tuned.parameters()["train_options"] == {"lr_slow": 3e-4}
    assert runs["split-mnist__ewc__quick__class__lam-10000.0__eval-val__seed0"].parameters()["options"] == {
        "lam": 1e4}
    keys = {r.key for r in runs.values()}
    assert len(keys) == 4
    for block, message in (({"options": {"lamda": 1}}, "options: EWCConfig has no option 'lamda'"),
                           ({"options": {"lam": -1.0}}, "EWC lam must be"),
                           ({"train_options": {"lr_slow": [1]}}, "must be a mapping of names to numbers"),
                           ({"train_options": {"wake_epoch": 2}}, "did you mean 'wake_epochs'")):
        bad = {"grid": [{"benchmark": "split-mnist", "method": "ewc", **block}]}
        with pytest.raises(ConfigError, match=message) as e:
            expand_spec(bad, data_roots={None: str(tmp_path)})
        assert "\n" not in str(e.value) and "grid block 1" in str(e.value)


def _record(method: str, variant: str | None, seed: int, avg: float, *, eval_on: str = "val",
            options: dict | None = None, train: dict | None = None) -> RunResult:
    R = [[avg, None], [avg, avg]]
    traces = {"method_config": options} if options else {}
    return RunResult(benchmark="split-mnist", method=method, variant=variant, scenario="class", profile="paper",
                     config={"train": train} if train else {}, seed=seed, device="cpu", eval_on=eval_on,
                     accuracy_matrix=R, metrics=summarize(R), timings={"total_seconds": 1.0},
                     data={"source": "synthetic"}, traces=traces)


def test_settings_group_runs_and_choose_the_best_candidate(tmp_path: Path) -> None:
    search = [_record("ewc", None, 0, 20.0, options={"lam": 1e4, "fisher_samples": 500}),
              _record("ewc", None, 1, 22.0, options={"lam": 1e4, "fisher_samples": 500}),
              _record("ewc", None, 0, 25.0, options={"lam": 1e6, "fisher_samples": 500}),
              _record("ewc", None, 1, 19.0, options={"lam": 1e6, "fisher_samples": 500}),  # mean 22 > 21
              _record("mygo", "internal", 0, 90.0, train={"lr_slow": 3e-5}),
              _record("mygo", "internal", 0, 95.0, train={"lr_slow": 1e-4}),  # the default
              _record("mygo", "internal", 0, 94.0, train={"lr_slow": 3e-4}),
              _record("mygo", "internal", 0, 99.0, eval_on="test", train={"lr_slow": 3e-4})]  # not a candidate
    assert settings_label(search[2]) == "lam=1e+06" and settings_label(search[0]) == ""
    assert settings_label(search[6]) == "lr_slow=0.0003" and settings_label(search[5]) == ""
    groups = group_results(search)
    assert sorted((g.label, g.eval_on, len(g.runs)) for g in groups) == [
        ("ewc (lam=1e+06) [class]", "val", 2), ("ewc [class]", "val", 2),
        ("mygo/internal (lr_slow=0.0003) [class]", "test", 1), ("mygo/internal (lr_slow=0.0003) [class]", "val", 1),
        ("mygo/internal (lr_slow=3e-05) [class]", "val", 1), ("mygo/internal [class]", "val", 1)]
    chosen = {k[1]: g.settings for k, g in choose(groups).items()}
    assert chosen == {"ewc": "lam=1e+06", "mygo/internal": ""}
    assert tuned_grid(groups) == [{"method": "ewc", "options": {"lam": 1e6}}, {"method": "mygo/internal"}]
    md = search_markdown(groups)
    assert md.startswith("Every candidate: class scenario, profile `paper`; the chosen one in bold.")
    assert "| method | candidate | validation average (%) | n |" in md  # n differs between rows: kept
    assert "| ewc | lam=1e+06 | **22.00 ± 4.24** | 2 |" in md
    assert "| ewc | lam=10000 | 21.00 ± 1.41 | 2 |" in md
    assert "| mygo/internal | lr_slow=0.0001 | **95.00** | 1 |" in md
    tuned = group_results([_record("ewc", None, s, a, eval_on="test", options={"lam": 1e6})
                           for s, a in ((0, 30.0), (1, 32.0))])
    defaults = group_results([_record("ewc", None, 0, 20.0, eval_on="test"),
                              _record("mygo", "internal", 0, 96.0, eval_on="test")])
    table = tuned_markdown(groups, tuned, defaults)
    assert "| ewc | lam=1e+06 | 31.00 ± 1.41 (n=2) | 20.00 (n=1) | +11.00 |" in table
    assert "| mygo/internal | lr_slow=0.0001 (the default) | not run | 96.00 (n=1) |  |" in table
    table = tuned_markdown(groups, tuned + defaults[1:], defaults)
    assert "| mygo/internal | lr_slow=0.0001 (the default) | 96.00 (n=1) | 96.00 (n=1) | +0.00 |" in table


def test_final_accuracy_table_against_hand_computed() -> None:
    runs = [_record("dreams", "vae", 0, 60.0, eval_on="test"), _record("dreams", "vae", 1, 64.0, eval_on="test"),
            _record("dreams", "gan", 0, 20.0, eval_on="test")]
    md = final_accuracy_markdown(group_results(runs))
    assert md.splitlines()[0] == "| method | task 1 | task 2 | average | n |"
    assert "| dreams/vae [class] | 62.00 ± 2.83 | 62.00 ± 2.83 | **62.00 ± 2.83** | 2 |" in md  # sd of 60, 64
    assert "| dreams/gan [class] | 20.00 | 20.00 | **20.00** | 1 |" in md


def _stub_spec(root: Path, options: list[dict]) -> dict:
    return {"grid": [{"benchmark": "split-agnews", "method": "ewc", "profile": "quick", "seed": [0, 1],
                      "device": "cpu", "data_root": str(root), "notebook": str(STUB), "options": options}]}


@pytest.mark.slow
def test_reuse_copies_only_runs_with_the_same_key(tmp_path: Path) -> None:
    root = tmp_path / "data"
    root.mkdir()
    spec_a = tmp_path / "a.json"
    spec_a.write_text(json.dumps(_stub_spec(root, [{"lam": 1e6}])))
    assert main([str(spec_a), "--out", str(tmp_path / "a"), "--no-progress", "--no-figures"]) == 0
    # b: the same two runs and two with another lam; only the first two are copied, then only the others run
    spec_b = _stub_spec(root, [{"lam": 1e6}, {"lam": 1e8}])
    runs = expand_spec(spec_b)
    copied = reuse_runs(runs, tmp_path / "b", [tmp_path / "a"])
    assert sorted(copied) == ["sweep_stub__split-agnews__ewc__quick__lam-1000000.0__eval-test__seed0",
                              "sweep_stub__split-agnews__ewc__quick__lam-1000000.0__eval-test__seed1"]
    side = json.loads((tmp_path / "b" / f"{copied[0]}.sweep.json").read_text())
    assert side["reused_from"] == str(tmp_path / "a") and side["status"] == "done"
    assert RunResult.load(tmp_path / "b" / f"{copied[0]}.json") == RunResult.load(tmp_path / "a" / f"{copied[0]}.json")
    assert reuse_runs(runs, tmp_path / "b", [tmp_path / "a"]) == []  # already there
    (tmp_path / "b.json").write_text(json.dumps(spec_b))
    assert main([str(tmp_path / "b.json"), "--out", str(tmp_path / "b"), "--no-progress", "--no-figures"]) == 0
    results = collect_results(tmp_path / "b")
    assert len(results) == 4
    assert sorted({settings_label(r) for r in results}) == ["lam=1e+06", "lam=1e+08"]
    assert main([str(spec_a), "--out", str(tmp_path / "c"), "--reuse", str(tmp_path / "nope")]) == 2


def test_the_committed_tuned_preset_is_what_the_committed_search_chose() -> None:
    search = group_results(collect_results(SEARCH))
    candidates = [g for g in search if g.eval_on == "val"]
    spec, _ = load_spec("tune-search")
    methods = [b["method"] if isinstance(b["method"], list) else [b["method"]] for b in spec["grid"]]
    expected = sum(len(b.get("options") or b["train_options"]) * len(m)
                   for b, m in zip(spec["grid"], methods, strict=True))
    assert len(candidates) == expected  # every candidate of the search ran
    assert all(g.runs[0].data["validation"]["fraction"] == 0.1 for g in candidates)
    tuned, _ = load_spec("tuned")
    assert tuned["grid"] == tuned_grid(search)
    assert tuned["defaults"]["eval_on"] == "test" and tuned["defaults"]["seed"] == [0, 1, 2, 3, 4]
