"""Sweeps (mygo_nb.reproduce): spec expansion and naming; real papermill runs of run_one.ipynb (shipped in the
package: mygo_nb/reproduce/notebooks/) on a tiny AG News-format data set with the local and the Dask executor (a
real LocalCluster on 127.0.0.1); the sweep machinery (failures, dry runs, kill/restart, stopping, concurrent
sweeps, presets through the CLI) on
tests/sweep_stub.ipynb, a notebook with run_one's parameters that writes a canned record without training; and
the aggregation arithmetic on synthetic RunResult records."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mygo_nb.config import PROFILES
from mygo_nb.core.metrics import summarize
from mygo_nb.errors import ConfigError
from mygo_nb.learners import check_method
from mygo_nb.reproduce.aggregate import (
    group_results,
    scenarios_markdown,
    seconds_per_task,
    stream_label,
    tasks_markdown,
)
from mygo_nb.reproduce.cli import main
from mygo_nb.reproduce.execute import run_sweep
from mygo_nb.reproduce.spec import MANIFEST, expand_spec, load_spec, notebook_digest, packaged_notebook, preset_names
from mygo_nb.reproduce.summary import aggregate
from mygo_nb.running.records import RunResult

REPO = Path(__file__).resolve().parent.parent
RUN_ONE = packaged_notebook()
#: run_one's parameters, a canned RunResult derived from them, no data loaded, no training (see the notebook)
STUB = Path(__file__).resolve().parent / "sweep_stub.ipynb"
WORDS = {1: "war government election minister embassy troops", 2: "game team season coach league score",
         3: "market stocks company profit shares bank", 4: "software internet computer space chip web"}
COMMON = ["today", "report", "new", "week", "people", "year", "said"]


def _write_agnews(root: Path, n_train: int = 40, n_test: int = 15) -> Path:
    """An AG News-format folder (root/ag_news_csv/{train,test}.csv) of easy synthetic articles."""
    rng = random.Random(0)
    folder = root / "ag_news_csv"
    folder.mkdir(parents=True)
    for name, n in (("train.csv", n_train), ("test.csv", n_test)):
        with open(folder / name, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, quoting=csv.QUOTE_ALL)
            for i in range(n):
                for label, words in WORDS.items():
                    body = rng.choices(words.split(), k=6) + rng.choices(COMMON, k=3)
                    w.writerow([str(label), f"title {i}", " ".join(rng.sample(body, len(body)))])
    return root


@pytest.fixture(scope="module")
def tiny_agnews(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_agnews(tmp_path_factory.mktemp("agnews"))


def _spec(path: Path, root: Path, seeds: list[int], methods: list[str] | None = None, *, stub: bool = True,
          **extra: object) -> Path:
    """A one-block spec file on ``root``: run by the stub notebook unless ``stub=False`` (run_one: real runs)."""
    block = {"benchmark": "split-agnews", "method": methods or ["finetune"], "profile": "quick", "seed": seeds,
             "eval_on": "test", "device": "cpu", "data_root": str(root), **extra}
    if stub:
        block["notebook"] = str(STUB)
    path.write_text(json.dumps({"grid": [block]}), encoding="utf-8")
    return path


def _stub_name(seed: int, method: str = "finetune") -> str:
    """The name of a stub run of ``_spec``: the notebook's stem, then the parameters."""
    return f"sweep_stub__split-agnews__{method}__quick__eval-test__seed{seed}"


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mygo_nb", "reproduce", *args, "--no-progress"], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def _stub_env(seconds: float) -> dict[str, str]:
    """The environment of a sweep whose stub runs each last ``seconds`` (so that it can be stopped mid-run)."""
    return {**os.environ, "MYGO_STUB_SECONDS": str(seconds)}


def _counts(stdout: str) -> tuple[int, int, int]:
    line = next(ln for ln in stdout.splitlines() if ln.startswith("sweep:"))
    words = line.replace(",", "").split()
    return (int(words[words.index("done") - 1]), int(words[words.index("skipped") - 1]),
            int(words[words.index("failed") - 1]))


def _sidecars(out: Path) -> dict[str, dict]:
    return {p.name[: -len(".sweep.json")]: json.loads(p.read_text()) for p in out.glob("*.sweep.json")}


# ----------------------------------------------------------------------------------------- spec handling


def test_the_proj_preset_pairs_each_sleep_with_its_scenario(tmp_path: Path) -> None:
    runs = expand_spec(load_spec("proj")[0], data_roots={None: str(tmp_path)})
    assert len(runs) == 10 and {r.seed for r in runs} == set(range(5)) and {r.profile for r in runs} == {"paper"}
    assert {(r.variant, r.scenario) for r in runs} == {("paper-proj", "task"), ("consolidate-proj", "class")}


def test_presets_are_committed_json_and_expand(tmp_path: Path, tiny_agnews: Path) -> None:
    assert {"paper", "quick"} <= set(preset_names())
    spec, base = load_spec("paper")
    assert base is None
    runs = expand_spec(spec, data_roots={"split-agnews": str(tiny_agnews), "split-mnist": str(tmp_path)})
    # 2 benchmarks x 2 methods x 2 eval splits x 5 seeds, named from their parameters
    assert len(runs) == 40 and len({r.name for r in runs}) == 40
    assert "split-mnist__mygo-reference__paper__eval-train__seed0" in {r.name for r in runs}
    assert {r.variant for r in runs if r.method == "finetune"} == {None}
    only = expand_spec(spec, data_roots={None: str(tmp_path)}, benchmarks=["split-mnist"], eval_on=["train"],
                       seeds=[3])
    assert sorted(r.name for r in only) == ["split-mnist__finetune__paper__eval-train__seed3",
                                            "split-mnist__mygo-reference__paper__eval-train__seed3"]
    # the hash changes with any parameter and with the notebook's cells
    a, b = only
    assert a.key != b.key and a.key == expand_spec(spec, data_roots={None: str(tmp_path)}, benchmarks=["split-mnist"],
                                                   eval_on=["train"], seeds=[3])[0].key


