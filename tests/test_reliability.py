"""Reliability: checkpoint/resume (in-process and by SIGKILL-ing a real run), one-line errors for bad
input, and persistence that never unpickles."""

from __future__ import annotations

import dataclasses
import functools
import http.server
import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

import mygo_nb
from mygo_nb.cli import main
from mygo_nb.config import Profile, TrainConfig
from mygo_nb.core import store
from mygo_nb.core.store import flatten_optimizer, read_safetensors, unflatten_optimizer
from mygo_nb.data import (
    Benchmark,
    DataError,
    file_md5,
    read_agnews_csv,
    split_agnews,
    split_mnist,
)
from mygo_nb.errors import ConfigError, StoreError
from mygo_nb.learners import REGISTRY, entries
from mygo_nb.learners.ewc import EWCConfig
from mygo_nb.running import checkpoint as ckpt_mod
from mygo_nb.running.checkpoint import CheckpointError
from mygo_nb.running.experiment import run, run_experiment

ROOT = Path(__file__).resolve().parents[1]
TINY = Profile("tiny", TrainConfig(batch_size=32, wake_epochs=2, sleep_steps=20))
#: every registered method x variant x scenario it supports: the resume test covers them all, plugins included
EVERY_RUN = [(e.method, e.variant, s) for e in entries() for s in e.scenarios]
#: the fast loop resumes each method's first variant in its first scenario; the full suite resumes them all
_FIRST = {e.method: (e.method, e.variant, e.scenarios[0]) for e in reversed(entries())}
RESUME_PARAMS = [pytest.param(*r, marks=() if r in _FIRST.values() else pytest.mark.slow) for r in EVERY_RUN]


class _Interrupt(Exception):
    pass


def _interrupted_then_resumed(bench: Benchmark, method: str, variant: str | None, folder: Path, stop_after: int,
                              monkeypatch: pytest.MonkeyPatch, scenario: str = "task",
                              profile: Profile = TINY, config: object = None) -> mygo_nb.RunResult:
    """Run until the checkpoint after stage ``stop_after`` is written, 'crash', then resume in a fresh run."""
    save = ckpt_mod.Checkpointer.save

    def crashing_save(self, learner, out):  # type: ignore[no-untyped-def]
        path = save(self, learner, out)
        if len(out.stages) == stop_after:
            raise _Interrupt
        return path

    with monkeypatch.context() as m:
        m.setattr(ckpt_mod.Checkpointer, "save", crashing_save)
        with pytest.raises(_Interrupt):
            run(bench, method, variant, profile, seed=3, progress=False, checkpoint_dir=folder, scenario=scenario,
                config=config)
    return run(bench, method, variant, profile, seed=3, progress=False, checkpoint_dir=folder, resume=True,
               scenario=scenario, config=config)


def _same_run(a: mygo_nb.RunResult, b: mygo_nb.RunResult) -> None:
    assert a.accuracy_matrix == b.accuracy_matrix
    assert a.traces == b.traces
    assert a.metrics == b.metrics


def test_every_registered_method_and_scenario_is_covered_by_the_resume_test():
    assert len(EVERY_RUN) == sum(len(e.scenarios) for v in REGISTRY.values() for e in v.values()) >= 60
    assert ("ewc", None, "domain") in EVERY_RUN and ("mygo", "internal", "class") in EVERY_RUN


@pytest.mark.parametrize(("method", "variant", "scenario"), RESUME_PARAMS)
def test_resume_equals_uninterrupted(image3, method, variant, scenario, tmp_path, monkeypatch):
    """Killed after a middle stage and resumed: the same run bit for bit (for a method of one stage, after it)."""
    ref = run(image3, method, variant, TINY, seed=3, progress=False, scenario=scenario)
    stop = 2 if len(ref.accuracy_matrix) >= 3 else 1  # image3 has three tasks; joint learns them in one stage
    resumed = _interrupted_then_resumed(image3, method, variant, tmp_path / "ck", stop, monkeypatch, scenario)
    _same_run(ref, resumed)
    assert resumed.scenario == scenario


def test_resume_of_offline_ewc_restores_every_tasks_penalty(image3, tmp_path, monkeypatch):
    cfg = EWCConfig(lam=100.0, fisher_samples=10, fisher_labels="all", offline=True)
    ref = run(image3, "ewc", None, TINY, seed=3, progress=False, config=cfg)
    _same_run(ref, _interrupted_then_resumed(image3, "ewc", None, tmp_path / "ck", 2, monkeypatch, config=cfg))


