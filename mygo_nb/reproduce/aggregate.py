"""Aggregating a sweep's records: groups of seeds, the paper-style tables and the methods x scenarios section."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..config import PROFILES, method_label
from ..core.scenarios import SCENARIOS
from ..data import benchmark_entry, benchmark_names
from ..errors import ConfigError
from ..learners import check_method
from ..learners.base import config_dict
from ..running.paper import PAPER_METHODS, PAPER_TABLE1, PAPER_TABLE2, mean_std
from ..running.records import RunResult
from .spec import MANIFEST, SIDECAR, read_json

__all__ = [
    "Group",
    "collect_results",
    "data_label",
    "final_accuracy_markdown",
    "group_results",
    "memory_bytes",
    "n_tasks",
    "results_csv",
    "results_markdown",
    "run_settings",
    "scenarios_markdown",
    "seconds_per_task",
    "settings_label",
    "stream_label",
    "stream_params",
    "tasks_markdown",
]


def collect_results(folder: str | os.PathLike[str]) -> list[RunResult]:
    """Every RunResult JSON in ``folder`` (sweep records, the manifest and other JSON files are ignored)."""
    results = []
    for p in sorted(Path(folder).glob("*.json")):
        if p.name.endswith(SIDECAR) or p.name == MANIFEST:
            continue
        d = read_json(p)
        if isinstance(d, dict) and "accuracy_matrix" in d and "metrics" in d:
            try:
                results.append(RunResult.from_dict(d))
            except TypeError:
                continue
    return results


def data_label(r: RunResult) -> str:
    """``canonical`` unless the data provenance says otherwise (the AG News stand-in)."""
    if r.data.get("canonical", True) is False:
        root = r.data.get("root")
        return f"stand-in ({Path(root).name})" if root else "stand-in (non-canonical)"
    return "canonical"


def n_tasks(r: RunResult) -> int:
    """The number of tasks of ``r``'s stream (its accuracy matrix's columns: joint training has one row)."""
    return len(r.accuracy_matrix[-1])


def stream_label(r: RunResult) -> str:
    """The stream a run learned: its benchmark's name, then its number of tasks and the benchmark's own
    parameters where they differ from the registry's defaults (`stream_params`), e.g.
    ``permuted-mnist, 20 tasks, test_per_class=100``; the name alone for a default stream."""
    default_n = benchmark_entry(r.benchmark).tasks if r.benchmark in benchmark_names() else None
    n = n_tasks(r)
    return ", ".join([r.benchmark, *([] if n == default_n else [f"{n} tasks"]), *stream_params(r)])


def stream_params(r: RunResult) -> list[str]:
    """``KEY=VALUE`` for each of the benchmark's parameters that ``r`` ran with a value other than the registry's
    default, sorted (a ``seed`` parameter equal to the run's seed is the default)."""
    params = dict(r.data.get("params") or {})
    defaults = dict(benchmark_entry(r.benchmark).params) if r.benchmark in benchmark_names() else {}
    if defaults.get("seed", 0) is None and params.get("seed") == r.seed:
        params.pop("seed")
    return [f"{k}={_value(v)}" for k, v in sorted(params.items()) if k not in defaults or defaults[k] != v]


def _value(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def run_settings(r: RunResult) -> tuple[dict[str, Any], dict[str, Any]]:
    """What a run set beyond its variant's config and its profile's `TrainConfig` (a tuning sweep's candidate):
    ``(options, train_options)``, each holding only the values that differ from the defaults."""
    try:
        default = config_dict(check_method(r.method, r.variant, r.scenario).config)
    except ConfigError:  # a method this installation does not know (a plugin not loaded)
        default = {}
    ran = r.traces.get("method_config") or {}
    options = {k: v for k, v in sorted(ran.items()) if k in default and v != default[k]}
    prof = PROFILES.get(r.profile)
    base = prof.train.to_dict() if prof is not None else {}
    train = {k: v for k, v in sorted(r.config.get("train", {}).items()) if k in base and v != base[k]}
    return options, train


def settings_label(r: RunResult) -> str:
    """`run_settings` in one line, e.g. ``lam=1e+06`` or ``lr_slow=0.0003``; empty for the defaults."""
    options, train = run_settings(r)
    return ", ".join(f"{k}={_value(v)}" for k, v in (*options.items(), *train.items()))


def _paper_name(method: str, variant: str | None) -> str | None:
    for name, mv in PAPER_METHODS.items():
        if mv == (method, variant):
            return name
    return None


@dataclass
class Group:
    """Runs sharing everything but the seed."""

    benchmark: str
    data: str
    method: str
    variant: str | None
    scenario: str
    profile: str
    eval_on: str
    runs: list[RunResult]
    #: `settings_label` of the runs (a tuning sweep's candidate), empty for the defaults
    settings: str = ""
    #: `stream_label` of the runs: the benchmark's name, with its number of tasks and parameters where not the defaults
    stream: str = ""

    @property
    def method_label(self) -> str:
        """``method`` or ``method/variant``, then the settings in parentheses when there are any."""
        return method_label(self.method, self.variant) + (f" ({self.settings})" if self.settings else "")

    @property
    def label(self) -> str:
        """`method_label`, followed by `` [scenario]`` outside the task scenario."""
        return self.method_label + ("" if self.scenario == "task" else f" [{self.scenario}]")

    @property
    def paper(self) -> str | None:
        """The paper's name for this method, in the task scenario only (the paper's scenario), else None."""
        return _paper_name(self.method, self.variant) if self.scenario == "task" else None

    @property
    def average(self) -> tuple[float, float]:
        """Mean and sample standard deviation over the seeds of the runs' average accuracy (%)."""
        return mean_std(r.average_accuracy for r in self.runs)

    def stats(self) -> list[tuple[str, int | None, float, float, float | None]]:
        """(metric, 1-based index or None, mean, std, the paper's value or None) rows."""
        paper = self.paper
        t1 = PAPER_TABLE1.get((self.benchmark, paper)) if paper else None
        t2 = PAPER_TABLE2.get(paper) if paper and self.benchmark == "split-mnist" else None
        out: list[tuple[str, int | None, float, float, float | None]] = []
        for j, col in enumerate(zip(*(r.metrics["final_accuracies"] for r in self.runs), strict=True)):
            pv = t1["tasks"][j] if t1 and j < len(t1["tasks"]) else None  # type: ignore[index,arg-type]
            out.append(("final_accuracy", j + 1, *mean_std(col), pv))
        out.append(("average_accuracy", None, *self.average,
                    t1["average"] if t1 else None))  # type: ignore[arg-type]
        for j, col in enumerate(zip(*(r.metrics["average_accuracy_curve"] for r in self.runs), strict=True)):
            out.append(("average_accuracy_curve", j + 1, *mean_std(col), t2[j] if t2 and j < len(t2) else None))
        for m in ("backward_transfer", "forgetting"):
            vals = [r.metrics.get(m) for r in self.runs]
            if vals and all(v is not None for v in vals):
                out.append((m, None, *mean_std(vals), None))  # type: ignore[arg-type]
        return out


def group_results(results: Iterable[RunResult]) -> list[Group]:
    """Group by benchmark / stream / data / method / variant / scenario / profile / eval split / settings (seeds
    pooled); sorted in that order (streams by their number of tasks), scenarios as task, domain, class."""
    groups: dict[tuple[Any, ...], Group] = {}
    for r in results:
        settings, stream = settings_label(r), stream_label(r)
        k = (r.benchmark, n_tasks(r), stream, data_label(r), r.method, r.variant or "", r.scenario,
             r.profile, r.eval_on, settings)
        groups.setdefault(k, Group(r.benchmark, data_label(r), r.method, r.variant, r.scenario, r.profile,
                                   r.eval_on, [], settings, stream)).runs.append(r)
    for g in groups.values():
        g.runs.sort(key=lambda r: r.seed)
    order = {sc: i for i, sc in enumerate(SCENARIOS)}  # task, domain, class; then any other name
    return [groups[k] for k in sorted(groups, key=lambda k: (*k[:6], order.get(k[6], len(order)), *k[6:]))]


def _fmt(m: float, s: float, n: int) -> str:
    return f"{m:.2f} ± {s:.2f}" if n > 1 else f"{m:.2f}"


def results_csv(groups: Sequence[Group]) -> str:
    """Long format: one row per group and metric (index = task or stage), mean, sample std, paper."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["benchmark", "data", "method", "variant", "scenario", "profile", "eval_on", "n", "seeds",
                "metric", "index", "mean", "std", "paper", "settings"])
    for g in groups:
        seeds = " ".join(str(r.seed) for r in g.runs)
        for metric, idx, m, s, pv in g.stats():
            w.writerow([g.benchmark, g.data, g.method, g.variant or "", g.scenario, g.profile, g.eval_on,
                        len(g.runs), seeds, metric, "" if idx is None else idx, f"{m:.4f}", f"{s:.4f}",
                        "" if pv is None else f"{pv:.2f}", g.settings])
    return buf.getvalue()


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|",
            *("| " + " | ".join(r) + " |" for r in rows)]


def results_markdown(groups: Sequence[Group]) -> str:
    """Per benchmark and data: Table 1 (final accuracy per task, average, BWT) and Table 2 (average
    accuracy after each task), ours as mean ± std over seeds, the paper's numbers in rows beside them.
    A section with a run outside the task scenario gets a ``Scenario`` column after the model."""
    lines = ["# Sweep results", "",
             "Ours: mean ± sample std over seeds (n = number of seeds). Paper rows: the MyGO paper's Tables 1-2, "
             "measured on the training subsets (eval = train, the reference code's protocol).", ""]
    by_bench: dict[tuple[str, str, str], list[Group]] = {}
    for g in groups:
        by_bench.setdefault((g.benchmark, g.stream or g.benchmark, g.data), []).append(g)
    for (bench, stream, data), gs in by_bench.items():
        lines += [f"## {stream} — data: {data}", ""]
        if data != "canonical":
            lines += [f"**{data[0].upper() + data[1:]} data, NOT the paper's benchmark** (the provenance says the "
                      "files are not the canonical ones): the paper's numbers below are on the canonical data and "
                      "are not directly comparable.", ""]
        paper_tasks = [len(t1["tasks"]) for g in gs  # type: ignore[arg-type]
                       if (t1 := PAPER_TABLE1.get((bench, _paper_name(g.method, g.variant) or "")))]
        T = max([len(g.runs[0].metrics["final_accuracies"]) for g in gs] + paper_tasks)
        show = any(g.scenario != "task" for g in gs)  # the Scenario column, only where it tells something
        lead = 5 if show else 4

        def head(name: str, scenario: str, *rest: str, show: bool = show) -> list[str]:
            return [name, scenario, *rest] if show else [name, *rest]

        rows, curves, shown = [], [], set()
        for g in gs:
            paper = g.paper
            t1 = PAPER_TABLE1.get((bench, paper)) if paper else None
            if t1 and paper not in shown:
                shown.add(paper)
                tasks = [f"{a:.2f}" for a in t1["tasks"]]  # type: ignore[union-attr]
                rows.append([*head(f"{paper} (paper)", "task", "train", "", ""), *tasks, f"{t1['average']:.2f}", ""])
                if bench == "split-mnist" and paper in PAPER_TABLE2:
                    curves.append([*head(f"{paper} (paper)", "task", "train", "", ""),
                                   *(f"{a:.2f}" for a in PAPER_TABLE2[paper])])
            st = g.stats()
            n = len(g.runs)
            fin = [_fmt(m, s, n) for k, _, m, s, _ in st if k == "final_accuracy"]
            avg = next(_fmt(m, s, n) for k, _, m, s, _ in st if k == "average_accuracy")
            bwt = next((_fmt(m, s, n) for k, _, m, s, _ in st if k == "backward_transfer"), "")
            name = f"{g.method_label} (ours{', ' + paper if paper else ''})"
            rows.append([*head(name, g.scenario, g.eval_on, g.profile, str(n)), *fin, *[""] * (T - len(fin)), avg,
                         bwt])
            curves.append([*head(name, g.scenario, g.eval_on, g.profile, str(n)),
                           *(_fmt(m, s, n) for k, _, m, s, _ in st if k == "average_accuracy_curve")])
        lines += ["Table 1 — final accuracy per task (%)", ""]
        lines += _md_table([*head("Model", "Scenario", "Eval", "Profile", "n"), *(f"T{i + 1}" for i in range(T)),
                            "Average", "BWT"], rows)
        lines += ["", "Table 2 — average accuracy on the tasks seen so far, after each task (%)", ""]
        width = max(len(c) for c in curves) - lead
        lines += _md_table([*head("Model", "Scenario", "Eval", "Profile", "n"),
                            *(f"After T{i + 1}" for i in range(width))],
                           [c + [""] * (width + lead - len(c)) for c in curves])
        lines.append("")
    return "\n".join(lines)


def final_accuracy_markdown(groups: Sequence[Group]) -> str:
    """One row per group: the final accuracy on each task and their average, mean ± std over seeds, and n
    (a compact Table 1 for groups of one benchmark, e.g. the ``dreams`` preset's memory recipes)."""
    T = max(len(g.runs[0].metrics["final_accuracies"]) for g in groups)
    rows = []
    for g in groups:
        st, n = g.stats(), len(g.runs)
        fin = [_fmt(m, s, n) for k, _, m, s, _ in st if k == "final_accuracy"]
        avg = next(_fmt(m, s, n) for k, _, m, s, _ in st if k == "average_accuracy")
        rows.append([g.label, *fin, *[""] * (T - len(fin)), f"**{avg}**", str(n)])
    return "\n".join(_md_table(["method", *(f"task {i + 1}" for i in range(T)), "average", "n"], rows)) + "\n"


def _storage_per_task(runs: Sequence[RunResult], key: str) -> float | None:
    """Mean over runs of the mean over tasks of ``storage.per_task[*][key]`` bytes (None counts as 0);
    None when no run accounts for it (no storage record, or only None values)."""
    per_run = []
    for r in runs:
        tasks = (r.storage or {}).get("per_task") or []
        vals = [t.get(key) for t in tasks]
        if any(v is not None for v in vals):
            per_run.append(sum(v or 0 for v in vals) / len(vals))
    return sum(per_run) / len(per_run) if per_run else None


def _storage_cells(runs: Sequence[RunResult]) -> list[str]:
    """Generator, replay buffer and raw data MB per task (``—`` where not accounted for)."""
    vals = [_storage_per_task(runs, k) for k in ("generator_bytes", "replay_buffer_bytes", "raw_data_bytes")]
    return ["—" if v is None else f"{v / 1e6:.2f}" for v in vals]


def scenarios_markdown(groups: Sequence[Group]) -> str:
    """The "Methods × scenarios" section: per benchmark, data, eval split and profile, the average accuracy
    (after the last task, over all tasks) as ``mean ± std (n=N)`` per method (rows) and scenario (columns,
    ``—`` where not run), then the storage per task of every method and scenario whose runs account for it."""
    lines = ["## Methods × scenarios", "",
             "Average accuracy over all tasks after the last one (%), mean ± sample std over seeds (n = number of "
             "seeds); — : not run. Scenarios (mygo_nb.core.scenarios): task = task-incremental (the task is given at "
             "test time, the paper's), domain = domain-incremental (one shared head, no task identity), class = "
             "class-incremental (one head over every class seen so far, no task identity).", ""]
    sections: dict[tuple[str, str, str, str], list[Group]] = {}
    for g in groups:
        sections.setdefault((g.stream or g.benchmark, g.data, g.eval_on, g.profile), []).append(g)
    for (stream, data, eval_on, profile), gs in sections.items():
        lines += [f"### {stream} — data: {data} — eval {eval_on} — profile {profile}", ""]
        if data != "canonical":
            lines += [f"{data[0].upper() + data[1:]} data, NOT the paper's benchmark.", ""]
        cells: dict[str, dict[str, str]] = {}
        for g in gs:
            m, s = mean_std(r.average_accuracy for r in g.runs)
            cells.setdefault(g.method_label, {})[g.scenario] = f"{_fmt(m, s, len(g.runs))} (n={len(g.runs)})"
        lines += _md_table(["Method", *SCENARIOS],
                           [[label, *(row.get(sc, "—") for sc in SCENARIOS)] for label, row in sorted(cells.items())])
        storage = []
        by_method: dict[str, list[Group]] = {}
        for g in sorted(gs, key=lambda g: (g.method_label, SCENARIOS.index(g.scenario))):
            by_method.setdefault(g.method_label, []).append(g)
        for label, mgs in by_method.items():
            cells_of = {g.scenario: _storage_cells(g.runs) for g in mgs}
            kept = [g for g in mgs if any(c != "—" for c in cells_of[g.scenario])]
            if len(kept) > 1 and len({tuple(cells_of[g.scenario]) for g in kept}) == 1:  # the same in every scenario
                pooled = [r for g in kept for r in g.runs]
                storage.append([label, ", ".join(g.scenario for g in kept), str(len(pooled)), *_storage_cells(pooled)])
            else:
                storage += [[label, g.scenario, str(len(g.runs)), *cells_of[g.scenario]] for g in kept]
        if storage:
            lines += ["", "Storage per task (MB = 10^6 bytes; mean over tasks and seeds; — : not kept; one row for "
                      "the scenarios where it is the same): generative memories (float32 parameters), replay "
                      "buffer, and the task's raw training data for scale.", ""]
            lines += _md_table(["Method", "Scenario", "n", "Generator MB/task", "Replay buffer MB/task",
                                "Raw data MB/task"], storage)
        lines.append("")
    return "\n".join(lines)


def memory_bytes(r: RunResult) -> int:
    """The bytes ``r`` kept for its old tasks after the last one: every generative memory and every stored sample
    (`storage_record`'s ``generator_bytes`` and ``replay_buffer_bytes`` summed over the tasks; a method that
    keeps neither, such as EWC's penalty or LwF's copy of the net, counts 0)."""
    tasks = (r.storage or {}).get("per_task") or []
    return sum((t.get("generator_bytes") or 0) + (t.get("replay_buffer_bytes") or 0) for t in tasks)


def seconds_per_task(r: RunResult) -> float:
    """``r``'s wall time, training and evaluation after every task, divided by its number of tasks."""
    return float(r.timings["total_seconds"]) / n_tasks(r)


def tasks_markdown(groups: Sequence[Group]) -> str:
    """How each method scales with the number of tasks: per benchmark, data, eval split and profile, one row per
    method and scenario and one column per number of tasks, for the average accuracy after the last task, the
    memory kept (`memory_bytes`, MB) and the seconds per task (`seconds_per_task`), each ``mean ± std`` over seeds.
    Settings that every run of a section shares are named once above its tables, others in the method's row.
    Empty when no method ran at more than one number of tasks."""
    sections: dict[tuple[str, str, str, str], list[Group]] = {}
    for g in groups:
        sections.setdefault((g.benchmark, g.data, g.eval_on, g.profile), []).append(g)
    metrics = (("Average accuracy after the last task (%)", lambda r: r.average_accuracy),
               ("Memory kept for old tasks after the last one (MB = 10^6 bytes)", lambda r: memory_bytes(r) / 1e6),
               ("Seconds per task (training and evaluation, wall time)", seconds_per_task))
    lines: list[str] = []
    for (bench, data, eval_on, profile), gs in sections.items():
        counts = sorted({n_tasks(g.runs[0]) for g in gs})
        if len(counts) < 2:
            continue
        shared = {g.settings for g in gs}
        common = shared.pop() if len(shared) == 1 else ""
        rows: dict[tuple[str, str], dict[int, Group]] = {}
        for g in gs:
            label = method_label(g.method, g.variant) + (f" ({g.settings})" if g.settings and not common else "")
            rows.setdefault((label, g.scenario), {})[n_tasks(g.runs[0])] = g
        params = sorted({", ".join(stream_params(r)) for g in gs for r in g.runs})
        streams = f"{bench} with " + ", ".join(map(str, counts[:-1])) + f" and {counts[-1]} tasks"
        streams += "; benchmark parameters: " + "; ".join(p or "the defaults" for p in params)
        lines += [f"## {bench} by number of tasks — data: {data} — eval {eval_on} — profile {profile}", "",
                  f"Streams: {streams}." + (f" Every run: {common}." if common else "")
                  + " Mean ± sample std over seeds (n per cell); — : not run.", ""]
        order = sorted(rows, key=lambda k: (SCENARIOS.index(k[1]) if k[1] in SCENARIOS else len(SCENARIOS), k[0]))
        for title, value in metrics:
            table = []
            for label, scenario in order:
                cells = []
                for n in counts:
                    g = rows[(label, scenario)].get(n)
                    if g is None:
                        cells.append("—")
                        continue
                    m, s = mean_std(value(r) for r in g.runs)
                    cells.append(f"{_fmt(m, s, len(g.runs))} (n={len(g.runs)})")
                table.append([label, scenario, *cells])
            lines += [title, "", *_md_table(["Method", "Scenario", *(f"{n} tasks" for n in counts)], table), ""]
    return "\n".join(lines)
