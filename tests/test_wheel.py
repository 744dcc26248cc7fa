"""The package as a user installs it: a non-editable wheel in a fresh virtual environment.

The wheel is built from a copy of the sources (the work tree gets no build/ or egg-info), installed with
``pip --no-index`` into a new venv that sees the project venv's packages through a ``.pth`` file (torch,
papermill, ... come from there, so nothing is downloaded and pip must keep them: the package pins nothing),
and ``mygo-reproduce quick`` runs from an empty folder elsewhere: the sweep notebook and the presets come out of
the installed package. Plus the single source of run_one.ipynb (the package's copy is the book's page) and how
sweeps find notebooks by name.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from mygo_nb.book.nbutil import records_note, run_or_load
from mygo_nb.errors import ConfigError
from mygo_nb.reproduce.spec import expand_spec, load_spec, packaged_notebook, preset_names, resolve_notebook
from mygo_nb.running.records import RunResult

from ._book import toc_files
from .conftest import TINY

ROOT = Path(__file__).resolve().parents[1]
RUN_ONE = "mygo_nb/reproduce/notebooks/run_one.ipynb"


# ------------------------------------------------------------------------------------------ one run_one.ipynb


def test_run_one_has_one_source_the_package_and_the_book_shows_it() -> None:
    assert packaged_notebook() == (ROOT / RUN_ONE).resolve()
    assert not (ROOT / "notebooks" / "run_one.ipynb").exists(), "a second copy of run_one.ipynb"
    assert RUN_ONE.removesuffix(".ipynb") in toc_files(), "the book's appendix must be the packaged notebook"


def test_sweeps_find_the_packaged_notebook_from_any_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    packaged = str(packaged_notebook())
    spec, _ = load_spec("quick")
    assert {r.notebook for r in expand_spec(spec, data_roots={None: str(tmp_path)})} == {packaged}
    # by its name, and by its former path in the repository
    assert resolve_notebook("run_one.ipynb") == resolve_notebook("notebooks/run_one.ipynb") == packaged
    # a notebook of one's own, by a path relative to the working folder, wins over the packaged one
    mine = tmp_path / "run_one.ipynb"
    mine.write_text(packaged_notebook().read_text(encoding="utf-8"), encoding="utf-8")
    assert resolve_notebook("run_one.ipynb") == str(mine)
    with pytest.raises(ConfigError, match="not found"):
        resolve_notebook("nope.ipynb")


def test_notebooks_train_when_the_saved_records_are_absent_and_say_so(tiny_bench, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The notebooks' ``records_dir = "../results"`` is absent next to an installed wheel or on Colab: the run
    trains, and `records_note` says where the records would come from."""
    monkeypatch.chdir(tmp_path)
    absent = "../results"
    assert "none at" in records_note(absent) and "every run trains" in records_note(absent)
    assert "off" in records_note(None)
    r, loaded = run_or_load(tiny_bench, "finetune", None, TINY, records_dir=absent, progress=False)
    assert not loaded and len(r.accuracy_matrix) == len(tiny_bench.tasks)
    r.save(tmp_path / "records" / "r.json")
    again, loaded = run_or_load(tiny_bench, "finetune", None, TINY, records_dir="records", progress=False)
    assert loaded and again.accuracy_matrix == r.accuracy_matrix
    assert records_note("records").startswith("saved run records: 1 JSON file under records;")


# ------------------------------------------------------------------------------------------ the wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip wheel --no-deps --no-build-isolation`` of a copy of the package's sources."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "mygo_nb", src / "mygo_nb", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "--disable-pip-version-check", "-w", str(tmp / "dist"), str(src)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    [whl] = (tmp / "dist").glob("mygo_nb-*.whl")
    return whl


