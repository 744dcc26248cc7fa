"""Every method and variant over several seeds, as a Markdown table of final average accuracy (mean ± std).

Usage (from the repository root):

    MYGO_DATA=../shared/data python benchmarks/method_table.py --benchmark split-mnist --seeds 0 1 2 \
        --eval-on test --out-dir results/engine

One JSON record per run is written to ``--out-dir`` (existing records are reused, so an interrupted
table resumes); the table is printed and written next to them as ``<benchmark>_<eval>_<profile>.md``.
``--records DIR ...`` also reuses any record below those folders with the same benchmark, method, variant,
seed, split and profile; ``--existing-only`` trains nothing and tabulates the seeds it finds (column n).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from mygo_nb.config import PROFILES
from mygo_nb.data import benchmark_names, load_benchmark
from mygo_nb.running.experiment import resolve_device, run
from mygo_nb.running.paper import mean_std
from mygo_nb.running.records import RunResult, bench_data, run_identity

ALL = [("mygo", "reference"), ("mygo", "paper"), ("finetune", None), ("finetune-multihead", None), ("joint", None)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--benchmark", choices=benchmark_names(), default="split-mnist")
    p.add_argument("--methods", nargs="+", default=[f"{m}/{v}" if v else m for m, v in ALL])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--profile", choices=tuple(PROFILES), default="paper")
    p.add_argument("--eval-on", choices=("test", "train"), default="test")
    p.add_argument("--device", default="auto")
    p.add_argument("--data-root", default=None)
    p.add_argument("--out-dir", default="results/engine")
    p.add_argument("--records", nargs="*", default=[], help="more folders whose matching records are reused")
    p.add_argument("--existing-only", action="store_true", help="train nothing; tabulate the records found")
    p.add_argument("--name", default=None, help="file name of the table (default <benchmark>_<eval>_<profile>.md)")
    args = p.parse_args()
    out = Path(args.out_dir)
    prof = PROFILES[args.profile]
    bench = None
    rows = []
    known = [r for folder in [out, *map(Path, args.records)] for r in _records(folder)]
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
            key = run_identity(args.benchmark, method, variant or None, "task", seed, args.eval_on, prof.to_dict(),
                               bench_data(bench))
            found = next((r for r in known if r.identity() == key), None)
            if found is not None:
                results.append(found)
                continue
            if args.existing_only:
                continue
            r = run(bench, method, variant or None, prof, seed=seed, eval_on=args.eval_on, progress=False)
            r.save(path)
            print(r.summary(), flush=True)
            results.append(r)
        if not results:
            continue
        accs = [r.average_accuracy for r in results]
        m, s = mean_std(accs)
        per_task = [mean_std(col) for col in zip(*(r.metrics["final_accuracies"] for r in results), strict=True)]
        fgt = [r.metrics["forgetting"] for r in results if r.metrics["forgetting"] is not None]
        secs = mean_std([r.timings["total_seconds"] for r in results])[0]
        rows.append((spec, len(results), m, s, per_task, mean_std(fgt)[0] if fgt else None, secs, _storage(results[0])))
        last = results[0]
    if not rows:
        raise SystemExit(f"method_table: no records for {args.benchmark} ({args.eval_on}, {args.profile})")
    data = last.data
    stand_in = "" if data.get("canonical", True) else " — **agnews_dev stand-in, not the paper's benchmark**"
    seed_args = " ".join(str(s) for s in args.seeds)
    title = f"{args.benchmark}: every method, {args.eval_on} split, {args.profile} profile, seeds {seed_args}"
    lines = [f"# {title}{stand_in}",
             "", f"Produced by `python benchmarks/method_table.py {shlex.join(sys.argv[1:])}` "
             f"({args.eval_on} split, {args.profile} profile). Forgetting: mean drop (points) from "
             "each earlier task's best accuracy to its final one; s/run: wall seconds per run on the machine "
             "that ran it; memory: bytes of the stored generative memories after the last task (float32 parameters) "
             "beside the raw training data they stand for (uint8 pixels; int32 token ids plus one int32 length per "
             "document).", "",
             "| method | n | average accuracy (%) | per task (%) | forgetting | memory vs raw data | s/run |",
             "|---|---|---|---|---|---|---|"]
    for spec, n, m, s, per_task, fgt, secs, mem in rows:
        tasks = " / ".join(f"{a:.1f}" for a, _ in per_task)
        avg = f"{m:.2f} ± {s:.2f}" if n > 1 else f"{m:.2f}"
        lines.append(f"| {spec} | {n} | {avg} | {tasks} | {'' if fgt is None else f'{fgt:.2f}'} | {mem} "
                     f"| {secs:.0f} |")
    table = "\n".join(lines)
    name = args.name or f"{args.benchmark}_{args.eval_on}_{args.profile}.md"
    (out / name).write_text(table + "\n", encoding="utf-8")
    print(table)


def _records(folder: Path) -> list[RunResult]:
    """Every loadable RunResult below ``folder`` (sweep side files and other JSON are skipped)."""
    out = []
    for path in sorted(folder.rglob("*.json")):
        try:
            out.append(RunResult.load(path))
        except (ValueError, TypeError, KeyError, AttributeError):
            continue
    return out


def _storage(r: RunResult) -> str:
    """``generator MB / raw data MB`` from a record's storage accounting ('' for records without it)."""
    per_task = (getattr(r, "storage", None) or {}).get("per_task") or []
    if not per_task:
        return ""
    gen = sum(t.get("generator_bytes") or 0 for t in per_task) / 1e6
    raw = sum(t.get("raw_data_bytes") or 0 for t in per_task) / 1e6
    return f"{gen:.2f} MB / {raw:.1f} MB"


if __name__ == "__main__":
    main()
