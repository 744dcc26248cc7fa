#!/usr/bin/env bash
# Reproduce the `paper` sweep preset into results/paper/ (run from the repository root).
# Split-MNIST with the paper's protocol (eval on the training subsets) first, then AG News, then Split-MNIST
# evaluated on the test split; each step holds the shared CPU lock. Completed runs are skipped, so the script
# can be stopped and started again at any point. The last step only rebuilds the tables and figures.
set -euo pipefail
export MYGO_DATA="${MYGO_DATA:-$(cd .. && pwd)/shared/data}"
py=.venv/bin/python
out=results/paper
flock /tmp/mygo-cpu.lock $py -m mygo_nb reproduce paper --out $out --benchmark split-mnist --eval-on train --no-progress
flock /tmp/mygo-cpu.lock $py -m mygo_nb reproduce paper --out $out --benchmark split-agnews --no-progress
flock /tmp/mygo-cpu.lock $py -m mygo_nb reproduce paper --out $out --benchmark split-mnist --eval-on test --no-progress
$py -m mygo_nb reproduce --out $out --aggregate-only