@pytest.mark.parametrize(("method", "scenario"), [("finetune-multihead", "task"), ("dgr", "class")])
def test_resume_with_one_optimiser_for_the_stream_restores_its_moments(image3, method, scenario, tmp_path,
                                                                      monkeypatch):
    stream = Profile("tiny-stream", dataclasses.replace(TINY.train, stream_optimizer=True))
    ref = run(image3, method, None, stream, seed=3, progress=False, scenario=scenario)
    resumed = _interrupted_then_resumed(image3, method, None, tmp_path / "ck", 2, monkeypatch, scenario, stream)
    _same_run(ref, resumed)
    # the carried-over moments change the computation: a fresh Adam per task gives another run
    assert run(image3, method, None, TINY, seed=3, progress=False, scenario=scenario).traces != ref.traces


@pytest.mark.parametrize(("method", "variant"), [("mygo", "reference"), ("mygo", "paper"), ("finetune", None),
                                                 ("replay", None), ("dgr", None)])
def test_resume_equals_uninterrupted_text(text2, method, variant, tmp_path, monkeypatch):
    ref = run(text2, method, variant, TINY, seed=3, progress=False)
    _same_run(ref, _interrupted_then_resumed(text2, method, variant, tmp_path / "ck", 1, monkeypatch))


def test_checkpoint_files_are_safetensors_and_json(image3, tmp_path):
    folder = tmp_path / "ck"
    run(image3, "finetune", None, TINY, seed=3, progress=False, checkpoint_dir=folder)
    assert sorted(p.name for p in folder.iterdir()) == ["stage-003.json", "stage-003.safetensors"]
    record = json.loads((folder / "stage-003.json").read_text())
    assert record["stage"] == 3 and len(record["accuracy"]) == 3
    tensors = read_safetensors(folder / "stage-003.safetensors")
    assert {"rng.global", "rng.device", "rng.host"} <= set(tensors)
    assert all(k.startswith(("rng.", "learner.")) for k in tensors)
    assert any(k.startswith("learner.opt.") for k in tensors)
    assert any(k.startswith("learner.net.heads.0") for k in tensors)


def test_safetensors_files_give_tensors_back_in_the_layout_they_were_written_from(tmp_path):
    conv = torch.randn(4, 3, 5, 5).to(memory_format=torch.channels_last)
    tensors = {"conv": conv, "transposed": torch.randn(3, 7).t(), "plain": torch.randn(2, 3),
               "expanded": torch.randn(3, 1).expand(3, 4)}
    back = read_safetensors(store.write_safetensors(tmp_path / "t.safetensors", tensors))
    for k, v in tensors.items():
        assert torch.equal(back[k], v), k
    assert back["conv"].is_contiguous(memory_format=torch.channels_last) and not back["conv"].is_contiguous()
    assert back["transposed"].stride() == tensors["transposed"].stride() == (1, 7)
    assert back["plain"].is_contiguous() and back["expanded"].is_contiguous()  # a broadcast view: its dense copy
    # the layout decides a reduction's order: the offline-EWC resume test failed on an Intel Xeon without it
    assert back["conv"].stride() == conv.stride()


def test_optimizer_state_round_trips_through_tensors_and_json():
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    net(torch.randn(5, 3)).sum().backward()
    opt.step()
    tensors, meta = flatten_optimizer(opt.state_dict())
    meta = json.loads(json.dumps(meta))  # must be plain JSON
    back = unflatten_optimizer(tensors, meta)
    ref = opt.state_dict()
    assert back["param_groups"] == ref["param_groups"]
    for pid, st in ref["state"].items():
        for name, v in st.items():
            assert torch.equal(back["state"][pid][name], v)


def test_kill_during_save_keeps_the_previous_checkpoint(image3, tmp_path, monkeypatch):
    """A crash after the tensor file but before its JSON: resume uses the stage before, and still ends equal."""
    folder = tmp_path / "ck"
    ref = run(image3, "mygo", "paper", TINY, seed=3, progress=False)
    write = ckpt_mod.atomic_write_text
    calls = []

    def dying_write(path, text):  # type: ignore[no-untyped-def]
        calls.append(path)
        if len(calls) == 2:
            raise _Interrupt
        return write(path, text)

    with monkeypatch.context() as m:
        m.setattr(ckpt_mod, "atomic_write_text", dying_write)
        with pytest.raises(_Interrupt):
            run(image3, "mygo", "paper", TINY, seed=3, progress=False, checkpoint_dir=folder)
    assert ckpt_mod.Checkpointer(folder, {}).stages() == [1]
    assert (folder / "stage-002.safetensors").exists()  # an orphan, ignored
    resumed = run(image3, "mygo", "paper", TINY, seed=3, progress=False, checkpoint_dir=folder, resume=True)
    _same_run(ref, resumed)


