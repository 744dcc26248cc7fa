"""Dream grids of the memory recipes on Split-MNIST (chapters 3 and 9): one memory per task, one row per class.

Usage (from the repository root, with the project's venv):

    MYGO_DATA=../shared/data python benchmarks/dream_grids.py --kinds gan gan-dcgan gan-proj vae \
        --out results/beyond/figures

For each memory kind: one memory per task trained alone at the paper's budget
(`mygo_nb.core.memories.fit_memory`: 5 epochs, z_dim 64, one hidden layer of 128), seeded by ``--seed``, then
``dreams_KIND.png``: eight dreams of every class. What the dreams are worth, over five seeds, is the ``dreams``
preset's table (``python -m mygo_nb reproduce dreams --out results/beyond/dreams``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from mygo_nb.book import plotting
from mygo_nb.config import PROFILES
from mygo_nb.core.memories import GAN_RECIPES, MEMORY_KINDS, fit_memory
from mygo_nb.data import load_benchmark
from mygo_nb.running.experiment import resolve_device


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kinds", nargs="+", choices=[k for k in MEMORY_KINDS if k != "factor"], default=["gan", "vae"],
                   help="memory kinds: gan (the paper's recipe), vae, and the cGAN recipes " + ", ".join(GAN_RECIPES))
    p.add_argument("--device", default="auto")
    p.add_argument("--data-root", default=None)
    p.add_argument("--out", required=True, help="folder for dreams_KIND.png")
    args = p.parse_args()
    device = resolve_device(args.device)
    cfg = PROFILES["paper"].train
    bench = load_benchmark("split-mnist", args.data_root, device=device)
    names = [list(t.class_names) for t in bench.tasks]
    Path(args.out).mkdir(parents=True, exist_ok=True)
    for kind in args.kinds:
        t0 = time.perf_counter()
        torch.manual_seed(args.seed)
        rng = torch.Generator(device=device).manual_seed(args.seed)
        memories = [fit_memory(t, kind, cfg, rng, progress=True) for t in bench.tasks]
        fig = plotting.dream_grid(memories, names, per_class=8, seed=args.seed,
                                  title=f"{kind} memories: dreams of each class (seed {args.seed})")
        path = Path(args.out) / f"dreams_{kind}.png"
        fig.savefig(path, dpi=100, bbox_inches="tight")
        print(f"wrote {path} ({time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
