"""Wall time per phase of one full paper-protocol run (default: Split-MNIST, mygo/reference).

Usage (from the repository root, with the project's venv):

    MYGO_DATA=../shared/data python benchmarks/speed.py [--method mygo] [--variant reference] [--scenario task]
        [--device cpu]

Prints the data-loading time, then per phase (wake, sleep, train, eval) the wall time and the samples/s,
per-task times, the total, and the final average accuracy (as a check that the run did the real work).
Speed goal for mygo/reference on Split-MNIST, 2 CPU cores: <= 105 s for the run (the public reference
implementation takes about 264 s on the same machine).
"""

from __future__ import annotations

import argparse
import time

import torch

from mygo_nb.config import PROFILES
from mygo_nb.core.scenarios import SCENARIOS
from mygo_nb.data import benchmark_names, load_benchmark
from mygo_nb.learners import methods
from mygo_nb.running.experiment import resolve_device, run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--benchmark", choices=benchmark_names(), default="split-mnist")
    p.add_argument("--method", choices=methods(), default="mygo")
    p.add_argument("--variant", default=None)
    p.add_argument("--scenario", choices=SCENARIOS, default="task")
    p.add_argument("--profile", choices=tuple(PROFILES), default="paper")
    p.add_argument("--eval-on", choices=("test", "train"), default="train")
    p.add_argument("--device", default="auto")
    p.add_argument("--data-root", default=None)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    device = resolve_device(args.device)
    prof = PROFILES[args.profile]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}")
    t0 = time.perf_counter()
    bench = load_benchmark(args.benchmark, args.data_root, max_train_per_class=prof.max_train_per_class, device=device)
    print(f"data loading: {time.perf_counter() - t0:.1f} s")
    r = run(bench, args.method, args.variant, prof, seed=args.seed, eval_on=args.eval_on, progress=False,
            scenario=args.scenario)
    t = r.timings
    print(f"{'phase':<8}{'seconds':>10}{'samples/s':>12}")
    for phase, sec in t["phase_seconds"].items():
        sps = t["samples_per_second"].get(phase)
        print(f"{phase:<8}{sec:>10.1f}{(f'{sps:,.0f}' if sps else '-'):>12}")
    for i, per in enumerate(t["per_task"]):
        print(f"  task {i + 1}: " + ", ".join(f"{k} {v:.1f} s" for k, v in per.items()))
    print(f"total run: {t['total_seconds']:.1f} s   ({r.label}, {args.scenario} scenario, {args.profile} profile, "
          f"eval on {args.eval_on}, {r.device})")
    print(f"final average accuracy: {r.average_accuracy:.2f}%")


if __name__ == "__main__":
    main()