@pytest.mark.slow
def test_wheel_ships_the_sweep_notebook_and_presets_and_pins_nothing(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        assert z.read(RUN_ONE) == (ROOT / RUN_ONE).read_bytes()
        for preset in preset_names():
            assert f"mygo_nb/reproduce/presets/{preset}.json" in names
        [meta] = [n for n in names if n.endswith(".dist-info/METADATA")]
        requires = [ln.split(":", 1)[1].strip() for ln in z.read(meta).decode().splitlines()
                    if ln.startswith("Requires-Dist:")]
    needed = [r for r in requires if "extra ==" not in r]
    assert any(r.startswith("torch>=") for r in needed), needed
    # a lower bound, never an exact pin or a ceiling: a runtime's recent torch (Colab's) stays as it is
    assert not [r for r in requires if "==" in r.split(";")[0] or "<" in r.split(";")[0]], requires


@pytest.fixture(scope="module")
def wheel_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed (non-editable); the project venv's packages are visible to it.

    ``venv --system-site-packages`` would expose the base interpreter's packages, not the project venv's, so a
    ``.pth`` file adds the running interpreter's site-packages (plain paths: the editable install's ``.pth`` hook
    there is not run, so the repository's ``mygo_nb`` stays out of sight)."""
    venv = tmp_path_factory.mktemp("venv") / "wheel-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    here = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (Path(site) / "mygo_project_venv.pth").write_text("\n".join(here) + "\n", encoding="utf-8")
    # --no-index: every dependency must be satisfied by what is there (pip resolves, downloads nothing)
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index",
                           "--disable-pip-version-check", "-q", str(wheel)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return venv


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "JUPYTER_PATH", "VIRTUAL_ENV")}
    return {**env, **extra}


@pytest.mark.slow
@pytest.mark.integration
def test_reproduce_quick_from_an_installed_wheel_in_any_folder(wheel_venv: Path, data_root: Path,
                                                               agnews_root: Path, tmp_path: Path) -> None:
    """``mygo-reproduce quick`` (AG News runs: the fastest half of the preset) in an empty folder, then
    ``python -m mygo_nb reproduce --dry-run``: the runs executed the installed package's notebook, in a kernel of
    the wheel's venv, and wrote their records."""
    python, bin_ = wheel_venv / "bin" / "python", wheel_venv / "bin"
    site = subprocess.run([str(python), "-c", "import mygo_nb, torch; print(mygo_nb.__file__); print(torch.__file__)"],
                          capture_output=True, text=True, check=True, cwd=tmp_path, env=_env()).stdout.split()
    assert Path(site[0]).is_relative_to(wheel_venv), f"mygo_nb imported from {site[0]}, not from the wheel"
    assert not Path(site[1]).is_relative_to(wheel_venv), "pip installed a torch of its own"
    kernel = subprocess.run([str(python), "-c", "from jupyter_client.kernelspec import KernelSpecManager as K; "
                             "print(K().get_kernel_spec('python3').argv[0])"],
                            capture_output=True, text=True, check=True, cwd=tmp_path, env=_env()).stdout.strip()
    assert Path(kernel).is_relative_to(wheel_venv), f"notebooks would run in {kernel}, not in the wheel's venv"

    work = tmp_path / "anywhere"
    work.mkdir()
    env = _env(MYGO_DATA=str(data_root), OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    proc = subprocess.run([str(bin_ / "mygo-reproduce"), "quick", "--out", "out", "--benchmark", "split-agnews",
                           "--no-progress", "--no-figures"], cwd=work, env=env, capture_output=True, text=True,
                          timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = work / "out"
    sidecars = [json.loads(p.read_text()) for p in sorted(out.glob("*.sweep.json"))]
    assert len(sidecars) == 2 and {s["status"] for s in sidecars} == {"done"}, sidecars
    shipped = (Path(site[0]).parent / "reproduce" / "notebooks" / "run_one.ipynb").resolve()
    assert {s["source_notebook"] for s in sidecars} == {str(shipped)}
    for s in sidecars:
        r = RunResult.load(out / s["result"])
        assert (r.benchmark, r.profile, r.eval_on, len(r.accuracy_matrix)) == ("split-agnews", "quick", "train", 2)
        assert (out / s["notebook"]).is_file()
    assert (out / "summary.md").is_file()

    dry = subprocess.run([str(python), "-m", "mygo_nb", "reproduce", "quick", "--out", "out", "--benchmark",
                          "split-agnews", "--dry-run"], cwd=work, env=env, capture_output=True, text=True,
                         timeout=300, check=False)
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert dry.stdout.count("done ") == 2 and "to run" not in dry.stdout, dry.stdout
