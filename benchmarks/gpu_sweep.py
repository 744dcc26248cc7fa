"""How many sweep runs one GPU should take at once: a preset's runs with N = 1, 2, 4, 8 runs per GPU.

For each N it prints runs per minute, the mean and peak GPU utilisation (nvidia-smi, sampled every second) and
the largest peak GPU memory a run recorded (`RunResult.resources`); with ``--full`` it then runs the whole
``paper`` and ``beyond`` presets at the best N and prints their wall times. Needs a CUDA GPU and MYGO_DATA.

    MYGO_DATA=../shared/data python benchmarks/gpu_sweep.py --preset beyond --benchmark split-mnist --runs 16
    MYGO_DATA=../shared/data python benchmarks/gpu_sweep.py --full --out gpu-sweep
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import torch

from mygo_nb.reproduce.aggregate import collect_results
from mygo_nb.reproduce.execute import run_sweep, visible_gpus
from mygo_nb.reproduce.spec import expand_spec, load_spec


def _utilisation(samples: list[float], stop: threading.Event) -> None:
    while not stop.wait(1.0):
        out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True)
        if out.returncode == 0:
            samples.append(statistics.mean(float(v) for v in out.stdout.split()))


def sweep(runs: list, out: Path, n: int, workers: int) -> dict[str, float]:
    samples: list[float] = []
    stop = threading.Event()
    sampler = threading.Thread(target=_utilisation, args=(samples, stop), daemon=True)
    sampler.start()
    t0 = time.perf_counter()
    report = run_sweep(runs, out, runs_per_gpu=n, workers=workers, progress=False)
    seconds = time.perf_counter() - t0
    stop.set()
    peaks = [r.resources.get("peak_device_bytes") or 0 for r in collect_results(out)]
    return {"runs": len(report.done), "failed": len(report.failed), "seconds": seconds,
            "runs_per_minute": 60 * len(report.done) / seconds, "gpu_util_mean": statistics.mean(samples or [0]),
            "gpu_util_max": max(samples or [0]), "peak_gib": max(peaks or [0]) / 2**30}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="beyond")
    p.add_argument("--benchmark", default="split-mnist")
    p.add_argument("--runs", type=int, default=16, help="runs of the preset per N (the first ones)")
    p.add_argument("--per-gpu", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--full", action="store_true", help="then the whole paper and beyond presets at the best N")
    p.add_argument("--out", default=None, help="keep the sweep folders here (default: a temporary folder)")
    args = p.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("gpu_sweep.py needs a CUDA GPU")
    gpus = visible_gpus()
    print(f"{len(gpus)} GPU(s): {torch.cuda.get_device_name()}, torch {torch.__version__}")
    root = Path(args.out or tempfile.mkdtemp(prefix="mygo-gpu-sweep-"))
    spec, base = load_spec(args.preset)
    runs = expand_spec(spec, base, device="cuda", benchmarks=[args.benchmark])[: args.runs]
    print("| runs per GPU | runs | failed | seconds | runs/min | GPU util mean % | GPU util max % | peak GiB/run |")
    print("|---|---|---|---|---|---|---|---|")
    best, best_rate = 1, 0.0
    for n in args.per_gpu:
        m = sweep(runs, root / f"n{n}", n, workers=1)
        print(f"| {n} | {m['runs']} | {m['failed']} | {m['seconds']:.1f} | {m['runs_per_minute']:.2f} | "
              f"{m['gpu_util_mean']:.0f} | {m['gpu_util_max']:.0f} | {m['peak_gib']:.2f} |", flush=True)
        if m["runs_per_minute"] > best_rate and not m["failed"]:
            best, best_rate = n, m["runs_per_minute"]
    print(f"best: {best} runs per GPU ({best_rate:.2f} runs/min)")
    if args.full:
        for preset in ("paper", "beyond"):
            spec, base = load_spec(preset)
            m = sweep(expand_spec(spec, base, device="cuda"), root / f"full-{preset}", best, workers=1)
            print(f"{preset} preset at {best} runs per GPU: {m['runs']} runs ({m['failed']} failed) in "
                  f"{m['seconds'] / 60:.1f} min, GPU util mean {m['gpu_util_mean']:.0f} %", flush=True)


if __name__ == "__main__":
    main()
