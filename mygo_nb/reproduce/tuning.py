"""Tuning on a validation split (chapter 13): choose each method's candidate from a search sweep, write the
tuned preset's grid, and set the search and the tuned results out as tables.

The search (preset ``tune-search``) runs a few candidate values of one knob per method with ``eval_on="val"``:
the stream trains on 90% of its training data and is scored on the rest, never on the test split.
`choose` keeps each method's best candidate by mean validation accuracy; `tuned_grid` turns the choices into
the grid of preset ``tuned`` (the values equal to the defaults are left out, so such a run is the very run of
the ``beyond`` sweep and ``--reuse`` copies it); `search_markdown` and `tuned_markdown` are the two tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..config import PROFILES, method_label
from ..learners import check_method
from ..learners.base import config_dict
from .aggregate import Group, run_settings

__all__ = ["candidate_label", "choose", "search_markdown", "tuned_grid", "tuned_markdown"]


def _cell(g: Group) -> tuple[str, str, str, str]:
    """What a tuning choice is made within: benchmark, method/variant, scenario, profile."""
    return g.benchmark, method_label(g.method, g.variant), g.scenario, g.profile


def _fmt(g: Group) -> str:
    m, s = g.average
    return f"{m:.2f} ± {s:.2f}" if len(g.runs) > 1 else f"{m:.2f}"


def choose(groups: Iterable[Group]) -> dict[tuple[str, str, str, str], Group]:
    """Per benchmark, method, scenario and profile: the validation-split group (a candidate) with the highest
    mean average accuracy; a tie keeps the candidate met first. Groups not evaluated on ``val`` are ignored."""
    best: dict[tuple[str, str, str, str], Group] = {}
    for g in groups:
        if g.eval_on != "val":
            continue
        k = _cell(g)
        if k not in best or g.average[0] > best[k].average[0]:
            best[k] = g
    return best


def _knobs(groups: Sequence[Group]) -> dict[str, Any]:
    """The names the candidates of one method vary, with the method's default values of them."""
    g0 = groups[0]
    defaults = {**config_dict(check_method(g0.method, g0.variant, g0.scenario).config),
                **PROFILES[g0.profile].train.to_dict()}
    names = sorted({k for g in groups for part in run_settings(g.runs[0]) for k in part})
    return {k: defaults[k] for k in names}


def candidate_label(g: Group, knobs: dict[str, Any]) -> str:
    """``lam=1e+06``-style: the group's value of every knob (its default where the group leaves it)."""
    options, train = run_settings(g.runs[0])
    values = {**knobs, **options, **train}
    return ", ".join(f"{k}={values[k]:g}" if isinstance(values[k], float) else f"{k}={values[k]}" for k in knobs)


def search_markdown(groups: Sequence[Group]) -> str:
    """The search: every candidate's validation accuracy, the chosen one in bold, per method. Columns that hold
    one value for every row (scenario, profile, runs per candidate) are stated once above the table."""
    chosen = choose(groups)
    by_cell: dict[tuple[str, str, str, str], list[Group]] = {}
    for g in groups:
        if g.eval_on == "val":
            by_cell.setdefault(_cell(g), []).append(g)
    rows = []
    for k, gs in by_cell.items():
        knobs = _knobs(gs)
        for g in gs:
            acc = f"**{_fmt(g)}**" if chosen[k] is g else _fmt(g)
            rows.append({"method": k[1], "scenario": k[2], "profile": k[3], "candidate": candidate_label(g, knobs),
                         "validation average (%)": acc, "n": str(len(g.runs))})
    constant = [c for c in ("scenario", "profile", "n") if rows and len({r[c] for r in rows}) == 1]
    columns = [c for c in rows[0] if c not in constant] if rows else ["method", "candidate"]
    said = {"scenario": "{} scenario", "profile": "profile `{}`",
            "n": "one run per candidate" if rows and rows[0]["n"] == "1" else "{} runs per candidate"}
    head = ("Every candidate: " + ", ".join(said[c].format(rows[0][c]) for c in constant)
            + "; the chosen one in bold.\n\n") if constant else "The chosen candidate in bold.\n\n"
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(r[c] for c in columns) + " |" for r in rows]
    return head + "\n".join(lines) + "\n"


def tuned_grid(groups: Iterable[Group]) -> list[dict[str, Any]]:
    """The grid blocks of preset ``tuned``: each method with its chosen candidate's non-default values."""
    blocks = []
    for (_, label, _, _), g in choose(groups).items():
        options, train = run_settings(g.runs[0])
        blocks.append({"method": label, **({"options": options} if options else {}),
                       **({"train_options": train} if train else {})})
    return blocks


def tuned_markdown(search: Sequence[Group], tuned: Sequence[Group], defaults: Sequence[Group]) -> str:
    """The tuned table: per method its chosen candidate, its test accuracy beside the test accuracy at the
    defaults (``defaults``: e.g. the ``beyond`` sweep's groups), and the difference."""
    lines = ["| method | chosen on validation | test average, tuned (%) | test average, defaults (%) | change |",
             "|---|---|---|---|---|"]
    chosen = choose(search)
    for k, g in chosen.items():
        gs = [s for s in search if s.eval_on == "val" and _cell(s) == k]
        label = candidate_label(g, _knobs(gs))
        want = (g.settings, k)
        test = [t for t in tuned if t.eval_on == "test" and (t.settings, _cell(t)) == want]
        base = [d for d in defaults if d.eval_on == "test" and not d.settings and _cell(d) == k]
        t_cell = f"{_fmt(test[0])} (n={len(test[0].runs)})" if test else "not run"
        b_cell = f"{_fmt(base[0])} (n={len(base[0].runs)})" if base else "not run"
        diff = f"{test[0].average[0] - base[0].average[0]:+.2f}" if test and base else ""
        lines.append(f"| {k[1]} | {label}{'' if g.settings else ' (the default)'} | {t_cell} | {b_cell} | {diff} |")
    return "\n".join(lines) + "\n"
