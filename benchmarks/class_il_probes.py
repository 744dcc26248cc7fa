"""Class-incremental probes of the consolidating sleep: one option changed at a time (notebook 09).

Usage (from the repository root, with the project's venv):

    MYGO_DATA=../shared/data python benchmarks/class_il_probes.py --seeds 0 \\
        --records results/beyond/probes --reuse results/beyond/sweep --out results/beyond/class_il_probes.md

Each probe is a `mygo_nb.consolidate.ConsolidateConfig` run as ``mygo/consolidate`` with that config
(`mygo_nb.experiment.run(..., config=...)`) on Split-MNIST at the paper's budget, test split, in the
class scenario (or ``--scenario``). Records are saved to ``--records`` and reused (also from the ``--reuse``
folders, e.g. the ``beyond`` sweep's) when a saved record has the same benchmark, scenario, seed, profile and
config, so the script can be stopped and started again.
Prints and writes the accuracy of every task after the last one and the average (mean ± std over seeds).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mygo_nb.config import PROFILES
from mygo_nb.consolidate import ConsolidateConfig
from mygo_nb.data import load_benchmark
from mygo_nb.experiment import resolve_device, run
from mygo_nb.paper import mean_std
from mygo_nb.results import RunResult, atomic_write_text
from mygo_nb.scenarios import SCENARIOS

#: probe name -> (config, what it asks)
PROBES: dict[str, tuple[ConsolidateConfig, str]] = {
    "vae": (ConsolidateConfig(memory="vae"), "the sweep's consolidate-vae: VAE memories, dreams only"),
    "vae+features": (ConsolidateConfig(memory="vae", feature_weight=1.0),
                     "does matching the teachers' trunk features keep old classes better?"),
    "vae+real": (ConsolidateConfig(memory="vae", real_fraction=0.25),
                 "does a quarter of real current-task data per sleep batch help?"),
}


def _record_path(folder: Path, bench: str, scenario: str, name: str, seed: int) -> Path:
    return folder / f"{bench}__{scenario}__{name.replace('+', '-')}__seed{seed}.json"


def _matches(r: RunResult, cfg: ConsolidateConfig, args: argparse.Namespace, seed: int) -> bool:
    return (r.benchmark, r.method, r.scenario, r.seed, r.profile, r.eval_on, r.traces.get("method_config")) == \
        (args.benchmark, "mygo", args.scenario, seed, "paper", "test", cfg.to_dict())


def probe(name: str, seed: int, args: argparse.Namespace, bench_cache: dict) -> RunResult:
    """The record of probe ``name`` at ``seed``: a saved one with the same run and config, else a new run."""
    cfg = PROBES[name][0]
    path = _record_path(args.records, args.benchmark, args.scenario, name, seed) if args.records else None
    candidates = [path] if path is not None and path.is_file() else []
    for folder in args.reuse:
        candidates += sorted(p for p in Path(folder).glob("*.json") if not p.name.endswith(".sweep.json"))
    for c in candidates:
        r = RunResult.load(c)
        if _matches(r, cfg, args, seed):
            print(f"{name} seed {seed}: reused {c}")
            return r
    if "bench" not in bench_cache:
        bench_cache["bench"] = load_benchmark(args.benchmark, args.data_root, device=resolve_device(args.device))
    r = run(bench_cache["bench"], "mygo", "consolidate", PROFILES["paper"], seed=seed, eval_on="test",
            progress=not args.no_progress, scenario=args.scenario, config=cfg)
    print(f"{name} seed {seed}: {r.summary()}")
    if path is not None:
        r.save(path)
    return r


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--probes", nargs="+", choices=tuple(PROBES), default=list(PROBES))
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--benchmark", choices=("split-mnist", "split-agnews"), default="split-mnist")
    p.add_argument("--scenario", choices=SCENARIOS, default="class")
    p.add_argument("--device", default="auto")
    p.add_argument("--data-root", default=None)
    p.add_argument("--records", type=Path, default=None, help="save each run's record here and reuse matching ones")
    p.add_argument("--reuse", nargs="*", default=[], metavar="DIR",
                   help="also reuse matching records from these folders (e.g. results/beyond/sweep)")
    p.add_argument("--out", default=None, help="also write the table (Markdown) here")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args()
    cache: dict = {}
    rows = []
    for name in args.probes:
        runs = [probe(name, seed, args, cache) for seed in args.seeds]
        n_tasks = len(runs[0].accuracy_matrix)
        finals = [mean_std([r.accuracy_matrix[-1][j] for r in runs]) for j in range(n_tasks)]
        avg = mean_std([r.average_accuracy for r in runs])
        pm = (lambda m, s: f"{m:.2f} ± {s:.2f}") if len(runs) > 1 else (lambda m, s: f"{m:.2f}")
        rows.append(f"| {name} | {PROBES[name][1]} | " + " | ".join(pm(*f) for f in finals)
                    + f" | **{pm(*avg)}** |")
        print(rows[-1])
    head = [f"# {args.scenario.capitalize()}-incremental probes of the consolidating sleep ({args.benchmark})", "",
            f"`python benchmarks/class_il_probes.py --seeds {' '.join(map(str, args.seeds))}"
            f"{'' if args.scenario == 'class' else ' --scenario ' + args.scenario}` — paper budget, test split, "
            f"{len(args.seeds)} seed(s){' (mean ± std)' if len(args.seeds) > 1 else ''}. Accuracy (%) on each task "
            "after the last one, and the average. One `ConsolidateConfig` option changed per row.", "",
            "| probe | question | " + " | ".join(f"task {j + 1}" for j in range(n_tasks)) + " | average |",
            "|---|---|" + "---|" * (n_tasks + 1)]
    text = "\n".join(head + rows) + "\n"
    print(text)
    if args.out:
        atomic_write_text(Path(args.out), text)


if __name__ == "__main__":
    main()
