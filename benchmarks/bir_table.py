"""Class-incremental Split-MNIST without stored real data: a MyGO-family learner beside the public code's
brain-inspired replay (BI-R), run here on the same MNIST files and seeds.

    python benchmarks/bir_table.py --ours results/beyond/internal --peer results/beyond/peer \
        --out results/beyond/class_il_no_stored_data.md

``--ours``: a folder of run records (``python -m mygo_nb reproduce internal --out DIR``); ``--peer``: the logs
``benchmarks/peer_vandeven.sh OUT class bir SEEDS`` writes. Means ± sample standard deviations over the seeds
each side has; the difference is over the seeds both have.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from peer_table import peer_results

from mygo_nb.running.records import RunResult

#: what the public BI-R run keeps, as issue 14 measured it: one model that is both the classifier and the
#: conditional VAE generator (784-400-400 with z = 100 and a Gaussian-mixture prior), about 4.3 MB in float32
BIR_NOTE = ("`main.py --experiment=splitMNIST --scenario=class --brain-inspired`: its defaults, 2,000 batches "
            "of 128 per task, one model that is both classifier and conditional VAE, about 4.3 MB for the whole "
            "stream (as issue 14 measured it)")


def our_records(folder: Path, label: str) -> dict[int, RunResult]:
    """Seed -> record of ``label`` in the class scenario, from the run records in ``folder``."""
    out: dict[int, RunResult] = {}
    for path in sorted(folder.glob("*.json")):
        if path.name.endswith(".sweep.json") or path.name.startswith("sweep-"):
            continue
        try:
            r = RunResult.load(path)
        except Exception:
            continue
        if r.label == label and r.scenario == "class":
            out[r.seed] = r
    return out


def _mean_sd(values: list[float]) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.2f} (n=1)"
    return f"{statistics.fmean(values):.2f} ± {statistics.stdev(values):.2f} (n={len(values)})"


def table(ours: dict[int, RunResult], bir: dict[int, float], label: str) -> str:
    mine = {s: r.average_accuracy for s, r in ours.items()}
    both = sorted(set(mine) & set(bir))
    per_task = sorted({p["generator_bytes"] for r in ours.values() for p in r.storage.get("per_task", [])})
    stored = sorted({p["replay_buffer_bytes"] for r in ours.values() for p in r.storage.get("per_task", [])},
                    key=str)
    total = {sum(p["generator_bytes"] for p in r.storage.get("per_task", [])) for r in ours.values()}
    cfg = next(iter(ours.values())).config["train"] if ours else {}
    budget = (f"profile `{next(iter(ours.values())).profile}`: {cfg.get('wake_epochs')} wake epochs per task "
              f"(task 1: {cfg.get('wake_epochs')} more, in which the lower layers learn), "
              f"{cfg.get('sleep_steps')} sleep steps of {cfg.get('batch_size')}, lr_fast {cfg.get('lr_fast')}, "
              f"lr_slow {cfg.get('lr_slow')}") if ours else "—"
    rows = ["| learner | stored real data | memory | average accuracy (%) |", "|---|---|---|---|",
            f"| `{label}` (ours) | {'none' if stored == [None] else stored} | "
            f"{', '.join(f'{b:,} B' for b in per_task)} per task, {', '.join(f'{t / 1e6:.2f} MB' for t in total)} "
            f"for 5 tasks | {_mean_sd(list(mine.values()))} |",
            f"| brain-inspired replay (their code, run here) | none | about 4.3 MB | {_mean_sd(list(bir.values()))} |",
            f"| ours − theirs, same seeds | | | {_mean_sd([mine[s] - bir[s] for s in both])} |"]
    seeds = sorted(set(mine) | set(bir))
    per_seed = ["| | " + " | ".join(f"seed {s}" for s in seeds) + " |", "|---|" + "---|" * len(seeds),
                f"| `{label}` | " + " | ".join(f"{mine[s]:.2f}" if s in mine else "—" for s in seeds) + " |",
                "| BI-R | " + " | ".join(f"{bir[s]:.2f}" if s in bir else "—" for s in seeds) + " |"]
    return ("\n".join(rows) + f"\n\nOurs: {budget}. Theirs: {BIR_NOTE}.\n\nPer seed (%):\n\n"
            + "\n".join(per_seed) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ours", type=Path, required=True)
    p.add_argument("--peer", type=Path, required=True)
    p.add_argument("--label", default="mygo/internal")
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    text = (f"# Class-incremental Split-MNIST without stored real data\n\n"
            f"`python benchmarks/bir_table.py --ours {args.ours} --peer {args.peer}` — test split. Ours: "
            f"`python -m mygo_nb reproduce internal`. Theirs: GMvandeVen/continual-learning run by "
            f"`benchmarks/peer_vandeven.sh` on the same MNIST files and seeds (its logs, with the commands, in "
            f"`{args.peer}`).\n\n"
            + table(our_records(args.ours, args.label), peer_results(args.peer, "class").get("bir", {}), args.label))
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
