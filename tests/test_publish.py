"""Open it anywhere, publish it.

One setting says where the project is published (``repository`` in _config.yml), and everything that names the
repository follows it: the notebooks' set-up cell (written by scripts/sync_setup_cell.py), the README's
instructions, the package's metadata and the book's launch buttons. The set-up cell installs the package from
that repository only where ``mygo_nb`` cannot be imported, and without an exact torch pin (so a runtime's recent
torch stays). scripts/publish_book.sh puts the built book on the gh-pages branch (pushing only when asked);
.github/workflows/book.yml builds it strictly and deploys it to GitHub Pages."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("sync_setup_cell", ROOT / "scripts" / "sync_setup_cell.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sync_setup_cell = _script()
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
URL = CONFIG["repository"]["url"]


def test_one_setting_names_the_repository() -> None:
    assert URL.startswith("https://github.com/") and CONFIG["repository"]["branch"] == "main"
    assert sync_setup_cell.repository() == (URL, "main")
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert meta["urls"]["Repository"] == URL
    owner, name = URL.removeprefix("https://github.com/").split("/")
    assert meta["urls"]["Documentation"] == f"https://{owner}.github.io/{name}/"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"git+{URL}" in readme and meta["urls"]["Documentation"] in readme
    launch = CONFIG["launch_buttons"]
    assert launch["colab_url"] == "https://colab.research.google.com" and launch["binderhub_url"]
    assert launch["notebook_interface"] == "jupyterlab" and CONFIG["html"]["use_repository_button"] is True


def test_the_cell_is_88_columns_of_valid_python_naming_the_repository() -> None:
    source = sync_setup_cell.cell_source()
    assert max(len(line) for line in source.splitlines()) <= 88
    compile(source, "setup-cell", "exec")
    assert f'REPOSITORY = "{URL}"' in source and "torch==" not in source


def _run_cell(monkeypatch: pytest.MonkeyPatch, *, installed: bool, source_env: str | None = None) -> list:
    calls: list = []
    real = importlib.util.find_spec
    def find_spec(name: str, *args: object) -> object:
        return None if name == "mygo_nb" and not installed else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append((cmd, kw)))
    if source_env is None:
        monkeypatch.delenv("MYGO_NB_SOURCE", raising=False)
    else:
        monkeypatch.setenv("MYGO_NB_SOURCE", source_env)
    exec(compile(sync_setup_cell.cell_source(), "setup-cell", "exec"), {})
    return calls


def test_the_cell_installs_from_the_repository_only_where_mygo_nb_is_missing(monkeypatch) -> None:
    assert _run_cell(monkeypatch, installed=True) == []  # here, in Jupyter, in a sweep: nothing happens
    [(cmd, kw)] = _run_cell(monkeypatch, installed=False)  # on Colab, Binder, a fresh kernel
    assert cmd == [sys.executable, "-m", "pip", "install", "-q", f"mygo-nb @ git+{URL}@main"] and kw["check"]
    [(cmd, _)] = _run_cell(monkeypatch, installed=False, source_env="/src/my-fork")
    assert cmd[-1] == "/src/my-fork"


def _notebook(cells: list, minor: int = 5) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.nbformat_minor = minor
    nb.cells = cells
    if minor < 5:
        for c in nb.cells:
            c.pop("id", None)
    return nb


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with three kinds of notebooks: the former Colab-only cell, no set-up cell, an nbformat 4.4
    notebook (no cell ids) shipped in the package."""
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "mygo_nb" / "reproduce" / "notebooks").mkdir(parents=True)
    (tmp_path / "_config.yml").write_text(
        "repository:\n  url: https://github.com/someone/fork\n  branch: dev\n", encoding="utf-8")
    params = {"metadata": {"tags": ["parameters"]}}
    old = nbformat.v4.new_code_cell("# Colab only: install the package (this cell does nothing anywhere else).\n"
                                    "import sys", metadata={"tags": []}, execution_count=3)
    nbformat.write(_notebook([nbformat.v4.new_markdown_cell("# 1"), nbformat.v4.new_code_cell("x = 1", **params),
                              old, nbformat.v4.new_code_cell("print(x)")]), tmp_path / "notebooks" / "01_a.ipynb")
    nbformat.write(_notebook([nbformat.v4.new_markdown_cell("# 2"), nbformat.v4.new_code_cell("y = 2", **params),
                              nbformat.v4.new_markdown_cell("text")]), tmp_path / "notebooks" / "02_b.ipynb")
    nbformat.write(_notebook([nbformat.v4.new_code_cell("z = 3", **params), nbformat.v4.new_code_cell("z")], 4),
                   tmp_path / "mygo_nb" / "reproduce" / "notebooks" / "run_one.ipynb")
    return tmp_path


