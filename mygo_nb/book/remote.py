"""Run records fetched from the published repository where its ``results/`` folder is absent (chapter 6).

``results/manifest.json`` (written by ``scripts/records_manifest.py``) lists every run record below ``results/``:
its path, its sha256 and the fields a record is matched on (`record_key`). `find_remote` reads that list from
``records_url()`` (the raw files of the published repository, or ``$MYGO_RECORDS_URL``: any ``https://``,
``http://`` or ``file://`` address, ``off`` for none), downloads a matching record, checks its sha256 and keeps it
in the user cache (``~/.cache/mygo-nb/records/<sha256>.json`` on Linux), where a later lookup finds it without a
request. An unreachable address is one printed line per process, a record whose sha256 differs is refused with
one line; either way the caller trains the run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import platformdirs

from ..config import Profile
from ..data import Benchmark
from ..learners.base import config_dict
from ..running.records import RunResult, atomic_write_text, bench_data, record_data, run_identity

__all__ = ["MANIFEST", "RECORDS_URL", "RECORDS_URL_ENV", "build_manifest", "cache_dir", "find_remote", "forget",
           "manifest_text", "record_fields", "record_files", "record_key", "records_url", "run_key"]

# the raw files of repository.url at repository.branch in _config.yml, its results/ folder (tests/test_remote_records.py
# checks that they agree)
RECORDS_URL = "https://raw.githubusercontent.com/mygo-nb/mygo-nb/main/results"
RECORDS_URL_ENV = "MYGO_RECORDS_URL"
MANIFEST = "manifest.json"
TIMEOUT_S = 5.0
FORMAT = 1

_manifests: dict[str, list[dict[str, Any]] | None] = {}  # per address, for this process
_offline: set[str] = set()  # addresses that did not answer in this process


def records_url() -> str | None:
    """Where published run records are fetched from: ``$MYGO_RECORDS_URL`` if set (``off``, ``none`` or empty:
    nowhere), else `RECORDS_URL`."""
    url = os.environ.get(RECORDS_URL_ENV, RECORDS_URL).strip()
    return None if url.lower() in ("", "off", "none", "0") else url.rstrip("/")


def cache_dir() -> Path:
    """The folder of downloaded records, each named by its sha256: a per-user cache directory."""
    return Path(platformdirs.user_cache_dir("mygo-nb")) / "records"


def forget() -> None:
    """Forget what this process learned about the addresses: their manifests and which did not answer."""
    _manifests.clear()
    _offline.clear()


# ------------------------------------------------------------------------------------------- matching


def record_fields(r: RunResult) -> dict[str, Any]:
    """The fields of a record that a lookup matches on, as `record_key` and the manifest take them."""
    return {"benchmark": r.benchmark, "method": r.method, "variant": r.variant,
            "method_config": r.traces.get("method_config"), "scenario": r.scenario, "seed": r.seed,
            "eval_on": r.eval_on, "config": r.config, "files": r.data.get("files"),
            "params": r.data.get("params") or None,
            "train_sizes": r.data.get("train_sizes"), "test_sizes": r.data.get("test_sizes")}


def record_key(fields: Mapping[str, Any], by_config: bool) -> tuple[Any, ...]:
    """What a record ran (`run_identity`, as a tuple): ``by_config``, matched on the method config it ran with
    instead of its variant's name."""
    return tuple(run_identity(fields["benchmark"], fields["method"],
                              fields["method_config"] if by_config else fields["variant"], fields["scenario"],
                              fields["seed"], fields["eval_on"], fields["config"], record_data(dict(fields))).values())


def run_key(bench: Benchmark, method: str, variant: str | None, profile: Profile, seed: int, eval_on: str,
            scenario: str = "task", config: Any = None) -> tuple[Any, ...]:
    """The `record_key` a record of this run on these data has (``config``: matched by method config)."""
    return tuple(run_identity(bench.name, method, variant if config is None else config_dict(config), scenario,
                              seed, eval_on, profile.to_dict(), bench_data(bench)).values())


# ------------------------------------------------------------------------------------------- the manifest


def record_files(root: Path) -> list[Path]:
    """The JSON files below ``root`` a record may be, in the order lookups read them: not the manifest, not a
    sweep's in-flight state (``.checkpoints/``, ``.attempts/``)."""
    out = []
    for path in sorted(root.rglob("*.json")):
        if path.parent == root and path.name == MANIFEST:
            continue
        if any(part.startswith(".") for part in path.relative_to(root).parts[:-1]):
            continue  # a sweep's in-flight state (.checkpoints/, .attempts/), never a record
        out.append(path)
    return out


