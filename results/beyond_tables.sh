#!/usr/bin/env bash
# Regenerate the tables of the memory recipes, the peer protocols, the tuning and class-incremental learning without stored data (chapters 10-13; run from the repository root, after results/beyond.sh):
#   the memory-recipe table    <- preset dreams                      (results/beyond/dreams/summary.md)
#   the peer-protocol tables   <- presets vandeven, vandeven-task + their code's logs
#                                 (results/beyond/peer_protocol.md, peer_protocol_task.md)
#   the tuned-baseline tables  <- presets tune-search, tuned          (results/beyond/tuning_search.md, tuned_baselines.md)
#   the class-IL result        <- preset internal + BI-R's logs       (results/beyond/class_il_no_stored_data.md)
# Completed runs are skipped, so the script can be stopped and started again. The public code's side of the peer
# and BI-R tables is benchmarks/peer_vandeven.sh (it needs their repository; its logs are committed).
set -euo pipefail
export MYGO_DATA="${MYGO_DATA:-$(cd .. && pwd)/shared/data}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
py=.venv/bin/python
b=results/beyond
run() { $py -m mygo_nb reproduce "$@" --workers 2 --no-progress; }
run dreams --out $b/dreams
run vandeven --out $b/vandeven
run vandeven-task --out $b/vandeven-task
run tune-search --out $b/tune/search
run tuned --out $b/tune/tuned --reuse $b/sweep
run internal --out $b/internal
$py benchmarks/peer_table.py --ours $b/vandeven --peer $b/peer --out $b/peer_protocol.md
$py benchmarks/peer_table.py --scenario task --ours $b/vandeven-task --peer $b/peer --out $b/peer_protocol_task.md
$py benchmarks/tune_table.py --search $b/tune/search --tuned $b/tune/tuned --defaults $b/sweep $b/internal --out-dir $b
$py benchmarks/bir_table.py --ours $b/internal --peer $b/peer --out $b/class_il_no_stored_data.md
