#!/usr/bin/env bash
# Run the public code of van de Ven, Tuytelaars & Tolias (2022), GMvandeVen/continual-learning, on this
# project's MNIST files: Split-MNIST, its defaults, one seed per run. Read and run, never copied.
#
#   PEER=/path/to/continual-learning PEER_PY=/path/to/python MYGO_DATA=../shared/data \
#     bash benchmarks/peer_vandeven.sh OUT_DIR SCENARIO METHOD SEED [SEED ...]
#
# METHOD: none | joint | ewc | lwf | replay | agem | dgr | bir. Each run writes OUT_DIR/<scenario>_<method>_seed<N>.txt:
# the command, the peer's commit, and what the peer printed from its evaluation on (progress bars dropped).
set -euo pipefail
out=$1 scenario=$2 method=$3; shift 3
: "${PEER:?set PEER to a checkout of GMvandeVen/continual-learning}"
: "${PEER_PY:=python}" "${MYGO_DATA:=../shared/data}"
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
  cmd=(main.py --experiment=splitMNIST --scenario="$scenario" "${flags[@]}" --seed="$seed" --time --no-save
       --data-dir="$store/datasets" --model-dir="$store/models" --plot-dir="$store/plots"
       --results-dir="$store/results")
  log="$out/${scenario}_${method}_seed${seed}.txt"
  {
    echo "# GMvandeVen/continual-learning @ $commit"
    echo "# python ${cmd[*]//$store/STORE}"
    echo "# OMP_NUM_THREADS=${OMP_NUM_THREADS:-unset}, started $(date -u +%FT%TZ)"
    (cd "$PEER" && "$PEER_PY" "${cmd[@]}" 2>&1) | tr '\r' '\n' | sed -n '/EVALUATION/,$p' | grep -v "UserWarning\|super().__init__"
    echo "# finished $(date -u +%FT%TZ)"
  } > "$log.part"
  mv "$log.part" "$log"
  tail -1 "$log"
done
