"""Class-incremental probes of the consolidating sleep and of internal replay: one change at a time (chapters 11, 12).

Usage (from the repository root, with the project's venv):

    MYGO_DATA=../shared/data python benchmarks/class_il_probes.py --seeds 0 \\
        --records results/beyond/probes --reuse results/beyond/sweep --out results/beyond/class_il_probes.md
    MYGO_DATA=../shared/data python benchmarks/class_il_probes.py --device cuda --seeds 0 1 \\
        --probes vae hidden400 wake10 hidden400+features z16 sleep3000 lrslow1e-3 hidden400+sleep3000 \\
        --records results/beyond/probes_gpu --out results/beyond/class_il_probes_gpu.md
    MYGO_DATA=../shared/data python benchmarks/class_il_probes.py --seeds 0 1 --probes INTERNAL_PROBES \\
        --records results/beyond/probes --out results/beyond/internal_probes.md

Each probe is a ``mygo`` variant (``consolidate``, with a `mygo_nb.learners.consolidate.ConsolidateConfig`, or
``internal``, with a `mygo_nb.learners.internal.InternalConfig`;
`mygo_nb.running.experiment.run(..., config=...)`) and, for some, one training setting changed from the paper's
(memory size, wake epochs, sleep steps or sleep learning rate; the record's profile is then named
``probe-NAME``), on Split-MNIST, test split, in the class scenario (or ``--scenario``). Records are saved to
``--records`` and reused from there and from the ``--reuse`` folders (e.g. the ``beyond`` sweep's) when one
has the same data, scenario, seed, training settings and consolidate config (`mygo_nb.book.nbutil.find_record`),
so the script can be stopped and started again. Prints and writes the accuracy of every task after the last
one and the average (mean ± std over seeds). The first probe named is the row the others change one thing of.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mygo_nb.book.nbutil import find_record
from mygo_nb.config import Profile, TrainConfig
from mygo_nb.core.scenarios import SCENARIOS
from mygo_nb.data import Benchmark, load_benchmark
from mygo_nb.learners.consolidate import ConsolidateConfig
from mygo_nb.learners.internal import InternalConfig
from mygo_nb.running.experiment import resolve_device, run
from mygo_nb.running.paper import mean_std
from mygo_nb.running.records import RunResult, atomic_write_text


@dataclass(frozen=True)
class Probe:
    """One probe: the method config, the question it asks, the training settings it changes, its variant."""

    config: Any
    question: str
    train: dict[str, int | float] = field(default_factory=dict)
    variant: str = "consolidate"

    def profile(self, name: str) -> Profile:
        return Profile("probe-" + name, replace(TrainConfig(), **self.train)) if self.train else Profile("paper")


VAE = ConsolidateConfig(memory="vae")
PROBES: dict[str, Probe] = {
    "vae": Probe(VAE, "consolidate-vae as in the sweep: VAE memories, dreams only"),
    "vae+features": Probe(ConsolidateConfig(memory="vae", feature_weight=1.0),
                          "does matching the teachers' trunk features keep old classes better?"),
    "vae+real": Probe(ConsolidateConfig(memory="vae", real_fraction=0.25),
                      "does a quarter of real current-task data per sleep batch help?"),
    "hidden400": Probe(VAE, "memory 3.1x larger (hidden 400, not 128)", {"gan_hidden": 400}),
    "hidden400+features": Probe(ConsolidateConfig(memory="vae", feature_weight=1.0),
                                "larger memory + feature distillation", {"gan_hidden": 400}),
    "hidden400+sleep3000": Probe(VAE, "larger memory + 3000 sleep steps",
                                 {"gan_hidden": 400, "sleep_steps": 3000}),
    "wake10": Probe(VAE, "wake of 10 epochs, not 5", {"wake_epochs": 10}),
    "z16": Probe(VAE, "latent size 16, not 64", {"z_dim": 16}),
    "sleep3000": Probe(VAE, "sleep of 3000 steps, not 1000", {"sleep_steps": 3000}),
    "lrslow1e-3": Probe(VAE, "lr_slow 1e-3, not 1e-4", {"lr_slow": 1e-3}),
    "internal": Probe(InternalConfig(), "mygo/internal as registered: factor memories of frozen lower-layer "
                      "features", variant="internal"),
    "internal+random": Probe(InternalConfig(lower="random"), "lower layers frozen at initialisation (the "
                             "reference code's extractor), not trained in the first wake", variant="internal"),
    "internal+distill": Probe(InternalConfig(distill=1.0), "the sleep also matches the teachers' logits (MSE, "
                              "as the consolidating sleep does)", variant="internal"),
    "internal+real0.25": Probe(InternalConfig(real_fraction=0.25), "a quarter of each sleep batch real features "
                               "of the new task", variant="internal"),
    "internal+sleep3000": Probe(InternalConfig(), "a sleep of 3000 steps, not 1000", {"sleep_steps": 3000},
                                variant="internal"),
}

#: the probes of the first table (results/beyond/class_il_probes.md); the others change a training setting too
DEFAULT_PROBES = ["vae", "vae+features", "vae+real"]
#: the probes of the internal-replay table (results/beyond/internal_probes.md)
INTERNAL_PROBES = ["internal", "internal+distill", "internal+real0.25", "internal+random", "internal+sleep3000"]


def _record_path(folder: Path, bench: str, scenario: str, name: str, seed: int) -> Path:
    return folder / f"{bench}__{scenario}__{name.replace('+', '-')}__seed{seed}.json"


def probe(name: str, seed: int, args: argparse.Namespace, bench: Benchmark) -> RunResult:
    """The record of probe ``name`` at ``seed``: a saved one with the same run and config, else a new run."""
    pr = PROBES[name]
    prof = pr.profile(name)
    for folder in [args.records, *args.reuse]:
        r = find_record(folder, bench, "mygo", pr.variant, prof, seed, "test", args.scenario, pr.config)
        if r is not None:
            print(f"{name} seed {seed}: reused a record from {folder}")
            return r
    r = run(bench, "mygo", pr.variant, prof, seed=seed, eval_on="test", progress=not args.no_progress,
            scenario=args.scenario, config=pr.config)
    print(f"{name} seed {seed}: {r.summary()}")
    if args.records is not None:
        r.save(_record_path(args.records, args.benchmark, args.scenario, name, seed))
    return r


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--probes", nargs="+", choices=(*PROBES, "INTERNAL_PROBES"), default=DEFAULT_PROBES,
                   help="probe names, or INTERNAL_PROBES for the internal-replay table")
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
    if "INTERNAL_PROBES" in args.probes:
        args.probes = [*INTERNAL_PROBES, *(n for n in args.probes if n not in (*INTERNAL_PROBES, "INTERNAL_PROBES"))]
    bench = load_benchmark(args.benchmark, args.data_root, device=resolve_device(args.device))
    rows, devices = [], set()
    for name in args.probes:
        runs = [probe(name, seed, args, bench) for seed in args.seeds]
        devices |= {r.device for r in runs}
        n_tasks = len(runs[0].accuracy_matrix)
        finals = [mean_std([r.accuracy_matrix[-1][j] for r in runs]) for j in range(n_tasks)]
        avg = mean_std([r.average_accuracy for r in runs])
        pm = (lambda m, s: f"{m:.2f} ± {s:.2f}") if len(runs) > 1 else (lambda m, s: f"{m:.2f}")
        rows.append(f"| {name} | {PROBES[name].question} | " + " | ".join(pm(*f) for f in finals)
                    + f" | **{pm(*avg)}** |")
        print(rows[-1])
    where = ", ".join(sorted(devices))
    cmd = " ".join(["python benchmarks/class_il_probes.py", "--seeds", *map(str, args.seeds)]
                   + (["--probes", *(["INTERNAL_PROBES"] if args.probes == INTERNAL_PROBES else args.probes)]
                      if args.probes != DEFAULT_PROBES else [])
                   + (["--device", args.device] if args.device != "auto" else [])
                   + (["--scenario", args.scenario] if args.scenario != "class" else []))
    what = "internal replay" if PROBES[args.probes[0]].variant == "internal" else "the consolidating sleep"
    head = [f"# {args.scenario.capitalize()}-incremental probes of {what} ({args.benchmark}, {where})", "",
            f"`{cmd}` — test split, {len(args.seeds)} seed(s){' (mean ± std)' if len(args.seeds) > 1 else ''}, runs "
            f"made on {where}. Accuracy (%) on each task after the last one, and the average. One change per row "
            f"from the `{args.probes[0]}` row (the paper's budget), named in its question.", "",
            "| probe | question | " + " | ".join(f"task {j + 1}" for j in range(n_tasks)) + " | average |",
            "|---|---|" + "---|" * (n_tasks + 1)]
    text = "\n".join(head + rows) + "\n"
    print(text)
    if args.out:
        atomic_write_text(Path(args.out), text)


if __name__ == "__main__":
    main()
