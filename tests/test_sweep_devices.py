"""Sweeps on GPUs without a GPU: pretend devices (``MYGO_FAKE_GPUS``), several runs per device, pinning and CPU
threads per run, a Dask worker killed mid-run, deterministic runs, and migrating keys after a notebook change.

The runs execute tests/sweep_probe.ipynb, which records what the sweep gave its process (``CUDA_VISIBLE_DEVICES``,
``OMP_NUM_THREADS``, when it ran) and fakes a per-task checkpoint; nothing trains. Dask clusters bind to 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest
import torch

from mygo_nb import run
from mygo_nb.reproduce.execute import FAKE_GPUS, completed_record, default_runs_per_gpu, rekey, run_sweep
from mygo_nb.reproduce.spec import expand_spec
from mygo_nb.running.records import RunResult

from .conftest import TINY

PROBE = Path(__file__).resolve().parent / "sweep_probe.ipynb"
pytestmark = pytest.mark.slow


def _runs(tmp_path: Path, seeds: list[int], device: str = "cuda", notebook: Path = PROBE,
          deterministic: bool = False) -> list:
    spec = {"defaults": {"profile": "quick", "device": device, "data_root": str(tmp_path)},
            "grid": [{"benchmark": "split-mnist", "method": "finetune", "seed": seeds}]}
    return expand_spec(spec, notebook=str(notebook), deterministic=deterministic)


def _seen(out: Path, report) -> list[dict]:
    return [RunResult.load(out / r["result"]).traces["seen"] for r in report.done]


def _overlap(a: dict, b: dict) -> bool:
    return a["start"] < b["end"] and b["start"] < a["end"]


@pytest.mark.parametrize("executor", ["local", "dask"])
def test_two_runs_share_one_pretend_gpu_at_once(tmp_path: Path, monkeypatch, executor: str) -> None:
    monkeypatch.setenv(FAKE_GPUS, "1")
    monkeypatch.setenv("MYGO_PROBE_SECONDS", "4")
    out = tmp_path / "out"
    report = run_sweep(_runs(tmp_path, [0, 1]), out, executor=executor, runs_per_gpu=2, progress=False)
    assert len(report.done) == 2 and not report.failed, report.summary()
    a, b = _seen(out, report)
    assert a["cuda_visible_devices"] == b["cuda_visible_devices"] == "0"
    assert a["omp_num_threads"] == b["omp_num_threads"] == str(max(1, (os.cpu_count() or 1) // 2))
    assert _overlap(a, b), "two runs per GPU run at the same time"


def test_one_run_per_pretend_gpu_pins_each_to_its_own(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(FAKE_GPUS, "2")
    monkeypatch.setenv("MYGO_PROBE_SECONDS", "3")
    out = tmp_path / "out"
    report = run_sweep(_runs(tmp_path, [0, 1]), out, runs_per_gpu=1, progress=False)
    assert len(report.done) == 2, report.summary()
    seen = _seen(out, report)
    assert sorted(s["cuda_visible_devices"] for s in seen) == ["0", "1"]
    assert _overlap(*seen)


def test_cpu_runs_are_not_pinned(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(FAKE_GPUS, "1")
    out = tmp_path / "out"
    report = run_sweep(_runs(tmp_path, [0], device="cpu"), out, progress=False)
    assert [s["cuda_visible_devices"] for s in _seen(out, report)] == [os.environ.get("CUDA_VISIBLE_DEVICES")]


def test_default_runs_per_gpu_from_measured_peaks(tmp_path: Path) -> None:
    assert default_runs_per_gpu(tmp_path, gpu_bytes=80 * 10**9) == 8  # nothing measured: 2 GiB assumed, capped
    rec = {"accuracy_matrix": [[1.0]], "metrics": {}, "resources": {"peak_device_bytes": 10 * 10**9}}
    (tmp_path / "a.json").write_text(json.dumps(rec))
    assert default_runs_per_gpu(tmp_path, gpu_bytes=80 * 10**9) == 5  # 0.8 * 80 / (1.25 * 10)
    rec["resources"]["peak_device_bytes"] = 70 * 10**9
    (tmp_path / "b.json").write_text(json.dumps(rec))
    assert default_runs_per_gpu(tmp_path, gpu_bytes=80 * 10**9) == 1


def test_killed_dask_worker_costs_only_its_run_which_resumes_elsewhere(tmp_path: Path, monkeypatch) -> None:
    hang = tmp_path / "hang.json"
    monkeypatch.setenv("MYGO_PROBE_HANG_FILE", str(hang))
    out = tmp_path / "out"
    runs = _runs(tmp_path, [0, 1], device="cpu")
    result: dict = {}
    sweep = threading.Thread(target=lambda: result.update(report=run_sweep(runs, out, executor="dask", workers=2,
                                                                           progress=False)))
    sweep.start()
    deadline = time.monotonic() + 120
    while not hang.is_file() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert hang.is_file(), "the first attempt of seed 1 never started"
    time.sleep(0.5)
    seen = json.loads(hang.read_text())
    os.kill(seen["kernel_parent"], signal.SIGKILL)  # the Dask worker running seed 1
    sweep.join(timeout=180)
    with contextlib.suppress(ProcessLookupError):  # the killed worker's kernel follows it; make sure
        os.kill(seen["kernel"], signal.SIGKILL)
    assert not sweep.is_alive(), "the sweep did not finish after losing a worker"
    report = result["report"]
    assert len(report.done) == 2 and not report.failed, report.summary()
    retried = [r["name"] for r in report.retried]
    assert len(retried) == 1 and f"RETRIED {retried[0]}: 2 attempts" in report.summary()
    rec = json.loads((out / f"{retried[0]}.sweep.json").read_text())
    assert rec["attempts"] == 2 and rec["status"] == "done"
    assert RunResult.load(out / f"{retried[0]}.json").resources["resumed_after_stage"] == 1  # from its checkpoint
    assert not (out / ".checkpoints" / retried[0]).exists(), "a finished run's checkpoint is removed"
    manifest = json.loads((out / "sweep-manifest.json").read_text())["runs"]
    assert sorted(manifest) == sorted(r.name for r in runs) and manifest[retried[0]]["attempts"] == 2


def test_deterministic_runs_are_named_apart_and_record_it(tmp_path: Path, tiny_bench) -> None:
    plain, det = _runs(tmp_path, [0])[0], _runs(tmp_path, [0], deterministic=True)[0]
    assert det.name == plain.name + "__deterministic" and det.key != plain.key
    assert "deterministic" not in plain.parameters() and det.parameters()["deterministic"] is True
    before = torch.are_deterministic_algorithms_enabled()
    a = run(tiny_bench, "ewc", profile=TINY, seed=2, progress=False, deterministic=True)
    assert torch.are_deterministic_algorithms_enabled() == before, "the setting is restored after the run"
    b = run(tiny_bench, "ewc", profile=TINY, seed=2, progress=False)
    assert a.resources["deterministic"] is True and b.resources["deterministic"] is False
    assert a.accuracy_matrix == b.accuracy_matrix  # on a CPU every run is deterministic anyway


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_two_deterministic_gpu_runs_are_identical(tiny_bench) -> None:
    bench = tiny_bench.to("cuda")
    a, b = (run(bench, "mygo", "consolidate-vae", TINY, seed=1, progress=False, deterministic=True) for _ in "ab")
    assert a.accuracy_matrix == b.accuracy_matrix and a.traces["sleep_loss"] == b.traces["sleep_loss"]
    assert a.resources["peak_device_bytes"] > 0


def test_rekey_reuses_runs_after_a_notebook_change_that_computes_the_same(tmp_path: Path) -> None:
    nb = tmp_path / "probe.ipynb"
    shutil.copy(PROBE, nb)
    out = tmp_path / "out"
    runs = _runs(tmp_path, [0], device="cpu", notebook=nb)
    assert len(run_sweep(runs, out, progress=False).done) == 1
    doc = json.loads(nb.read_text())
    doc["cells"][0]["source"] = ["# Sweep probe, reworded\n"]
    nb.write_text(json.dumps(doc))
    changed = _runs(tmp_path, [0], device="cpu", notebook=nb)
    assert completed_record(out, changed[0]) is None, "a changed notebook changes the runs' keys"
    assert rekey(out, nb) == 1
    assert completed_record(out, changed[0]) is not None
    assert run_sweep(changed, out, progress=False).skipped, "the migrated run is reused, not run again"
