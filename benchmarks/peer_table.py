"""Our baselines under the ``vandeven`` profile beside van de Ven et al.'s public code, run here on the same MNIST
files and seeds, and beside their published numbers.

    python benchmarks/peer_table.py --ours results/beyond/vandeven --peer results/beyond/peer \
        --out results/beyond/peer_protocol.md
    python benchmarks/peer_table.py --scenario task --ours results/beyond/vandeven-task --peer results/beyond/peer \
        --out results/beyond/peer_protocol_task.md

``--ours``: a folder of run records (``python -m mygo_nb reproduce vandeven --out DIR``, or preset
``vandeven-task`` for ``--scenario task``); ``--peer``: the logs
``benchmarks/peer_vandeven.sh`` writes (``<scenario>_<method>_seed<N>.txt``). Means ± sample standard deviations
over the seeds each side has; the difference is over the seeds both have.
"""

from __future__ import annotations

import argparse
import re
import statistics
from pathlib import Path

from mygo_nb.reproduce.aggregate import collect_results

#: per scenario, our method label -> (the public code's method, its flags, the published average or None)
METHODS: dict[str, dict[str, tuple[str, str, float | None]]] = {
    "class": {
        "joint": ("joint", "--joint", 98.17),
        "finetune": ("none", "(none)", None),
        "ewc/vandeven": ("ewc", "--ewc", 20.64),
        "lwf": ("lwf", "--lwf", 21.89),
        "replay/vandeven": ("replay", "--replay=buffer", 88.79),
        "dgr": ("dgr", "--replay=generative", 90.35),
        "agem/vandeven": ("agem", "--agem", None),
    },
    # their code's task-incremental "none" masks the other tasks' output units: a head per task, as ours
    "task": {
        "joint": ("joint", "--joint", None),
        "finetune-multihead": ("none", "(none)", None),
        "ewc/vandeven-task": ("ewc", "--ewc", None),
        "lwf": ("lwf", "--lwf", None),
        "replay/vandeven": ("replay", "--replay=buffer", None),
        "dgr": ("dgr", "--replay=generative", None),
        "agem/vandeven": ("agem", "--agem", None),
    },
}
PRESETS = {"class": "vandeven", "task": "vandeven-task"}
PUBLISHED_NOTE = {
    "class": ("published: van de Ven, Tuytelaars & Tolias (2022), Split-MNIST class-incremental; none is "
              "quoted for fine-tuning and A-GEM"),
    "task": "no published number is quoted",
}
_AVERAGE = re.compile(r"=> average accuracy over all \d+ contexts: ([0-9.]+)")


def peer_results(folder: Path, scenario: str) -> dict[str, dict[int, float]]:
    """Per peer method, seed -> class-incremental average (%), from the finished logs in ``folder``."""
    out: dict[str, dict[int, float]] = {}
    for log in sorted(folder.glob(f"{scenario}_*_seed*.txt")):
        method, seed = re.fullmatch(rf"{scenario}_(\w+)_seed(\d+)\.txt", log.name).groups()  # type: ignore[union-attr]
        found = _AVERAGE.search(log.read_text("utf-8"))
        if found:
            out.setdefault(method, {})[int(seed)] = 100 * float(found.group(1))
    return out


def our_results(folder: Path, scenario: str) -> dict[str, dict[int, float]]:
    """Per method label, seed -> average accuracy (%), from the run records in ``folder`` (vandeven profile)."""
    out: dict[str, dict[int, float]] = {}
    for r in collect_results(folder):
        if r.profile == "vandeven" and r.scenario == scenario:
            out.setdefault(r.label, {})[r.seed] = r.average_accuracy
    return out


def _mean_sd(values: list[float]) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.2f} (n=1)"
    return f"{statistics.fmean(values):.2f} ± {statistics.stdev(values):.2f} (n={len(values)})"


def table(ours: dict[str, dict[int, float]], peer: dict[str, dict[int, float]], scenario: str = "class") -> str:
    methods = METHODS[scenario]
    rows = ["| ours | theirs | ours, here | their code, here | ours − theirs (same seeds) | published |",
            "|---|---|---|---|---|---|"]
    for label, (name, flags, published) in methods.items():
        a, b = ours.get(label, {}), peer.get(name, {})
        both = sorted(set(a) & set(b))
        diff = _mean_sd([a[s] - b[s] for s in both]) if both else "—"
        pub = "—" if published is None else f"{published:.2f}"
        rows.append(f"| {label} | `{flags}` | {_mean_sd(list(a.values()))} | {_mean_sd(list(b.values()))} | "
                    f"{diff} | {pub} |")
    seeds = sorted({s for d in (*ours.values(), *peer.values()) for s in d})
    per_seed = ["| ours / theirs | " + " | ".join(f"seed {s}" for s in seeds) + " |",
                "|---|" + "---|" * len(seeds)]
    for label, (name, _, _) in methods.items():
        cells = []
        for s in seeds:
            x, y = ours.get(label, {}).get(s), peer.get(name, {}).get(s)
            cells.append(f"{'—' if x is None else f'{x:.2f}'} / {'—' if y is None else f'{y:.2f}'}")
        per_seed.append(f"| {label} / {name} | " + " | ".join(cells) + " |")
    for name, runs in peer.items():  # their methods without a counterpart here (e.g. brain-inspired replay)
        if name not in {m[0] for m in methods.values()}:
            per_seed.append(f"| — / {name} | " + " | ".join(
                "—" if s not in runs else f"— / {runs[s]:.2f}" for s in seeds) + " |")
    return "\n".join(rows) + f"\n\nPer seed ({scenario}-incremental average, %):\n\n" + "\n".join(per_seed) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ours", type=Path, required=True)
    p.add_argument("--peer", type=Path, required=True)
    p.add_argument("--scenario", default="class", choices=sorted(METHODS))
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    sc = args.scenario
    flag = "" if sc == "class" else f" --scenario {sc}"
    text = (f"# Split-MNIST under van de Ven et al.'s protocol: ours beside their public code ({sc}-incremental)\n\n"
            f"`python benchmarks/peer_table.py{flag} --ours {args.ours} --peer {args.peer}` — {sc}-incremental, "
            f"test split. Ours: `python -m mygo_nb reproduce {PRESETS[sc]}` (profile `vandeven`). Theirs: "
            f"GMvandeVen/continual-learning run by `benchmarks/peer_vandeven.sh` on the same MNIST files and "
            f"seeds (its logs, with the commands, in `{args.peer}`); {PUBLISHED_NOTE[sc]}.\n\n"
            + table(our_results(args.ours, sc), peer_results(args.peer, sc), sc))
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
