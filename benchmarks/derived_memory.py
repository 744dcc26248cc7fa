"""Memory for data of a derived stream against its number of tasks: Permuted- and Rotated-MNIST keep one copy of
MNIST whatever the number of tasks, and a batch costs one transform on its device.

    MYGO_DATA=../shared/data python benchmarks/derived_memory.py [--tasks 1 10 50] [--device cpu]

Prints, per benchmark and number of tasks: the bytes of the distinct tensors that hold the images (what the tasks
store), the bytes one materialised copy per task would take, the resident set size (CPU) or the allocated device
memory (CUDA) after loading, and the time to draw 100 batches of 128 transformed training images.
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

from mygo_nb.data import DerivedImages, load_benchmark, take
from mygo_nb.running.experiment import resolve_device


def distinct_bytes(bench) -> int:  # type: ignore[no-untyped-def]
    """Bytes of the distinct tensors behind every task's inputs (shared bases counted once)."""
    seen: dict[int, int] = {}
    for t in bench.tasks:
        for part in (t.train, t.test):
            x = part.x.base if isinstance(part.x, DerivedImages) else part.x
            seen[x.untyped_storage().data_ptr()] = x.untyped_storage().nbytes()
    return sum(seen.values())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tasks", type=int, nargs="+", default=[1, 10, 50])
    p.add_argument("--benchmark", nargs="+", default=["permuted-mnist", "rotated-mnist"])
    p.add_argument("--device", default="auto")
    args = p.parse_args()
    dev = resolve_device(args.device)
    print(f"{'benchmark':15s} {'tasks':>5s} {'stored MB':>10s} {'one copy per task MB':>21s} "
          f"{'memory after load MB':>21s} {'100 batches s':>14s}")
    for name in args.benchmark:
        for n in args.tasks:
            if dev.type == "cuda":
                torch.cuda.empty_cache()
                before = torch.cuda.memory_allocated(dev)
            bench = load_benchmark(name, tasks=n, device=dev, params={"seed": 0} if name == "permuted-mnist" else {})
            stored = distinct_bytes(bench)
            per_task = sum(t.train.x.numel() * 4 + t.test.x.numel() * 4 for t in bench.tasks)
            if dev.type == "cuda":
                used = (torch.cuda.memory_allocated(dev) - before) / 1e6
            else:
                used = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3  # peak RSS so far, KB -> MB
            g = torch.Generator(device=dev).manual_seed(0)
            t0 = time.perf_counter()
            for i in range(100):
                task = bench.tasks[i % n]
                idx = torch.randint(len(task.train), (128,), device=dev, generator=g)
                take(task.train.x, idx)
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            secs = time.perf_counter() - t0
            print(f"{name:15s} {n:5d} {stored / 1e6:10.1f} {per_task / 1e6:21.1f} {used:21.1f} {secs:14.3f}",
                  flush=True)
            del bench


if __name__ == "__main__":
    main()