def test_sync_writes_the_cell_keeps_ids_and_is_idempotent(repo: Path, capsys) -> None:
    main = sync_setup_cell.main
    paths = sync_setup_cell.notebooks(repo)
    assert len(paths) == 3
    before = {p: nbformat.read(p, as_version=4) for p in paths}
    assert main(["--check", "--root", str(repo)]) == 1
    assert {p: nbformat.read(p, as_version=4) for p in paths} == before  # --check writes nothing
    assert main(["--root", str(repo)]) == 0
    text = sync_setup_cell.cell_source(repo / "_config.yml")
    assert 'REPOSITORY = "https://github.com/someone/fork"' in text and "@dev" in text

    a = nbformat.read(repo / "notebooks" / "01_a.ipynb", as_version=4)
    old_a = before[repo / "notebooks" / "01_a.ipynb"]
    assert len(a.cells) == 4 and a.cells[2].source == text and a.cells[2].metadata["tags"] == ["remove-cell"]
    assert a.cells[2].id == old_a.cells[2].id  # the same cell, replaced in place
    assert [c for i, c in enumerate(a.cells) if i != 2] == [c for i, c in enumerate(old_a.cells) if i != 2]
    b = nbformat.read(repo / "notebooks" / "02_b.ipynb", as_version=4)
    assert [c.cell_type for c in b.cells] == ["markdown", "code", "code", "markdown"]  # after the parameters
    assert b.cells[2].source == text and b.cells[2].metadata["tags"] == ["remove-cell"] and b.cells[2].id
    run_one = repo / "mygo_nb" / "reproduce" / "notebooks" / "run_one.ipynb"
    one = nbformat.read(run_one, as_version=4)
    assert one.nbformat_minor == 4 and one.cells[1].source == text and "id" not in one.cells[1]
    nbformat.validate(one)

    written = {p: p.read_bytes() for p in paths}
    capsys.readouterr()
    assert main(["--root", str(repo)]) == 0 and main(["--check", "--root", str(repo)]) == 0
    assert {p: p.read_bytes() for p in paths} == written  # a second run changes nothing
    assert capsys.readouterr().out == ""

    # a cell edited by hand (or its tag dropped) is out of date again, and found by its first line
    b.cells[2].metadata["tags"] = []
    nbformat.write(b, repo / "notebooks" / "02_b.ipynb")
    assert main(["--check", "--root", str(repo)]) == 1
    assert "02_b.ipynb: set-up cell out of date" in capsys.readouterr().out
    assert main(["--root", str(repo)]) == 0 and main(["--check", "--root", str(repo)]) == 0


@pytest.mark.slow
def test_the_repository_notebooks_have_the_current_setup_cell() -> None:
    """The committed notebooks carry the cell for the current setting (after a change of _config.yml's
    repository, run ``python scripts/sync_setup_cell.py``)."""
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "sync_setup_cell.py"), "--check"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# ------------------------------------------------------------------------------------------ publishing


def _git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.org",
           "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@example.org"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout.strip()


