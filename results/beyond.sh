#!/usr/bin/env bash
# Reproduce the `beyond` sweep preset (notebook 09) into results/beyond/sweep/ (run from the repository root).
# One seed at a time, AG News (seconds per run) before Split-MNIST (minutes per run), two worker processes
# with one thread each. Completed runs are skipped, so the script can be stopped and started again at any
# point (or given other seeds: bash results/beyond.sh 3 4). The last step only rebuilds the tables and figures.
set -euo pipefail
export MYGO_DATA="${MYGO_DATA:-$(cd .. && pwd)/shared/data}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
py=.venv/bin/python
out=results/beyond/sweep
seeds=("${@:-0 1 2 3 4}")
for seed in ${seeds[@]}; do
  for bench in split-agnews split-mnist; do
    $py -m mygo_nb reproduce beyond --out $out --benchmark $bench --seeds "$seed" --workers 2 --no-progress --no-figures
  done
done
$py -m mygo_nb reproduce --out $out --aggregate-only
