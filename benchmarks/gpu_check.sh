#!/usr/bin/env bash
# The GPU check, one command, under 9.5 minutes (step timeouts: 9.2). Writes logs and JSON into OUT.
#
#   bash benchmarks/gpu_wheels.sh                 # once, on a machine with a package registry
#   bash benchmarks/gpu_check.sh OUT              # on the GPU machine (device cuda)
#   bash benchmarks/gpu_check.sh OUT cpu          # dry run of every step on the CPU, small sizes
#
# The GPU image has Python 3.12, torch, numpy, numba, tensorboard and tqdm but no registry: when
# gymnasium does not import, the wheels in .whl/ are installed into a temporary folder without
# network first. Then, in order, each step under its own timeout (a failed step does not stop
# the others): versions and GPU name; tests/test_cuda.py (device search and CUDA graphs against
# the reference search, the learner against the CPU); benchmarks/atari_throughput.py on the
# device with its projection of a full run; a tiny bf16 Atari train -> resume -> eval through
# the CLI, and the GPU-trained run evaluated on the CPU; the search benchmark on the device, then
# its atari rows with each simulation a captured CUDA graph (--cuda-graphs); the throughput of
# the minatar preset (op by op, then with CUDA graphs) and of the atari100k preset with CUDA
# graphs; a tiny fp32 Atari train -> eval with Gumbel search; a tiny Pendulum train -> eval
# with the sampled search (continuous actions) and CUDA graphs. OUT/summary.json lists every
# step with its exit code and seconds.
set -uo pipefail
OUT="${1:?usage: gpu_check.sh OUT [cuda|cpu]}"
DEVICE="${2:-cuda}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-python3}"  # on the GPU image, python3 is the one that holds torch
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
: > "$OUT/steps.jsonl"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
if ! "$PY" -c "import gymnasium, ale_py, tyro, minatar" 2> /dev/null; then
  SITE="$(mktemp -d)/site"
  "$PY" -m pip install --quiet --no-index --no-deps --no-compile --target "$SITE" "$ROOT"/.whl/*.whl \
    > "$OUT/wheels.log" 2>&1 || { echo "gpu_check: installing .whl/ failed (see $OUT/wheels.log)" >&2; exit 1; }
  export PYTHONPATH="$ROOT:$SITE"
fi
EZ=("$PY" -m efficientzero.cli)

step() {  # step NAME SECONDS COMMAND...: run with a timeout, log to OUT/NAME.log, record
  local name="$1" limit=$(( $2 * SCALE )); shift 2
  local start; start=$(date +%s.%N)
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  local took; took=$("$PY" -c "import time; print(round(time.time() - $start, 1))")
  echo "{\"step\": \"$name\", \"rc\": $rc, \"seconds\": $took, \"limit_s\": $limit}" >> "$OUT/steps.jsonl"
  echo "gpu_check: $name rc=$rc ${took}s"
}

# Timeouts add up to 9.2 minutes on the GPU; the CPU dry run gets three times as long.
SCALE=1
if [ "$DEVICE" = "cpu" ]; then  # dry run: the same steps, sizes a CPU finishes in a minute or two
  SCALE=3
  BENCH=(--batches 1 8 --repeats 1)
  THROUGHPUT=(--env-steps 16 --updates 1 --fill 300)
  SHORT=(--env-steps 16 --updates 1 --fill 300)
else
  BENCH=()
  THROUGHPUT=(--env-steps 400 --updates 10 --fill 2000)
  SHORT=(--env-steps 200 --updates 10 --fill 2000)
fi
TINY=(--preset atari100k --env Pong --env-steps 300 --total-updates 6 --start-transitions 150
  --batch-size 8 --num-simulations 4 --num-envs 2 --eval-interval 0 --periodic-eval-episodes 2
  --eval-max-episode-steps 30 --checkpoint-interval 3 --block-length 100 --no-progress
  --device "$DEVICE")
MORE=(--env-steps 400 --total-updates 9 --no-progress --device "$DEVICE")

step versions 30 "$PY" -c "
import json, numba, numpy, torch
import ale_py, gymnasium, tyro
cuda = torch.cuda.is_available()
print(json.dumps({
    'python': __import__('sys').version.split()[0], 'torch': torch.__version__,
    'numpy': numpy.__version__, 'numba': numba.__version__, 'gymnasium': gymnasium.__version__,
    'ale_py': ale_py.__version__, 'cuda': torch.version.cuda, 'cuda_available': cuda,
    'gpu': torch.cuda.get_device_name(0) if cuda else None,
    'bf16_supported': torch.cuda.is_bf16_supported() if cuda else None,
    'cpus': __import__('os').cpu_count(),
}))"

step pytest_cuda 55 env CUDA_VISIBLE_DEVICES="${CUDA_VISIBLE_DEVICES:-0}" "$PY" -m pytest -q -p no:cacheprovider "$ROOT/tests/test_cuda.py"

step atari_throughput 60 "$PY" "$ROOT/benchmarks/atari_throughput.py" --device "$DEVICE" "${THROUGHPUT[@]}"

RUN="$OUT/runs/bf16"
step train_bf16 45 "${EZ[@]}" train --run-dir "$RUN" "${TINY[@]}" --mixed-precision True
step resume_bf16 40 "${EZ[@]}" train --run-dir "$RUN" --resume "${MORE[@]}"
step eval_bf16 25 "${EZ[@]}" eval --run-dir "$RUN" --episodes 2 --device "$DEVICE" \
  --out "$OUT/eval_bf16.json"
step eval_bf16_on_cpu 20 "${EZ[@]}" eval --run-dir "$RUN" --episodes 2 --device cpu \
  --out "$OUT/eval_bf16_on_cpu.json"

step bench_search 30 "${EZ[@]}" bench search --device "$DEVICE" "${BENCH[@]}"
step bench_search_graphs 30 "${EZ[@]}" bench search --device "$DEVICE" --states atari --cuda-graphs "${BENCH[@]}"

step minatar_throughput 30 "$PY" "$ROOT/benchmarks/atari_throughput.py" --preset minatar \
  --game Breakout --device "$DEVICE" "${SHORT[@]}"
step minatar_throughput_graphs 45 "$PY" "$ROOT/benchmarks/atari_throughput.py" --preset minatar \
  --game Breakout --device "$DEVICE" --cuda-graphs "${SHORT[@]}"
step atari_throughput_graphs 50 "$PY" "$ROOT/benchmarks/atari_throughput.py" --device "$DEVICE" \
  --cuda-graphs "${SHORT[@]}"

RUN="$OUT/runs/fp32_gumbel"
step train_fp32_gumbel 30 "${EZ[@]}" train --run-dir "$RUN" "${TINY[@]}" --mixed-precision False \
  --search-algorithm gumbel
step eval_fp32_gumbel 20 "${EZ[@]}" eval --run-dir "$RUN" --episodes 2 --device "$DEVICE" \
  --out "$OUT/eval_fp32_gumbel.json"

RUN="$OUT/runs/sampled"
step train_sampled 25 "${EZ[@]}" train --run-dir "$RUN" --env Pendulum-v1 --env-steps 300 \
  --total-updates 6 --start-transitions 150 --batch-size 8 --num-simulations 4 --num-envs 2 \
  --td-steps 5 --block-length 50 --eval-interval 0 --periodic-eval-episodes 2 \
  --eval-max-episode-steps 20 --cuda-graphs True --no-progress --device "$DEVICE"
step eval_sampled 15 "${EZ[@]}" eval --run-dir "$RUN" --episodes 2 --device "$DEVICE" \
  --out "$OUT/eval_sampled.json"

"$PY" - "$OUT" << 'EOF'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
steps = [json.loads(line) for line in (out / "steps.jsonl").read_text().splitlines()]
summary = {"steps": steps, "all_passed": all(s["rc"] == 0 for s in steps)}


def printed_json(name):
    """The JSON a step printed (from its first line that opens an object; None if none)."""
    try:
        lines = (out / f"{name}.log").read_text().splitlines()
    except OSError:
        return None
    starts = [i for i, line in enumerate(lines) if line.startswith("{")]
    try:
        return json.loads("\n".join(lines[starts[0]:])) if starts else None
    except json.JSONDecodeError:
        return None


for name in ("versions", "atari_throughput", "atari_throughput_graphs", "minatar_throughput",
             "minatar_throughput_graphs", "bench_search", "bench_search_graphs"):
    summary[name] = printed_json(name)
for variant in ("bf16", "bf16_on_cpu", "fp32_gumbel", "sampled"):
    try:
        summary[f"eval_{variant}"] = json.loads((out / f"eval_{variant}.json").read_text())["return_mean"]
    except (OSError, json.JSONDecodeError, KeyError):
        summary[f"eval_{variant}"] = None
(out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
print(json.dumps({"all_passed": summary["all_passed"], "steps": [(s["step"], s["rc"]) for s in steps]}))
EOF
