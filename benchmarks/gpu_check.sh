#!/usr/bin/env bash
# The project on a CUDA GPU, in one bounded script (run from the repository root on a machine with a GPU):
#   1. the unit tests with the synthetic benchmarks on the GPU (MYGO_TEST_DEVICE=cuda; CLI tests use --device
#      auto, so the GPU too); tests that fail are rerun once under torch.use_deterministic_algorithms, which
#      tells a real device bug from GPU non-determinism (a resume test compares two runs bit for bit);
#   2. the `quick` sweep preset through papermill with --device cuda (the main job's path on a GPU);
#   3. paper-profile timings with benchmarks/speed.py: mygo/reference on the GPU and on the CPU, and
#      mygo/consolidate-vae in the class scenario on the GPU.
# Logs go to $OUT (default gpu-check/: steps.txt, one log per step, quick_summary.md); every step has its own time limit and a failing step does not stop
# the next. Needs MYGO_DATA (MNIST/raw, agnews_dev) and the project's packages importable by $PYTHON
# (default python3; e.g. PYTHON=.venv/bin/python). Tests run 8 at a time where pytest-xdist is installed.
set -uo pipefail
out=${OUT:-gpu-check}
mkdir -p "$out"
py=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
: "${MYGO_DATA:?set MYGO_DATA to the data folder}"

step() {  # step NAME SECONDS COMMAND...: run with a time limit, log to $out/NAME.log, print one status line
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  timeout -k 5 "$limit" "$@" > "$out/$name.log" 2>&1
  local rc=$?
  echo "step $name: exit $rc in $((SECONDS - t0)) s" | tee -a "$out/steps.txt"
}

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  $py -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
  echo "$(nproc) CPU cores"; } 2>&1 | tee "$out/steps.txt"

tests=(tests/test_methods.py tests/test_consolidate.py tests/test_scenarios.py tests/test_baselines.py
       tests/test_models.py tests/test_metrics.py tests/test_reliability.py tests/test_cli.py tests/test_data.py)
par=(); $py -c "import xdist" 2>/dev/null && par=(-n 8)  # pytest-xdist, where installed
step tests 170 env MYGO_TEST_DEVICE=cuda $py -m pytest -q "${par[@]}" -p no:benchmark "${tests[@]}"
tail -n 3 "$out/tests.log"
if grep -q "failed" "$out/tests.log"; then
  step tests_deterministic 50 env MYGO_TEST_DEVICE=cuda MYGO_TEST_DETERMINISTIC=1 CUBLAS_WORKSPACE_CONFIG=:4096:8 \
    $py -m pytest -q "${par[@]}" -p no:benchmark --lf "${tests[@]}"
  tail -n 3 "$out/tests_deterministic.log"
fi

quick=${TMPDIR:-/tmp}/mygo-gpu-quick
rm -rf "$quick"
step quick 100 $py -m mygo_nb reproduce quick --out "$quick" --device cuda --workers 2 --no-progress --no-figures
cp "$quick/summary.md" "$out/quick_summary.md" 2>/dev/null && cat "$out/quick_summary.md"

speed() {  # speed SECONDS ARGS...: one benchmarks/speed.py run, appended to $out/speed.log
  local limit=$1; shift
  echo "== benchmarks/speed.py $*" >> "$out/speed.log"
  timeout -k 5 "$limit" $py benchmarks/speed.py "$@" >> "$out/speed.log" 2>&1
  echo "speed $*: exit $?" | tee -a "$out/steps.txt"
}
speed 40 --device cuda
speed 70 --device cuda --variant consolidate-vae --scenario class --eval-on test
speed 80 --device cpu
grep -E "^==|total run|final average|data loading|^torch" "$out/speed.log"

# 4. Sweep packing (issue: several runs per GPU): N = 1, 2, 4, 8 runs per GPU on 16 runs of the beyond preset,
#    then two --deterministic runs of one seed must give the same record (bit-identical accuracy matrices).
step gpu_sweep 420 $py benchmarks/gpu_sweep.py --runs 16
cat "$out/gpu_sweep.log"
step deterministic 90 env MYGO_TEST_DEVICE=cuda $py -m pytest -q -p no:benchmark tests/test_sweep_devices.py \
  -k deterministic
tail -n 3 "$out/deterministic.log"