def test_checkpoint_of_another_run_is_refused(image3, tmp_path):
    folder = tmp_path / "ck"
    run(image3, "mygo", None, TINY, seed=3, progress=False, checkpoint_dir=folder)
    with pytest.raises(CheckpointError, match=r"different run \(seed: 3 there, 4 now\)") as e:
        run(image3, "mygo", None, TINY, seed=4, progress=False, checkpoint_dir=folder, resume=True)
    assert "\n" not in str(e.value)
    with pytest.raises(CheckpointError, match="method"):
        run(image3, "finetune", None, TINY, seed=3, progress=False, checkpoint_dir=folder, resume=True)


def test_corrupt_checkpoint_is_refused(image3, tmp_path):
    folder = tmp_path / "ck"
    run(image3, "finetune", None, TINY, seed=3, progress=False, checkpoint_dir=folder)
    tensors = folder / "stage-003.safetensors"
    tensors.write_bytes(tensors.read_bytes()[:-10])
    with pytest.raises(CheckpointError, match="do not match their sha256"):
        run(image3, "finetune", None, TINY, seed=3, progress=False, checkpoint_dir=folder, resume=True)
    (folder / "stage-003.json").write_text('{"stage": 3,')
    with pytest.raises(CheckpointError, match="unreadable"):
        run(image3, "finetune", None, TINY, seed=3, progress=False, checkpoint_dir=folder, resume=True)


def test_fresh_run_clears_old_checkpoints_and_resume_without_one_starts_over(image3, tmp_path, capsys):
    folder = tmp_path / "ck"
    folder.mkdir()
    (folder / "stage-007.json").write_text("{}")
    (folder / "notes.txt").write_text("mine")
    r = run(image3, "finetune-multihead", None, TINY, seed=3, progress=False, checkpoint_dir=folder)
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "stage-003.json", "stage-003.safetensors"]
    shutil.rmtree(folder)
    again = run(image3, "finetune-multihead", None, TINY, seed=3, progress=False, checkpoint_dir=folder, resume=True)
    assert "no checkpoint" in capsys.readouterr().err
    _same_run(r, again)


def test_leftover_temp_files_are_removed(image3, tmp_path):
    folder = tmp_path / "ck"
    folder.mkdir()
    (folder / ".stage-002.safetensors.tmp").write_bytes(b"half a file")
    (folder / ".stage-002.json.abc123.tmp").write_text("{")
    run(image3, "finetune", None, TINY, seed=3, progress=False, checkpoint_dir=folder)
    assert sorted(p.name for p in folder.iterdir()) == ["stage-003.json", "stage-003.safetensors"]


def test_resume_without_a_checkpoint_dir_is_a_config_error(image3):
    with pytest.raises(ConfigError, match="checkpoint_dir"):
        run(image3, "mygo", None, TINY, progress=False, resume=True)


# --------------------------------------------------------------------------------------------------
# A real process, killed with SIGKILL, then resumed from the command line
# --------------------------------------------------------------------------------------------------
# one intra-op thread: on a shared 2-core machine torch's spinning worker threads make a run several times slower
_ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mygo_nb", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=600, env=_ENV)


@pytest.mark.slow
def test_sigkill_then_resume_matches_uninterrupted_run(data_root, tmp_path):
    args = ["run", "--profile", "quick", "--method", "mygo", "--variant", "paper", "--device", "cpu",
            "--no-progress", "--data-root", str(data_root)]
    # the uninterrupted run goes on beside the one that is killed and resumed (one thread each: two cores)
    full_log = tmp_path / "full.log"
    with open(full_log, "w") as log:
        full = subprocess.Popen([sys.executable, "-m", "mygo_nb", *args, "--out", str(tmp_path / "full.json")],
                                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=_ENV)
    try:
        out = tmp_path / "part.json"
        proc = subprocess.Popen([sys.executable, "-m", "mygo_nb", *args, "--out", str(out)], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_ENV)
        marker = tmp_path / "part.ckpt" / "stage-002.json"
        deadline = time.monotonic() + 600
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL, "the run finished before it could be killed"
        assert not out.exists()
        resumed = _cli(*args, "--out", str(out), "--resume")
        assert resumed.returncode == 0, resumed.stderr
        assert re.search(r"resumed from .*stage-00[2-4]\.json \([2-4] of 5 stages done\)", resumed.stderr)
        assert full.wait(timeout=600) == 0, full_log.read_text()[-3000:]
    finally:
        if full.poll() is None:
            full.kill()
            full.wait()
    a, b = json.loads((tmp_path / "full.json").read_text()), json.loads(out.read_text())
    for key in ("accuracy_matrix", "metrics", "traces", "config", "data", "seed", "method", "variant"):
        assert a[key] == b[key], key