@pytest.mark.parametrize(("block", "message"), [
    ({"benchmark": "split-mnist", "method": "mygo", "sed": 1}, "unknown key 'sed'"),
    ({"benchmark": "split-mnist", "method": "mygo/bogus"}, "grid block 1: unknown variant 'bogus'"),
    ({"benchmark": "split-mnist", "method": "finetune/x"}, "has no variants"),
    ({"benchmark": "mnist", "method": "mygo"}, "unknown benchmark 'mnist'"),
    ({"benchmark": "split-mnist", "method": "mygo", "seed": "0"}, "seeds must be integers"),
    ({"benchmark": "split-mnist", "method": "mygo", "device": "tpu"}, "unknown device 'tpu'"),
    ({"benchmark": "split-mnist", "method": "mygo", "notebook": "nope.ipynb"}, "notebook nope.ipynb not found"),
    ({"benchmark": "split-mnist", "method": "finetune", "scenario": "online"},
     "grid block 1: unknown scenario 'online'; valid choices: task, domain, class"),
    ({"benchmark": "split-mnist", "method": ["finetune", "mygo/reference"], "scenario": ["task", "class"]},
     "grid block 1: mygo/reference is not defined in the class scenario; it runs in: task"),
    ({"benchmark": "split-mnist", "method": "mygo", "scenario": "domain"}, "mygo/reference is not defined in the"),
    ({"benchmark": "split-mnist", "method": "finetune-multihead", "scenario": "domain"},
     "finetune-multihead is not defined in the domain scenario"),
    ({"benchmark": "split-mnist", "method": "finetune", "tasks": 6}, "split-mnist has at most 5 tasks"),
    ({"benchmark": "permuted-mnist", "method": "finetune", "tasks": 0}, "tasks must be an integer >= 1"),
    ({"benchmark": "permuted-mnist", "method": "finetune", "benchmark_options": {"sed": 1}},
     "grid block 1: benchmark permuted-mnist has no parameter 'sed'"),
])
def test_bad_specs_are_one_line_errors(tmp_path: Path, block: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as e:
        expand_spec({"grid": [block]}, data_roots={None: str(tmp_path)})
    assert "\n" not in str(e.value)


def test_task_counts_and_benchmark_options_name_runs_and_reach_the_notebook(tmp_path: Path) -> None:
    spec = {"grid": [{"benchmark": "permuted-mnist", "method": "finetune", "tasks": [5, 50],
                      "benchmark_options": {"train_per_class": 100}}]}
    runs = {r.name: r for r in expand_spec(spec, data_roots={None: str(tmp_path)})}
    assert sorted(runs) == [
        "permuted-mnist-50tasks-train_per_class-100__finetune__quick__domain__eval-test__seed0",
        "permuted-mnist-5tasks-train_per_class-100__finetune__quick__domain__eval-test__seed0"]
    five = runs["permuted-mnist-5tasks-train_per_class-100__finetune__quick__domain__eval-test__seed0"]
    assert five.scenario == "domain"  # the benchmark's default scenario
    params = five.parameters("x.json")
    assert params["tasks"] == 5 and params["benchmark_options"] == {"train_per_class": 100}
    plain = expand_spec({"grid": [{"benchmark": "split-mnist", "method": "finetune"}]},
                        data_roots={None: str(tmp_path)})[0].parameters("x.json")
    assert "tasks" not in plain and "benchmark_options" not in plain  # split runs keep their keys


def test_a_list_valued_benchmark_option_names_the_run_and_reaches_the_notebook_as_a_list(tmp_path: Path) -> None:
    """split-agnews's ``order``: hashable in the spec (the same grid twice is one run), ``order-2-3-0-1`` in the
    name, a list in the parameters; a grid with another order and one without it are different runs."""
    grid = {"benchmark": "split-agnews", "method": "finetune", "scenario": "class"}
    spec = {"grid": [{**grid, "benchmark_options": {"order": [2, 3, 0, 1]}}, grid,
                     {**grid, "benchmark_options": {"order": [2, 3, 0, 1]}}]}
    runs = expand_spec(spec, data_roots={None: str(tmp_path)})
    assert [r.name for r in runs] == ["split-agnews-order-2-3-0-1__finetune__quick__class__eval-test__seed0",
                                      "split-agnews__finetune__quick__class__eval-test__seed0"]
    assert runs[0].parameters("x.json")["benchmark_options"] == {"order": [2, 3, 0, 1]}
    assert runs[0].key != runs[1].key
    json.dumps(runs[0].parameters("x.json"))  # what papermill injects is JSON


def test_scenario_names_keys_and_parameters(tmp_path: Path) -> None:
    spec = {"grid": [{"benchmark": "split-mnist", "method": "finetune", "scenario": ["task", "class"]},
                     {"benchmark": "split-mnist", "method": "mygo/consolidate-vae", "scenario": "domain"},
                     {"benchmark": "split-mnist", "method": "finetune"}]}  # no scenario: task, the same run again
    runs = {r.name: r for r in expand_spec(spec, data_roots={None: str(tmp_path)})}
    assert sorted(runs) == ["split-mnist__finetune__quick__class__eval-test__seed0",
                            "split-mnist__finetune__quick__eval-test__seed0",
                            "split-mnist__mygo-consolidate-vae__quick__domain__eval-test__seed0"]
    task, cls = runs["split-mnist__finetune__quick__eval-test__seed0"], runs[
        "split-mnist__finetune__quick__class__eval-test__seed0"]
    assert (task.scenario, cls.scenario) == ("task", "class")
    # a task run's parameters and key are exactly what they were before scenarios existed
    old_params = {"benchmark": "split-mnist", "method": "finetune", "variant": None, "profile": "quick", "seed": 0,
                  "device": "auto", "data_root": str(tmp_path.resolve()), "eval_on": "test", "result_path": None,
                  "progress": False}
    assert task.parameters() == old_params
    assert task.notebook_sha == notebook_digest(RUN_ONE)
    old_key = json.dumps({"notebook": task.notebook_sha, "parameters": old_params}, sort_keys=True)
    assert task.key == hashlib.sha256(old_key.encode()).hexdigest()
    assert cls.parameters() == {**old_params, "scenario": "class"} and cls.key != task.key
    # the notebook declares the parameter papermill injects
    import papermill

    declared = papermill.inspect_notebook(str(RUN_ONE))
    assert declared["scenario"]["default"] == '"task"'
    # the stub the machinery tests run declares exactly run_one's parameters, with the same defaults
    stub_declared = papermill.inspect_notebook(str(STUB))
    assert {k: v["default"] for k, v in stub_declared.items()} == {k: v["default"] for k, v in declared.items()}
    # another notebook (the spec's key or the notebook= override): its stem prefixes the names, its cells the keys
    keyed = {r.name: r for r in expand_spec({"grid": [{**spec["grid"][0], "notebook": str(STUB)}]},
                                            data_roots={None: str(tmp_path)})}
    over = {r.name: r for r in expand_spec(spec, data_roots={None: str(tmp_path)}, notebook=str(STUB))}
    assert sorted(over) == sorted(f"sweep_stub__{n}" for n in runs)
    stub_task = over["sweep_stub__split-mnist__finetune__quick__eval-test__seed0"]
    assert stub_task.notebook == str(STUB) and stub_task.notebook_sha == notebook_digest(STUB) != task.notebook_sha
    assert stub_task.parameters() == task.parameters() and stub_task.key != task.key
    assert keyed["sweep_stub__split-mnist__finetune__quick__class__eval-test__seed0"].key == over[
        "sweep_stub__split-mnist__finetune__quick__class__eval-test__seed0"].key


def test_beyond_preset_expands_every_method_in_its_scenarios(tmp_path: Path) -> None:
    spec, _ = load_spec("beyond")
    runs = expand_spec(spec, data_roots={None: str(tmp_path)})
    cells = {(r.benchmark, r.method + (f"/{r.variant}" if r.variant else ""), r.scenario) for r in runs}
    task = {"joint", "finetune-multihead", "mygo/reference", "mygo/consolidate-vae", "mygo/consolidate-real", "ewc",
            "lwf", "replay", "dgr"}
    other = {"joint", "finetune", "mygo/consolidate-vae", "mygo/consolidate-real", "ewc", "lwf", "replay", "dgr"}
    for bench in ("split-mnist", "split-agnews"):
        assert {m for b, m, sc in cells if b == bench and sc == "task"} == task
        for sc in ("domain", "class"):
            assert {m for b, m, s in cells if b == bench and s == sc} == other
    assert len(runs) == 2 * 5 * (len(task) + 2 * len(other))
    assert {r.seed for r in runs} == set(range(5)) and {(r.profile, r.eval_on) for r in runs} == {("paper", "test")}
    assert all(r.scenario in check_method(r.method, r.variant).scenarios for r in runs)


def test_cli_bad_input_exits_2(tmp_path: Path) -> None:
    assert main(["nope", "--out", str(tmp_path)]) == 2
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    assert main([str(bad), "--out", str(tmp_path)]) == 2
    yml = tmp_path / "s.yaml"
    yml.write_text("grid:\n  - benchmark: split-mnist\n    method: [mygo, finetune]\n", encoding="utf-8")
    spec, _ = load_spec(str(yml))  # YAML specs work where PyYAML is installed (papermill needs it)
    assert [r.method for r in expand_spec(spec, data_roots={None: str(tmp_path)})] == ["mygo", "finetune"]


# ------------------------------------------------------------------------------------------ end to end, real runs


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory: pytest.TempPathFactory, tiny_agnews: Path) -> Path:
    """run_one.ipynb for mygo/reference and fine-tuning (seed 0, quick) on the tiny data, two local worker
    processes: the output folder."""
    folder = tmp_path_factory.mktemp("local-sweep")
    spec = _spec(folder / "s.json", tiny_agnews, [0], ["mygo/reference", "finetune"], stub=False)
    assert main([str(spec), "--out", str(folder / "out"), "--no-progress", "--workers", "2"]) == 0
    return folder


