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
from pathlib import Path

from peer_table import _mean_sd, peer_results

from mygo_nb.reproduce.aggregate import collect_results
from mygo_nb.running.records import RunResult

#: what the public BI-R run keeps: one model that is both the classifier and the
#: conditional VAE generator (784-400-400 with z = 100 and a Gaussian-mixture prior), about 4.3 MB in float32
BIR_NOTE = ("`main.py --experiment=splitMNIST --scenario=class --brain-inspired`: its defaults, 2,000 batches "
            "of 128 per task, one model that is both classifier and conditional VAE, about 4.3 MB for the whole "
            "stream (its parameters in float32)")


def our_records(folder: Path, label: str) -> dict[str, dict[int, RunResult]]:
    """Profile -> seed -> record of ``label`` in the class scenario, from the run records in ``folder``."""
    out: dict[str, dict[int, RunResult]] = {}
    for r in collect_results(folder):
        if r.label == label and r.scenario == "class":
            out.setdefault(r.profile, {})[r.seed] = r
    return out


def _budget(r: RunResult) -> str:
    c = r.config["train"]
    return (f"{c['wake_epochs']} wake epochs a task (task 1: {c['wake_epochs']} more, in which the lower layers "
            f"learn), {c['sleep_steps']} sleep steps of {c['batch_size']}")


def _memory(runs: dict[int, RunResult]) -> str:
    per_task = sorted({p["generator_bytes"] for r in runs.values() for p in r.storage.get("per_task", [])})
    total = sorted({sum(p["generator_bytes"] for p in r.storage.get("per_task", [])) for r in runs.values()})
    return (f"{', '.join(f'{b:,} B' for b in per_task)} a task, "
            f"{', '.join(f'{t / 1e6:.2f} MB' for t in total)} in all")


def table(ours: dict[str, dict[int, RunResult]], bir: dict[int, float], label: str) -> str:
    rows = ["| learner | profile: budget | stored real data | memory | average (%) | ours − BI-R, same seeds |",
            "|---|---|---|---|---|---|"]
    seeds = sorted(set(bir) | {s for runs in ours.values() for s in runs})
    per_seed = ["| | " + " | ".join(f"seed {s}" for s in seeds) + " |", "|---|" + "---|" * len(seeds)]
    for profile, runs in sorted(ours.items(), key=lambda kv: next(iter(kv[1].values())).config["train"]["sleep_steps"]):
        mine = {s: r.average_accuracy for s, r in runs.items()}
        stored = {p["replay_buffer_bytes"] for r in runs.values() for p in r.storage.get("per_task", [])}
        both = sorted(set(mine) & set(bir))
        rows.append(f"| `{label}` (ours) | `{profile}`: {_budget(next(iter(runs.values())))} | "
                    f"{'none' if stored == {None} else stored} | {_memory(runs)} | {_mean_sd(list(mine.values()))} | "
                    f"{_mean_sd([mine[s] - bir[s] for s in both])} |")
        per_seed.append(f"| `{label}`, `{profile}` | "
                        + " | ".join(f"{mine[s]:.2f}" if s in mine else "—" for s in seeds) + " |")
    rows.append(f"| brain-inspired replay (their code, run here) | 2,000 batches of 128 a task | none | about 4.3 MB "
                f"| {_mean_sd(list(bir.values()))} | |")
    per_seed.append("| BI-R | " + " | ".join(f"{bir[s]:.2f}" if s in bir else "—" for s in seeds) + " |")
    return ("\n".join(rows) + f"\n\nTheirs: {BIR_NOTE}.\n\nPer seed (%):\n\n" + "\n".join(per_seed) + "\n")


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
