#!/usr/bin/env bash
# On a CUDA machine: the share of the GPU's time spent training in a GPU search
# (benchmarks/gpu_busy.py: 64 CNN trials 4 at a time on quarter GPUs, NVML sampled all along),
# written to benchmarks/results/gpu_busy.md; then training throughput of the built-in families (mixed precision on),
# at the templates' batch sizes and at a GPU-sized batch, written to
# benchmarks/results/trainables_gpu.md; then a small GPU search (benchmarks/gpu_search.yaml,
# 8 trials on quarter GPUs) through `hpsearch submit` on a throw-away SQLite store, timed,
# appended to the same file; then data-parallel trials, 1 vs 2 workers with one GPU each (NCCL),
# written to benchmarks/results/ddp_scaling_gpu.md (needs 2 GPUs; skipped with fewer).
# Extra arguments go to the throughput script.
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
"$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else "no CUDA device visible to torch")' || exit 1
failed=()
step() {  # one part failing (a GPU machine's time is short) does not stop the others
    "$@" || { echo "FAILED ($?): $*" >&2; failed+=("$1"); }
}

step "$PY" -m benchmarks.gpu_busy

OUT=benchmarks/results/trainables_gpu.md
step "$PY" -m benchmarks.trainables_throughput --device cuda --batch-sizes "${BATCH_SIZES:-64,1024}" \
    --out "$OUT" "$@"

small_search() {
    HOME_DIR="$(mktemp -d)"
    export HPSEARCH_HOME="$HOME_DIR"
    start=$(date +%s.%N)
    "$PY" -m hpsearch.cli submit benchmarks/gpu_search.yaml --db "sqlite:///$HOME_DIR/gpu.db" \
        --name "gpu-smoke-$(date +%s)" || return
    end=$(date +%s.%N)
    {
        echo
        echo "## Small GPU search"
        echo
        echo "\`hpsearch submit benchmarks/gpu_search.yaml\` (8 CNN trials, 4 at a time on 0.25 GPU each,"
        echo "ASHA): $("$PY" -c "print(round($end - $start, 1))") s wall, on $("$PY" -c 'import torch; print(torch.cuda.get_device_name())')."
        echo
        echo '```'
        "$PY" -m hpsearch.cli list --db "sqlite:///$HOME_DIR/gpu.db"
        echo '```'
    } >> "$OUT"
    rm -rf "$HOME_DIR"
    echo "wrote $OUT"
}
step small_search

# Data-parallel trials on GPUs: benchmarks/ddp_scaling.py with --device cuda (the two-worker
# run asks Ray Train for {CPU: 1, GPU: 1} per worker, backend NCCL).
if [ "$("$PY" -c 'import torch; print(torch.cuda.device_count())')" -ge 2 ]; then
    step "$PY" -m benchmarks.ddp_scaling --device cuda --batch-size "${DDP_BATCH_SIZE:-256}" \
        --epochs "${DDP_EPOCHS:-12}"
    echo "wrote benchmarks/results/ddp_scaling_gpu.md"
else
    echo "data-parallel GPU benchmark skipped: it needs 2 GPUs" >&2
fi
[ ${#failed[@]} -eq 0 ] || { echo "failed: ${failed[*]}" >&2; exit 1; }
