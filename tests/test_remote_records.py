"""Published run records: where a chapter's ``records_dir`` is absent, `run_or_load` finds the run in the
published manifest, downloads the record over HTTP, checks its sha256, caches it and trains only what is not
published; an unreachable address is one line and the runs train. The manifest (results/manifest.json) is up
to date with results/, and the package's default address follows _config.yml. The chapter tests serve a
records folder with ``python -m http.server --bind 127.0.0.1`` and run chapter 6 from a folder without
``results/``."""

from __future__ import annotations

import functools
import http.server
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from mygo_nb.book import nbutil, remote
from mygo_nb.book.nbutil import find_record, records_note, run_or_load
from mygo_nb.running.experiment import run
from mygo_nb.running.records import RunResult

from .conftest import TINY

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
CHAPTER = ROOT / "notebooks" / "06_split_mnist.ipynb"


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(autouse=True)
def _fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A private cache and no manifest remembered from another test."""
    monkeypatch.setattr(remote, "cache_dir", lambda: tmp_path / "cache" / "records")
    remote.forget()
    yield
    remote.forget()


@pytest.fixture()
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A chapter's working folder, ``book/notebooks``, whose ``../results`` is absent."""
    folder = tmp_path / "book" / "notebooks"
    folder.mkdir(parents=True)
    monkeypatch.chdir(folder)
    return folder


@pytest.fixture(scope="module")
def record(tiny_bench) -> RunResult:
    """One real tiny run: the record that gets published."""
    return run(tiny_bench, "finetune", None, TINY, seed=0, progress=False)