# --------------------------------------------------------------------------------------------------
# One-line errors
# --------------------------------------------------------------------------------------------------
def _cli_error(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """Run the CLI in-process; it must exit 2 with exactly one 'mygo_nb: error:' line. Returns that line."""
    try:
        rc = main(list(args))
    except SystemExit as e:  # argparse
        rc = e.code
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mygo_nb"), err
    assert "Traceback" not in err
    return lines[0]


def _mnist_copy(src: Path, dst: Path) -> Path:
    raw = dst / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for f in (src / "MNIST" / "raw").glob("*-ubyte"):
        (raw / f.name).symlink_to(f)
    return raw


def test_truncated_idx_file_cli(data_root, tmp_path, capsys):
    raw = _mnist_copy(data_root, tmp_path)
    src = raw / "t10k-images-idx3-ubyte"
    data = src.read_bytes()
    src.unlink()
    src.write_bytes(data[: len(data) // 3])
    line = _cli_error(capsys, "run", "--profile", "quick", "--data-root", str(tmp_path), "--device", "cpu")
    assert "t10k-images-idx3-ubyte holds 2613338 bytes but its IDX header [10000, 28, 28] needs 7840016" in line
    assert "truncated or corrupt" in line


def test_idx_file_with_a_bad_header(data_root, tmp_path):
    raw = _mnist_copy(data_root, tmp_path)
    (raw / "train-labels-idx1-ubyte").unlink()
    (raw / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\xea\x60" + bytes(59_999))
    with pytest.raises(DataError, match=r"holds 60007 bytes but its IDX header \[60000\] needs 60008"):
        split_mnist(tmp_path, download=False)
    (raw / "train-labels-idx1-ubyte").write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(DataError, match=r"not an IDX file \(bad magic number 504b0304\)"):
        split_mnist(tmp_path, download=False)


def test_mnist_images_and_labels_that_disagree(data_root, tmp_path):
    raw = _mnist_copy(data_root, tmp_path)
    (raw / "t10k-labels-idx1-ubyte").unlink()
    (raw / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05" + bytes(5))
    with pytest.raises(DataError, match=r"are not MNIST's \(N, 28, 28\) images with N labels"):
        split_mnist(tmp_path, download=False)


def test_missing_mnist_with_download_unreachable(tmp_path, monkeypatch):
    from torchvision.datasets import MNIST

    monkeypatch.setattr(MNIST, "mirrors", ["http://127.0.0.1:9/"])  # the discard port: connection refused
    with pytest.raises(DataError, match=r"MNIST not found under .*check the network") as e:
        split_mnist(tmp_path, download=True)
    assert "\n" not in str(e.value)
    with pytest.raises(DataError, match=r"MNIST not found .*pass download=True"):
        split_mnist(tmp_path / "other", download=False)


def _agnews_copy(src: Path, dst: Path) -> Path:
    folder = dst / "ag_news_csv"
    folder.mkdir(parents=True)
    for name in ("train.csv", "test.csv"):
        shutil.copy(src / "ag_news_csv" / name, folder / name)
    return folder


def test_truncated_or_corrupt_csv_cli(agnews_root, tmp_path, capsys):
    folder = _agnews_copy(agnews_root, tmp_path)
    test = folder / "test.csv"
    text = test.read_text(encoding="utf-8")
    cut = text.index('","', len(text) // 2) + 2  # inside a row: 2 fields
    test.write_text(text[:cut], encoding="utf-8")
    line = _cli_error(capsys, "run", "--benchmark", "split-agnews", "--profile", "quick", "--data-root",
                      str(tmp_path), "--device", "cpu")
    assert re.search(r"test\.csv, row \d+: expected 3 fields \(label, title, description\), got 2", line)
    test.write_text(text[:cut] + "x" * 200_000 + '"\n', encoding="utf-8")  # a runaway field
    with pytest.raises(DataError, match=r"test\.csv is not valid CSV \(field larger than field limit"):
        read_agnews_csv(test)
    test.write_bytes(b'"3","a","b"\n"9","x","y"\n')
    with pytest.raises(DataError, match=r"test\.csv, row 2: label '9' is not one of 1, 2, 3, 4"):
        read_agnews_csv(test)
    test.write_bytes(b'"3","caf\xe9","b"\n')
    with pytest.raises(DataError, match=r"test\.csv is not UTF-8 text"):
        read_agnews_csv(test)
    test.write_bytes(b"")
    with pytest.raises(DataError, match=r"test\.csv is empty"):
        read_agnews_csv(test)


def test_missing_agnews_without_download(tmp_path):
    with pytest.raises(DataError, match=r"ag_news_csv/train\.csv is missing and download is off"):
        split_agnews(tmp_path, download=False)


@pytest.fixture()
def http_root(tmp_path):
    """A local HTTP server over tmp_path/www (127.0.0.1, random port)."""
    www = tmp_path / "www"
    www.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(www))
    handler.log_message = lambda *a, **k: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield www, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_checksum_mismatch_after_download_removes_the_file(http_root, tmp_path, monkeypatch):
    www, url = http_root
    (www / "train.csv").write_text('"3","a title","a text"\n')
    (www / "test.csv").write_text('"1","t","d"\n')
    good = file_md5(www / "train.csv")
    monkeypatch.setattr("mygo_nb.data.agnews.AGNEWS_FILES", {
        "train.csv": (f"{url}/train.csv", good, 1),
        "test.csv": (f"{url}/test.csv", "0" * 32, 1),
    })
    root = tmp_path / "data"
    with pytest.raises(DataError, match=r"checksum mismatch for downloaded test\.csv: md5 [0-9a-f]{32}, expected "
                                        r"0{32}; the bad file was removed, try again") as e:
        split_agnews(root)
    assert "\n" not in str(e.value)
    assert (root / "ag_news_csv" / "train.csv").read_text() == '"3","a title","a text"\n'  # the good one stays
    assert not (root / "ag_news_csv" / "test.csv").exists()


def test_download_that_fails_is_one_line(http_root, tmp_path, monkeypatch):
    _www, url = http_root
    monkeypatch.setattr("mygo_nb.data.agnews.AGNEWS_FILES", {"train.csv": (f"{url}/nope.csv", "0" * 32, 1),
                                                   "test.csv": (f"{url}/nope.csv", "0" * 32, 1)})
    with pytest.raises(DataError, match=r"could not download train\.csv into .*check the network") as e:
        split_agnews(tmp_path / "data")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"benchmark": "split-cifar"}, "unknown benchmark 'split-cifar'; valid choices: split-agnews, split-mnist, "
                                     "permuted-mnist, rotated-mnist"),
    ({"method": "si"}, "unknown method 'si'; valid choices: mygo, finetune, finetune-multihead, joint, ewc, lwf, "
                       "replay, dgr"),
    ({"method": "finetune-multihead", "scenario": "class"},
     "finetune-multihead is not defined in the class scenario; it runs in: task"),
    ({"variant": "papr"}, "unknown variant 'papr'; valid choices: reference, paper"),
    ({"method": "joint", "variant": "paper"}, "method 'joint' has no variants"),
    ({"profile": "fast"}, "unknown profile 'fast'; valid choices: paper, quick"),
    ({"eval_on": "dev"}, "unknown eval split 'dev'; valid choices: test, train, val"),
    ({"device": "tpu"}, "unknown device 'tpu'; valid choices: auto, cpu, cuda"),
])
def test_python_api_bad_options_fail_before_loading_data(kwargs, message, tmp_path):
    with pytest.raises(ConfigError) as e:
        run_experiment(data_root=tmp_path / "nothing-here", progress=False, **kwargs)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_a_gpu(capsys):
    line = _cli_error(capsys, "run", "--device", "cuda", "--profile", "quick")
    assert line == ("mygo_nb: error: --device cuda was asked for but no CUDA GPU is available; "
                    "use --device cpu or auto")


def test_unwritable_output_and_checkpoint_paths(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    line = _cli_error(capsys, "run", "--profile", "quick", "--out", str(blocker / "result.json"))
    assert f"cannot write the output {blocker / 'result.json'}" in line and "choose another --out" in line
    line = _cli_error(capsys, "run", "--profile", "quick", "--out", str(tmp_path / "r.json"),
                      "--checkpoint-dir", str(blocker))
    assert f"checkpoint folder {blocker} is a file" in line
    line = _cli_error(capsys, "run", "--profile", "quick", "--checkpoint-dir", str(blocker / "sub"))
    assert "cannot write checkpoints into" in line
    line = _cli_error(capsys, "run", "--profile", "quick", "--resume")
    assert line == "mygo_nb: error: --resume needs --out or --checkpoint-dir to find the checkpoint"


def test_argparse_errors_are_one_line(capsys):
    line = _cli_error(capsys, "run", "--scenario", "classes")
    assert "argument --scenario: invalid choice: 'classes' (choose from 'task', 'domain', 'class')" in line
    line = _cli_error(capsys, "run", "--method", "mygo", "--variant", "paper", "--scenario", "class")
    assert line == "mygo_nb: error: mygo/paper is not defined in the class scenario; it runs in: task"
    line = _cli_error(capsys, "run", "--seed", "one")
    assert "argument --seed: invalid int value: 'one'" in line


def test_resume_of_another_seed_via_cli(image3, tmp_path, capsys, monkeypatch):
    """The CLI turns a refused checkpoint into one line (the benchmark is stubbed to keep this fast)."""
    monkeypatch.setattr("mygo_nb.running.experiment.load_benchmark", lambda *a, **k: image3)
    monkeypatch.setitem(mygo_nb.config.PROFILES, "quick", Profile("quick", TINY.train))
    out = tmp_path / "r.json"
    assert main(["run", "--profile", "quick", "--no-progress", "--out", str(out), "--seed", "1"]) == 0
    capsys.readouterr()
    line = _cli_error(capsys, "run", "--profile", "quick", "--no-progress", "--out", str(out), "--seed", "2",
                      "--resume")
    assert "is from a different run (seed: 1 there, 2 now)" in line


# --------------------------------------------------------------------------------------------------
# Persistence never unpickles
# --------------------------------------------------------------------------------------------------
class _Payload:
    marker: Path

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (self.marker,))


def test_crafted_pickle_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "payload-ran"
    payload = _Payload()
    payload.marker = marker
    evil = tmp_path / "net.safetensors"
    evil.write_bytes(pickle.dumps(payload))
    assert not marker.exists()
    for load in (store.load_net, store.load_memory):
        with pytest.raises(StoreError, match=r"is not a readable safetensors file .*pickles are never loaded") as e:
            load(evil)
        assert isinstance(e.value, ValueError) and "\n" not in str(e.value)
    with pytest.raises(StoreError, match=r"not a readable safetensors file .*pickles are never loaded"):
        read_safetensors(evil)
    torch.save({"w": torch.zeros(2)}, tmp_path / "torch.safetensors")  # torch.save's zip-of-pickles
    with pytest.raises(StoreError):
        read_safetensors(tmp_path / "torch.safetensors")
    assert not marker.exists()
    pickle.loads(pickle.dumps(payload))  # the payload is live: it does run when unpickled
    assert marker.exists()


def test_checkpoint_with_a_pickle_in_place_of_its_tensors_is_refused(image3, tmp_path):
    folder = tmp_path / "ck"
    run(image3, "mygo", None, TINY, seed=3, progress=False, checkpoint_dir=folder)
    marker = tmp_path / "payload-ran"
    payload = _Payload()
    payload.marker = marker
    tensors = folder / "stage-003.safetensors"
    tensors.write_bytes(pickle.dumps(payload))
    record = json.loads((folder / "stage-003.json").read_text())
    record["tensors"]["sha256"] = store.file_sha256(tensors)  # even with a matching checksum
    (folder / "stage-003.json").write_text(json.dumps(record))
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        run(image3, "mygo", None, TINY, seed=3, progress=False, checkpoint_dir=folder, resume=True)
    assert not marker.exists()


def test_package_source_never_unpickles():
    pattern = re.compile(r"torch\.load\(|pickle\.loads?\(|import pickle|allow_pickle\s*=\s*True"
                         r"|weights_only\s*=\s*False|import dill|cloudpickle|joblib\.load")
    sources = sorted((ROOT / "mygo_nb").rglob("*.py"))
    assert len(sources) > 10
    hits = [f"{p.name}:{i}" for p in sources for i, line in enumerate(p.read_text().splitlines(), 1)
            if pattern.search(line)]
    assert hits == []

