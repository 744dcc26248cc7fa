"""Every method and variant over several seeds, as a Markdown table of final average accuracy (mean ± std).

Usage (from the repository root):

    MYGO_DATA=../shared/data python benchmarks/method_table.py --benchmark split-mnist --seeds 0 1 2 \
        --eval-on test --out-dir results/engine

One JSON record per run is written to ``--out-dir`` (existing records are reused, so an interrupted
table resumes); the table is printed and written next to them as ``<benchmark>_<eval>.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mygo_nb.config import BENCHMARKS, PROFILES
from mygo_nb.data import load_benchmark
from mygo_nb.experiment import resolve_device, run
from mygo_nb.paper import mean_std
from mygo_nb.results import RunResult

ALL = [("mygo", "reference"), ("mygo", "paper"), ("finetune", None), ("finetune-multihead", None), ("joint", None)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--benchmark", choices=BENCHMARKS, default="split-mnist")
    p.add_argument("--methods", nargs="+", default=[f"{m}/{v}" if v else m for m, v in ALL])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--profile", choices=tuple(PROFILES), default="paper")
    p.add_argument("--eval-on", choices=("test", "train"), default="test")
    p.add_argument("--device", default="auto")
    p.add_argument("--data-root", default=None)
    p.add_argument("--out-dir", default="results/engine")
    args = p.parse_args()
    out = Path(args.out_dir)
    prof = PROFILES[args.profile]
    bench = None
    rows = []
    for spec in args.methods:
        method, _, variant = spec.partition("/")
        results = []
        for seed in args.seeds:
            path = out / f"{args.benchmark}_{spec.replace('/', '-')}_{args.eval_on}_{args.profile}_seed{seed}.json"
            if path.exists():
                results.append(RunResult.load(path))
                continue
            if bench is None:
                bench = load_benchmark(args.benchmark, args.data_root, max_train_per_class=prof.max_train_per_class,
                                       device=resolve_device(args.device))
            r = run(bench, method, variant or None, prof, seed=seed, eval_on=args.eval_on, progress=False)
            r.save(path)
            print(r.summary(), flush=True)
            results.append(r)
        accs = [r.average_accuracy for r in results]
        m, s = mean_std(accs)
        per_task = [mean_std(col) for col in zip(*(r.metrics["final_accuracies"] for r in results), strict=True)]
        fgt = [r.metrics["forgetting"] for r in results if r.metrics["forgetting"] is not None]
        secs = mean_std([r.timings["total_seconds"] for r in results])[0]
        rows.append((spec, m, s, per_task, mean_std(fgt)[0] if fgt else None, secs))
    data = RunResult.load(next(out.glob(f"{args.benchmark}_*_{args.eval_on}_{args.profile}_seed*.json"))).data
    stand_in = "" if data.get("canonical", True) else " — **agnews_dev stand-in, not the paper's benchmark**"
    seed_args = " ".join(str(s) for s in args.seeds)
    title = f"{args.benchmark}: every method, {args.eval_on} split, {args.profile} profile, seeds {seed_args}"
    lines = [f"# {title}{stand_in}",
             "", f"Produced by `python benchmarks/method_table.py --benchmark {args.benchmark} --seeds {seed_args} "
             f"--eval-on {args.eval_on} --profile {args.profile}`. Forgetting: mean drop (points) from "
             "each earlier task's best accuracy to its final one; s/run: wall seconds per run on the machine "
             "that ran it.", "",
             "| method | average accuracy (%) | per task (%) | forgetting | s/run |", "|---|---|---|---|---|"]
    for spec, m, s, per_task, fgt, secs in rows:
        tasks = " / ".join(f"{a:.1f}" for a, _ in per_task)
        lines.append(f"| {spec} | {m:.2f} ± {s:.2f} | {tasks} | {'' if fgt is None else f'{fgt:.2f}'} | {secs:.0f} |")
    table = "\n".join(lines)
    (out / f"{args.benchmark}_{args.eval_on}_{args.profile}.md").write_text(table + "\n", encoding="utf-8")
    print(table)


if __name__ == "__main__":
    main()
