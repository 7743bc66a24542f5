#!/usr/bin/env bash
# Prepared GPU check (docs/performance.md): CUDA bf16 and fp16 (+GradScaler) SSL steps, a single-GPU NCCL process
# group, ViT-B/14 518 px throughput and peak memory at per-GPU batch 40 (or the largest that fits), and the
# extraction benchmark, printed as one table. Under 8 minutes on one GPU (hard limit: GPU_CHECK_TIMEOUT, 470 s).
# Fails fast (exit 2) without CUDA. Python: $PYTHON, else .venv/bin/python, else python3 (needs a CUDA torch build;
# the project's core venv is CPU-only by design).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-}"
if [[ -z "$PYTHON" ]]; then
    if [[ -x .venv/bin/python ]]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
probe="$("$PYTHON" -c 'import torch; print(torch.__version__, torch.cuda.is_available())' 2>/dev/null || echo "not-importable False")"
if [[ "${probe##* }" != "True" ]]; then
    echo "gpu_check: no CUDA GPU visible to $PYTHON (torch ${probe% *}, torch.cuda.is_available() is False)." >&2
    echo "gpu_check: run it on a GPU machine with a CUDA build of torch: PYTHON=/path/to/python bash scripts/gpu_check.sh" >&2
    exit 2
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec timeout "${GPU_CHECK_TIMEOUT:-470}" "$PYTHON" tools/gpu_check.py "$@"