REAL_NAMES = ["split-agnews__mygo-reference__quick__eval-test__seed0",
              "split-agnews__finetune__quick__eval-test__seed0"]


@pytest.mark.slow
def test_local_sweep_two_workers_end_to_end_then_rerun_skips(local_sweep: Path) -> None:
    out = local_sweep / "out"
    for n in REAL_NAMES:
        r = RunResult.load(out / f"{n}.json")
        assert (r.benchmark, r.profile, r.eval_on, r.data["canonical"]) == ("split-agnews", "quick", "test", False)
        assert r.timings["phase_seconds"]["train" if r.method == "finetune" else "wake"] > 0  # it trained
        nb = json.loads((out / f"{n}.ipynb").read_text())
        assert any("injected-parameters" in c["metadata"].get("tags", []) for c in nb["cells"])
        assert _sidecars(out)[n]["status"] == "done"
        assert _sidecars(out)[n]["source_notebook"] == str(RUN_ONE)
        assert _sidecars(out)[n]["worker"] != f"pid {os.getpid()}"  # ran in a worker process
    assert set(json.loads((out / MANIFEST).read_text())["runs"]) == set(REAL_NAMES)
    md = (out / "summary.md").read_text()
    assert "NOT the paper's benchmark" in md and "stand-in" in md and "MyGO (paper)" in md
    assert len(list((out / "figures").glob("*.png"))) == 3  # one curve figure + two heatmaps
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("split-*")}
    assert main([str(local_sweep / "s.json"), "--out", str(out), "--no-progress", "--no-figures"]) == 0
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("split-*")} == stamps  # nothing re-executed


