import json
import os
import subprocess
import sys

import pytest

from mygo_nb.cli import main


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mygo_nb", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})


@pytest.mark.parametrize(
    ("args", "choices"),
    [
        (["--method", "si"], "'mygo', 'finetune', 'finetune-multihead', 'joint', 'ewc', 'lwf', 'replay', 'dgr'"),
        (["--benchmark", "cifar"], "'split-agnews', 'split-mnist', 'permuted-mnist', 'rotated-mnist'"),
        (["--variant", "dreamy"], "'reference', 'paper', 'paper-proj', 'consolidate'"),
        (["--variant", "dreamy"], "'internal', 'vandeven', 'vandeven-task', 'gan'"),  # each variant name once
        (["--profile", "huge"], "'paper', 'quick'"),
        (["--eval-on", "dev"], "'test', 'train', 'val'"),
    ],
)
def test_invalid_choice_is_one_line_listing_valid_choices(args, choices, capsys):
    """In-process (the same `main` as ``python -m mygo_nb``; the tests below run that entry point itself)."""
    with pytest.raises(SystemExit) as e:
        main(["run", *args])
    assert e.value.code == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mygo_nb run: error:") and choices in lines[0], err


@pytest.mark.slow
def test_variant_on_a_method_without_variants_is_one_line(tmp_path):
    p = cli("run", "--method", "joint", "--variant", "paper", "--data-root", str(tmp_path))
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "has no variants" in p.stderr


@pytest.mark.slow
@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="a GPU is present")
def test_cuda_without_gpu_is_one_line(tmp_path):
    p = cli("run", "--device", "cuda", "--data-root", str(tmp_path))
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "no CUDA GPU" in p.stderr


@pytest.mark.slow
@pytest.mark.integration
@pytest.mark.parametrize("benchmark", ["split-mnist", "split-agnews"])
def test_quick_profile_end_to_end(benchmark, data_root, agnews_root, tmp_path):
    root = data_root if benchmark == "split-mnist" else agnews_root
    out = tmp_path / "r.json"
    p = cli("run", "--benchmark", benchmark, "--profile", "quick", "--seed", "1", "--data-root", str(root),
            "--out", str(out), "--no-progress")
    assert p.returncode == 0, p.stderr
    assert "avg" in p.stdout and out.name in p.stdout
    r = json.loads(out.read_text())
    T = 5 if benchmark == "split-mnist" else 2
    assert len(r["accuracy_matrix"]) == T and r["method"] == "mygo" and r["variant"] == "reference"
    assert all(x == 0.0 for task in r["traces"]["sleep_loss"] for x in task)
    assert r["traces"]["extractor_drift"] == [0.0] * T
    assert r["metrics"]["average_accuracy"] > (85 if benchmark == "split-mnist" else 55)
    assert r["data"]["files"] and all("md5" in f for f in r["data"]["files"].values())
    assert r["timings"]["phase_seconds"]["sleep"] > 0


@pytest.mark.parametrize(("args", "message"), [
    (("--train", "lr_slow"), "--train lr_slow: expected KEY=VALUE"),
    (("--train", "lr_slwo=1e-3"), "has no option 'lr_slwo' (did you mean 'lr_slow'?)"),
    (("--train", "lr_slow=-1"), "lr_slow must be"),
])
@pytest.mark.slow
def test_bad_train_options_are_one_line(tmp_path, args, message):
    p = cli("run", "--method", "finetune", "--data-root", str(tmp_path), *args)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and message in p.stderr, p.stderr
