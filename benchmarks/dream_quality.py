"""How good are the generative memories' dreams? Classification accuracy score on Split-MNIST (notebook 09).

Usage (from the repository root, with the project's venv):

    MYGO_DATA=../shared/data python benchmarks/dream_quality.py --seeds 0 1 2 --out results/beyond/dream_quality.md

For each memory kind (the paper's cGAN, the conditional VAE) and seed: one memory per task trained alone at
the paper's budget (`mygo_nb.core.memories.fit_memory`: 5 epochs, z_dim 64, one hidden layer of 128), then a
fresh net learns all ten classes from dreams alone (`dream_score`, 1000 steps of 128) and classifies the
real test images among all ten classes. Prints and writes per-task and average accuracy (mean ± std over
seeds): an upper bound for what a learner keeping no real data can recover in the class scenario.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from mygo_nb.book import plotting
from mygo_nb.config import PROFILES
from mygo_nb.core.memories import GAN_RECIPES, MEMORY_KINDS, dream_score, fit_memory
from mygo_nb.data import load_benchmark
from mygo_nb.running.experiment import resolve_device
from mygo_nb.running.paper import mean_std
from mygo_nb.running.records import atomic_write_text


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--kinds", nargs="+", choices=MEMORY_KINDS, default=["gan", "vae"],
                   help="memory kinds: gan (the paper's recipe), vae, and the cGAN recipes "
                        + ", ".join(GAN_RECIPES))
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--device", default="auto")
    p.add_argument("--data-root", default=None)
    p.add_argument("--out", default=None, help="also write the table (Markdown) here")
    p.add_argument("--grids", default=None, help="also save a dream grid per kind (first seed) in this folder")
    args = p.parse_args()
    device = resolve_device(args.device)
    cfg = PROFILES["paper"].train
    bench = load_benchmark("split-mnist", args.data_root, device=device)
    scores: dict[str, list[list[float]]] = {k: [] for k in args.kinds}
    for kind in args.kinds:
        for seed in args.seeds:
            t0 = time.perf_counter()
            torch.manual_seed(seed)
            rng = torch.Generator(device=device).manual_seed(seed)
            memories = [fit_memory(t, kind, cfg, rng, progress=True) for t in bench.tasks]
            accs = dream_score(memories, bench.tasks, cfg, rng, steps=args.steps, progress=True)
            scores[kind].append(accs)
            if args.grids and seed == args.seeds[0]:
                names = [list(t.class_names) for t in bench.tasks]
                fig = plotting.dream_grid(memories, names, per_class=8, seed=seed,
                                          title=f"{kind} memories: dreams of each class (seed {seed})")
                Path(args.grids).mkdir(parents=True, exist_ok=True)
                fig.savefig(Path(args.grids) / f"dreams_{kind}.png", dpi=100, bbox_inches="tight")
            print(f"{kind} seed {seed}: per task {[round(a, 2) for a in accs]}, average {sum(accs) / len(accs):.2f} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    seeds = " ".join(map(str, args.seeds))
    lines = ["# Dream quality: classification accuracy score of the memories (Split-MNIST, class scenario)", "",
             f"Produced by `python benchmarks/dream_quality.py --kinds {' '.join(args.kinds)} --seeds {seeds} "
             f"--steps {args.steps}` (paper budget: "
             "one memory per task, 5 epochs, z_dim 64, hidden 128). A fresh net learns the ten classes from dreams "
             "alone and classifies the real test images among all ten. Mean ± std over seeds.", "",
             "| memory | " + " | ".join(f"task {i + 1}" for i in range(bench.n_tasks)) + " | average | n |",
             "|---|" + "---|" * (bench.n_tasks + 2)]
    for kind, runs in scores.items():
        cols = [mean_std(r[i] for r in runs) for i in range(bench.n_tasks)]
        avg = mean_std(sum(r) / len(r) for r in runs)
        cells = [f"{m:.1f} ± {s:.1f}" for m, s in cols]
        lines.append(f"| {kind} | " + " | ".join(cells) + f" | **{avg[0]:.2f} ± {avg[1]:.2f}** | {len(runs)} |")
    table = "\n".join(lines) + "\n"
    print(table)
    if args.out:
        atomic_write_text(Path(args.out), table)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
