#!/usr/bin/env bash
# Training throughput of the built-in families on a CUDA GPU (mixed precision on),
# at the templates' batch sizes and at a GPU-sized batch. Writes
# benchmarks/results/trainables_gpu.md. Extra arguments go to the script.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
"$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else "no CUDA device visible to torch")'
exec "$PY" -m benchmarks.trainables_throughput --device cuda --batch-sizes "${BATCH_SIZES:-64,1024}" \
    --out benchmarks/results/trainables_gpu.md "$@"