@pytest.mark.slow
def test_dask_sweep_on_a_real_local_cluster(tmp_path: Path, local_sweep: Path) -> None:
    """The same runs as `local_sweep`, each a task on a real LocalCluster: the same matrices (same seed, CPU)."""
    spec, base = load_spec(str(local_sweep / "s.json"))
    runs = expand_spec(spec, base)
    out = tmp_path / "out"
    report = run_sweep(runs, out, executor="dask", workers=2, progress=False)
    assert (len(report.done), len(report.skipped), len(report.failed)) == (2, 0, 0)
    for rec in report.done:
        assert rec["worker"].startswith("tcp://127.0.0.1:")  # ran as a task on the LocalCluster
        r = RunResult.load(out / rec["result"])
        assert r.seed == rec["parameters"]["seed"]
        assert r.accuracy_matrix == RunResult.load(local_sweep / "out" / rec["result"]).accuracy_matrix
    assert sorted(rec["name"] for rec in report.done) == sorted(REAL_NAMES)
    again = run_sweep(runs, out, executor="dask", workers=1, progress=False)
    assert (len(again.done), len(again.skipped)) == (0, 2)


@pytest.mark.slow
def test_class_scenario_run_through_the_notebook(tmp_path: Path, agnews_root: Path) -> None:
    """One real quick-profile run in the class scenario (AG News, agnews_dev stand-in when offline): the sweep
    injects ``scenario`` into the notebook, the result says ``class``, and summary.md gets its table."""
    spec = _spec(tmp_path / "s.json", agnews_root, [0], scenario="class", stub=False)
    out = tmp_path / "out"
    assert main([str(spec), "--out", str(out), "--no-progress", "--no-figures"]) == 0
    name = "split-agnews__finetune__quick__class__eval-test__seed0"
    r = RunResult.load(out / f"{name}.json")
    assert (r.scenario, r.method, r.profile, r.eval_on) == ("class", "finetune", "quick", "test")
    nb = json.loads((out / f"{name}.ipynb").read_text())
    injected = next(c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", []))
    assert 'scenario = "class"' in "".join(injected["source"])
    printed = "".join("".join(o.get("text", "")) for c in nb["cells"] if c["cell_type"] == "code"
                      for o in c["outputs"])
    assert "scenario=class" in printed and "scenario: class-incremental" in printed
    assert _sidecars(out)[name]["parameters"]["scenario"] == "class"
    md = (out / "summary.md").read_text()
    assert f"| finetune | — | — | {r.average_accuracy:.2f} (n=1) |" in md
    raw = sum(t["raw_data_bytes"] for t in r.storage["per_task"]) / len(r.storage["per_task"]) / 1e6
    assert raw > 0 and f"| finetune | class | 1 | 0.00 | — | {raw:.2f} |" in md


# ------------------------------------------------------------------------------------------ the machinery, stub runs


@pytest.mark.slow
def test_failed_run_is_recorded_others_go_on_exit_1_and_dry_run_lists_them(tmp_path: Path, capsys) -> None:
    good_root = tmp_path / "data"
    good_root.mkdir()
    missing = tmp_path / "no-such-data"  # the stub fails, as a run whose data are missing does
    good = {"benchmark": "split-agnews", "method": "finetune", "profile": "quick", "device": "cpu",
            "data_root": str(good_root), "seed": 0, "notebook": str(STUB)}
    spec = tmp_path / "s.json"
    spec.write_text(json.dumps({"grid": [{**good, "data_root": str(missing), "seed": 5}, good]}), encoding="utf-8")
    out = tmp_path / "out"
    proc = _cli(str(spec), "--out", str(out), "--no-figures", "--workers", "2")
    assert proc.returncode == 1, proc.stderr
    assert _counts(proc.stdout) == (1, 0, 1)
    rec = _sidecars(out)[_stub_name(5)]
    assert rec["status"] == "failed" and "FileNotFoundError" in rec["error"] and "does not exist" in rec["error"]
    assert (out / rec["notebook"]).is_file() and f"FAILED {_stub_name(5)}" in proc.stdout
    assert (out / f"{_stub_name(0)}.json").is_file()
    manifest = json.loads((out / MANIFEST).read_text())["runs"]
    assert {k: v["status"] for k, v in manifest.items()} == {_stub_name(5): "failed", _stub_name(0): "done"}
    # a dry run says what is done, failed and still to run, and runs nothing
    spec.write_text(json.dumps({"grid": [{**good, "data_root": str(missing), "seed": 5}, {**good, "seed": [0, 7]}]}),
                    encoding="utf-8")
    files = sorted(p.name for p in out.iterdir())
    capsys.readouterr()
    assert main([str(spec), "--out", str(out), "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split() for ln in lines] == [["failed", _stub_name(5)], ["done", _stub_name(0)],
                                            ["to", "run", _stub_name(7)], ["3", "runs"]]
    assert sorted(p.name for p in out.iterdir()) == files


@pytest.mark.slow
def test_killed_sweep_restarts_without_redoing_completed_runs(tmp_path: Path) -> None:
    spec = _spec(tmp_path / "s.json", tmp_path, [0, 1, 2])
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "mygo_nb", "reproduce", str(spec), "--out", str(out),
                             "--no-progress", "--no-figures"], cwd=REPO, start_new_session=True, env=_stub_env(2),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not any(r["status"] == "done" for r in _sidecars(out).values()) if out.is_dir() else True:
            assert proc.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline, "no run finished in time"
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its kernel, mid-way
        proc.wait()
    completed = {n for n, r in _sidecars(out).items() if r["status"] == "done"}
    assert 1 <= len(completed) < 3
    stamps = {n: (out / f"{n}.json").stat().st_mtime_ns for n in completed}
    rerun = _cli(str(spec), "--out", str(out), "--no-figures", "--workers", "2")
    assert rerun.returncode == 0, rerun.stderr
    assert _counts(rerun.stdout) == (3 - len(completed), len(completed), 0)
    assert {n: (out / f"{n}.json").stat().st_mtime_ns for n in completed} == stamps
    assert {n for n, r in _sidecars(out).items() if r["status"] == "done"} == {_stub_name(s) for s in range(3)}


@pytest.mark.slow
@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_a_stopped_sweep_leaves_no_worker_or_kernel_behind(tmp_path: Path, how: str) -> None:
    """``kill PID`` (SIGTERM) or SIGKILL of the sweep alone, not of its process group: its pool workers and their
    kernels end too, and no queued run starts."""
    psutil = pytest.importorskip("psutil")
    spec = _spec(tmp_path / "s.json", tmp_path, list(range(8)))
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "mygo_nb", "reproduce", str(spec), "--out", str(out), "--workers",
                             "2", "--no-progress", "--no-figures"], cwd=REPO, start_new_session=True,
                            env=_stub_env(120), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not (out.is_dir() and any(out.glob("*.partial.ipynb"))):
            assert proc.poll() is None, "the sweep ended before it could be stopped"
            assert time.monotonic() < deadline, "no run started in time"
            time.sleep(0.2)
        family = psutil.Process(proc.pid).children(recursive=True)
        assert len(family) >= 3  # two pool workers and at least one kernel
        os.kill(proc.pid, getattr(signal, how))
        code = proc.wait(timeout=60)
        assert code == (143 if how == "SIGTERM" else -signal.SIGKILL)
        _, alive = psutil.wait_procs(family, timeout=30)
        assert not alive, f"left running: {[p.cmdline()[:3] for p in alive]}"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    started = {p.name.split(".")[0] for p in out.glob("*.ipynb")}
    time.sleep(3)
    assert {p.name.split(".")[0] for p in out.glob("*.ipynb")} == started  # nothing new starts afterwards
    assert len(started) < 8