def build_manifest(root: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """One entry per run record below ``root`` (JSON files that load as a `RunResult`, in the order a local
    lookup reads them): ``path`` (relative, ``/``-separated), ``sha256``, ``bytes`` and `record_fields` as
    written in the file (its profile not completed)."""
    root = Path(root)
    entries = []
    for path in record_files(root):
        raw = path.read_bytes()
        try:
            d = json.loads(raw)
            r = RunResult(**d)
            fields = {**record_fields(r), "config": d["config"]}
        except (ValueError, TypeError, KeyError, AttributeError):
            continue  # a sweep record, a summary, not a run record
        entries.append({"path": path.relative_to(root).as_posix(), "sha256": hashlib.sha256(raw).hexdigest(),
                        "bytes": len(raw), **fields})
    return entries


def manifest_text(entries: list[dict[str, Any]]) -> str:
    """The manifest file: a JSON object with one record entry per line (so a new record is a one-line diff)."""
    lines = [json.dumps(e, sort_keys=True, separators=(",", ":")) for e in entries]
    body = ",\n".join(lines)
    return f'{{"format": {FORMAT}, "records": [\n{body}\n]}}\n'


# ------------------------------------------------------------------------------------------- fetching


def _reason(e: BaseException) -> str:
    text = str(getattr(e, "reason", None) or e) or type(e).__name__
    return " ".join(text.split())[:200]


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as f:
        return f.read()


def _say(line: str) -> None:
    print(f"mygo_nb: {line}", flush=True)


def _unreachable(base: str, e: BaseException, cached: bool = False) -> None:
    if base not in _offline:
        _offline.add(base)
        rest = "using the records cached from it, training what is missing" if cached else "training what is missing"
        _say(f"no records at {base} ({_reason(e)}); {rest}")


def _manifest_cache(base: str) -> Path:
    return cache_dir() / f"manifest-{hashlib.sha256(base.encode()).hexdigest()[:16]}.json"


def _parse_manifest(raw: bytes) -> list[dict[str, Any]]:
    d = json.loads(raw)
    if not isinstance(d, dict) or d.get("format") != FORMAT or not isinstance(d.get("records"), list):
        raise ValueError(f"not a format-{FORMAT} records manifest")
    return d["records"]


def _save(path: Path, raw: bytes) -> None:
    """Keep ``raw`` (UTF-8 JSON, already parsed) at ``path`` (`atomic_write_text`); a cache that cannot be
    written (read-only, full) only costs a later download."""
    with contextlib.suppress(OSError):
        atomic_write_text(path, raw.decode("utf-8"))


def manifest(base: str) -> list[dict[str, Any]] | None:
    """The record entries published at ``base`` (fetched once per process; where ``base`` does not answer, the
    copy cached from it before, else None after one printed line)."""
    if base in _manifests:
        return _manifests[base]
    entries = None
    try:
        raw = _get(f"{base}/{MANIFEST}")
        entries = _parse_manifest(raw)
        _save(_manifest_cache(base), raw)
    except (OSError, ValueError) as e:  # URLError, HTTPError, timeouts are OSErrors
        try:
            entries = _parse_manifest(_manifest_cache(base).read_bytes())
        except (OSError, ValueError):
            entries = None
        _unreachable(base, e, cached=entries is not None)
    _manifests[base] = entries
    return entries


def _fetch(base: str, entry: Mapping[str, Any]) -> tuple[RunResult, str, Path | None] | None:
    """The record of ``entry`` from the cache or from ``base`` (checked against its sha256), its URL and the
    cache file it was read from (None: downloaded now); None after one printed line when it cannot be had."""
    want = str(entry["sha256"])
    cached = cache_dir() / f"{want}.json"
    url = f"{base}/{urllib.parse.quote(str(entry['path']))}"
    try:
        raw = cached.read_bytes()
        if hashlib.sha256(raw).hexdigest() == want:
            return RunResult.from_dict(json.loads(raw)), url, cached
    except (OSError, ValueError, TypeError):
        pass
    if base in _offline:
        return None
    try:
        raw = _get(url)
    except urllib.error.HTTPError as e:
        _say(f"no record at {url} ({_reason(e)}); training it")
        return None
    except OSError as e:
        _unreachable(base, e)
        return None
    got = hashlib.sha256(raw).hexdigest()
    if got != want:
        _say(f"refused {url}: its sha256 {got} is not the manifest's {want}; training it")
        return None
    try:
        r = RunResult.from_dict(json.loads(raw))
    except (ValueError, TypeError) as e:
        _say(f"refused {url}: not a run record ({_reason(e)}); training it")
        return None
    _save(cached, raw)
    return r, url, None


def find_remote(key: tuple[Any, ...], by_config: bool = False) -> tuple[RunResult, str, Path | None] | None:
    """The published record whose `record_key` is ``key``, its URL and the cache file it was read from (None:
    downloaded now), or None: no address (``MYGO_RECORDS_URL=off``), the address does not answer, no such record,
    or its sha256 is not the manifest's."""
    base = records_url()
    entries = manifest(base) if base is not None else None
    for entry in entries or ():
        try:
            same = record_key(entry, by_config) == key
        except (KeyError, TypeError):
            continue
        if same:
            return _fetch(base, entry)  # type: ignore[arg-type]
    return None
