#!/usr/bin/env bash
# Reproduce the `paper` sweep preset into results/paper/ (run from the repository root).
# Each step holds the shared CPU lock only for its own runs; completed runs are skipped, so the
# script can be stopped and started again at any point. The last step only aggregates.
set -euo pipefail
export MYGO_DATA="${MYGO_DATA:-$(cd .. && pwd)/shared/data}"
py=.venv/bin/python
out=results/paper
for eval in train test; do
  for bench in split-mnist split-agnews; do
    for seed in 0 1 2 3 4; do
      flock /tmp/mygo-cpu.lock $py -m mygo_nb reproduce paper --out "$out" --benchmark "$bench" --eval-on "$eval" \
        --seeds "$seed" --no-progress --no-figures
    done
  done
done
$py -m mygo_nb reproduce paper --out "$out" --no-progress
