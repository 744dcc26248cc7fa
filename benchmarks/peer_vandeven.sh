#!/usr/bin/env bash
# Run the public code of van de Ven, Tuytelaars & Tolias (2022), GMvandeVen/continual-learning, on this
# project's MNIST files: one of their experiments with its defaults, one seed per run. Read and run, never copied.
#
#   PEER=/path/to/continual-learning PEER_PY=/path/to/python MYGO_DATA=../shared/data \
#     [EXPERIMENT=splitMNIST|permMNIST] [PEER_ARGS="--iters=20 --contexts=2"] \
#     bash benchmarks/peer_vandeven.sh OUT_DIR SCENARIO METHOD SEED [SEED ...]
#
# EXPERIMENT: their --experiment, splitMNIST (the default) or permMNIST (permuted MNIST on 32 x 32 images; their
# defaults for it: 10 contexts, 5000 iterations each, lr 1e-4, 1000 units, a buffer of 10 per class). PEER_ARGS:
# more of their options, appended to the command (e.g. a smoke run's smaller budget). METHOD: none | joint | ewc |
# lwf | replay | agem | dgr | bir. Each run writes OUT_DIR/<scenario>_<method>_seed<N>.txt (Split-MNIST) or
# OUT_DIR/<experiment>_<scenario>_<method>_seed<N>.txt (any other experiment): the experiment, the command, the
# peer's commit, and what the peer printed from its evaluation on (progress bars dropped).
set -euo pipefail
out=$1 scenario=$2 method=$3; shift 3
: "${PEER:?set PEER to a checkout of GMvandeVen/continual-learning}"
: "${PEER_PY:=python}" "${MYGO_DATA:=../shared/data}" "${EXPERIMENT:=splitMNIST}" "${PEER_ARGS:=}"
case $EXPERIMENT in
  splitMNIST) prefix="" ;;
  permMNIST) prefix="${EXPERIMENT}_" ;;
  *) echo "unknown EXPERIMENT: $EXPERIMENT (splitMNIST or permMNIST)" >&2; exit 2 ;;
esac
read -r -a extra <<< "$PEER_ARGS"
mkdir -p "$out"
out=$(cd "$out" && pwd)
store=$(mktemp -d)
trap 'rm -rf "$store"' EXIT
# torchvision's MNIST layout, linked to the project's files (the peer reads, never downloads)
mkdir -p "$store/datasets/MNIST/MNIST/raw" "$store/models" "$store/plots" "$store/results"
for f in "$(cd "$MYGO_DATA" && pwd)"/MNIST/raw/*; do ln -s "$f" "$store/datasets/MNIST/MNIST/raw/"; done
case $method in
  none) flags=() ;;
  joint) flags=(--joint) ;;
  ewc) flags=(--ewc) ;;
  lwf) flags=(--lwf) ;;
  replay) flags=(--replay=buffer) ;;
  agem) flags=(--agem) ;;  # their A-GEM: the replay buffer, its gradient an inequality constraint
  dgr) flags=(--replay=generative) ;;
  bir) flags=(--brain-inspired) ;;
  *) echo "unknown method: $method" >&2; exit 2 ;;
esac
commit=$(git -C "$PEER" rev-parse HEAD)
for seed in "$@"; do
  cmd=(main.py --experiment="$EXPERIMENT" --scenario="$scenario" "${flags[@]}" --seed="$seed" --time --no-save
       --data-dir="$store/datasets" --model-dir="$store/models" --plot-dir="$store/plots"
       --results-dir="$store/results" "${extra[@]}")
  log="$out/${prefix}${scenario}_${method}_seed${seed}.txt"
  {
    echo "# GMvandeVen/continual-learning @ $commit"
    echo "# experiment $EXPERIMENT${PEER_ARGS:+, extra options $PEER_ARGS}"
    echo "# python ${cmd[*]//$store/STORE}"
    echo "# OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset}, started $(date -u +%FT%TZ)"
    (cd "$PEER" && "$PEER_PY" "${cmd[@]}" 2>&1) | tr '\r' '\n' | sed -n '/EVALUATION/,$p' | grep -v "UserWarning\|super().__init__"
    echo "# finished $(date -u +%FT%TZ)"
  } > "$log.part"
  mv "$log.part" "$log"
  tail -1 "$log"
done