@pytest.mark.slow
def test_two_concurrent_sweeps_into_one_folder_lose_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    a = _spec(tmp_path / "a.json", tmp_path, [0, 1])
    b = _spec(tmp_path / "b.json", tmp_path, [1, 2])
    cmd = [sys.executable, "-m", "mygo_nb", "reproduce", "--out", str(out), "--no-progress", "--no-figures"]
    procs = [subprocess.Popen([*cmd, str(s)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=_stub_env(1)) for s in (a, b)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    counts = [_counts(o[0]) for o in outs]
    # seed 1 is in both sweeps: executed once (by whichever got its lock first), skipped by the other
    assert sum(c[0] for c in counts) == 3 and sum(c[1] for c in counts) == 1
    names = {_stub_name(s) for s in range(3)}
    assert set(json.loads((out / MANIFEST).read_text())["runs"]) == names
    assert {n for n, r in _sidecars(out).items() if r["status"] == "done"} == names
    records = [RunResult.load(out / f"{n}.json") for n in sorted(names)]
    assert [r.seed for r in records] == [0, 1, 2]
    # valid records of their own parameters: the stub's accuracies follow the seed
    assert len({json.dumps(r.accuracy_matrix) for r in records}) == 3
    assert all(r.metrics == summarize(r.accuracy_matrix) and r.method == "finetune" for r in records)
    assert "n | T1" in (out / "summary.md").read_text() and "| 3 |" in (out / "summary.md").read_text()


@pytest.mark.slow
def test_quick_preset_through_the_cli_with_both_executors(tmp_path: Path) -> None:
    """The committed `quick` preset, run by the CLI with ``--notebook`` (the stub) on the local executor, then on
    Dask (a real LocalCluster on 127.0.0.1) into another folder: both finish its four runs on both benchmarks,
    with the same parameters (so the same records). Real runs of run_one.ipynb: the tests above."""
    outs = {"local": tmp_path / "local", "dask": tmp_path / "dask"}
    for executor, out in outs.items():
        p = _cli("quick", "--out", str(out), "--executor", executor, "--workers", "2", "--device", "cpu",
                 "--data-root", str(tmp_path), "--notebook", str(STUB), "--no-figures")
        assert p.returncode == 0, p.stderr[-2000:]
        runs = json.loads((out / MANIFEST).read_text())["runs"]
        assert len(runs) == 4 and _counts(p.stdout) == (4, 0, 0), p.stdout[-1000:]
        assert {r["source_notebook"] for r in runs.values()} == {str(STUB)}
        assert {(r["parameters"]["benchmark"], r["parameters"]["method"], r["parameters"]["eval_on"])
                for r in runs.values()} == {(b, m, "train") for b in ("split-mnist", "split-agnews")
                                            for m in ("mygo", "finetune")}
        md = (out / "summary.md").read_text()
        assert "## split-mnist" in md and "## split-agnews" in md and "MyGO (paper)" in md
    workers = {rec["worker"] for rec in _sidecars(outs["dask"]).values()}
    assert all(w.startswith("tcp://127.0.0.1:") for w in workers), workers
    records = sorted(p.name for p in outs["local"].glob("sweep_stub__split-*.json") if ".sweep." not in p.name)
    assert len(records) == 4
    for name in records:
        a, b = RunResult.load(outs["local"] / name), RunResult.load(outs["dask"] / name)
        assert a == b, name


# ------------------------------------------------------------------------------------------ aggregation


def _result(method: str, variant: str | None, seed: int, R: list[list[float | None]], *, eval_on: str = "train",
            benchmark: str = "split-mnist", canonical: bool | None = None, scenario: str = "task",
            storage: list[tuple[int | None, int | None, int | None]] | None = None) -> RunResult:
    """A synthetic record; ``storage``: per task (generator, replay buffer, raw data) bytes."""
    data: dict = {"source": "synthetic"}
    if canonical is not None:
        data["canonical"] = canonical
        data["root"] = "/x/agnews_dev"
    account = {"per_task": [{"task": i, "generator_bytes": g, "replay_buffer_bytes": b, "raw_data_bytes": raw}
                            for i, (g, b, raw) in enumerate(storage)]} if storage else {}
    return RunResult(benchmark=benchmark, method=method, variant=variant, scenario=scenario, profile="paper",
                     config={}, seed=seed, device="cpu", eval_on=eval_on, accuracy_matrix=R, metrics=summarize(R),
                     timings={"total_seconds": 1.0}, data=data, storage=account)


def test_aggregation_mean_std_against_hand_computed(tmp_path: Path) -> None:
    # two seeds of mygo/reference (canonical AG News), one fine-tuning run on the AG News stand-in, and one
    # fine-tuning run evaluated on test on a 2-task "split-mnist" (the paper's 5-task rows get padded columns)
    _result("mygo", "reference", 0, [[90.0, None], [80.0, 100.0]], benchmark="split-agnews",
            canonical=True).save(tmp_path / "a.json")
    _result("mygo", "reference", 1, [[94.0, None], [84.0, 96.0]], benchmark="split-agnews",
            canonical=True).save(tmp_path / "b.json")
    _result("finetune", None, 3, [[90.0, None], [70.0, 80.0]], benchmark="split-agnews",
            canonical=False).save(tmp_path / "c.json")
    _result("finetune", None, 0, [[99.0, None], [50.0, 98.0]], eval_on="test").save(tmp_path / "d.json")
    (tmp_path / "x.sweep.json").write_text(json.dumps({"status": "done"}))  # records are not results
    groups = aggregate(tmp_path, figures=True)
    assert [(g.benchmark, g.data, g.label, g.eval_on, len(g.runs)) for g in groups] == [
        ("split-agnews", "canonical", "mygo/reference", "train", 2),
        ("split-agnews", "stand-in (agnews_dev)", "finetune", "train", 1),
        ("split-mnist", "canonical", "finetune", "test", 1)]
    rows = list(csv.DictReader((tmp_path / "summary.csv").open()))
    mine = {(r["metric"], r["index"]): r for r in rows if r["method"] == "mygo"}
    # final per task: T1 (80, 84) -> 82 ± 2.828; T2 (100, 96) -> 98 ± 2.828; averages (90, 90) -> 90 ± 0
    assert float(mine[("final_accuracy", "1")]["mean"]) == pytest.approx(82.0)
    assert float(mine[("final_accuracy", "1")]["std"]) == pytest.approx(8**0.5, abs=1e-4)
    assert float(mine[("final_accuracy", "2")]["mean"]) == pytest.approx(98.0)
    assert float(mine[("average_accuracy", "")]["mean"]) == pytest.approx(90.0)
    assert float(mine[("average_accuracy", "")]["std"]) == pytest.approx(0.0)
    # curve after T1: (90, 94) -> 92 ± 2.828; BWT: (80-90, 84-94) -> -10 ± 0
    assert float(mine[("average_accuracy_curve", "1")]["mean"]) == pytest.approx(92.0)
    assert float(mine[("average_accuracy_curve", "1")]["std"]) == pytest.approx(8**0.5, abs=1e-4)
    assert float(mine[("backward_transfer", "")]["mean"]) == pytest.approx(-10.0)
    assert mine[("average_accuracy", "")]["paper"] == "75.03" and mine[("final_accuracy", "1")]["paper"] == "76.64"
    assert mine[("average_accuracy", "")]["seeds"] == "0 1" and mine[("average_accuracy", "")]["n"] == "2"
    assert {r["data"] for r in rows if r["method"] == "finetune" and r["benchmark"] == "split-agnews"} == {
        "stand-in (agnews_dev)"}
    md = (tmp_path / "summary.md").read_text()
    assert ("| mygo/reference (ours, MyGO) | train | paper | 2 | 82.00 ± 2.83 | 98.00 ± 2.83 | 90.00 ± 0.00 "
            "| -10.00 ± 0.00 |") in md
    assert "| MyGO (paper) | train |  |  | 76.64 | 73.43 | 75.03 |  |" in md
    assert "## split-agnews — data: stand-in (agnews_dev)" in md and "NOT the paper's benchmark" in md
    assert "| Fine-tuning (paper) | train |  |  | 43.85 | 69.59 | 21.90 | 95.44 | 99.61 | 66.08 |  |" in md
    assert "| finetune (ours, Fine-tuning) | test | paper | 1 | 50.00 | 98.00 |  |  |  | 74.00 | -49.00 |" in md
    figs = sorted(p.name for p in (tmp_path / "figures").glob("*.png"))
    assert len(figs) == 6 and sum("average-accuracy" in f for f in figs) == 3
    assert "Scenario" not in md and "## Methods × scenarios" not in md  # task runs without storage: format as before


def test_methods_by_scenarios_table_against_hand_computed(tmp_path: Path) -> None:
    def avg(a: float, b: float) -> list[list[float | None]]:  # final accuracies a, b: average (a + b) / 2
        return [[a, None], [a, b]]

    mb = 10**6
    # finetune: task seeds 0, 1 (averages 80, 90); class seeds 0-2 (averages 40, 50, 60) with a storage account
    _result("finetune", None, 0, avg(70.0, 90.0), eval_on="test").save(tmp_path / "t0.json")
    _result("finetune", None, 1, avg(90.0, 90.0), eval_on="test").save(tmp_path / "t1.json")
    for seed, a in enumerate((40.0, 50.0, 60.0)):
        _result("finetune", None, seed, avg(a - 10.0, a + 10.0), eval_on="test", scenario="class",
                storage=[(0, None, mb // 2), (0, None, mb // 2)]).save(tmp_path / f"c{seed}.json")
    # replay in the domain and task scenarios, one seed each: buffer 2 MB for task 1, none for task 2 (None = 0)
    for sc, a in (("domain", 75.0), ("task", 95.0)):
        _result("replay", None, 0, avg(a, 85.0), eval_on="test", scenario=sc,
                storage=[(None, 2 * mb, 3 * mb), (None, None, 1 * mb)]).save(tmp_path / f"r-{sc}.json")
    # lwf: the same storage in both scenarios but for rounding: one row each
    _result("lwf", None, 0, avg(50.0, 50.0), eval_on="test", scenario="task",
            storage=[(0, None, 1_004_000), (0, None, 1_004_000)]).save(tmp_path / "l-task.json")
    _result("lwf", None, 0, avg(50.0, 50.0), eval_on="test", scenario="class",
            storage=[(0, None, 1_006_000), (0, None, 1_006_000)]).save(tmp_path / "l-class.json")
    # a generative memory of 1 MB and 3 MB per task, two seeds, class scenario
    for seed in (0, 1):
        _result("mygo", "consolidate-vae", seed, avg(80.0, 100.0 - seed * 10), eval_on="test", scenario="class",
                storage=[(mb, None, mb), (3 * mb, None, mb)]).save(tmp_path / f"v{seed}.json")
    groups = aggregate(tmp_path, figures=True)
    md = (tmp_path / "summary.md").read_text()
    section = md[md.index("## Methods × scenarios"):]
    assert md.index("## split-mnist") < md.index("## Methods × scenarios")
    assert "### split-mnist, 2 tasks — data: canonical — eval test — profile paper" in section
    assert "| Method | task | domain | class |" in section
    # averages: (80, 90) -> 85 ± 7.07; (40, 50, 60) -> 50 ± 10; (90, 85) -> 87.5 ± 3.54
    assert "| finetune | 85.00 ± 7.07 (n=2) | — | 50.00 ± 10.00 (n=3) |" in section
    assert "| mygo/consolidate-vae | — | — | 87.50 ± 3.54 (n=2) |" in section
    assert "| replay | 90.00 (n=1) | 80.00 (n=1) | — |" in section
    assert "| lwf | 50.00 (n=1) | — | 50.00 (n=1) |" in section
    # storage per task: generator (1 + 3) / 2 = 2 MB; replay (2 + 0) / 2 = 1 MB; raw (3 + 1) / 2 = 2 MB
    assert "| Method | Scenario | n | Generator MB/task | Replay buffer MB/task | Raw data MB/task |" in section
    assert "| finetune | class | 3 | 0.00 | — | 0.50 |" in section
    assert "| mygo/consolidate-vae | class | 2 | 2.00 | — | 1.00 |" in section
    assert "| replay | task, domain | 2 | — | 1.00 | 2.00 |" in section  # the same in both: one row
    assert "| lwf | task | 1 | 0.00 | — | 1.00 |\n| lwf | class | 1 | 0.00 | — | 1.01 |" in section
    assert "| finetune | task |" not in section  # no storage account, no storage row
    assert section == scenarios_markdown(groups)
    # Table 1 gets a Scenario column; the paper's Fine-tuning row sits beside the task-scenario run only
    # (the paper's 5-task row pads the 2-task runs' columns)
    assert "| Model | Scenario | Eval | Profile | n | T1 | T2 | T3 | T4 | T5 | Average | BWT |" in md
    assert ("| finetune (ours, Fine-tuning) | task | test | paper | 2 | 80.00 ± 14.14 | 90.00 ± 0.00 |  |  |  "
            "| 85.00 ± 7.07 |") in md
    assert ("| finetune (ours) | class | test | paper | 3 | 40.00 ± 10.00 | 60.00 ± 10.00 |  |  |  "
            "| 50.00 ± 10.00 |") in md
    assert "| Model | Scenario | Eval | Profile | n | After T1 | After T2 | After T3 | After T4 | After T5 |" in md
    assert "| Fine-tuning (paper) | task | train |  |  | 43.85 |" in md
    rows = list(csv.DictReader((tmp_path / "summary.csv").open()))
    avg_rows = {(r["method"], r["scenario"]): r for r in rows if r["metric"] == "average_accuracy"}
    assert float(avg_rows[("finetune", "class")]["mean"]) == pytest.approx(50.0)
    assert avg_rows[("finetune", "class")]["paper"] == "" and avg_rows[("finetune", "task")]["paper"] == "66.08"
    # one curve figure per scenario, one heatmap per group, named like the runs
    figs = {p.name for p in (tmp_path / "figures").glob("*.png")}
    stream = "split-mnist--2-tasks"  # these records have 2 tasks, not the benchmark's 5: the stream says so
    assert {f for f in figs if "average-accuracy" in f} == {
        f"{stream}__canonical__average-accuracy.png", f"{stream}__canonical__class__average-accuracy.png",
        f"{stream}__canonical__domain__average-accuracy.png"}
    assert f"{stream}__canonical__mygo-consolidate-vae__paper__class__eval-test__accuracy-matrix.png" in figs
    assert f"{stream}__canonical__paper__eval-test__methods-x-scenarios.png" in figs
    assert len(figs) == 3 + 7 + 1


def test_streams_of_several_lengths_group_apart_and_scale_by_number_of_tasks(tmp_path: Path) -> None:
    # Permuted-MNIST with 2 and 3 tasks: seeds 0 and 1 of replay at each length, one mygo/internal run at 3 tasks
    def run(method: str, variant: str | None, seed: int, finals: list[float], seconds: float,
            kept: int) -> RunResult:
        n = len(finals)
        R = [[*finals[: i + 1], *[None] * (n - i - 1)] for i in range(n)]
        r = _result(method, variant, seed, R, eval_on="test", benchmark="permuted-mnist", scenario="domain",
                    storage=[(kept, None, 784_000)] * n)
        r.data["params"] = {"seed": seed, "first_unpermuted": True, "train_per_class": 100, "test_per_class": 100}
        r.timings = {"total_seconds": seconds}
        r.config = {"train": {**PROFILES["paper"].train.to_dict(), "wake_epochs": 10}}  # one setting, every run
        return r

    run("replay", None, 0, [80.0, 90.0], 4.0, 0).save(tmp_path / "r2-0.json")
    run("replay", None, 1, [70.0, 90.0], 6.0, 0).save(tmp_path / "r2-1.json")
    run("replay", None, 0, [60.0, 70.0, 80.0], 9.0, 0).save(tmp_path / "r3-0.json")
    run("replay", None, 1, [60.0, 60.0, 90.0], 12.0, 0).save(tmp_path / "r3-1.json")
    run("mygo", "internal", 0, [90.0, 90.0, 90.0], 30.0, 500_000).save(tmp_path / "m3-0.json")
    joint = run("joint", None, 0, [95.0, 95.0, 98.0], 3.0, 0)
    joint.accuracy_matrix = joint.accuracy_matrix[-1:]  # trained once on the whole stream: one row
    joint.save(tmp_path / "j3-0.json")
    groups = aggregate(tmp_path, figures=False)
    assert [(g.stream, g.label.replace(" (wake_epochs=10)", ""), len(g.runs)) for g in groups] == [
        ("permuted-mnist, 2 tasks, test_per_class=100, train_per_class=100", "replay [domain]", 2),
        ("permuted-mnist, 3 tasks, test_per_class=100, train_per_class=100", "joint [domain]", 1),
        ("permuted-mnist, 3 tasks, test_per_class=100, train_per_class=100", "mygo/internal [domain]", 1),
        ("permuted-mnist, 3 tasks, test_per_class=100, train_per_class=100", "replay [domain]", 2)]
    assert seconds_per_task(joint) == pytest.approx(1.0)
    md = (tmp_path / "summary.md").read_text()
    assert "## permuted-mnist, 2 tasks, test_per_class=100, train_per_class=100 — data: canonical" in md
    section = md[md.index("## permuted-mnist by number of tasks"):]
    assert "| Method | Scenario | 2 tasks | 3 tasks |" in section
    assert "Every run: wake_epochs=10." in section  # named once, not in every row
    assert ("Streams: permuted-mnist with 2 and 3 tasks; benchmark parameters: test_per_class=100, "
            "train_per_class=100.") in section
    # averages: replay 2 tasks (85, 80) -> 82.5 ± 3.54, 3 tasks (70, 70) -> 70 ± 0; internal 90
    acc = section[: section.index("Memory kept")]
    assert "| replay | domain | 82.50 ± 3.54 (n=2) | 70.00 ± 0.00 (n=2) |" in acc
    assert "| mygo/internal | domain | — | 90.00 (n=1) |" in acc
    assert "| joint | domain | — | 96.00 (n=1) |" in acc
    # memory: 3 tasks x 0.5 MB; seconds per task: replay (2, 3) -> 2.5 ± 0.71 at 2 tasks, (3, 4) -> 3.5 at 3
    assert "| mygo/internal | domain | — | 1.50 (n=1) |" in section[section.index("Memory kept"):]
    assert "| replay | domain | 2.50 ± 0.71 (n=2) | 3.50 ± 0.71 (n=2) |" in section[section.index("Seconds per"):]
    # a default stream keeps its bare name; a parameter at its default is not named
    r = run("replay", None, 0, [50.0] * 10, 1.0, 0)
    r.data["params"] = {"seed": 0, "first_unpermuted": True}
    assert stream_label(r) == "permuted-mnist"
    r.data["params"]["seed"] = 7
    assert stream_label(r) == "permuted-mnist, seed=7"
    assert tasks_markdown(group_results([r])) == ""


@pytest.mark.slow
def test_executed_notebooks_name_paths_relative_to_the_project_wherever_the_sweep_starts(
        tmp_path: Path, tiny_agnews: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a project with ../shared beside it, its sweep folder two levels down, the sweep started from elsewhere
    project, shared = tmp_path / "project", tmp_path / "shared"
    (project / "results" / "sweep").mkdir(parents=True)
    (project / "pyproject.toml").write_text("")
    shutil.copytree(tiny_agnews, shared / "data")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    out = project / "results" / "sweep"
    spec = _spec(tmp_path / "s.json", shared / "data", [0])
    assert main([str(spec), "--out", str(out), "--no-progress", "--no-figures"]) == 0
    name = _stub_name(0)
    text = (out / f"{name}.ipynb").read_text()
    assert str(tmp_path) not in text and "elsewhere" not in text
    nb = json.loads(text)
    injected = next(c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", []))
    src = "".join(injected["source"])
    assert f'result_path = "{name}.json"' in src and f'checkpoint_dir = ".checkpoints/{name}"' in src
    assert 'data_root = "../../../shared/data"' in src  # the way from the sweep folder: the kernel runs there
    meta = nb["metadata"]["papermill"]
    assert meta["output_path"] == f"results/sweep/{name}.ipynb"
    assert meta["input_path"] == "tests/sweep_stub.ipynb"  # a notebook beside the package: from its folder
    assert RunResult.load(out / f"{name}.json").data["root"] == "../../../shared/data"


def test_committed_sweep_notebooks_show_no_machine_path() -> None:
    notebooks = sorted((REPO / "results").rglob("*.ipynb"))
    assert notebooks, "no executed sweep notebooks under results/"
    shown = [p.relative_to(REPO).as_posix() for p in notebooks
             if any(m in p.read_text(encoding="utf-8") for m in ("/work/", "/tmp/", "/root/", "/home/"))]
    assert not shown, f"{len(shown)} executed notebooks name a machine path, e.g. {shown[:3]}"