class _Logged(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def do_GET(self) -> None:
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def served(tmp_path: Path, record: RunResult, monkeypatch: pytest.MonkeyPatch):
    """``tmp_path/www`` (the record under ``sub/`` and its manifest) on 127.0.0.1, ``MYGO_RECORDS_URL`` pointing
    at it; yields the folder, the address and the list of request paths."""
    www = tmp_path / "www"
    record.save(www / "sub" / "r.json")
    (www / "sub" / "notes.json").write_text('{"not": "a record"}')
    (www / remote.MANIFEST).write_text(remote.manifest_text(remote.build_manifest(www)))
    requests: list[str] = []
    handler = functools.partial(type("H", (_Logged,), {"requests": requests}), directory=str(www))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv(remote.RECORDS_URL_ENV, url)
    yield www, url, requests
    server.shutdown()
    server.server_close()


@pytest.fixture()
def trained(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Every run `run_or_load` trains, recorded (the real `run` still runs)."""
    calls: list[tuple] = []

    def counted(bench, method, variant, profile, **kw):
        calls.append((method, variant, kw.get("seed")))
        return run(bench, method, variant, profile, **kw)

    monkeypatch.setattr(nbutil, "run", counted)
    return calls


def _mygo_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("mygo_nb:")]


# ------------------------------------------------------------------------------------------ the setting


def test_the_default_address_is_the_published_repository_of_config_yml(monkeypatch: pytest.MonkeyPatch) -> None:
    repo = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["repository"]
    owner, name = repo["url"].removeprefix("https://github.com/").split("/")
    derived = f"https://raw.githubusercontent.com/{owner}/{name}/{repo['branch']}/results"
    assert derived == remote.RECORDS_URL
    monkeypatch.delenv(remote.RECORDS_URL_ENV, raising=False)
    assert remote.records_url() == remote.RECORDS_URL
    monkeypatch.setenv(remote.RECORDS_URL_ENV, "http://127.0.0.1:8000/results/")
    assert remote.records_url() == "http://127.0.0.1:8000/results"
    for off in ("off", "", "none"):
        monkeypatch.setenv(remote.RECORDS_URL_ENV, off)
        assert remote.records_url() is None


def test_the_committed_manifest_is_up_to_date_with_results() -> None:
    committed = RESULTS / remote.MANIFEST
    assert committed.is_file(), "results/manifest.json is missing: run python scripts/records_manifest.py"
    entries = remote.build_manifest(RESULTS)
    assert committed.read_text(encoding="utf-8") == remote.manifest_text(entries), (
        "results/manifest.json is out of date with results/: run python scripts/records_manifest.py")
    assert len(entries) > 100 and len({e["path"] for e in entries}) == len(entries)
    assert all(not e["path"].startswith("/") and ".." not in e["path"] for e in entries)


def test_the_manifest_script_checks_and_writes(tmp_path: Path, record: RunResult, capsys) -> None:
    spec = importlib.util.spec_from_file_location("records_manifest", ROOT / "scripts" / "records_manifest.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    folder = tmp_path / "results"
    record.save(folder / "a" / "r.json")
    record.save(folder / "a" / ".checkpoints" / "partial.json")  # a sweep's in-flight state: never listed
    args = ["--results", str(folder)]
    assert script.main([*args, "--check"]) == 1 and "out of date" in capsys.readouterr().out
    assert not (folder / remote.MANIFEST).exists()
    assert script.main(args) == 0 and script.main([*args, "--check"]) == 0
    entries = remote._parse_manifest((folder / remote.MANIFEST).read_bytes())
    assert [e["path"] for e in entries] == ["a/r.json"]
    record.save(folder / "b.json")
    assert script.main([*args, "--check"]) == 1, "a new record makes the manifest out of date"


def test_a_manifest_entry_matches_exactly_the_runs_find_record_matches(tiny_bench, record: RunResult,
                                                                       tmp_path: Path) -> None:
    record.save(tmp_path / "recs" / "r.json")
    (entry,) = remote.build_manifest(tmp_path / "recs")
    for seed, profile in ((0, TINY), (1, TINY), (0, type(TINY)("other", TINY.train))):
        key = remote.run_key(tiny_bench, "finetune", None, profile, seed, "test")
        local = find_record(tmp_path / "recs", tiny_bench, "finetune", None, profile, seed, "test")
        assert (remote.record_key(entry, False) == key) == (local is not None) == (seed == 0 and profile is TINY)


# ------------------------------------------------------------------------------------------ fetching


def test_a_published_record_is_loaded_over_http_then_from_the_cache(work, served, tiny_bench, record, trained,
                                                                  capsys) -> None:
    _www, url, requests = served
    assert not Path("../results").exists()
    got, loaded = run_or_load(tiny_bench, "finetune", None, TINY, records_dir="../results", progress=False)
    assert loaded and trained == [] and got.accuracy_matrix == record.accuracy_matrix
    assert requests == ["/manifest.json", "/sub/r.json"]
    assert capsys.readouterr().out == f"saved record from {url}/sub/r.json\n"
    assert url in records_note("../results")

    again, loaded = run_or_load(tiny_bench, "finetune", None, TINY, records_dir="../results", progress=False)
    assert loaded and again.accuracy_matrix == record.accuracy_matrix and trained == []
    assert requests == ["/manifest.json", "/sub/r.json"]  # this process: no request at all
    out = capsys.readouterr().out
    assert re.fullmatch(rf"saved record from \S+/records/[0-9a-f]{{64}}\.json \(cached {url}/sub/r\.json\)\n", out)

    remote.forget()  # as a new process: the manifest again, the record from the cache
    run_or_load(tiny_bench, "finetune", None, TINY, records_dir="../results", progress=False)
    assert requests == ["/manifest.json", "/sub/r.json", "/manifest.json"] and trained == []


def test_only_what_is_not_published_trains(work, served, tiny_bench, trained, capsys) -> None:
    _www, _url, requests = served
    r, loaded = run_or_load(tiny_bench, "finetune", None, TINY, seed=1, records_dir="../results", progress=False)
    assert not loaded and r.seed == 1 and trained == [("finetune", None, 1)]
    assert requests == ["/manifest.json"]  # the list said it is not published: no record was asked for
    _, loaded = run_or_load(tiny_bench, "finetune", None, TINY, seed=0, records_dir="../results", progress=False)
    assert loaded and trained == [("finetune", None, 1)] and requests == ["/manifest.json", "/sub/r.json"]
    assert _mygo_lines(capsys.readouterr().out) == []


def test_a_record_whose_sha256_differs_is_refused_and_trains(work, served, tiny_bench, trained, capsys) -> None:
    www, url, requests = served
    path = www / "sub" / "r.json"
    path.write_text(path.read_text().replace('"seed": 0', '"seed": 0 '))  # same run, other bytes
    _, loaded = run_or_load(tiny_bench, "finetune", None, TINY, records_dir="../results", progress=False)
    assert not loaded and trained == [("finetune", None, 0)] and requests == ["/manifest.json", "/sub/r.json"]
    (line,) = _mygo_lines(capsys.readouterr().out)
    assert re.fullmatch(rf"mygo_nb: refused {url}/sub/r\.json: its sha256 [0-9a-f]{{64}} is not the manifest's "
                        r"[0-9a-f]{64}; training it", line)
    assert not list((remote.cache_dir()).glob("[0-9a-f]*.json")), "a refused record is not cached"


def test_a_tampered_cache_file_is_not_used(work, served, tiny_bench, record, trained) -> None:
    _www, _url, requests = served
    run_or_load(tiny_bench, "finetune", None, TINY, records_dir="../results", progress=False)
    (cached,) = remote.cache_dir().glob("[0-9a-f]*.json")
    tampered = json.loads(cached.read_bytes())
    tampered["metrics"]["average_accuracy"] = 100.0
    cached.write_text(json.dumps(tampered))
    remote.forget()
    got, loaded = run_or_load(tiny_bench, "finetune", None, TINY, records_dir="../results", progress=False)
    assert loaded and got.average_accuracy == record.average_accuracy and trained == []
    assert requests.count("/sub/r.json") == 2


def test_an_unreachable_address_is_one_line_and_the_runs_train(work, tiny_bench, trained, capsys,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    url = f"http://127.0.0.1:{server.server_address[1]}/results"
    server.server_close()  # nothing listens there now
    monkeypatch.setenv(remote.RECORDS_URL_ENV, url)
    for seed in (0, 1):
        _, loaded = run_or_load(tiny_bench, "finetune", None, TINY, seed=seed, records_dir="../results",
                                progress=False)
        assert not loaded
    assert trained == [("finetune", None, 0), ("finetune", None, 1)]
    (line,) = _mygo_lines(capsys.readouterr().out)
    assert line.startswith(f"mygo_nb: no records at {url} (") and line.endswith("); training what is missing")


def test_offline_the_cached_records_still_load(work, served, tiny_bench, record, trained, capsys,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    www, url, _requests = served
    run_or_load(tiny_bench, "finetune", None, TINY, records_dir="../results", progress=False)
    shutil.rmtree(www)  # the address answers 404 now, as a site without the records would
    remote.forget()
    capsys.readouterr()
    got, loaded = run_or_load(tiny_bench, "finetune", None, TINY, records_dir="../results", progress=False)
    assert loaded and got.accuracy_matrix == record.accuracy_matrix and trained == []
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"mygo_nb: no records at {url} (") and "using the records cached from it" in out[0]
    assert out[1].startswith("saved record from ") and len(out) == 2


def test_off_and_the_repositorys_own_results_ask_nothing(work, served, tiny_bench, record, trained, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    _www, _url, requests = served
    _, loaded = run_or_load(tiny_bench, "finetune", None, TINY, records_dir=None, progress=False)
    assert not loaded
    own = tmp_path / "book" / "results"  # a results/ folder with its manifest: the repository's own
    (own / "other").mkdir(parents=True)
    (own / remote.MANIFEST).write_text(remote.manifest_text([]))
    _, loaded = run_or_load(tiny_bench, "finetune", None, TINY, records_dir="../results", progress=False)
    assert not loaded
    monkeypatch.setenv(remote.RECORDS_URL_ENV, "off")
    shutil.rmtree(own)
    _, loaded = run_or_load(tiny_bench, "finetune", None, TINY, records_dir="../results", progress=False)
    assert not loaded and len(trained) == 3 and requests == []
    assert _mygo_lines(capsys.readouterr().out) == []
    record.save(own / "r.json")
    _, loaded = run_or_load(tiny_bench, "finetune", None, TINY, records_dir="../results", progress=False)
    assert loaded and len(trained) == 3 and capsys.readouterr().out == "saved record from ../results/r.json\n"


# ------------------------------------------------------------------------------------------ a chapter


@pytest.fixture()
def http_server(tmp_path: Path):
    """``python -m http.server --bind 127.0.0.1`` over a folder; yields a function serving one and the log."""
    procs: list[subprocess.Popen] = []

    def serve(folder: Path) -> tuple[str, Path]:
        log = tmp_path / f"http-{len(procs)}.log"
        proc = subprocess.Popen([sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1",
                                 "--directory", str(folder)], stdout=subprocess.PIPE,
                                stderr=log.open("w"), text=True)
        procs.append(proc)
        first = proc.stdout.readline() if proc.stdout else ""
        port = re.search(r"port (\d+)", first)
        assert port, f"http.server did not start: {first!r}"
        return f"http://127.0.0.1:{port.group(1)}", log

    yield serve
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=30)


def _gets(log: Path) -> list[str]:
    """The paths the server answered 200 to."""
    return re.findall(r'"GET (\S+) HTTP/1\.[01]" 200', log.read_text())


def _run_chapter(work: Path, data_root: Path, url: str, profile: str, cache: Path) -> list[str]:
    """Chapter 6, copied alone into ``work/notebooks`` (so ``../results`` is absent), executed there at
    ``profile`` with ``MYGO_RECORDS_URL=url``; returns its printed lines."""
    import nbformat
    from nbclient import NotebookClient

    folder = work / "notebooks"
    folder.mkdir(parents=True)
    shutil.copy(CHAPTER, folder / CHAPTER.name)
    nb = nbformat.read(folder / CHAPTER.name, as_version=4)
    env = {**os.environ, "MYGO_PROFILE": profile, "MYGO_DATA": str(data_root.resolve()), "MYGO_RECORDS_URL": url,
           "XDG_CACHE_HOME": str(cache), "PYTHONWARNINGS": "ignore", "MPLBACKEND": "Agg"}
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute(
        env=env)
    return [line for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
            if out.get("output_type") == "stream" for line in out.get("text", "").splitlines()]


def _chapter_runs(bench, profile) -> list[tuple]:
    seeds = [0, 1, 2] if profile.name == "paper" else [0]
    return [remote.run_key(bench, m, v, profile, s, "train") for s in seeds
            for m, v in (("mygo", "reference"), ("finetune", None))]


@pytest.mark.slow
@pytest.mark.integration
def test_chapter_6_loads_the_committed_records_over_http_and_trains_none(data_root: Path, tmp_path: Path,
                                                                         http_server) -> None:
    """The committed records are at the paper size: chapter 6 at that size, with ``results/`` served and absent
    from its folder, loads all six of its runs over HTTP and trains none."""
    pytest.importorskip("nbclient")
    from mygo_nb import PROFILES
    from mygo_nb.data import load_benchmark

    prof = PROFILES["paper"]
    mnist = load_benchmark("split-mnist", data_root, max_train_per_class=prof.max_train_per_class, device="cpu")
    entries = remote._parse_manifest((RESULTS / remote.MANIFEST).read_bytes())
    wanted = []
    for key in _chapter_runs(mnist, prof):
        match = [e for e in entries if remote.record_key(e, False) == key]
        assert match, f"no committed record for {key[:6]}: the chapter would train at the paper size"
        wanted.append("/" + match[0]["path"])
    url, log = http_server(RESULTS)
    lines = _run_chapter(tmp_path / "book", data_root, url, "paper", tmp_path / "cache")
    assert [line.removeprefix(f"saved record from {url}") for line in lines if "saved record from" in line] == wanted
    assert sum(line.endswith("(saved record)") for line in lines) == 6, "\n".join(lines)
    assert _gets(log) == ["/manifest.json", *wanted]
    assert not [line for line in lines if line.startswith("mygo_nb:")]
    assert len(list((tmp_path / "cache" / "mygo-nb" / "records").glob("[0-9a-f]*.json"))) == 6


@pytest.mark.slow
@pytest.mark.integration
def test_chapter_6_at_quick_size_trains_only_what_is_not_published(data_root: Path, tmp_path: Path,
                                                                   http_server) -> None:
    """No quick-size records are committed: this publishes one of chapter 6's two quick runs (trained here, in a
    temporary records folder), serves it, and runs the chapter at the quick size from a folder without
    ``results/``: the published run is loaded over HTTP, only the other one trains."""
    pytest.importorskip("nbclient")
    from mygo_nb import PROFILES
    from mygo_nb.data import load_benchmark

    prof = PROFILES["quick"]
    mnist = load_benchmark("split-mnist", data_root, max_train_per_class=prof.max_train_per_class, device="cpu")
    www = tmp_path / "www"
    run(mnist, "mygo", "reference", prof, seed=0, eval_on="train", progress=False).save(www / "quick" / "r.json")
    (www / remote.MANIFEST).write_text(remote.manifest_text(remote.build_manifest(www)))
    url, log = http_server(www)
    lines = _run_chapter(tmp_path / "book", data_root, url, "quick", tmp_path / "cache")
    assert [line for line in lines if line.startswith("saved record from")] == [f"saved record from {url}/quick/r.json"]
    summaries = [line for line in lines if line.startswith("split-mnist ")]
    assert len(summaries) == 2 and summaries[0].startswith("split-mnist mygo/reference seed=0 eval=train")
    assert summaries[0].endswith("(saved record)") and not summaries[1].endswith("(saved record)"), summaries
    assert _gets(log) == ["/manifest.json", "/quick/r.json"]