def _publish(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MYGO_VENV": sys.prefix, "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "t@example.org"}
    return subprocess.run(["bash", "scripts/publish_book.sh", *args], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.mark.slow
def test_publish_commits_the_book_to_gh_pages_and_pushes_only_when_asked(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "publish_book.sh", repo / "scripts" / "publish_book.sh")
    html = repo / "_build" / "html"
    (html / "_static").mkdir(parents=True)
    (html / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=book/intro.html" />')
    (html / "_static" / "mygo.css").write_text("pre { white-space: pre-wrap }")
    (repo / ".gitignore").write_text("_build/\n")
    (repo / "notes.txt").write_text("work in progress")
    _git(repo, "init", "-q")
    _git(repo, "symbolic-ref", "HEAD", "refs/heads/main")
    _git(repo, "add", ".gitignore", "scripts")
    _git(repo, "commit", "-q", "-m", "source")
    head, status = _git(repo, "rev-parse", "HEAD"), _git(repo, "status", "--porcelain")

    assert _publish(repo, "--bogus").returncode == 2
    proc = _publish(repo, "--no-build")  # no remote at all: it must not try to push
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert set(_git(repo, "ls-tree", "-r", "--name-only", "gh-pages").split()) == {
        ".nojekyll", "index.html", "_static/mygo.css"}  # .nojekyll: GitHub Pages then serves _static/
    assert _git(repo, "log", "-1", "--format=%s", "gh-pages").startswith(f"Publish the book from {head[:7]}")
    # the work tree, the index and HEAD are untouched
    assert (_git(repo, "rev-parse", "HEAD"), _git(repo, "status", "--porcelain")) == (head, status)
    assert _git(repo, "symbolic-ref", "--short", "HEAD") == "main"

    remote = tmp_path / "remote.git"
    _git(tmp_path, "init", "-q", "--bare", str(remote))
    _git(repo, "remote", "add", "origin", str(remote))
    proc = _publish(repo, "--no-build", "--push")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _git(remote, "rev-parse", "gh-pages") == _git(repo, "rev-parse", "gh-pages")
    assert _git(remote, "branch", "--list", "main") == ""  # only gh-pages is pushed


def test_workflow_builds_strictly_and_deploys_the_html_to_pages() -> None:
    flow = yaml.safe_load((ROOT / ".github" / "workflows" / "book.yml").read_text(encoding="utf-8"))
    on = flow.get("on", flow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert on["push"]["branches"] == ["main"] and flow["permissions"]["pages"] == "write"
    build, deploy = flow["jobs"]["build"], flow["jobs"]["deploy"]
    steps = build["steps"]
    uses = [s.get("uses", "").split("@")[0] for s in steps]
    assert "actions/setup-python" in uses
    runs = "\n".join(s.get("run", "") for s in steps)
    assert "pip install -r requirements.txt" in runs and "jupyter-book build . -W -n --keep-going" in runs
    [artifact] = [s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact@")]
    assert artifact["with"]["path"] == "_build/html"
    assert deploy["needs"] == "build" and deploy["steps"][0]["uses"].startswith("actions/deploy-pages@")


def test_a_notebook_that_names_an_extra_installs_it_where_its_module_is_missing(monkeypatch) -> None:
    source = sync_setup_cell.cell_source(extras=("pretrained",))
    assert max(len(line) for line in source.splitlines()) <= 88
    assert "mygo-nb[pretrained] @ git+" in source
    calls: list = []
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "peft" else real(name, *a))
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(cmd))
    monkeypatch.delenv("MYGO_NB_SOURCE", raising=False)
    exec(compile(source, "setup-cell", "exec"), {})
    assert len(calls) == 1 and calls[0][-1] == f"mygo-nb[pretrained] @ git+{URL}@main"
    with pytest.raises(SystemExit, match="unknown extras"):
        sync_setup_cell.cell_source(extras=("nonesuch",))
